package org.apache.kylin.emu;

import java.sql.SQLException;
import java.util.List;

/** Where project metadata lives: Kylin 5 @ Dec 2023's key/value table, or the later per-type table. */
interface ProjectTable {
    void createIfNotExist() throws SQLException;

    /** Project names exactly as stored. */
    List<String> listProjects() throws SQLException;

    /** Stores the project's JSON (content already encoded); false if the key exists. */
    boolean insert(String name, String uuid, byte[] content, long ts) throws SQLException;

    void delete(String name) throws SQLException;

    /** The stored bytes of a project, null if absent. */
    byte[] content(String name) throws SQLException;

    /** A write + read + delete round trip (MetaStoreHealthIndicator); each step's millis. */
    long[] healthRoundTrip() throws SQLException;

    /** A metadata write under the project's unit (EnhancedUnitOfWork body). */
    void writeProbe(String project, long ts) throws SQLException;
}
