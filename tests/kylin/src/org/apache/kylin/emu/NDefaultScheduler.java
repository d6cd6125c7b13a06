package org.apache.kylin.emu;

import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;

/**
 * The per-project job scheduler NDefaultScheduler, reduced to what ownership needs: init
 * records the project's epoch_id (ExecutableContext) and starts the fetcher runner every
 * kylin.job.scheduler.poll-interval-second with a random initial delay; each run begins with
 * AbstractDefaultSchedulerRunner.checkEpochIdFailed (epoch_id changed -> forceShutdown; an
 * exception, e.g. the row is gone, ends the periodic task as in a ScheduledExecutorService).
 * forceShutdown = shutdownNow of the pools; the instance stays (hasStarted false).
 */
final class NDefaultScheduler {
    private static final Map<String, NDefaultScheduler> INSTANCES = new ConcurrentHashMap<>();
    static volatile EpochManager epochManager;
    static volatile long pollMs = 30000;

    final String project;
    private volatile boolean started;
    private volatile long epochId = -1;
    private volatile boolean runnerDead;
    private ScheduledExecutorService fetcherPool;
    /** Which init's runner is current (guarded by this): a runner stops only its own start. */
    private long generation;

    private NDefaultScheduler(String project) {
        this.project = project;
    }

    /** NDefaultScheduler.getInstance(project). */
    static NDefaultScheduler getInstance(String project) {
        return INSTANCES.computeIfAbsent(project, NDefaultScheduler::new);
    }

    /** NDefaultScheduler.shutdownByProject: shut down and forget the instance. */
    static void shutdownByProject(String project) {
        NDefaultScheduler s = INSTANCES.remove(project);
        if (s != null) {
            s.forceShutdown();
        }
    }

    static void shutdownAll() {
        for (String p : INSTANCES.keySet()) {
            shutdownByProject(p);
        }
    }

    /** Started schedulers: project -> the epoch_id each holds. */
    static Map<String, Long> running() {
        Map<String, Long> m = new TreeMap<>();
        INSTANCES.forEach((p, s) -> {
            if (s.started) {
                m.put(p, s.epochId);
            }
        });
        return m;
    }

    static Map<String, Boolean> runnerDead() {
        Map<String, Boolean> m = new TreeMap<>();
        INSTANCES.forEach((p, s) -> {
            if (s.started) {
                m.put(p, s.runnerDead);
            }
        });
        return m;
    }

    boolean hasStarted() {
        return started;
    }

    long getEpochId() {
        return epochId;
    }

    /** NDefaultScheduler.init: context epoch id from the table, fetcher runner scheduled. */
    synchronized void init() {
        if (started) {
            return;
        }
        epochId = epochManager.getEpochId(project);
        runnerDead = false;
        fetcherPool = Executors.newSingleThreadScheduledExecutor(r -> {
            Thread t = new Thread(r, "FetchJobWorker(project:" + project + ")");
            t.setDaemon(true);
            return t;
        });
        long initial = ThreadLocalRandom.current().nextLong(Math.max(1, pollMs));
        final long gen = ++generation;
        fetcherPool.scheduleWithFixedDelay(() -> runOnce(gen), initial, pollMs, TimeUnit.MILLISECONDS);
        started = true;
        Log.info("Fetching jobs every " + pollMs + " ms for project " + project + " (epoch_id " + epochId + ")");
    }

    /** FetcherRunner.run -> AbstractDefaultSchedulerRunner.run. */
    private void runOnce(long gen) {
        try {
            if (checkEpochIdFailed(gen)) {
                return;
            }
            // doRun: fetching and running jobs is not emulated
        } catch (RuntimeException e) {
            runnerDead = true;
            Log.warn("fetcher of " + project + " ended: " + e);
            throw e;
        }
    }

    /**
     * AbstractDefaultSchedulerRunner.checkEpochIdFailed, for the runner of init GEN: in Kylin each
     * runner checks the epoch_id of its own scheduler context, so a runner of a start that
     * EpochChangedListener already replaced (epoch_id changed, scheduler restarted) stops
     * nothing but itself.
     */
    private boolean checkEpochIdFailed(long gen) {
        long id;
        synchronized (this) {
            if (gen != generation || !started) {
                return true; // replaced or shut down: its pool is being shut down
            }
            id = epochId;
        }
        if (!epochManager.checkEpochId(id, project)) {
            synchronized (this) {
                if (gen == generation) {
                    forceShutdown();
                }
            }
            return true;
        }
        return false;
    }

    /** NDefaultScheduler.forceShutdown. */
    synchronized void forceShutdown() {
        if (started) {
            Log.info("Force to shut down DefaultScheduler for project " + project + " ....");
        }
        started = false;
        if (fetcherPool != null) {
            fetcherPool.shutdownNow();
            fetcherPool = null;
        }
    }
}
