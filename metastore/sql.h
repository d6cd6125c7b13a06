/* sql: the metastore's tables and every statement the mirror sends, in the dialect of
 * PostgreSQL or MySQL (MariaDB). The one place the metastore layout is written down:
 *
 *   <prefix>_epoch        Kylin's own table, column for column (DESIGN.md, "Compatibility
 *                         with Kylin"): one row per project and `_global`
 *   <prefix>_raft_member  one row per raft member or engine: addresses, role, engine mode,
 *                         weight, identity, alive, draining
 *   <prefix>_raft_history one row per ownership change, keyed by (raft_index, project, epoch):
 *                         inserting a row twice is a no-op, so replays are harmless
 *   <prefix>_raft_sync    one row (sync_id = 1): the decision index and term the tables
 *                         reflect (the watermark), the leader that wrote it, and when
 *
 * Values are never part of the text: statements with values use placeholders ($n with a
 * cast on PostgreSQL, ? on MySQL). The prefix is an identifier checked by url.c, so it is
 * written as is (unquoted, as Kylin itself writes it: PostgreSQL folds it to lower case).
 * Builders return malloc'd text (free()), or NULL when out of memory. Calls: libc only. */
#ifndef METASTORE_SQL_H
#define METASTORE_SQL_H

#include <stddef.h>

enum sql_table { SQL_EPOCH = 0, SQL_MEMBER, SQL_HISTORY, SQL_SYNC, SQL_TABLE_COUNT };

/* Column counts of the statements below (values per row). */
#define SQL_EPOCH_WRITE_COLS 6  /* epoch_target, epoch_id, current_epoch_owner,
                                 * last_epoch_renew_time, server_mode, maintenance_mode_reason */
#define SQL_MEMBER_COLS 9       /* member_id, raft_address, api_address, member_role,
                                 * engine_mode, weight, engine_identity, alive, draining */
#define SQL_HISTORY_COLS 8      /* raft_index, term, time_ms, project, from_engine, to_engine,
                                 * epoch, reason */
#define SQL_SYNC_SET_COLS 4     /* applied_index, term, leader_id, updated_time_ms */

/* Rows per multi-row statement: well under both servers' 65535 placeholders. */
#define SQL_ROWS_PER_STATEMENT 500

/* CREATE TABLE IF NOT EXISTS for table T. */
char *sql_create(int kind, const char *prefix, enum sql_table t);
/* SELECT of every column the mirror needs from T, WHERE 1 = 0: fails when a column is
 * missing or misnamed in an existing table (a table created by someone else). */
char *sql_check_columns(int kind, const char *prefix, enum sql_table t);

/* Transaction statements. */
const char *sql_begin(int kind);

/* Sync row: lock and read (applied_index, term, leader_id); seed the row (no values); set
 * it (SQL_SYNC_SET_COLS values). */
char *sql_sync_lock(int kind, const char *prefix);
char *sql_sync_seed(int kind, const char *prefix);
char *sql_sync_set(int kind, const char *prefix);

/* Every row of the epoch table: epoch_target, epoch_id, current_epoch_owner,
 * last_epoch_renew_time, server_mode, maintenance_mode_reason, mvcc. */
char *sql_epoch_select(int kind, const char *prefix);
/* Upsert of ROWS rows of SQL_EPOCH_WRITE_COLS values: a new row gets mvcc 0, an existing
 * one mvcc + 1 (Kylin's compare-and-set counter; reserved_field_* are left alone). */
char *sql_epoch_upsert(int kind, const char *prefix, size_t rows);
/* DELETE of ROWS epoch_target values. */
char *sql_epoch_delete(int kind, const char *prefix, size_t rows);

/* Every member row, columns in SQL_MEMBER_COLS order. */
char *sql_member_select(int kind, const char *prefix);
char *sql_member_upsert(int kind, const char *prefix, size_t rows);
char *sql_member_delete(int kind, const char *prefix, size_t rows);

/* Insert of ROWS history rows; a row already present is left as it is. */
char *sql_history_insert(int kind, const char *prefix, size_t rows);

/* Makes UTF-8 text S fit MySQL's utf8 (utf8mb3, 3 bytes at most per character: Kylin's epoch
 * table charset), in place: every 4-byte character becomes U+FFFD (3 bytes), so the text only
 * gets shorter. Other bytes are left as they are. */
void sql_text_utf8mb3(char *s);

#endif
