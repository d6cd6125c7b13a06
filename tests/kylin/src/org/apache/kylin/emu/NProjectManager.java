package org.apache.kylin.emu;

import java.nio.charset.StandardCharsets;
import java.util.Collections;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.UUID;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;

/**
 * Project metadata as NProjectManager / ProjectService keep it: getProject falling back to a
 * case-insensitive match, creation refused for a name that exists in any case, names
 * [A-Za-z0-9_] up to 50 characters (NProjectController, NBasicController.MAX_NAME_LENGTH),
 * content compressed per kylin.metadata.compress.enabled.
 *
 * Lookups are served from an in-memory copy of the project list, as Kylin serves
 * NProjectManager.getProject / listAllProjects from its ResourceStore cache (kept current by
 * the audit-log replay, AbstractAuditLogReplayWorker, protocol doc sections 3 and 5), not by a
 * metastore scan per call. The copy is re-read from the table every
 * kylin.emu.project-cache-refresh-ms (test-only key; the emulator writes no audit log, so a
 * periodic re-read stands for the replay), after this node's own create/drop (Kylin's
 * UnitOfWork updates the local cache at commit), and once on a miss (a name not in the copy:
 * a project another node or a test has just written is found at once rather than after the
 * next replay; Kylin would answer PROJECT_NOT_EXIST until its replay caught up).
 */
final class NProjectManager {
    /** One read of the project list: stored names, exact set, lower-case name -> first stored name. */
    private static final class Snapshot {
        final List<String> names;
        final Set<String> exact;
        final Map<String, String> lower;

        Snapshot(List<String> names) {
            this.names = Collections.unmodifiableList(names);
            this.exact = new HashSet<>(names);
            this.lower = new HashMap<>();
            for (String n : names) {
                lower.putIfAbsent(n.toLowerCase(Locale.ROOT), n); // the first match, in table order
            }
        }

        String find(String name) {
            if (exact.contains(name)) {
                return name;
            }
            String p = lower.get(name.toLowerCase(Locale.ROOT));
            return p != null && p.equalsIgnoreCase(name) ? p : null;
        }
    }

    private final ProjectTable table;
    private final boolean compress;
    private volatile Snapshot cache; // null until the first read
    private ScheduledExecutorService refresher;

    NProjectManager(ProjectTable table, boolean compress) {
        this.table = table;
        this.compress = compress;
    }

    ProjectTable table() {
        return table;
    }

    /** Starts the periodic re-read (after the table exists). */
    synchronized void start(long refreshMs) {
        refresher = Executors.newSingleThreadScheduledExecutor(r -> {
            Thread t = new Thread(r, "project-cache");
            t.setDaemon(true);
            return t;
        });
        refresher.scheduleWithFixedDelay(() -> {
            try {
                refresh();
            } catch (RuntimeException e) {
                Log.warn("re-read of the project list failed (keeping the cached one): " + e.getMessage());
            }
        }, refreshMs, refreshMs, TimeUnit.MILLISECONDS);
    }

    synchronized void shutdown() {
        if (refresher != null) {
            refresher.shutdownNow();
            refresher = null;
        }
    }

    /** Re-reads the project list from the metastore; a failure throws and keeps the old copy. */
    private Snapshot refresh() {
        List<String> names;
        try {
            names = table.listProjects();
        } catch (Exception e) {
            throw new IllegalStateException(e);
        }
        Snapshot s = new Snapshot(names);
        cache = s;
        return s;
    }

    private Snapshot snapshot() {
        Snapshot s = cache;
        return s != null ? s : refresh();
    }

    /** NProjectManager.listAllProjects, names only (the cached list; do not modify). */
    List<String> listAllProjectNames() {
        return snapshot().names;
    }

    /** The exact name is a project (EpochManager.checkEpochValid's lookup); a miss re-reads once. */
    boolean exists(String name) {
        return snapshot().exact.contains(name) || refresh().exact.contains(name);
    }

    /** NProjectManager.getProject: exact name, else the first equalsIgnoreCase match; the stored name or null. */
    String getProject(String name) {
        String p = snapshot().find(name);
        return p != null ? p : refresh().find(name);
    }

    /** The JSON fields of ProjectInstance / RootPersistentEntity (protocol doc section 5). */
    static String projectJson(String name, String uuid, long now) {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("uuid", uuid);
        m.put("last_modified", now);
        m.put("create_time", now);
        m.put("version", "4.0.0.0");
        m.put("name", name);
        m.put("owner", "ADMIN");
        m.put("status", "ENABLED");
        m.put("create_time_utc", now);
        m.put("default_database", "DEFAULT");
        m.put("description", "");
        m.put("maintain_model_type", "MANUAL_MAINTAIN");
        m.put("override_kylin_properties", new LinkedHashMap<>());
        m.put("segment_config", new LinkedHashMap<>());
        return Json.write(m);
    }

    /** Validation of NProjectController.saveProject; null if fine, else Kylin's error text. */
    static String checkName(String name) {
        if (name == null || name.isEmpty()) {
            return "INVALID_PROJECT_NAME: Please use a project name";
        }
        if (!name.matches("[A-Za-z0-9_]+")) {
            return "INVALID_PROJECT_NAME: Please use only letters, numbers and underscores";
        }
        if (name.length() > 50) {
            return "INVALID_PROJECT_NAME: The project name can't exceed 50 characters";
        }
        return null;
    }

    /** ProjectService.createProject / NProjectManager.createProject; the error text or null. */
    String createProject(String name) throws Exception {
        String bad = checkName(name);
        if (bad != null) {
            return bad;
        }
        if (getProject(name) != null) {
            return "DUPLICATE_PROJECT_NAME: Project name \"" + name + "\" already exists";
        }
        long now = System.currentTimeMillis();
        String uuid = UUID.randomUUID().toString();
        byte[] json = projectJson(name, uuid, now).getBytes(StandardCharsets.UTF_8);
        if (!table.insert(name, uuid, compress ? CompressionUtils.compress(json) : json, now)) {
            return "DUPLICATE_PROJECT_NAME: Project name \"" + name + "\" already exists";
        }
        refresh(); // the committed write is in this node's cache at once
        return null;
    }

    void dropProject(String storedName) throws Exception {
        table.delete(storedName);
        refresh();
    }
}
