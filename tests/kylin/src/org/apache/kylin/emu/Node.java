package org.apache.kylin.emu;

import java.net.InetSocketAddress;
import java.util.concurrent.Executors;

import com.sun.net.httpserver.HttpServer;

/** One emulated Kylin node: its stores, epoch machinery, discovery, health and HTTP server, and their order. */
final class Node {
    final Config config;
    final MetadataUrl url;
    String identity;
    JdbcEpochStore store;
    NProjectManager projects;
    EventBus bus;
    EpochManager em;
    EnhancedUnitOfWork uow;
    EpochOrchestrator eo;
    ServiceDiscovery zk;
    MetaStoreHealthIndicator health;
    private HttpServer http;
    private volatile boolean stopping;
    /** Test fault (/emu/slow-broadcast): extra time a broadcast's updateAllEpochs takes, standing
     *  in for a node that renews thousands of rows; broadcasts received and still running. */
    volatile long broadcastDelayMs;
    final java.util.concurrent.atomic.AtomicLong broadcasts = new java.util.concurrent.atomic.AtomicLong();
    final java.util.concurrent.atomic.AtomicInteger broadcastsRunning = new java.util.concurrent.atomic.AtomicInteger();
    final java.util.concurrent.atomic.AtomicInteger broadcastsRunningMax = new java.util.concurrent.atomic.AtomicInteger();
    private Db epochDb;
    private Db metaDb;
    private Db healthDb;

    Node(Config config, MetadataUrl url) {
        this.config = config;
        this.url = url;
    }

    private ProjectTable table(Db db) {
        return "later".equals(config.schema) ? new LaterProjectTable(db, url.identifier)
                : new KvProjectTable(db, url.identifier);
    }

    void start() throws Exception {
        identity = EpochOrchestrator.getOwnerIdentity(config); // taken once, at start
        Log.info("identity " + identity);
        epochDb = new Db(url, "kylin-emu-epoch-" + config.port);
        metaDb = new Db(url, "kylin-emu-meta-" + config.port);
        healthDb = new Db(url, "kylin-emu-health-" + config.port);
        ProjectTable table = table(metaDb);
        projects = new NProjectManager(table, config.compressEnabled());
        store = new JdbcEpochStore(epochDb, url.identifier);
        bus = new EventBus();
        em = new EpochManager(config, store, projects, bus, identity);
        uow = new EnhancedUnitOfWork(em);
        em.setListener(new EpochChangedListener(em, uow));
        NDefaultScheduler.epochManager = em;
        NDefaultScheduler.pollMs = config.schedulerPollMs();
        health = new MetaStoreHealthIndicator(table(healthDb), config.healthErrorResponseMs(), config.isJobNode());

        http = HttpServer.create(new InetSocketAddress(config.ip, config.port), 64);
        // Kylin's embedded Tomcat serves requests on up to 200 worker threads (Spring Boot's
        // server.tomcat.threads.max default): a health probe is answered while slow claims and
        // broadcasts (updateAllEpochs over thousands of rows) hold other threads
        http.setExecutor(Executors.newFixedThreadPool(200));
        new KylinApi(this).register(http);
        new EmuApi(this).register(http);
        http.start(); // health answers DOWN until the first metastore check passes

        table.createIfNotExist();
        store.createIfNotExist(); // JdbcEpochStore.createIfNotExist at start-up
        projects.start(config.projectCacheRefreshMs()); // the metadata sync keeping the project cache current
        eo = new EpochOrchestrator(config, em); // start-up epoch check, then timers
        health.start(config.healthCheckIntervalMs(), config.healthFirstDelayMs()); // after AfterMetadataReadyEvent
        zk = new ServiceDiscovery(new Db(url, "kylin-emu-zk-" + config.port), url.identifier, identity, config.serverMode(),
                config.zkPollMs(), () -> {
                    if (config.isJobNode() && !stopping) {
                        em.updateAllEpochs(); // KylinServiceDiscoveryCache on an all/job change
                    }
                });
        zk.start();
        Log.info("Kylin initialization completed.");
    }

    boolean isStopping() {
        return stopping;
    }

    /** The _global row's legal owner as host:port (QueryNodeFilter's routing target). */
    String globalOwnerAddress() {
        return em.safeOwnerAddress(EpochManager.GLOBAL);
    }

    /** Graceful stop (BootstrapServer): release owned rows, stop schedulers, de-register. */
    synchronized void stop() {
        if (stopping) {
            return;
        }
        stopping = true;
        Log.info("stopping " + identity);
        if (eo != null) {
            eo.shutdown();
        }
        if (em != null && config.isJobNode()) {
            try {
                em.releaseOwnedEpochs(); // EpochManager.releaseOwnedEpochs
            } catch (Exception e) {
                Log.warn("release of owned epochs failed: " + e);
            }
        }
        NDefaultScheduler.shutdownAll();
        if (zk != null) {
            zk.deregister(); // peers see the change and run updateAllEpochs
        }
        if (health != null) {
            health.shutdown();
        }
        if (bus != null) {
            bus.shutdown();
        }
        if (em != null) {
            em.shutdown();
        }
        if (projects != null) {
            projects.shutdown();
        }
        if (http != null) {
            http.stop(0);
        }
        for (Db d : new Db[] { epochDb, metaDb, healthDb }) {
            if (d != null) {
                d.close();
            }
        }
        Log.info("stopped");
    }
}
