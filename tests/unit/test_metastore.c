/* Unit tests for what the metastore mirror builds on, without a database server:
 * storage's decision index (moves with ownership changes only, in the same transaction,
 * survives reopen, restore and the v2 -> v3 migration), the mirror's consistent read of a
 * store file (metastore/view.c), and the SQL it sends in both dialects (metastore/sql.c).
 * The mirror against real PostgreSQL and MariaDB servers: tests/metastore/. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <sqlite3.h>

#include "metastore/sql.h"
#include "metastore/sync.h"
#include "metastore/url.h"
#include "metastore/view.h"
#include "store_helpers.h"

static struct batch batch;

struct fixture {
    char dir[64];
    char path[128];
    struct store s;
    uint64_t index;
};

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof *f);
    assert_non_null(f);
    snprintf(f->dir, sizeof f->dir, "/tmp/test_metastore.XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    snprintf(f->path, sizeof f->path, "%s/state.db", f->dir);
    assert_int_equal(store_open(&f->s, f->path), 0);
    f->index = 1;
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    store_close(&f->s);
    char p[160];
    static const char *const suffixes[] = {"", "-wal", "-shm"};
    for (size_t i = 0; i < 3; i++) {
        snprintf(p, sizeof p, "%s%s", f->path, suffixes[i]);
        unlink(p);
    }
    rmdir(f->dir);
    free(f);
    return 0;
}

/* Applies the batch as the next entry; every command must succeed. */
static void apply_ok(struct fixture *f)
{
    struct store_results r;
    assert_int_equal(batch_apply(&f->s, &batch, f->index, &r), 0);
    for (unsigned i = 0; i < r.n; i++) {
        if (store_result_refused(&r.cmds[i]) != 0) {
            print_error("command %u: %s %s\n", i, store_err_name(r.cmds[i].err), r.cmds[i].message);
        }
        assert_int_equal(store_result_refused(&r.cmds[i]), 0);
    }
    store_results_free(&r);
    assert_int_equal(store_commit(&f->s), 0); /* the view reads through its own connection */
    f->index++;
}

static int64_t meta_decision(struct store *s)
{
    sqlite3_stmt *st;
    assert_int_equal(sqlite3_prepare_v2(s->db, "SELECT value FROM meta WHERE key = 'decision_index'", -1, &st, NULL),
                     SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    int64_t v = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return v;
}

static void two_engines(struct fixture *f)
{
    batch_engine_set(&batch, 1, "all", 1, "10.0.0.1:7070|11", true);
    batch_engine_set(&batch, 2, "job", 1, "10.0.0.2:7070|22", true);
    batch_add(&batch, "sales");
    apply_ok(f); /* index 1 */
}

static void test_decision_index_moves_with_decisions_only(void **state)
{
    struct fixture *f = *state;
    assert_int_equal(f->s.decision_index, 0);
    two_engines(f);
    assert_int_equal(f->s.decision_index, 1);
    assert_int_equal(meta_decision(&f->s), 1);

    /* Heartbeats and a member's API address are not decisions. */
    const uint64_t ids[] = {1, 2};
    batch_heartbeat(&batch, ids, 2);
    apply_ok(f); /* 2 */
    batch_member_set(&batch, 1, "10.0.0.1:7201");
    apply_ok(f); /* 3 */
    batch_engine_set(&batch, 1, "all", 1, "10.0.0.1:7070|11", true); /* same values again */
    apply_ok(f); /* 4 */
    assert_int_equal(f->s.decision_index, 1);

    batch_assign(&batch, "sales", 0, 1, "new", 100);
    apply_ok(f); /* 5 */
    assert_int_equal(f->s.decision_index, 5);
    /* A refused command moves nothing. */
    batch_assign(&batch, "sales", 0, 2, "new", 101);
    struct store_results r;
    assert_int_equal(batch_apply(&f->s, &batch, f->index++, &r), 0); /* 6 */
    assert_int_not_equal(store_result_refused(&r.cmds[0]), 0);
    store_results_free(&r);
    assert_int_equal(f->s.decision_index, 5);
    /* Death of an engine, a drain, maintenance: decisions. */
    batch_engine_dead(&batch, 2);
    apply_ok(f); /* 7 */
    assert_int_equal(f->s.decision_index, 7);
    batch_heartbeat(&batch, ids, 2); /* revives engine 2: a decision */
    apply_ok(f); /* 8 */
    assert_int_equal(f->s.decision_index, 8);
    batch_maintenance(&batch, true, "upgrade");
    apply_ok(f); /* 9 */
    assert_int_equal(f->s.decision_index, 9);
    assert_int_equal(meta_decision(&f->s), 9);

    /* Reopen: loaded from the file. */
    store_close(&f->s);
    assert_int_equal(store_open(&f->s, f->path), 0);
    assert_int_equal(f->s.decision_index, 9);
    assert_int_equal(f->s.applied_index, 9);
}

static void test_decision_index_restored_and_not_hashed(void **state)
{
    struct fixture *f = *state;
    two_engines(f);
    batch_assign(&batch, "sales", 0, 2, "new", 5);
    apply_ok(f); /* 2 */
    const uint64_t ids[] = {1};
    batch_heartbeat(&batch, ids, 1);
    apply_ok(f); /* 3 */
    void *image;
    size_t len;
    assert_int_equal(store_snapshot(&f->s, &image, &len), 0);
    struct store b;
    assert_int_equal(store_open(&b, ":memory:"), 0);
    assert_int_equal(store_restore(&b, image, len), 0);
    sqlite3_free(image);
    assert_int_equal(b.decision_index, 2);
    assert_int_equal(b.applied_index, 3);
    uint64_t h1, h2;
    assert_int_equal(store_hash(&f->s, &h1), 0);
    assert_int_equal(store_hash(&b, &h2), 0);
    assert_true(h1 == h2);
    store_close(&b);
}

/* The mirror's reader sees one consistent state, with history after a watermark. */
static void test_view_reads_state_and_history_after(void **state)
{
    struct fixture *f = *state;
    two_engines(f);
    batch_add(&batch, "ops");
    batch_assign(&batch, "sales", 0, 1, "new", 10);
    apply_ok(f); /* 2 */
    batch_assign(&batch, "ops", 0, 2, "new", 11);
    batch_assign(&batch, "_global", 0, 1, "new", 11);
    apply_ok(f); /* 3 */
    batch_assign(&batch, "sales", 1, 2, "move", 12);
    batch_maintenance(&batch, true, "backup");
    apply_ok(f); /* 4 */

    struct view_reader r;
    struct view v;
    assert_int_equal(view_open(&r, f->path), 0);
    assert_int_equal(view_read(&r, 0, &v), 0);
    assert_int_equal(v.applied_index, 4);
    assert_int_equal(v.decision_index, 4);
    assert_true(v.maintenance);
    assert_string_equal(v.maintenance_reason, "backup");
    assert_int_equal(v.n_projects, 3);
    assert_string_equal(v.projects[0].name, "_global");
    assert_string_equal(v.projects[1].name, "ops");
    assert_string_equal(v.projects[2].name, "sales");
    assert_int_equal(v.projects[2].owner, 2);
    assert_int_equal(v.projects[2].epoch, 2);
    assert_int_equal(v.n_engines, 2);
    assert_string_equal(v.engines[1].identity, "10.0.0.2:7070|22");
    assert_string_equal(v.engines[1].mode, "job");
    assert_int_equal(v.n_history, 4);
    assert_int_equal(v.history[0].raft_index, 2);
    assert_int_equal(v.history[3].raft_index, 4);
    assert_string_equal(v.history[3].reason, "move");
    assert_int_equal(v.history[3].from, 1);
    assert_int_equal(v.history[3].to, 2);
    view_free(&v);

    assert_int_equal(view_read(&r, 3, &v), 0); /* after the watermark 3: the move only */
    assert_int_equal(v.n_history, 1);
    assert_string_equal(v.history[0].project, "sales");
    view_free(&v);
    assert_int_equal(view_read(&r, 4, &v), 0);
    assert_int_equal(v.n_history, 0);
    view_free(&v);

    uint64_t applied, decision;
    assert_int_equal(view_read_indexes(&r, &applied, &decision), 0);
    assert_int_equal(decision, 4);
    view_close(&r);
}

/* A store written by a v2 binary (no decision index) gets its applied index as decision
 * index: unknown, so "everything may have changed"; the mirror compares before it writes. */
static void test_migration_v2_to_v3(void **state)
{
    struct fixture *f = *state;
    two_engines(f);
    const uint64_t ids[] = {1};
    batch_heartbeat(&batch, ids, 1);
    apply_ok(f); /* 2 */
    /* back to the v2 layout: no decision index, no audit (v4), no recorded-claim columns (v5),
     * no kylin_listed (v7) */
    assert_int_equal(sqlite3_exec(f->s.db, "DELETE FROM meta WHERE key = 'decision_index';"
                                           " ALTER TABLE projects DROP COLUMN kylin_listed;"
                                           " ALTER TABLE projects DROP COLUMN kylin_identity;"
                                           " ALTER TABLE projects DROP COLUMN kylin_epoch_id;"
                                           " ALTER TABLE history DROP COLUMN actor; DROP TABLE audit;"
                                           " UPDATE meta SET value = 2 WHERE key = 'schema_version'",
                                  NULL, NULL, NULL),
                     SQLITE_OK);
    store_close(&f->s);
    assert_int_equal(store_open(&f->s, f->path), 0);
    assert_int_equal(f->s.decision_index, 2);
    assert_int_equal(meta_decision(&f->s), 2);
}

static void test_view_open_errors(void **state)
{
    (void)state;
    struct view_reader r;
    assert_int_equal(view_open(&r, "/nonexistent/dir/state.db"), -1);
    assert_non_null(strstr(r.errmsg, "/nonexistent/dir/state.db"));
}

/* 4-byte characters become U+FFFD; everything else stays, in place. */
static void test_sql_text_utf8mb3(void **state)
{
    (void)state;
    char s[64] = "up \xf0\x9f\x98\x80 gr\xc3\xbc\xc3\x9f \xe2\x82\xac\xf0\x9f\x9a\x80";
    sql_text_utf8mb3(s);
    assert_string_equal(s, "up \xef\xbf\xbd gr\xc3\xbc\xc3\x9f \xe2\x82\xac\xef\xbf\xbd");
    char ascii[] = "plain text";
    sql_text_utf8mb3(ascii);
    assert_string_equal(ascii, "plain text");
    char cut[] = "end \xf0\x9f"; /* a cut 4-byte character is left as it is */
    sql_text_utf8mb3(cut);
    assert_string_equal(cut, "end \xf0\x9f");
    char empty[] = "";
    sql_text_utf8mb3(empty);
    assert_string_equal(empty, "");
}

static void test_sql_dialects(void **state)
{
    (void)state;
    /* Kylin's own DDL (create.epoch.store.table), word for word. */
    static const char *const kylin_ddl[][2] = {
        {"bytea", ""},
        {"longblob", " ENGINE=INNODB DEFAULT CHARSET=utf8"},
    };
    for (int k = 0; k < 2; k++) {
        char want[512];
        snprintf(want, sizeof want,
                 "CREATE TABLE IF NOT EXISTS km_epoch (epoch_id int null, epoch_target varchar(255),"
                 " current_epoch_owner varchar(2000) null, last_epoch_renew_time bigint null,"
                 " server_mode varchar(10) null, maintenance_mode_reason varchar(5000) null, mvcc bigint null,"
                 " reserved_field_1 VARCHAR(50), reserved_field_2 %s, reserved_field_3 %s,"
                 " primary key(epoch_target))%s", kylin_ddl[k][0], kylin_ddl[k][0], kylin_ddl[k][1]);
        char *s = sql_create(k == 0 ? MS_KIND_POSTGRESQL : MS_KIND_MYSQL, "km", SQL_EPOCH);
        assert_string_equal(s, want);
        free(s);
    }
    char *s;
    /* The service's own tables keep utf8mb4 with a binary collation. */
    s = sql_create(MS_KIND_MYSQL, "km", SQL_MEMBER);
    assert_non_null(strstr(s, ", PRIMARY KEY (member_id)) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin"));
    free(s);
    s = sql_create(MS_KIND_POSTGRESQL, "km", SQL_SYNC);
    assert_string_equal(s, "CREATE TABLE IF NOT EXISTS km_raft_sync (sync_id int NOT NULL, applied_index bigint NOT NULL,"
                           " term bigint NOT NULL, leader_id bigint NOT NULL, updated_time_ms bigint NOT NULL,"
                           " PRIMARY KEY (sync_id))");
    free(s);
    s = sql_create(MS_KIND_MYSQL, "km", SQL_HISTORY);
    assert_non_null(strstr(s, "PRIMARY KEY (raft_index, project, epoch)"));
    free(s);

    /* Values only through placeholders: PostgreSQL numbers them (with casts), MySQL '?'. */
    s = sql_epoch_upsert(MS_KIND_POSTGRESQL, "km", 2);
    assert_non_null(strstr(s, "VALUES ($1::varchar, $2::int, $3::varchar, $4::bigint, $5::varchar, $6::varchar, 0),"
                              " ($7::varchar, $8::int"));
    assert_non_null(strstr(s, "ON CONFLICT (epoch_target) DO UPDATE SET epoch_id = EXCLUDED.epoch_id"));
    assert_non_null(strstr(s, "mvcc = COALESCE(t.mvcc, -1) + 1"));
    free(s);
    s = sql_epoch_upsert(MS_KIND_MYSQL, "km", 1);
    assert_non_null(strstr(s, "VALUES (?, ?, ?, ?, ?, ?, 0) ON DUPLICATE KEY UPDATE epoch_id = VALUES(epoch_id)"));
    free(s);
    s = sql_history_insert(MS_KIND_POSTGRESQL, "km", 1);
    assert_non_null(strstr(s, "ON CONFLICT (raft_index, project, epoch) DO NOTHING"));
    free(s);
    s = sql_history_insert(MS_KIND_MYSQL, "km", 3);
    size_t marks = 0;
    for (const char *p = s; *p != '\0'; p++) {
        marks += *p == '?';
    }
    assert_int_equal(marks, 3 * SQL_HISTORY_COLS);
    free(s);
    s = sql_epoch_delete(MS_KIND_POSTGRESQL, "km", 3);
    assert_string_equal(s, "DELETE FROM km_epoch WHERE epoch_target IN ($1::varchar, $2::varchar, $3::varchar)");
    free(s);
    s = sql_sync_set(MS_KIND_MYSQL, "km");
    assert_string_equal(s, "UPDATE km_raft_sync SET applied_index = ?, term = ?, leader_id = ?, updated_time_ms = ?"
                           " WHERE sync_id = 1");
    free(s);
    s = sql_sync_lock(MS_KIND_POSTGRESQL, "km");
    assert_non_null(strstr(s, "FOR UPDATE"));
    free(s);
}

static void test_identity_host(void **state)
{
    (void)state;
    char host[64];
    sync_identity_host("10.1.2.3:7070|1700000000000", host, sizeof host);
    assert_string_equal(host, "10.1.2.3");
    sync_identity_host("kylin-1.example.com:7070", host, sizeof host);
    assert_string_equal(host, "kylin-1.example.com");
    sync_identity_host("plainhost", host, sizeof host);
    assert_string_equal(host, "plainhost");
    sync_identity_host("", host, sizeof host);
    assert_string_equal(host, "");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_decision_index_moves_with_decisions_only, setup, teardown),
        cmocka_unit_test_setup_teardown(test_decision_index_restored_and_not_hashed, setup, teardown),
        cmocka_unit_test_setup_teardown(test_view_reads_state_and_history_after, setup, teardown),
        cmocka_unit_test_setup_teardown(test_migration_v2_to_v3, setup, teardown),
        cmocka_unit_test(test_view_open_errors),
        cmocka_unit_test(test_sql_dialects),
        cmocka_unit_test(test_sql_text_utf8mb3),
        cmocka_unit_test(test_identity_host),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
