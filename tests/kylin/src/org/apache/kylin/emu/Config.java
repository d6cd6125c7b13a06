package org.apache.kylin.emu;

import java.util.Properties;

/**
 * The kylin.properties keys this emulator reads, with KylinConfigBase's defaults
 * (protocol doc section 6). Interval and timeout keys accept fractional seconds here
 * (Kylin parses whole seconds) so tests can run fast; kylin.emu.* keys are test-only.
 */
final class Config {
    final Properties p = new Properties();
    String ip = "127.0.0.1";
    int port = 7070;
    String schema = "kv";

    String get(String k, String def) {
        return p.getProperty(k, def);
    }

    double dbl(String k, double def) {
        return Double.parseDouble(get(k, Double.toString(def)).trim());
    }

    boolean bool(String k, boolean def) {
        return Boolean.parseBoolean(get(k, Boolean.toString(def)).trim());
    }

    /** kylin.server.mode (KCB getServerMode, default all). */
    String serverMode() {
        return get("kylin.server.mode", "all");
    }

    /** KCB isJobNode: every mode but query. */
    boolean isJobNode() {
        return !"query".equals(serverMode());
    }

    /** kylin.server.leader-race.enabled (KCB getEpochCheckerEnabled, default true). */
    boolean leaderRaceEnabled() {
        return bool("kylin.server.leader-race.enabled", true);
    }

    /** kylin.server.leader-race.heart-beat-interval in ms (KCB getEpochCheckerIntervalSecond, 30 s). */
    long heartBeatIntervalMs() {
        return (long) (dbl("kylin.server.leader-race.heart-beat-interval", 30) * 1000);
    }

    /** kylin.server.leader-race.heart-beat-timeout in ms (KCB getEpochExpireTimeSecond, 60 s). */
    long heartBeatTimeoutMs() {
        return (long) (dbl("kylin.server.leader-race.heart-beat-timeout", 60) * 1000);
    }

    /** kylin.server.leader-race.heart-beat-timeout-rate (KCB getEpochRenewTimeoutRate, 0.8). */
    double heartBeatTimeoutRate() {
        return dbl("kylin.server.leader-race.heart-beat-timeout-rate", 0.8);
    }

    int renewPoolSize() {
        return (int) dbl("kylin.server.renew-epoch-pool-size", 3);
    }

    int renewBatchSize() {
        return (int) dbl("kylin.server.renew-batch-size", 10);
    }

    /**
     * kylin.job.scheduler.poll-interval-second (KCB L1196, default 30); fractional allowed;
     * the test-only key kylin.emu.scheduler.poll-interval-ms overrides it.
     */
    long schedulerPollMs() {
        String ms = get("kylin.emu.scheduler.poll-interval-ms", null);
        if (ms != null) {
            return Math.max(1, Long.parseLong(ms.trim()));
        }
        return Math.max(1, (long) (dbl("kylin.job.scheduler.poll-interval-second", 30) * 1000));
    }

    /** kylin.env.health-check-interval in ms (KCB L3600-3602, default 3000). */
    long healthCheckIntervalMs() {
        return Math.max(1, (long) dbl("kylin.env.health-check-interval", 3000));
    }

    /** kylin.health.metastore-error-response-ms (KapConfig, default 1000). */
    long healthErrorResponseMs() {
        return (long) dbl("kylin.health.metastore-error-response-ms", 1000);
    }

    /** kylin.metadata.compress.enabled (KCB L521-523, default true). */
    boolean compressEnabled() {
        return bool("kylin.metadata.compress.enabled", true);
    }

    /** Test-only: delay of the first metastore health check (the node stays DOWN until it passes). */
    long healthFirstDelayMs() {
        return (long) dbl("kylin.emu.health-first-delay-ms", 0);
    }

    /** Test-only: how often the simulated ZooKeeper membership is polled. */
    long zkPollMs() {
        return (long) dbl("kylin.emu.zk-poll-ms", 200);
    }

    /**
     * Test-only: how often the node re-reads its project list from the metastore (standing for
     * Kylin's audit-log replay, which keeps NProjectManager's cache current).
     */
    long projectCacheRefreshMs() {
        return Math.max(1, (long) dbl("kylin.emu.project-cache-refresh-ms", 1000));
    }

    /** AddressUtil.getLocalInstance: kylin.env.ip-address (or --ip) + ":" + server.port. */
    String localInstance() {
        return get("kylin.env.ip-address", ip) + ":" + port;
    }
}
