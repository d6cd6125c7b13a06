package org.apache.kylin.emu;

import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;

/**
 * EventBusFactory.postAsync for ProjectControlledNotifier / ProjectEscapedNotifier: handled
 * asynchronously and in order (Kylin's ProjectSerialEventBus serialises per project; one
 * thread here serialises all of them, which keeps per-project order).
 */
final class EventBus {
    private final ExecutorService pool = Executors.newSingleThreadExecutor(r -> {
        Thread t = new Thread(r, "event-bus");
        t.setDaemon(true);
        return t;
    });

    void postAsync(Runnable handler) {
        pool.submit(() -> {
            try {
                handler.run();
            } catch (Exception e) {
                Log.warn("event handler failed: " + e);
            }
        });
    }

    void shutdown() {
        pool.shutdownNow();
    }
}
