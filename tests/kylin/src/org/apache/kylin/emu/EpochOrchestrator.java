package org.apache.kylin.emu;

import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;

/**
 * EpochOrchestrator (kylin5 @ 8118afb4, protocol doc sections 0, 3, 6): the identity taken once
 * (OWNER_IDENTITY = getLocalInstance() + "|" + currentTimeMillis), nothing on query nodes, the
 * EpochChecker run once at start, then the checker (tryUpdateAllEpochs) with fixed delay, first
 * after interval+1 s, and, only while leader race is enabled, the EpochRenewer
 * (tryRenewOwnedEpochs) at fixed rate, first after one interval. A metadata reload
 * (ReloadMetadataListener) pauses the checker and releases the owned rows, and at its end
 * resumes the checker and runs updateAllEpochs.
 */
final class EpochOrchestrator {
    private static String ownerIdentity;

    /** EpochOrchestrator.OWNER_IDENTITY: fixed on first use, never recomputed. */
    static synchronized String getOwnerIdentity(Config config) {
        if (ownerIdentity == null) {
            ownerIdentity = config.localInstance() + "|" + System.currentTimeMillis();
        }
        return ownerIdentity;
    }

    private final EpochManager em;
    private ScheduledExecutorService checkerPool;
    private volatile boolean isCheckerRunning = true;
    private final AtomicBoolean raceCheck = new AtomicBoolean(false);

    EpochOrchestrator(Config config, EpochManager em) {
        this.em = em;
        if (!config.isJobNode()) {
            Log.info("server mode: " + config.serverMode() + ",  no need to run EventOrchestrator");
            return;
        }
        long pollMs = config.heartBeatIntervalMs();
        Log.info("Try to update/renew epoch every " + pollMs / 1000.0 + " seconds");
        checkerPool = Executors.newScheduledThreadPool(2, r -> {
            Thread t = new Thread(r, "EpochChecker");
            t.setDaemon(true);
            return t;
        });
        runChecker(); // start-up epoch check, synchronously
        checkerPool.scheduleWithFixedDelay(this::runChecker, pollMs + 1000, pollMs, TimeUnit.MILLISECONDS);
        if (config.leaderRaceEnabled()) {
            checkerPool.scheduleAtFixedRate(this::runRenewer, pollMs, pollMs, TimeUnit.MILLISECONDS);
        } else {
            Log.info("Disable epoch timing renew, renew epoch only once");
        }
    }

    /** EpochChecker.run. */
    private synchronized void runChecker() {
        try {
            if (!isCheckerRunning) {
                return;
            }
            em.epochUpdateManager.tryUpdateAllEpochs();
        } catch (Exception e) {
            Log.error("Failed to update epochs: " + e);
        }
    }

    /** EpochRenewer.run: one at a time (raceCheck). */
    private void runRenewer() {
        try {
            if (!isCheckerRunning || !raceCheck.compareAndSet(false, true)) {
                return;
            }
            em.epochUpdateManager.tryRenewOwnedEpochs();
        } catch (Exception e) {
            Log.error("Failed to renew epochs: " + e);
        } finally {
            raceCheck.set(false);
        }
    }

    synchronized void updateCheckerStatus(boolean running) {
        Log.info("Change epoch checker status from " + isCheckerRunning + " to " + running);
        isCheckerRunning = running;
    }

    boolean isCheckerRunning() {
        return isCheckerRunning;
    }

    /** ReloadMetadataListener.onStart (StartReloadEvent). */
    void onStartReload() {
        updateCheckerStatus(false);
        em.releaseOwnedEpochs();
    }

    /** ReloadMetadataListener.onEnd (EndReloadEvent). */
    void onEndReload() {
        updateCheckerStatus(true);
        em.updateAllEpochs();
    }

    void shutdown() {
        if (checkerPool != null) {
            checkerPool.shutdownNow();
        }
    }
}
