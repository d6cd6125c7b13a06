package org.apache.kylin.emu;

import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;

/**
 * MetaStoreHealthIndicator: every kylin.env.health-check-interval ms a job/all node writes,
 * reads and deletes /_health/UUID (a query node only reads); every step must finish within
 * kylin.health.metastore-error-response-ms. DOWN until the first check passes (isHealth false
 * initially). A test hook can force DOWN.
 */
final class MetaStoreHealthIndicator {
    private final ProjectTable table;
    private final long errorMs;
    private final boolean jobNode;
    private volatile boolean isHealth = false;
    private volatile boolean forcedDown = false;
    private volatile String lastError = null;
    private volatile long checkStartedNanos = 0; // 0: no check in progress
    private final ScheduledExecutorService pool = Executors.newSingleThreadScheduledExecutor(r -> {
        Thread t = new Thread(r, "health-check");
        t.setDaemon(true);
        return t;
    });

    MetaStoreHealthIndicator(ProjectTable table, long errorMs, boolean jobNode) {
        this.table = table;
        this.errorMs = errorMs;
        this.jobNode = jobNode;
    }

    /** Started after AfterMetadataReadyEvent; FIRSTDELAYMS (test-only) stands for a slow start. */
    void start(long intervalMs, long firstDelayMs) {
        pool.scheduleWithFixedDelay(this::check, firstDelayMs, intervalMs, TimeUnit.MILLISECONDS);
    }

    private void check() {
        checkStartedNanos = System.nanoTime();
        try {
            long[] steps;
            if (jobNode) {
                steps = table.healthRoundTrip();
            } else {
                long t0 = System.nanoTime();
                table.listProjects();
                steps = new long[] { (System.nanoTime() - t0) / 1000000 };
            }
            for (long ms : steps) {
                if (ms > errorMs) {
                    isHealth = false;
                    lastError = "metastore step took " + ms + " ms";
                    return;
                }
            }
            isHealth = true;
            lastError = null;
        } catch (Exception e) {
            isHealth = false;
            lastError = e.toString();
        } finally {
            checkStartedNanos = 0;
        }
    }

    /** A check still running after every step's allowance (a hung metastore) counts as failed. */
    private boolean hung() {
        long st = checkStartedNanos;
        return st != 0 && (System.nanoTime() - st) / 1000000 > 3 * errorMs;
    }

    void forceDown(boolean down) {
        forcedDown = down;
    }

    boolean isUp() {
        return isHealth && !forcedDown && !hung();
    }

    String detail() {
        return forcedDown ? "forced down by test hook" : hung() ? "metastore check hangs" : lastError;
    }

    void shutdown() {
        pool.shutdownNow();
    }
}
