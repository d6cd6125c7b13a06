package org.apache.kylin.emu;

import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.util.ArrayList;
import java.util.List;

/**
 * The later Kylin 5 code line (commit 6e6b1a80, protocol doc section 5): per-type tables,
 * projects in {@code <identifier>_project} (create.metadata.store.table, first statement; the
 * other per-type tables are not created). meta_key = project name (inference in the doc).
 * Only for tests that a coordinator detects this schema and refuses it.
 */
final class LaterProjectTable implements ProjectTable {
    private final Db db;
    private final String id;
    private final String table;

    LaterProjectTable(Db db, String identifier) {
        this.db = db;
        this.id = identifier;
        this.table = identifier + "_project";
    }

    @Override
    public void createIfNotExist() throws SQLException {
        String ddl = db.isPostgres()
                ? "CREATE TABLE IF NOT EXISTS " + table + " ( id bigserial NOT NULL, meta_key varchar(255) NOT NULL,"
                        + " uuid CHAR(36) COLLATE \"C\" NOT NULL, name varchar(255) NOT NULL, mvcc bigint NOT NULL,"
                        + " ts bigint NOT NULL, content bytea NOT NULL, reserved_filed_1 varchar(50),"
                        + " reserved_filed_2 bytea, reserved_filed_3 bytea,"
                        + " CONSTRAINT " + id + "_PROJECT_PK PRIMARY KEY (id),"
                        + " CONSTRAINT " + id + "_PROJECT_UK2 UNIQUE (meta_key),"
                        + " CONSTRAINT " + id + "_PROJECT_UK1 UNIQUE (uuid),"
                        + " CONSTRAINT " + id + "_PROJECT_UK3 UNIQUE (name) )"
                : "CREATE TABLE IF NOT EXISTS `" + table + "` ( `id` bigint unsigned NOT NULL AUTO_INCREMENT,"
                        + " `meta_key` varchar(255) NOT NULL, `uuid` CHAR(36) NOT NULL COLLATE utf8_bin,"
                        + " `name` varchar(255) NOT NULL, `mvcc` bigint NOT NULL, `ts` bigint NOT NULL,"
                        + " `content` longblob NOT NULL, `reserved_filed_1` varchar(50), `reserved_filed_2` longblob,"
                        + " `reserved_filed_3` longblob, CONSTRAINT `" + id + "_PROJECT_PK` PRIMARY KEY (id),"
                        + " CONSTRAINT `" + id + "_PROJECT_UK1` UNIQUE (uuid),"
                        + " CONSTRAINT `" + id + "_PROJECT_UK2` UNIQUE (`meta_key`),"
                        + " CONSTRAINT `" + id + "_PROJECT_UK3` UNIQUE (name) ) ENGINE = InnoDB DEFAULT CHARSET=utf8"
                        + " ROW_FORMAT = DYNAMIC";
        db.createTable(table, ddl);
    }

    @Override
    public List<String> listProjects() throws SQLException {
        return db.tx(c -> {
            List<String> l = new ArrayList<>();
            try (PreparedStatement ps = c.prepareStatement("SELECT name FROM " + table);
                    ResultSet rs = ps.executeQuery()) {
                while (rs.next()) {
                    l.add(rs.getString(1));
                }
            }
            return l;
        });
    }

    @Override
    public boolean insert(String name, String uuid, byte[] content, long ts) throws SQLException {
        return db.tx(c -> {
            try (PreparedStatement ps = c.prepareStatement("INSERT INTO " + table
                    + " (meta_key, uuid, name, mvcc, ts, content) VALUES (?, ?, ?, 0, ?, ?)")) {
                ps.setString(1, name);
                ps.setString(2, uuid);
                ps.setString(3, name);
                ps.setLong(4, ts);
                ps.setBytes(5, content);
                return ps.executeUpdate() == 1;
            }
        });
    }

    @Override
    public void delete(String name) throws SQLException {
        db.tx(c -> {
            try (PreparedStatement ps = c.prepareStatement("DELETE FROM " + table + " WHERE name = ?")) {
                ps.setString(1, name);
                return ps.executeUpdate();
            }
        });
    }

    @Override
    public byte[] content(String name) throws SQLException {
        return db.tx(c -> {
            try (PreparedStatement ps = c.prepareStatement("SELECT content FROM " + table + " WHERE name = ?")) {
                ps.setString(1, name);
                try (ResultSet rs = ps.executeQuery()) {
                    return rs.next() ? rs.getBytes(1) : null;
                }
            }
        });
    }

    @Override
    public long[] healthRoundTrip() throws SQLException {
        long t0 = System.nanoTime();
        listProjects();
        return new long[] { (System.nanoTime() - t0) / 1000000 };
    }

    @Override
    public void writeProbe(String project, long ts) throws SQLException {
        db.tx(c -> {
            try (PreparedStatement ps = c.prepareStatement("UPDATE " + table + " SET ts = ? WHERE name = ?")) {
                ps.setLong(1, ts);
                ps.setString(2, project);
                return ps.executeUpdate();
            }
        });
    }
}
