/* store_fixture: the cmocka fixture and checks shared by the storage unit tests that apply
 * entries to an in-memory store (test_ownership.c, test_claims.c): one store, the next index
 * to apply, expect_on() checking each command's result, and small SQL and hash reads.
 * Static functions; include after <cmocka.h> and store_helpers.h, with a file-level
 * `static struct batch batch;` declared before. */
#ifndef TESTS_UNIT_STORE_FIXTURE_H
#define TESTS_UNIT_STORE_FIXTURE_H

#include <sqlite3.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "storage/schema.h"
#include "store_helpers.h"

struct fixture {
    struct store s;
    uint64_t index; /* next index to apply */
};

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof *f);
    if (f == NULL || store_open(&f->s, ":memory:") != 0) {
        free(f);
        return -1;
    }
    f->index = 1;
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    store_close(&f->s);
    free(f);
    return 0;
}

/* Applies the commands in `batch` to S as one entry at *INDEX (advanced) and checks each
 * result against the NULL-terminated list of "code" or "code:message part" expectations. */
static void expect_on(struct store *s, uint64_t *index, ...)
{
    struct store_results r;
    unsigned n = batch.n;
    assert_int_equal(batch_apply(s, &batch, *index, &r), 0);
    assert_int_equal(r.entry_status, 0);
    assert_int_equal(r.n, n);
    va_list ap;
    va_start(ap, index);
    for (unsigned i = 0; i < n; i++) {
        const char *want = va_arg(ap, const char *);
        assert_non_null(want);
        const char *colon = strchr(want, ':');
        size_t code_len = colon != NULL ? (size_t)(colon - want) : strlen(want);
        int ok = strlen(store_err_name(r.cmds[i].err)) == code_len &&
                 memcmp(store_err_name(r.cmds[i].err), want, code_len) == 0 &&
                 (colon == NULL || strstr(r.cmds[i].message, colon + 1) != NULL) &&
                 (store_result_refused(&r.cmds[i]) == 0) == (code_len == 2 && memcmp(want, "ok", 2) == 0);
        if (!ok) {
            print_error("command %u: got %d %s '%s', want '%s'\n", i, store_result_refused(&r.cmds[i]),
                        store_err_name(r.cmds[i].err), r.cmds[i].message, want);
        }
        assert_true(ok);
    }
    assert_null(va_arg(ap, const char *));
    va_end(ap);
    store_results_free(&r);
    assert_true(s->applied_index == *index);
    (*index)++;
}

/* The same on fixture F's store. */
#define expect(f, ...) expect_on(&(f)->s, &(f)->index, __VA_ARGS__)

static sqlite3_int64 q_int(struct store *s, const char *sql)
{
    sqlite3_stmt *stmt;
    assert_int_equal(sqlite3_prepare_v2(s->db, sql, -1, &stmt, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(stmt), SQLITE_ROW);
    sqlite3_int64 v = sqlite3_column_int64(stmt, 0);
    sqlite3_finalize(stmt);
    return v;
}

static uint64_t hash_of(struct store *s)
{
    uint64_t h = 0;
    assert_int_equal(store_hash(s, &h), 0);
    return h;
}

/* The tables of schema version 1 exactly as released (schema.c, migration 0 -> 1), for
 * tests that build an old state.db by hand and append their own rows. */
#define STORE_V1_TABLES_DDL                                                                          \
    "CREATE TABLE meta (key TEXT PRIMARY KEY NOT NULL, value NOT NULL) WITHOUT ROWID;"               \
    "CREATE TABLE members (id INTEGER PRIMARY KEY CHECK (id > 0), api_address TEXT NOT NULL);"       \
    "CREATE TABLE projects (name TEXT PRIMARY KEY NOT NULL, owner INTEGER NULL,"                     \
    "  epoch INTEGER NOT NULL DEFAULT 0 CHECK (epoch >= 0), pinned INTEGER NULL) WITHOUT ROWID;"     \
    "CREATE TABLE history (seq INTEGER PRIMARY KEY, raft_index INTEGER NOT NULL,"                    \
    "  term INTEGER NOT NULL, time_ms INTEGER NOT NULL, project TEXT NOT NULL,"                      \
    "  from_owner INTEGER NULL, to_owner INTEGER NULL, epoch INTEGER NOT NULL,"                      \
    "  reason TEXT NOT NULL"                                                                         \
    "    CHECK (reason IN ('new','failover','rebalance','move','drain','restore')));"                \
    "CREATE INDEX history_by_project ON history (project, seq);"

/* ... and the tables and index schema version 2 added (migration 1 -> 2). */
#define STORE_V2_TABLES_DDL                                                                          \
    STORE_V1_TABLES_DDL                                                                              \
    "CREATE TABLE engines (id INTEGER PRIMARY KEY CHECK (id > 0),"                                   \
    "  mode TEXT NOT NULL CHECK (mode IN ('all','job','query')),"                                    \
    "  weight INTEGER NOT NULL CHECK (weight >= 1), identity TEXT NOT NULL,"                         \
    "  race_enabled INTEGER NOT NULL, alive INTEGER NOT NULL, draining INTEGER NOT NULL DEFAULT 0,"  \
    "  heartbeats INTEGER NOT NULL DEFAULT 0, last_heartbeat_index INTEGER NOT NULL DEFAULT 0);"     \
    "CREATE TABLE settings (key TEXT PRIMARY KEY NOT NULL, value) WITHOUT ROWID;"                    \
    "CREATE INDEX projects_by_owner ON projects (owner);"

/* Rows of engine 2 ("10.0.0.2:7070|5") and of its placement of project p1 (epoch 1) by the
 * entry at INDEX (a string literal), as engine_set, project_add p1 and assign p1 to 2 ("new",
 * time 1) in that entry leave them; the project's own row is the caller's. */
#define STORE_ENGINE2_OWNS_P1_ROWS(INDEX)                                                            \
    "INSERT INTO engines (id, mode, weight, identity, race_enabled, alive)"                          \
    "  VALUES (2, 'all', 1, '10.0.0.2:7070|5', 1, 1);"                                               \
    "INSERT INTO history (raft_index, term, time_ms, project, from_owner, to_owner, epoch, reason)"  \
    "  VALUES (" INDEX ", 1, 1, 'p1', NULL, 2, 1, 'new');"

/* Restores into S an image of a database built from DDL alone (a snapshot from an older
 * binary): store_restore must migrate it on the way in. */
static void restore_from_ddl(struct store *s, const char *ddl)
{
    sqlite3 *db;
    assert_int_equal(sqlite3_open(":memory:", &db), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db, "PRAGMA page_size=4096", NULL, NULL, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db, ddl, NULL, NULL, NULL), SQLITE_OK);
    sqlite3_int64 len;
    unsigned char *image = sqlite3_serialize(db, "main", &len, 0);
    assert_non_null(image);
    assert_int_equal(store_restore(s, image, (size_t)len), 0);
    sqlite3_free(image);
    sqlite3_close(db);
}

/* Writes a state.db built from DDL into a new directory made from DIR (a mkdtemp template,
 * changed in place); its path into PATH. remove_dir(DIR) removes it. */
static void db_file_from_ddl(char *dir, char *path, size_t cap, const char *ddl)
{
    assert_non_null(mkdtemp(dir));
    snprintf(path, cap, "%s/state.db", dir);
    sqlite3 *db;
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db, "PRAGMA page_size=4096; PRAGMA journal_mode=WAL", NULL, NULL, NULL),
                     SQLITE_OK);
    char *err = NULL;
    int rc = sqlite3_exec(db, ddl, NULL, NULL, &err);
    if (rc != SQLITE_OK) {
        print_error("%s\n", err);
    }
    assert_int_equal(rc, SQLITE_OK);
    sqlite3_close(db);
}

/* Opens the store at PATH again: no migration left to do, the state hashes H. */
static inline void reopen_unchanged(const char *path, uint64_t h)
{
    struct store s;
    assert_int_equal(store_open(&s, path), 0);
    assert_int_equal(q_int(&s, "SELECT value FROM meta WHERE key = 'schema_version'"), SCHEMA_VERSION);
    assert_true(hash_of(&s) == h);
    store_close(&s);
}

/* Opens C as a new in-memory store holding FROM's snapshot (store_restore), hashing equal. */
static inline void copy_by_snapshot(struct store *from, struct store *c)
{
    void *image;
    size_t len;
    assert_int_equal(store_snapshot(from, &image, &len), 0);
    assert_int_equal(store_open(c, ":memory:"), 0);
    assert_int_equal(store_restore(c, image, len), 0);
    sqlite3_free(image);
    assert_true(hash_of(c) == hash_of(from));
}

static void remove_dir(const char *dir)
{
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    assert_int_equal(system(cmd), 0);
}

#endif
