/* Unit tests of schema version 8 (storage/schema.c): projects keyed by (name COLLATE NOCASE,
 * name) instead of name plus the projects_by_name_nocase index. Every statement that finds a
 * project by name searches the key; names equal ignoring case (from an old log) stay two
 * rows, each found exactly; listings keep byte order; a v7 state.db and a v7 image are
 * migrated, and hash equal before and after (a v7 and a v8 member agree on store_hash). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <sqlite3.h>

#include "common/mp.h"
#include "storage/db.h"
#include "storage/reader.h"
#include "storage/schema.h"
#include "store_helpers.h"

static struct batch batch;

#include "store_fixture.h"

/* A state.db as schema version 7 left it: projects `_global`, `sales` and `Sales` (two
 * names equal ignoring case, added by entries older than the case rule), `k1` (listed by
 * Kylin), `p1` owned by engine 2 at epoch 1 and pinned to it. */
static const char v7_ddl[] =
    STORE_V2_TABLES_DDL
    "ALTER TABLE history ADD COLUMN actor TEXT NULL;"
    "CREATE TABLE audit (seq INTEGER PRIMARY KEY, raft_index INTEGER NOT NULL,"
    "  term INTEGER NOT NULL, time_ms INTEGER NOT NULL, actor TEXT NOT NULL,"
    "  method TEXT NOT NULL, detail TEXT NOT NULL);"
    "ALTER TABLE projects ADD COLUMN kylin_identity TEXT NULL;"
    "ALTER TABLE projects ADD COLUMN kylin_epoch_id INTEGER NULL;"
    "CREATE INDEX IF NOT EXISTS projects_by_name_nocase ON projects (name COLLATE NOCASE);"
    "ALTER TABLE projects ADD COLUMN kylin_listed INTEGER NOT NULL DEFAULT 0;"
    "INSERT INTO meta (key, value) VALUES ('applied_index', 20), ('schema_version', 7),"
    "  ('decision_index', 20);"
    "INSERT INTO projects (name, owner, epoch, pinned, kylin_listed) VALUES ('_global', NULL, 0, NULL, 0),"
    "  ('sales', NULL, 0, NULL, 0), ('Sales', NULL, 0, NULL, 0), ('k1', NULL, 0, NULL, 1),"
    "  ('p1', 2, 1, 2, 0);"
    STORE_ENGINE2_OWNS_P1_ROWS("20");

/* The v7 state reached through the log on a fresh store. */
static void v7_state_by_log(struct store *s)
{
    uint64_t index = 20;
    batch_engine_set(&batch, 2, "all", 1, "10.0.0.2:7070|5", true);
    batch_add_legacy(&batch, "sales");
    batch_add_legacy(&batch, "Sales");
    msgpack_packer pk;
    command_pack_project_add_kylin(batch_next(&batch, &pk), "k1", 2);
    batch_add(&batch, "p1");
    batch_assign(&batch, "p1", 0, 2, "new", 1);
    batch_pin(&batch, "p1", 2);
    expect_on(s, &index, "ok", "ok", "ok", "ok", "ok", "ok", "ok", NULL);
}

/* The state every test below checks after a migration: twins found exactly, order kept. */
static void check_v7_state(struct store *s)
{
    assert_int_equal(q_int(s, "SELECT value FROM meta WHERE key = 'schema_version'"), SCHEMA_VERSION);
    assert_int_equal(store_project_exists(s, "sales", 5), 1);
    assert_int_equal(store_project_exists(s, "Sales", 5), 1);
    assert_int_equal(store_project_exists(s, "SALES", 5), 0);
    struct store_project_row row;
    assert_int_equal(store_project_get(s, "p1", 2, &row), 1);
    assert_int_equal(row.owner, 2);
    assert_int_equal(row.epoch, 1);
    assert_int_equal(row.pinned, 2);
    free(row.name);
    struct store_project_row *rows;
    size_t n;
    assert_int_equal(store_load_projects(s, &rows, &n), 0);
    static const char *const order[] = {"Sales", "_global", "k1", "p1", "sales"}; /* byte order */
    assert_int_equal(n, 5);
    for (size_t i = 0; i < n; i++) {
        assert_string_equal(rows[i].name, order[i]);
        assert_int_equal(rows[i].kylin_listed, strcmp(order[i], "k1") == 0);
    }
    store_free_projects(rows, n);
}

/* Runs EXPLAIN QUERY PLAN of SQL on S: whether any step's detail holds WANT, and UNWANTED. */
static void plan_of(struct store *s, const char *sql, const char *want, const char *unwanted, bool *has_want,
                    bool *has_unwanted)
{
    char explain[1024];
    snprintf(explain, sizeof explain, "EXPLAIN QUERY PLAN %s", sql);
    sqlite3_stmt *plan = NULL;
    assert_int_equal(sqlite3_prepare_v2(s->db, explain, -1, &plan, NULL), SQLITE_OK);
    *has_want = *has_unwanted = false;
    while (sqlite3_step(plan) == SQLITE_ROW) {
        const char *detail = (const char *)sqlite3_column_text(plan, 3);
        *has_want = *has_want || (detail != NULL && strstr(detail, want) != NULL);
        *has_unwanted = *has_unwanted || (detail != NULL && strstr(detail, unwanted) != NULL);
    }
    sqlite3_finalize(plan);
}

/* Every statement that reads or writes a project by name is one search of the primary
 * key: none scans the projects (the key's first column is case-folded, so the exact term
 * alone would not do). */
static void test_name_lookups_search_the_key(void **state)
{
    struct fixture *f = *state;
    unsigned checked = 0;
    for (int id = 0; id < DB_STMT_COUNT; id++) {
        const char *sql = sqlite3_sql(f->s.stmts->stmt[id]);
        if (sql == NULL || strstr(sql, "projects") == NULL || strstr(sql, "name = ?1") == NULL) {
            continue;
        }
        bool searched, scanned;
        plan_of(&f->s, sql, "SEARCH projects USING PRIMARY KEY", "SCAN projects", &searched, &scanned);
        if (!searched || scanned) {
            print_error("statement %d does not search the key: %s\n", id, sql);
        }
        assert_true(searched && !scanned);
        checked++;
    }
    assert_true(checked >= 9); /* exists, get, twin, assign, pin, delete, mark, claim get/set */
}

/* The scheduler's reads of each owner's projects in name order (loads.c) come out of
 * projects_by_owner as they are, without sorting the whole group. */
static void test_owner_groups_in_name_order_from_the_index(void **state)
{
    struct fixture *f = *state;
    static const char *const sql[] = {
        "SELECT name, owner, pinned, epoch FROM main.projects WHERE owner IS NULL ORDER BY name LIMIT ?1",
        "SELECT name, owner, pinned, epoch FROM main.projects WHERE owner = ?1 ORDER BY name LIMIT ?2",
    };
    for (size_t i = 0; i < sizeof sql / sizeof sql[0]; i++) {
        bool indexed, sorted;
        plan_of(&f->s, sql[i], "projects_by_owner", "TEMP B-TREE", &indexed, &sorted);
        assert_true(indexed && !sorted);
    }
}

/* Two names equal ignoring case: each command finds its own row, never the twin. */
static void test_twins_found_exactly(void **state)
{
    struct fixture *f = *state;
    batch_engine_set(&batch, 2, "all", 1, "h:1|1", true);
    batch_add_legacy(&batch, "sales");
    batch_add_legacy(&batch, "Sales");
    batch_add(&batch, "SALES");
    expect(f, "ok", "ok", "ok", "exists:already exists as 'Sales'", NULL);
    batch_assign(&batch, "Sales", 0, 2, "new", 1);
    batch_pin(&batch, "Sales", 2);
    expect(f, "ok", "ok", NULL);
    struct store_project_row row;
    assert_int_equal(store_project_get(&f->s, "sales", 5, &row), 1);
    assert_int_equal(row.owner, 0);
    assert_int_equal(row.pinned, 0);
    assert_int_equal(row.epoch, 0);
    free(row.name);
    assert_int_equal(store_project_get(&f->s, "Sales", 5, &row), 1);
    assert_string_equal(row.name, "Sales");
    assert_int_equal(row.owner, 2);
    assert_int_equal(row.pinned, 2);
    assert_int_equal(row.epoch, 1);
    free(row.name);
    batch_remove(&batch, "sales");
    expect(f, "ok", NULL);
    assert_int_equal(store_project_exists(&f->s, "sales", 5), 0);
    assert_int_equal(store_project_exists(&f->s, "Sales", 5), 1);
    batch_add_legacy(&batch, "Sales"); /* an exact duplicate is refused, as before */
    expect(f, "exists:project 'Sales' already exists", NULL);
    assert_int_equal(q_int(&f->s, "SELECT count(*) FROM projects WHERE name = 'Sales'"), 1);
}

/* A v7 state.db is migrated at open; its hash (as the v7 binary computes it: same query,
 * same rows) is unchanged, and equal to a fresh store's that applied the same log. */
static void test_migration_v7_to_v8(void **state)
{
    (void)state;
    char dir[] = "/tmp/test_projects_key.XXXXXX";
    char path[256];
    db_file_from_ddl(dir, path, sizeof path, v7_ddl);

    struct store old = {0};
    assert_int_equal(sqlite3_open(path, &old.db), SQLITE_OK);
    uint64_t before = hash_of(&old);
    sqlite3_close(old.db);

    struct store s, fresh;
    assert_int_equal(store_open(&s, path), 0);
    assert_int_equal(s.applied_index, 20);
    check_v7_state(&s);
    assert_int_equal(q_int(&s, "SELECT count(*) FROM sqlite_schema WHERE name = 'projects_by_name_nocase'"), 0);
    assert_int_equal(q_int(&s, "SELECT count(*) FROM sqlite_schema WHERE name = 'projects_v8'"), 0);
    assert_true(hash_of(&s) == before);
    assert_int_equal(store_open(&fresh, ":memory:"), 0);
    v7_state_by_log(&fresh);
    assert_true(hash_of(&fresh) == before);

    /* the migrated store applies the next entries as a fresh one does */
    uint64_t index = 21, index2 = 21;
    batch_add(&batch, "SALES");
    batch_assign(&batch, "k1", 0, 2, "new", 2);
    expect_on(&s, &index, "exists:already exists as 'Sales'", "ok", NULL);
    batch_add(&batch, "SALES");
    batch_assign(&batch, "k1", 0, 2, "new", 2);
    expect_on(&fresh, &index2, "exists:already exists as 'Sales'", "ok", NULL);
    uint64_t h = hash_of(&s);
    assert_true(h == hash_of(&fresh));
    store_close(&s);
    store_close(&fresh);
    reopen_unchanged(path, h);
    remove_dir(dir);
}

/* A v7 image (a snapshot from a member not yet upgraded) is migrated on the way in, and a
 * v8 image restores into a v8 store page for page. */
static void test_restore_v7_image(void **state)
{
    struct fixture *f = *state;
    restore_from_ddl(&f->s, v7_ddl);
    assert_int_equal(f->s.applied_index, 20);
    check_v7_state(&f->s);

    struct store c;
    copy_by_snapshot(&f->s, &c);
    check_v7_state(&c);
    store_close(&c);
}

/* The metastore mirror's reader (its own connection, storage/reader.c) finds each twin
 * exactly too, and lists in byte order. */
struct seen {
    char text[256];
};

static int seen_named(void *data, const char *name, const struct store_reader_project *row)
{
    struct seen *s = data;
    size_t len = strlen(s->text);
    snprintf(s->text + len, sizeof s->text - len, "%s=%llu ", name,
             row != NULL ? (unsigned long long)row->owner : 0ULL);
    return 0;
}

static int seen_project(void *data, const struct store_reader_project *row)
{
    return seen_named(data, row->name, row);
}

static void test_reader_finds_twins_exactly(void **state)
{
    (void)state;
    char dir[] = "/tmp/test_projects_key.XXXXXX";
    char path[256];
    db_file_from_ddl(dir, path, sizeof path, v7_ddl);
    struct store s;
    assert_int_equal(store_open(&s, path), 0); /* migrated to v8 */
    uint64_t index = 21;
    batch_assign(&batch, "Sales", 0, 2, "new", 2);
    expect_on(&s, &index, "ok", NULL);
    assert_int_equal(store_commit(&s), 0);

    struct store_reader r;
    assert_int_equal(store_reader_open(&r, path), 0);
    assert_int_equal(store_reader_begin(&r), 0);
    static const char *const names[] = {"sales", "Sales", "SALES", "p1"};
    struct seen got = {{0}};
    assert_int_equal(store_reader_owned_projects(&r, names, 4, seen_named, &got), 0);
    assert_string_equal(got.text, "sales=0 Sales=2 SALES=0 p1=2 ");
    memset(&got, 0, sizeof got);
    assert_int_equal(store_reader_projects(&r, seen_project, &got), 0);
    assert_string_equal(got.text, "Sales=2 _global=0 k1=0 p1=2 sales=0 ");
    assert_int_equal(store_reader_end(&r), 0);
    store_reader_close(&r);
    store_close(&s);
    remove_dir(dir);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_name_lookups_search_the_key),
        T(test_owner_groups_in_name_order_from_the_index),
        T(test_twins_found_exactly),
        cmocka_unit_test(test_migration_v7_to_v8),
        T(test_restore_v7_image),
        cmocka_unit_test(test_reader_finds_twins_exactly),
    };
    return cmocka_run_group_tests_name("projects_key", tests, NULL, NULL);
}
