package org.apache.kylin.emu;

import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.TreeSet;

/**
 * A stand-in for Kylin's ZooKeeper registration (spring-cloud-zookeeper, service name =
 * kylin.server.mode) and KylinServiceDiscoveryCache: each node registers a row in
 * {@code <identifier>_emu_members}, tied to its own database session as an ephemeral znode is
 * tied to a ZooKeeper session (PostgreSQL: the backend pid must be in pg_stat_activity;
 * MariaDB: a GET_LOCK held by the session). A node that stops or dies disappears without any
 * further write. Every node polls the set of live all/job members; on a change a job/all node
 * runs EpochManager.updateAllEpochs, as KylinServiceDiscoveryCache does.
 */
final class ServiceDiscovery {
    private final Db db;
    private final String table;
    private final String lockPrefix;
    private final String identity;
    private final String mode;
    private final long pollMs;
    private final Runnable onChange;
    private volatile long session = -1;
    private volatile boolean running = true;
    private Set<String> last;
    /** The membership whose change has been acted on (onChange returned): what tests wait for. */
    private volatile Set<String> handled = java.util.Collections.emptySet();
    private Thread thread;

    ServiceDiscovery(Db db, String identifier, String identity, String mode, long pollMs, Runnable onChange) {
        this.db = db;
        this.table = identifier + "_emu_members";
        this.lockPrefix = "emu_" + Integer.toHexString(identifier.hashCode()) + "_";
        this.identity = identity;
        this.mode = mode;
        this.pollMs = pollMs;
        this.onChange = onChange;
    }

    void createIfNotExist() throws SQLException {
        db.createTable(table, "create table if not exists " + table + " (identity varchar(255) primary key,"
                + " server_mode varchar(10), session_id bigint, registered bigint)");
    }

    /** MariaDB: the lock a member's session holds, named after that session. */
    private String lockName(long sid) {
        return lockPrefix + sid;
    }

    /** Registration (ZookeeperAutoServiceRegistration, which retries through Curator's retry
     * policy): the row and the session that keeps it. Two nodes registering at once can
     * deadlock on InnoDB's gap locks (the delete by identity): retried, as MySQL advises. */
    private void register() throws SQLException {
        for (int attempt = 1;; attempt++) {
            try {
                registerOnce();
                return;
            } catch (java.sql.SQLTransactionRollbackException e) {
                if (attempt == 5) {
                    throw e;
                }
                Log.info("registration of " + identity + " rolled back (" + e.getMessage() + "); retry " + attempt);
                try {
                    Thread.sleep(50L * attempt);
                } catch (InterruptedException ie) {
                    Thread.currentThread().interrupt();
                    throw e;
                }
            }
        }
    }

    private void registerOnce() throws SQLException {
        session = db.tx(c -> {
            long sid;
            String sql = db.isPostgres() ? "select pg_backend_pid()" : "select CONNECTION_ID()";
            try (PreparedStatement ps = c.prepareStatement(sql); ResultSet rs = ps.executeQuery()) {
                rs.next();
                sid = rs.getLong(1);
            }
            if (!db.isPostgres()) {
                try (PreparedStatement ps = c.prepareStatement("select GET_LOCK(?, 0)")) {
                    ps.setString(1, lockName(sid));
                    ps.executeQuery().close();
                }
            }
            try (PreparedStatement ps = c.prepareStatement("delete from " + table + " where identity = ?")) {
                ps.setString(1, identity);
                ps.executeUpdate();
            }
            try (PreparedStatement ps = c.prepareStatement("insert into " + table
                    + " (identity, server_mode, session_id, registered) values (?, ?, ?, ?)")) {
                ps.setString(1, identity);
                ps.setString(2, mode);
                ps.setLong(3, sid);
                ps.setLong(4, System.currentTimeMillis());
                ps.executeUpdate();
            }
            return sid;
        });
        Log.info("registered " + identity + " as " + mode + " (session " + session + ")");
    }

    /** Live all/job members; our own registration is renewed if its session was lost. */
    Set<String> liveJobMembers() throws SQLException {
        Object[] r = db.tx(c -> {
            long sid;
            String sql = db.isPostgres() ? "select pg_backend_pid()" : "select CONNECTION_ID()";
            try (PreparedStatement ps = c.prepareStatement(sql); ResultSet rs = ps.executeQuery()) {
                rs.next();
                sid = rs.getLong(1);
            }
            List<String[]> rows = new ArrayList<>();
            try (PreparedStatement ps = c.prepareStatement("select identity, server_mode, session_id from " + table);
                    ResultSet rs = ps.executeQuery()) {
                while (rs.next()) {
                    rows.add(new String[] { rs.getString(1), rs.getString(2), Long.toString(rs.getLong(3)) });
                }
            }
            Set<String> live = new TreeSet<>();
            for (String[] row : rows) {
                if ("query".equals(row[1])) {
                    continue;
                }
                if (alive(c, row)) {
                    live.add(row[0]);
                }
            }
            return new Object[] { sid, live };
        });
        if ((long) r[0] != session) {
            register(); // our session was lost (database restart): register again
            return liveJobMembers();
        }
        @SuppressWarnings("unchecked")
        Set<String> live = (Set<String>) r[1];
        return live;
    }

    private boolean alive(java.sql.Connection c, String[] row) throws SQLException {
        long sid = Long.parseLong(row[2]);
        if (db.isPostgres()) {
            try (PreparedStatement ps = c.prepareStatement("select 1 from pg_stat_activity where pid = ?")) {
                ps.setInt(1, (int) sid);
                try (ResultSet rs = ps.executeQuery()) {
                    return rs.next();
                }
            }
        }
        // MariaDB: the member's session holds a lock named after it; IS_USED_LOCK names the holder.
        try (PreparedStatement ps = c.prepareStatement("select IS_USED_LOCK(?)")) {
            ps.setString(1, lockName(sid));
            try (ResultSet rs = ps.executeQuery()) {
                return rs.next() && rs.getLong(1) == sid;
            }
        }
    }

    void start() throws SQLException {
        createIfNotExist();
        register();
        last = liveJobMembers();
        handled = last;
        thread = new Thread(this::loop, "zk-discovery");
        thread.setDaemon(true);
        thread.start();
    }

    private void loop() {
        while (running) {
            try {
                Thread.sleep(pollMs);
                Set<String> now = liveJobMembers();
                if (!now.equals(last)) {
                    Log.info("job/all members changed: " + last + " -> " + now);
                    last = now;
                    if (running) {
                        onChange.run();
                    }
                    handled = now;
                }
            } catch (InterruptedException e) {
                return;
            } catch (Exception e) {
                Log.warn("membership poll failed: " + e);
            }
        }
    }

    /** Test report: the live job/all members as of the last change acted on. */
    Set<String> handledMembers() {
        return new java.util.TreeSet<>(handled);
    }

    /** De-registration at stop (the znode goes away). */
    void deregister() {
        running = false;
        if (thread != null) {
            thread.interrupt();
        }
        try {
            db.tx(c -> {
                try (PreparedStatement ps = c.prepareStatement("delete from " + table + " where identity = ?")) {
                    ps.setString(1, identity);
                    return ps.executeUpdate();
                }
            });
        } catch (SQLException e) {
            Log.warn("de-registration failed: " + e);
        }
        db.close();
    }
}
