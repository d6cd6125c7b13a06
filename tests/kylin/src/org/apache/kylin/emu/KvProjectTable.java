package org.apache.kylin.emu;

import java.nio.charset.StandardCharsets;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.util.ArrayList;
import java.util.List;
import java.util.UUID;

/**
 * Kylin 5 @ Dec 2023 metastore: one key/value table {@code <identifier>} (JdbcMetadataStore,
 * DDL from metadata-jdbc-*.properties), projects under /_global/project/NAME.json
 * (ResourceStore.PROJECT_ROOT, ProjectInstance.concatResourcePath), listed as
 * JdbcMetadataStore.listProjects does.
 */
final class KvProjectTable implements ProjectTable {
    static final String PROJECT_ROOT = "/_global/project/";
    private final Db db;
    private final String table;

    KvProjectTable(Db db, String identifier) {
        this.db = db;
        this.table = identifier;
    }

    @Override
    public void createIfNotExist() throws SQLException {
        String ddl = db.isPostgres()
                ? "create table if not exists " + table + " ( META_TABLE_KEY varchar(255) primary key COLLATE \"C\","
                        + " META_TABLE_CONTENT bytea, META_TABLE_TS bigint, META_TABLE_MVCC bigint )"
                : "create table if not exists " + table + " ( META_TABLE_KEY varchar(255) primary key COLLATE utf8_bin,"
                        + " META_TABLE_CONTENT longblob, META_TABLE_TS bigint, META_TABLE_MVCC bigint )"
                        + " ENGINE=INNODB DEFAULT CHARSET=utf8";
        db.createTable(table, ddl);
    }

    @Override
    public List<String> listProjects() throws SQLException {
        return db.tx(c -> {
            List<String> l = new ArrayList<>();
            try (PreparedStatement ps = c.prepareStatement("SELECT META_TABLE_KEY FROM " + table
                    + " WHERE META_TABLE_KEY LIKE ?")) {
                ps.setString(1, PROJECT_ROOT + "%.json");
                try (ResultSet rs = ps.executeQuery()) {
                    while (rs.next()) {
                        String k = rs.getString(1);
                        String rest = k.substring(PROJECT_ROOT.length());
                        if (!rest.contains("/")) {
                            l.add(rest.substring(0, rest.length() - ".json".length()));
                        }
                    }
                }
            }
            return l;
        });
    }

    private boolean put(String key, byte[] content, long ts) throws SQLException {
        return db.tx(c -> {
            try (PreparedStatement q = c.prepareStatement("SELECT 1 FROM " + table + " WHERE META_TABLE_KEY = ?")) {
                q.setString(1, key);
                try (ResultSet rs = q.executeQuery()) {
                    if (rs.next()) {
                        return false;
                    }
                }
            }
            try (PreparedStatement ps = c.prepareStatement("INSERT INTO " + table
                    + " (META_TABLE_KEY, META_TABLE_CONTENT, META_TABLE_TS, META_TABLE_MVCC) VALUES (?, ?, ?, ?)")) {
                ps.setString(1, key);
                ps.setBytes(2, content);
                ps.setLong(3, ts);
                ps.setLong(4, 0);
                return ps.executeUpdate() == 1;
            }
        });
    }

    private int remove(String key) throws SQLException {
        return db.tx(c -> {
            try (PreparedStatement ps = c.prepareStatement("DELETE FROM " + table + " WHERE META_TABLE_KEY = ?")) {
                ps.setString(1, key);
                return ps.executeUpdate();
            }
        });
    }

    private byte[] get(String key) throws SQLException {
        return db.tx(c -> {
            try (PreparedStatement ps = c.prepareStatement("SELECT META_TABLE_CONTENT FROM " + table
                    + " WHERE META_TABLE_KEY = ?")) {
                ps.setString(1, key);
                try (ResultSet rs = ps.executeQuery()) {
                    return rs.next() ? rs.getBytes(1) : null;
                }
            }
        });
    }

    @Override
    public boolean insert(String name, String uuid, byte[] content, long ts) throws SQLException {
        return put(PROJECT_ROOT + name + ".json", content, ts);
    }

    @Override
    public void delete(String name) throws SQLException {
        remove(PROJECT_ROOT + name + ".json");
    }

    @Override
    public byte[] content(String name) throws SQLException {
        return get(PROJECT_ROOT + name + ".json");
    }

    /** MetaStoreHealthIndicator (job/all node): write, read, delete /_health/UUID. */
    @Override
    public long[] healthRoundTrip() throws SQLException {
        String key = "/_health/" + UUID.randomUUID();
        long t0 = System.nanoTime();
        put(key, "{}".getBytes(StandardCharsets.UTF_8), System.currentTimeMillis());
        long t1 = System.nanoTime();
        get(key);
        long t2 = System.nanoTime();
        remove(key);
        long t3 = System.nanoTime();
        return new long[] { (t1 - t0) / 1000000, (t2 - t1) / 1000000, (t3 - t2) / 1000000 };
    }

    @Override
    public void writeProbe(String project, long ts) throws SQLException {
        String key = "/" + project + "/emu/probe.json";
        remove(key);
        put(key, ("{\"ts\":" + ts + "}").getBytes(StandardCharsets.UTF_8), ts);
    }
}
