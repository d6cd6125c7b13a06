package org.apache.kylin.emu;

import java.io.IOException;
import java.net.URLDecoder;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;

/** Test hooks under /emu: simulated events (ZooKeeper change, reload, stop, health) and the report. */
final class EmuApi {
    private final Node node;

    EmuApi(Node node) {
        this.node = node;
    }

    void register(HttpServer s) {
        s.createContext("/emu/report", Http.safe(ex -> Http.json(ex, 200, report())));
        s.createContext("/emu/zk-change", Http.safe(this::zkChange));
        s.createContext("/emu/health-down", Http.safe(this::healthDown));
        s.createContext("/emu/stop", Http.safe(this::stop));
        s.createContext("/emu/reload", Http.safe(this::reload));
        s.createContext("/emu/maintenance", Http.safe(this::maintenance));
        s.createContext("/emu/projects", Http.safe(this::projects));
        s.createContext("/emu/write", Http.safe(this::write));
        s.createContext("/emu/slow-broadcast", Http.safe(this::slowBroadcast));
    }

    private static Map<String, Object> ok(Object... kv) {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("ok", true);
        for (int k = 0; k + 1 < kv.length; k += 2) {
            m.put(kv[k].toString(), kv[k + 1]);
        }
        return m;
    }

    private static boolean post(HttpExchange ex) throws IOException {
        if (!"POST".equals(ex.getRequestMethod())) {
            Http.json(ex, 405, Collections.singletonMap("error", "POST only"));
            return false;
        }
        return true;
    }

    /** Which projects run here and whether checkEpochOwner holds (what a Kylin write would check). */
    Map<String, Object> report() {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("identity", node.identity);
        m.put("alive", !node.isStopping());
        m.put("mode", node.config.serverMode());
        Map<String, Long> running = NDefaultScheduler.running();
        m.put("projects_running", new ArrayList<>(running.keySet()));
        Map<String, Object> owner = new TreeMap<>();
        try {
            for (String p : node.em.listProjectWithPermission()) {
                owner.put(p, node.em.safeCheckEpochOwner(p));
            }
        } catch (Exception e) {
            m.put("error", e.toString());
        }
        m.put("owner_check", owner);
        m.put("epoch_ids", running);
        m.put("runner_dead", NDefaultScheduler.runnerDead());
        m.put("last_renew_epoch_set", new ArrayList<>(new java.util.TreeSet<>(node.em.epochUpdateManager.lastRenewEpochSet)));
        m.put("checker_running", node.eo.isCheckerRunning());
        m.put("zk_members", node.zk == null ? new ArrayList<>() : new ArrayList<>(node.zk.handledMembers()));
        m.put("health", node.health.isUp() ? "UP" : "DOWN");
        m.put("writes", node.store.writes.get());
        m.put("broadcasts", node.broadcasts.get());
        m.put("broadcasts_running", node.broadcastsRunning.get());
        m.put("broadcasts_running_max", node.broadcastsRunningMax.get());
        return m;
    }

    /** Test fault: {"ms": N} makes every broadcast take N ms more before its updateAllEpochs. */
    private void slowBroadcast(HttpExchange ex) throws IOException {
        if (post(ex)) {
            Object ms = Http.jsonBody(Http.body(ex)).get("ms");
            node.broadcastDelayMs = ms instanceof Number ? ((Number) ms).longValue() : 0;
            Http.json(ex, 200, ok("ms", node.broadcastDelayMs));
        }
    }

    /** A ZooKeeper membership change seen by KylinServiceDiscoveryCache: updateAllEpochs. */
    private void zkChange(HttpExchange ex) throws IOException {
        if (post(ex)) {
            Http.body(ex);
            if (node.config.isJobNode()) {
                node.em.updateAllEpochs();
            }
            Http.json(ex, 200, ok());
        }
    }

    private void healthDown(HttpExchange ex) throws IOException {
        if (post(ex)) {
            Object d = Http.jsonBody(Http.body(ex)).get("down");
            node.health.forceDown(d == null || Boolean.TRUE.equals(d));
            Http.json(ex, 200, ok("health", node.health.isUp() ? "UP" : "DOWN"));
        }
    }

    /** Graceful stop (BootstrapServer shutdown): answer first, then stop and exit. */
    private void stop(HttpExchange ex) throws IOException {
        if (post(ex)) {
            Http.body(ex);
            Http.json(ex, 200, ok());
            Thread t = new Thread(() -> System.exit(0), "emu-stop");
            t.start();
        }
    }

    /** Metadata reload: phase start (StartReloadEvent), end (EndReloadEvent), or both (default). */
    private void reload(HttpExchange ex) throws IOException {
        if (post(ex)) {
            Object ph = Http.jsonBody(Http.body(ex)).get("phase");
            String phase = ph == null ? "both" : ph.toString();
            if (!node.config.isJobNode()) {
                Http.json(ex, 200, ok("note", "query node: no orchestrator"));
                return;
            }
            if (phase.equals("start") || phase.equals("both")) {
                node.eo.onStartReload();
            }
            if (phase.equals("end") || phase.equals("both")) {
                node.eo.onEndReload();
            }
            Http.json(ex, 200, ok());
        }
    }

    /** EpochManager.setMaintenanceMode / unsetMaintenanceMode (MaintenanceModeService). */
    private void maintenance(HttpExchange ex) throws IOException {
        if (post(ex)) {
            Map<String, Object> b = Http.jsonBody(Http.body(ex));
            boolean on = Boolean.TRUE.equals(b.get("on"));
            String reason = b.get("reason") == null ? (on ? "emu" : null) : b.get("reason").toString();
            try {
                Http.json(ex, 200, ok("changed", node.em.switchMaintenanceMode(on, reason)));
            } catch (Exception e) {
                Http.json(ex, 500, Collections.singletonMap("error", e.toString()));
            }
        }
    }

    /** A metadata write for a project through EnhancedUnitOfWork (checkEpochOwner, epoch_id). */
    private void write(HttpExchange ex) throws IOException {
        if (post(ex)) {
            Object p = Http.jsonBody(Http.body(ex)).get("project");
            String name = p == null ? "" : p.toString();
            String stored = EpochManager.GLOBAL.equals(name) ? name : node.projects.getProject(name);
            if (stored == null) {
                Http.json(ex, 200, Map.of("ok", false, "error", "PROJECT_NOT_EXIST"));
                return;
            }
            try {
                node.uow.doInTransactionWithCheck(stored,
                        () -> node.projects.table().writeProbe(stored, System.currentTimeMillis()));
                Http.json(ex, 200, ok());
            } catch (Exception e) {
                Http.json(ex, 200, Map.of("ok", false, "error", String.valueOf(e.getMessage())));
            }
        }
    }

    /** /emu/projects: GET list, POST {"name"} create, DELETE /emu/projects/NAME drop. */
    private void projects(HttpExchange ex) throws IOException {
        String rest = ex.getRequestURI().getPath().substring("/emu/projects".length());
        String name = rest.startsWith("/") ? URLDecoder.decode(rest.substring(1), StandardCharsets.UTF_8) : "";
        String method = ex.getRequestMethod();
        try {
            if (method.equals("GET")) {
                List<String> l = new ArrayList<>(node.projects.listAllProjectNames());
                Collections.sort(l);
                Http.json(ex, 200, l);
            } else if (method.equals("POST") && name.isEmpty()) {
                String body = Http.body(ex);
                if (!route(ex, EpochManager.GLOBAL, body)) {
                    Object n = Http.jsonBody(body).get("name");
                    createProject(ex, n == null ? null : n.toString());
                }
            } else if (method.equals("DELETE") && !name.isEmpty()) {
                String stored = node.projects.getProject(name);
                if (stored == null) {
                    Http.kylinError(ex, 400, "PROJECT_NOT_EXIST", "Can't find project \"" + name + "\".");
                } else if (!route(ex, stored, "")) {
                    dropProject(ex, stored);
                }
            } else {
                Http.json(ex, 405, Collections.singletonMap("error", "unsupported"));
            }
        } catch (Exception e) {
            Http.kylinError(ex, 500, "FAILED_UPDATE_METADATA", e.toString());
        }
    }

    /**
     * QueryNodeFilter / ProjectBasedLoadBalancer: a project's request goes to its legal owner
     * (SYSTEM_IS_RECOVER when there is none). True if answered here (forwarded or refused).
     */
    private boolean route(HttpExchange ex, String unit, String body) throws IOException {
        if (Http.routed(ex)) {
            return false;
        }
        String owner = node.em.safeOwnerAddress(unit);
        if (owner == null) {
            Http.kylinError(ex, 500, "SYSTEM_IS_RECOVER", "System is trying to recover service. Please try again later.");
            return true;
        }
        if (owner.equals(node.config.localInstance())) {
            return false;
        }
        Http.forward(ex, owner, body);
        return true;
    }

    /**
     * NProjectController.saveProject -> ProjectService.createProject (in a _global
     * transaction: EnhancedUnitOfWork checks checkEpochOwner(_global)), then
     * epochService.updateEpoch([name], false, false).
     */
    private void createProject(HttpExchange ex, String name) throws Exception {
        String[] err = new String[1];
        node.uow.doInTransactionWithCheck(EpochManager.GLOBAL, () -> err[0] = node.projects.createProject(name));
        if (err[0] != null) {
            Http.kylinError(ex, 400, err[0].split(":")[0], err[0].substring(err[0].indexOf(':') + 1).trim());
            return;
        }
        node.em.updateEpochWithNotifier(name, false);
        Map<String, Object> data = new LinkedHashMap<>();
        data.put("name", name);
        Http.send(ex, 200, Http.KYLIN_JSON, Json.write(Http.envelope("000", data, "")));
    }

    /** ProjectService.dropProject, then ProjectDropListener.onDelete: schedulers down, deleteEpoch. */
    private void dropProject(HttpExchange ex, String stored) throws Exception {
        node.projects.dropProject(stored);
        NDefaultScheduler.shutdownByProject(stored);
        node.em.deleteEpoch(stored);
        Http.send(ex, 200, Http.KYLIN_JSON, "{\"code\":\"000\",\"data\":\"\",\"msg\":\"\"}");
    }
}
