package org.apache.kylin.emu;

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.UUID;

/**
 * Project metadata as NProjectManager / ProjectService keep it: names read from the metastore
 * (Kylin reads its audit-log-synced cache; the emulator reads the table every time),
 * getProject falling back to a case-insensitive match, creation refused for a name that
 * exists in any case, names [A-Za-z0-9_] up to 50 characters (NProjectController,
 * NBasicController.MAX_NAME_LENGTH), content compressed per kylin.metadata.compress.enabled.
 */
final class NProjectManager {
    private final ProjectTable table;
    private final boolean compress;

    NProjectManager(ProjectTable table, boolean compress) {
        this.table = table;
        this.compress = compress;
    }

    ProjectTable table() {
        return table;
    }

    /** NProjectManager.listAllProjects, names only. */
    List<String> listAllProjectNames() {
        try {
            return new ArrayList<>(table.listProjects());
        } catch (Exception e) {
            throw new IllegalStateException(e);
        }
    }

    /** NProjectManager.getProject: exact name, else the first equalsIgnoreCase match; the stored name or null. */
    String getProject(String name) {
        List<String> all = listAllProjectNames();
        if (all.contains(name)) {
            return name;
        }
        for (String p : all) {
            if (p.equalsIgnoreCase(name)) {
                return p;
            }
        }
        return null;
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
        return null;
    }

    void dropProject(String storedName) throws Exception {
        table.delete(storedName);
    }
}
