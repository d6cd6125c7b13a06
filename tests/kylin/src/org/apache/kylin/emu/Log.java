package org.apache.kylin.emu;

import java.time.Instant;

/** Log lines on stderr, Kylin's wording where Kylin logs the same event. */
final class Log {
    static volatile boolean debug = false;

    private Log() {
    }

    private static void line(String level, String msg) {
        System.err.println(Instant.now() + " " + level + " [" + Thread.currentThread().getName() + "] " + msg);
    }

    static void info(String m) {
        line("INFO", m);
    }

    static void warn(String m) {
        line("WARN", m);
    }

    static void error(String m) {
        line("ERROR", m);
    }

    static void debug(String m) {
        if (debug) {
            line("DEBUG", m);
        }
    }
}
