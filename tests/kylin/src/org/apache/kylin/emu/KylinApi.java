package org.apache.kylin.emu;

import java.io.IOException;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;

/**
 * Kylin's own REST endpoints under the /kylin servlet context: NEpochController (+EpochService)
 * /api/epoch and /api/epoch/all, BroadcastController /api/broadcast, actuator /api/health.
 */
final class KylinApi {
    private static final String OK = "{\"code\":\"000\",\"data\":\"\",\"msg\":\"\"}";
    private final Node node;

    KylinApi(Node node) {
        this.node = node;
    }

    void register(HttpServer s) {
        s.createContext("/kylin/api/epoch", Http.safe(this::epoch));
        s.createContext("/kylin/api/broadcast", Http.safe(this::broadcast));
        s.createContext("/kylin/api/health", Http.safe(this::health));
    }

    private void epoch(HttpExchange ex) throws IOException {
        try {
            if (!"POST".equals(ex.getRequestMethod())) {
                Http.kylinError(ex, 405, "UNSUPPORTED", "Request method '" + ex.getRequestMethod() + "' not supported");
                return;
            }
            String path = ex.getRequestURI().getPath();
            Map<String, Object> req = Http.jsonBody(Http.body(ex));
            boolean force = Boolean.TRUE.equals(req.get("force"));
            boolean client = Boolean.TRUE.equals(req.get("client"));
            if (path.equals("/kylin/api/epoch/all")) {
                updateAll(ex, force, client);
            } else if (path.equals("/kylin/api/epoch")) {
                update(ex, req.get("projects"), force, client);
            } else {
                Http.kylinError(ex, 404, "NOT_FOUND", "No handler for " + path);
            }
        } catch (IllegalArgumentException e) {
            Http.kylinError(ex, 400, "INVALID_PARAMETER", "Bad request body: " + e.getMessage());
        }
    }

    /**
     * NEpochController.updateEpochOwner -> EpochService.updateEpoch: projects required and each
     * must exist (checkProjectName, case-insensitive lookup, PROJECT_NOT_EXIST), then no auth
     * when client=true (permitAll path; else checkIsGlobalAdmin), then updateEpochWithNotifier
     * per project with the name as given, failures swallowed, always code 000. The refusals
     * are KylinExceptions, which NBasicController.handleErrorCode answers with HTTP 500
     * (@ResponseStatus(INTERNAL_SERVER_ERROR) @ExceptionHandler(KylinException.class)).
     */
    private void update(HttpExchange ex, Object projectsArg, boolean force, boolean client) throws IOException {
        List<String> names = new ArrayList<>();
        if (projectsArg instanceof List) {
            for (Object o : (List<?>) projectsArg) {
                names.add(String.valueOf(o));
            }
        }
        if (names.isEmpty()) {
            Http.kylinError(ex, 500, "EMPTY_PARAMETER", "'projects' is required.");
            return;
        }
        for (String p : names) {
            if (node.projects.getProject(p) == null) {
                Http.kylinError(ex, 500, "PROJECT_NOT_EXIST",
                        "Can't find project \"" + p + "\". Please check and try again.");
                return;
            }
        }
        if (!client && Http.basicUser(ex) == null) {
            Http.kylinError(ex, 403, "ACCESS_DENIED", "Access is denied");
            return;
        }
        for (String p : names) {
            node.em.updateEpochWithNotifier(p, force);
        }
        Http.send(ex, 200, Http.KYLIN_JSON, OK);
    }

    /** EpochService.updateAllEpochs: authenticated path; every project plus _global. */
    private void updateAll(HttpExchange ex, boolean force, boolean client) throws IOException {
        if (Http.basicUser(ex) == null) {
            Http.kylinError(ex, 401, "USER_UNAUTHORIZED", "Unauthorized: full authentication is required");
            return;
        }
        List<String> all = new ArrayList<>(node.projects.listAllProjectNames());
        all.add(EpochManager.GLOBAL);
        for (String p : all) {
            node.em.updateEpochWithNotifier(p, force);
        }
        Http.send(ex, 200, Http.KYLIN_JSON, OK);
    }

    /**
     * BroadcastController.broadcastReceive: without header routed: true, QueryNodeFilter sends
     * the POST to the _global owner; EpochCheckBroadcastNotifier -> EpochManager.updateAllEpochs,
     * synchronously (BroadcastListener). Run on job/all nodes only (inference: the orchestrator's
     * beans do not run on query nodes).
     */
    private void broadcast(HttpExchange ex) throws IOException {
        String body = Http.body(ex);
        if (!Http.routed(ex)) {
            String owner = node.globalOwnerAddress();
            if (owner != null && !owner.equals(node.config.localInstance())) {
                Http.forward(ex, owner, body);
                return;
            }
        }
        Object cls;
        try {
            cls = Http.jsonBody(body).get("@class");
        } catch (IllegalArgumentException e) {
            Http.kylinError(ex, 400, "INVALID_PARAMETER", "Bad request body: " + e.getMessage());
            return;
        }
        if (cls != null && cls.toString().endsWith(".EpochCheckBroadcastNotifier") && node.config.isJobNode()) {
            node.broadcasts.incrementAndGet();
            int running = node.broadcastsRunning.incrementAndGet();
            node.broadcastsRunningMax.accumulateAndGet(running, Math::max);
            try {
                long delay = node.broadcastDelayMs;
                if (delay > 0) {
                    try {
                        Thread.sleep(delay); // the test fault: a long updateAllEpochs, run to the end
                    } catch (InterruptedException e) {
                        Thread.currentThread().interrupt();
                    }
                }
                node.em.updateAllEpochs();
            } finally {
                node.broadcastsRunning.decrementAndGet();
            }
        }
        Http.send(ex, 200, Http.KYLIN_JSON, OK);
    }

    /** Actuator health with the metaStore component (MetaStoreHealthIndicator); 503 when DOWN. */
    private void health(HttpExchange ex) throws IOException {
        boolean up = node.health.isUp();
        Map<String, Object> meta = new LinkedHashMap<>();
        meta.put("status", up ? "UP" : "DOWN");
        if (!up && node.health.detail() != null) {
            Map<String, Object> d = new LinkedHashMap<>();
            d.put("error", node.health.detail());
            meta.put("details", d);
        }
        Map<String, Object> comps = new LinkedHashMap<>();
        comps.put("metaStore", meta);
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("status", up ? "UP" : "DOWN");
        m.put("components", comps);
        Http.send(ex, up ? 200 : 503, "application/vnd.spring-boot.actuator.v3+json", Json.write(m));
    }
}
