package org.apache.kylin.emu;

import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.util.Properties;

/**
 * One JDBC connection, used by one caller at a time, every call its own transaction (as
 * JdbcUtil.withTransaction does for Kylin's stores). A failed call drops the connection so the
 * next call reconnects (a restarted database is picked up again).
 */
final class Db {
    interface Work<T> {
        T run(Connection c) throws SQLException;
    }

    private final MetadataUrl url;
    private final String name;
    private Connection conn;

    Db(MetadataUrl url, String name) {
        this.url = url;
        this.name = name;
        String driver = url.get("driverClassName");
        if (driver != null) {
            try {
                Class.forName(driver);
            } catch (ClassNotFoundException e) {
                // e.g. com.mysql.cj.jdbc.Driver with only MariaDB Connector/J installed: the
                // MariaDB driver (registered by ServiceLoader) accepts jdbc:mysql: URLs too.
            }
        }
    }

    boolean isPostgres() {
        return url.isPostgres();
    }

    private Connection connection() throws SQLException {
        if (conn == null || conn.isClosed()) {
            Properties p = new Properties();
            if (url.get("username") != null) {
                p.setProperty("user", url.get("username"));
            }
            if (url.get("password") != null) {
                p.setProperty("password", url.get("password"));
            }
            if (isPostgres()) {
                p.setProperty("ApplicationName", name);
                p.setProperty("connectTimeout", "5");
                p.setProperty("socketTimeout", "30");
            } else {
                p.setProperty("connectTimeout", "5000");
                p.setProperty("socketTimeout", "30000");
            }
            DriverManager.setLoginTimeout(5);
            conn = DriverManager.getConnection(url.get("url"), p);
        }
        return conn;
    }

    /** Runs WORK in one transaction; commits, or rolls back and rethrows. */
    synchronized <T> T tx(Work<T> work) throws SQLException {
        Connection c = connection();
        try {
            c.setAutoCommit(false);
            T r = work.run(c);
            c.commit();
            return r;
        } catch (SQLException | RuntimeException e) {
            try {
                c.rollback();
            } catch (SQLException ignored) {
                // the connection is gone: dropped below
            }
            close();
            throw e;
        }
    }

    boolean tableExists(String table) throws SQLException {
        return tx(c -> {
            for (String t : new String[] { table, table.toLowerCase(), table.toUpperCase() }) {
                try (ResultSet rs = c.getMetaData().getTables(c.getCatalog(), null, t, new String[] { "TABLE" })) {
                    if (rs.next()) {
                        return true;
                    }
                }
            }
            return false;
        });
    }

    /** Runs DDL; a concurrent creator (two nodes starting at once) is not an error. */
    void createTable(String table, String... ddl) throws SQLException {
        if (tableExists(table)) {
            return;
        }
        try {
            tx(c -> {
                for (String sql : ddl) {
                    try (var st = c.createStatement()) {
                        st.execute(sql);
                    }
                }
                return null;
            });
        } catch (SQLException e) {
            if (!tableExists(table)) {
                throw e;
            }
        }
    }

    synchronized void close() {
        if (conn != null) {
            try {
                conn.close();
            } catch (SQLException ignored) {
                // closing a broken connection
            }
            conn = null;
        }
    }
}
