package org.apache.kylin.emu;

import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicLong;

/**
 * The epoch table {@code <identifier>_epoch}, following JdbcEpochStore: Kylin's DDL per dialect
 * (metadata-jdbc-postgresql/mysql.properties create.epoch.store.table), its INSERT, its
 * optimistic UPDATE on mvcc (binds mvcc+1, matches the old mvcc; no row matched = failure,
 * FAILED_UPDATE_METADATA), updateBatch checking the summed row count, and delete.
 * Difference: the target is a bound parameter in the by-target SELECT (Kylin formats it in).
 */
final class JdbcEpochStore {
    private static final String COLS = "epoch_id,epoch_target,current_epoch_owner,last_epoch_renew_time,"
            + "server_mode,maintenance_mode_reason,mvcc";
    private final Db db;
    final String table;
    /** Rows this process inserted, updated or deleted in the epoch table (committed writes only). */
    final AtomicLong writes = new AtomicLong();

    JdbcEpochStore(Db db, String identifier) {
        this.db = db;
        this.table = identifier + "_epoch"; // JdbcEpochStore ctor: url.getIdentifier() + EPOCH_SUFFIX
    }

    /** JdbcEpochStore.createIfNotExist with Kylin's DDL (protocol doc section 0). */
    void createIfNotExist() throws SQLException {
        String blob = db.isPostgres() ? "bytea" : "longblob";
        String ddl = "create table if not exists " + table + " (epoch_id int null, epoch_target varchar(255),"
                + " current_epoch_owner varchar(2000) null, last_epoch_renew_time bigint null,"
                + " server_mode varchar(10) null, maintenance_mode_reason varchar(5000) null, mvcc bigint null,"
                + " reserved_field_1 VARCHAR(50), reserved_field_2 " + blob + ", reserved_field_3 " + blob
                + ", primary key(epoch_target))" + (db.isPostgres() ? "" : " ENGINE=INNODB DEFAULT CHARSET=utf8");
        db.createTable(table, ddl);
    }

    private static Epoch row(ResultSet rs) throws SQLException {
        return new Epoch(rs.getLong(1), rs.getString(2), rs.getString(3), rs.getLong(4), rs.getString(5),
                rs.getString(6), rs.getLong(7));
    }

    List<Epoch> list() throws SQLException {
        return db.tx(c -> {
            List<Epoch> l = new ArrayList<>();
            try (PreparedStatement ps = c.prepareStatement("select " + COLS + " from " + table);
                    ResultSet rs = ps.executeQuery()) {
                while (rs.next()) {
                    l.add(row(rs));
                }
            }
            return l;
        });
    }

    Epoch getEpoch(String target) throws SQLException {
        return db.tx(c -> {
            try (PreparedStatement ps = c.prepareStatement("select " + COLS + " from " + table
                    + " where epoch_target = ?")) {
                ps.setString(1, target);
                try (ResultSet rs = ps.executeQuery()) {
                    return rs.next() ? row(rs) : null;
                }
            }
        });
    }

    /** JdbcEpochStore.insert (INSERT_SQL, genInsertEpochStatement). */
    void insert(Epoch e) throws SQLException {
        db.tx(c -> {
            int n = insert(c, e);
            if (n == 0) {
                throw new SQLException("Failed to update or save epoch:" + e);
            }
            return n;
        });
        writes.incrementAndGet();
    }

    private int insert(Connection c, Epoch e) throws SQLException {
        try (PreparedStatement ps = c.prepareStatement("insert into " + table + " (" + COLS
                + ") values (?, ?, ?, ?, ?, ?, ?)")) {
            ps.setLong(1, e.epochId);
            ps.setString(2, e.epochTarget);
            ps.setString(3, e.currentEpochOwner);
            ps.setLong(4, e.lastEpochRenewTime);
            ps.setString(5, e.serverMode);
            ps.setString(6, e.maintenanceModeReason);
            ps.setLong(7, e.mvcc);
            return ps.executeUpdate();
        }
    }

    /** JdbcEpochStore UPDATE_SQL / genUpdateEpochStatement: compare-and-set on mvcc. */
    private int update(Connection c, Epoch e) throws SQLException {
        try (PreparedStatement ps = c.prepareStatement("update " + table + " set epoch_id =?, current_epoch_owner =?,"
                + " last_epoch_renew_time =?, server_mode =?, maintenance_mode_reason =?, mvcc =?"
                + " where epoch_target =? and mvcc =?")) {
            ps.setLong(1, e.epochId);
            ps.setString(2, e.currentEpochOwner);
            ps.setLong(3, e.lastEpochRenewTime);
            ps.setString(4, e.serverMode);
            ps.setString(5, e.maintenanceModeReason);
            ps.setLong(6, e.mvcc + 1);
            ps.setString(7, e.epochTarget);
            ps.setLong(8, e.mvcc);
            return ps.executeUpdate();
        }
    }

    /** JdbcEpochStore.update: a stale mvcc matches no row and fails. */
    void update(Epoch e) throws SQLException {
        db.tx(c -> {
            if (update(c, e) == 0) {
                throw new SQLException("Failed to update or save epoch:" + e);
            }
            return null;
        });
        writes.incrementAndGet();
    }

    /** JdbcEpochStore.updateBatch + checkBatchResult, in one transaction (executeWithTransaction). */
    void updateBatch(List<Epoch> epochs) throws SQLException {
        if (epochs.isEmpty()) {
            return;
        }
        db.tx(c -> {
            int sum = 0;
            for (Epoch e : epochs) {
                sum += update(c, e);
            }
            if (sum != epochs.size()) {
                throw new SQLException("Failed to updateBatch or insertBatch actual:" + sum + " expected:"
                        + epochs.size());
            }
            return null;
        });
        writes.addAndGet(epochs.size());
    }

    /** JdbcEpochStore.delete. */
    void delete(String target) throws SQLException {
        int n = db.tx(c -> {
            try (PreparedStatement ps = c.prepareStatement("delete from " + table + " where epoch_target =?")) {
                ps.setString(1, target);
                return ps.executeUpdate();
            }
        });
        writes.addAndGet(n);
    }
}
