/* Unit tests of storage/fsm.c (with db.c and schema.c): applying entries, refusals,
 * replay after restart, per-command isolation inside a batch, fatal SQLite failures, and
 * the read helpers. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <sqlite3.h>

#include "common/mp.h"
#include "store_helpers.h"

static struct batch batch;

static int setup_memory(void **state)
{
    struct store *s = malloc(sizeof *s);
    if (s == NULL || store_open(s, ":memory:") != 0) {
        free(s);
        return -1;
    }
    *state = s;
    return 0;
}

static int teardown(void **state)
{
    struct store *s = *state;
    store_close(s);
    free(s);
    return 0;
}

/* Applies one command already in `batch` at INDEX and checks its status/code/message. */
static void expect_one(struct store *s, uint64_t index, int status, const char *code,
                       const char *message)
{
    struct store_results r;
    assert_int_equal(batch_apply(s, &batch, index, &r), 0);
    assert_int_equal(r.entry_status, 0);
    assert_int_equal(r.n, 1);
    if (store_result_refused(&r.cmds[0]) != status || strcmp(store_err_name(r.cmds[0].err), code) != 0 ||
        strstr(r.cmds[0].message, message) == NULL) {
        print_error("got %d %s '%s', want %d %s '%s'\n", store_result_refused(&r.cmds[0]), store_err_name(r.cmds[0].err),
                    r.cmds[0].message, status, code, message);
    }
    assert_int_equal(store_result_refused(&r.cmds[0]), status);
    assert_string_equal(store_err_name(r.cmds[0].err), code);
    assert_non_null(strstr(r.cmds[0].message, message));
    store_results_free(&r);
    assert_true(s->applied_index == index);
}

static int exists(struct store *s, const char *name)
{
    return store_project_exists(s, name, strlen(name));
}

/* --- projects --- */

static void test_open_seeds_global(void **state)
{
    struct store *s = *state;
    assert_int_equal(s->applied_index, 0);
    assert_int_equal(exists(s, "_global"), 1);
    assert_int_equal(exists(s, "nope"), 0);
}

static void test_add_and_remove(void **state)
{
    struct store *s = *state;
    batch_add(&batch, "learn_kylin");
    expect_one(s, 1, 0, "ok", "");
    assert_int_equal(exists(s, "learn_kylin"), 1);

    batch_add(&batch, "learn_kylin");
    expect_one(s, 2, 1, "exists", "project 'learn_kylin' already exists");

    batch_remove(&batch, "learn_kylin");
    expect_one(s, 3, 0, "ok", "");
    assert_int_equal(exists(s, "learn_kylin"), 0);

    batch_remove(&batch, "learn_kylin");
    expect_one(s, 4, 1, "not_found", "project 'learn_kylin' does not exist");

    batch_remove(&batch, "_global");
    expect_one(s, 5, 1, "invalid", "_global cannot be removed");
    assert_int_equal(exists(s, "_global"), 1);

    batch_add(&batch, "_global");
    expect_one(s, 6, 1, "invalid", "leading '_' is reserved");
}

/* DESIGN.md: project names are unique ignoring case, as in Kylin. */
static void test_add_refuses_case_twin(void **state)
{
    struct store *s = *state;
    batch_add(&batch, "sales");
    expect_one(s, 1, 0, "ok", "");
    batch_add(&batch, "Sales");
    expect_one(s, 2, 1, "exists", "project 'Sales' already exists as 'sales' (names are unique ignoring case)");
    assert_int_equal(exists(s, "Sales"), 0);
    batch_add(&batch, "SALES_2");
    expect_one(s, 3, 0, "ok", "");
    batch_remove(&batch, "sales");
    expect_one(s, 4, 0, "ok", "");
    batch_add(&batch, "Sales");
    expect_one(s, 5, 0, "ok", "");
    assert_int_equal(exists(s, "Sales"), 1);
}

/* kylin_listed of NAME (-1: no such project). */
static int listed(struct store *s, const char *name)
{
    struct store_project_row row;
    int found = store_project_get(s, name, strlen(name), &row);
    if (found != 1) {
        return found == 0 ? -1 : -2;
    }
    free(row.name);
    return row.kylin_listed ? 1 : 0;
}

/* The follow loop's add ("kylin": true, docs/kylin.md "Projects follow Kylin") stores the
 * project kylin_listed, or marks a raftctl project of the exact name; a case-twin is still
 * refused, and raftctl's add never marks. */
static void test_add_kylin_marks_listed(void **state)
{
    struct store *s = *state;
    enum { RAFTCTL, KYLIN, REMOVE };
    static const struct {
        int op;
        const char *name;
        const char *message; /* NULL: ok; else "exists" with this text */
        int listed_after;    /* listed(name) after the step */
    } steps[] = {
        {KYLIN, "Sales", NULL, 1},
        {RAFTCTL, "manual", NULL, 0},
        {RAFTCTL, "Sales", "project 'Sales' already exists", 1}, /* raftctl's add: stays listed */
        {KYLIN, "manual", NULL, 1},                               /* adopted */
        {KYLIN, "manual", "project 'manual' already exists", 1},
        {KYLIN, "SALES", "project 'SALES' already exists as 'Sales'", -1},
        {REMOVE, "Sales", NULL, -1},
        {RAFTCTL, "Sales", NULL, 0}, /* re-added by raftctl: not listed any more */
    };
    for (unsigned i = 0; i < sizeof steps / sizeof steps[0]; i++) {
        if (steps[i].op == KYLIN) {
            batch_add_kylin(&batch, steps[i].name);
        } else if (steps[i].op == RAFTCTL) {
            batch_add(&batch, steps[i].name);
        } else {
            batch_remove(&batch, steps[i].name);
        }
        expect_one(s, i + 1, steps[i].message != NULL, steps[i].message != NULL ? "exists" : "ok",
                   steps[i].message != NULL ? steps[i].message : "");
        assert_int_equal(listed(s, steps[i].name), steps[i].listed_after);
    }
}

/* The adds of an old log (no "nocase") keep the rule they were written under: `Sales` and
 * `sales` both exist after the replay, on every member. Later adds see both twins: the
 * exact name first, else the first twin in byte order ('S' < 's'). */
static void case_rule_steps(struct store *s)
{
    static const struct {
        bool legacy;
        const char *name;
        int refused;
        const char *message;
    } steps[] = {
        {true, "sales", 0, ""},
        {true, "Sales", 0, ""},
        {true, "sales", 1, "project 'sales' already exists"},
        {false, "sales", 1, "project 'sales' already exists"},
        {false, "SALES", 1, "project 'SALES' already exists as 'Sales' (names are unique ignoring case)"},
    };
    for (unsigned i = 0; i < sizeof steps / sizeof steps[0]; i++) {
        if (steps[i].legacy) {
            batch_add_legacy(&batch, steps[i].name);
        } else {
            batch_add(&batch, steps[i].name);
        }
        expect_one(s, i + 1, steps[i].refused, steps[i].refused ? "exists" : "ok", steps[i].message);
    }
    assert_int_equal(exists(s, "sales"), 1);
    assert_int_equal(exists(s, "Sales"), 1);
    assert_int_equal(exists(s, "SALES"), 0);
}

/* The case-twin lookup of every add is one search of the primary key (case-folded first:
 * schema version 8), not a scan of all projects. */
static void test_case_twin_lookup_uses_index(void **state)
{
    struct store *s = *state;
    sqlite3_stmt *plan = NULL;
    assert_int_equal(sqlite3_prepare_v2(s->db,
                                        "EXPLAIN QUERY PLAN SELECT name FROM projects WHERE name = ?1 COLLATE NOCASE "
                                        "ORDER BY name = ?1 DESC, name LIMIT 1",
                                        -1, &plan, NULL),
                     SQLITE_OK);
    bool indexed = false;
    while (sqlite3_step(plan) == SQLITE_ROW) {
        const char *detail = (const char *)sqlite3_column_text(plan, 3);
        indexed = indexed || (detail != NULL && strstr(detail, "SEARCH projects USING PRIMARY KEY") != NULL);
    }
    sqlite3_finalize(plan);
    assert_true(indexed);
}

/* The same log gives the same state on another member (a replay from the start). */
static void test_case_rule_versioned(void **state)
{
    struct store *s = *state;
    struct store again;
    uint64_t h1, h2;
    case_rule_steps(s);
    assert_int_equal(store_open(&again, ":memory:"), 0);
    case_rule_steps(&again);
    assert_int_equal(store_hash(s, &h1), 0);
    assert_int_equal(store_hash(&again, &h2), 0);
    assert_true(h1 == h2);
    store_close(&again);
}

static void test_name_rule(void **state)
{
    struct store *s = *state;
    char name[300];
    memset(name, 'a', sizeof name);
    name[255] = '\0';
    batch_add(&batch, name); /* 255 bytes: the longest valid name */
    expect_one(s, 1, 0, "ok", "");
    assert_int_equal(store_project_exists(s, name, 255), 1);
    name[255] = 'a';
    name[256] = '\0';
    batch_add(&batch, name);
    expect_one(s, 2, 1, "invalid", "at most 255 bytes");
    assert_int_equal(store_project_exists(s, name, 256), 0);

    batch_add(&batch, "");
    expect_one(s, 3, 1, "invalid", "must not be empty");
    batch_add(&batch, "_hidden");
    expect_one(s, 4, 1, "invalid", "invalid project name '_hidden': a leading '_' is reserved");
    batch_add(&batch, "a-b");
    expect_one(s, 5, 1, "invalid", "only letters, digits and '_'");
    batch_add(&batch, "caf\xc3\xa9");
    expect_one(s, 6, 1, "invalid", "invalid project name 'caf\\xc3\\xa9'");
    batch_remove(&batch, "a b");
    expect_one(s, 7, 1, "invalid", "only letters");
    msgpack_packer pk;
    command_pack_project_add(batch_next(&batch, &pk), "ab\0c", 4);
    expect_one(s, 8, 1, "invalid", "'ab\\x00c'");
    batch_add(&batch, "Z_9_underscore_inside_");
    expect_one(s, 9, 0, "ok", "");

    assert_null(store_check_project_name("a", 1));
    assert_null(store_check_project_name("A_1", 3));
    assert_non_null(store_check_project_name("_", 1));
    assert_non_null(store_check_project_name("a.b", 3));
}

/* A refused command in a batch leaves its siblings applied, and the applied index moves. */
static void test_refused_command_keeps_siblings(void **state)
{
    struct store *s = *state;
    batch_add(&batch, "a");
    batch_add(&batch, "a");
    batch_add(&batch, "bad name");
    batch_remove(&batch, "missing");
    batch_add(&batch, "b");
    batch_member_set(&batch, 4, "10.0.0.4:7201");
    struct store_results r;
    assert_int_equal(batch_apply(s, &batch, 10, &r), 0);
    assert_int_equal(r.n, 6);
    assert_int_equal(r.index, 10);
    int want_status[] = {0, 1, 1, 1, 0, 0};
    const char *want_code[] = {"ok", "exists", "invalid", "not_found", "ok", "ok"};
    for (unsigned i = 0; i < 6; i++) {
        assert_int_equal(store_result_refused(&r.cmds[i]), want_status[i]);
        assert_string_equal(store_err_name(r.cmds[i].err), want_code[i]);
    }
    store_results_free(&r);
    assert_int_equal(exists(s, "a"), 1);
    assert_int_equal(exists(s, "b"), 1);
    char api[64];
    assert_int_equal(store_member_api(s, 4, api, sizeof api), 1);
    assert_int_equal(s->applied_index, 10);
}

/* A project added then removed in the same entry: commands see their predecessors. */
static void test_commands_in_order(void **state)
{
    struct store *s = *state;
    batch_add(&batch, "tmp");
    batch_remove(&batch, "tmp");
    batch_remove(&batch, "tmp");
    struct store_results r;
    assert_int_equal(batch_apply(s, &batch, 1, &r), 0);
    assert_int_equal(store_result_refused(&r.cmds[0]), 0);
    assert_int_equal(store_result_refused(&r.cmds[1]), 0);
    assert_string_equal(store_err_name(r.cmds[2].err), "not_found");
    store_results_free(&r);
    assert_int_equal(exists(s, "tmp"), 0);
}

/* --- replay and persistence --- */

static void test_replay_is_skipped(void **state)
{
    struct store *s = *state;
    uint64_t index = 5;
    assert_int_equal(apply_adds(s, &index, "p5", NULL), 0);
    struct store_results r;
    batch_add(&batch, "other");
    assert_int_equal(batch_apply(s, &batch, 5, &r), 0); /* same index again */
    assert_int_equal(r.n, 0);
    assert_int_equal(r.entry_status, 0);
    assert_null(r.cmds);
    store_results_free(&r);
    batch_add(&batch, "other");
    assert_int_equal(batch_apply(s, &batch, 3, &r), 0); /* older index */
    assert_int_equal(r.n, 0);
    store_results_free(&r);
    assert_int_equal(exists(s, "other"), 0);
    assert_int_equal(s->applied_index, 5);
    /* Garbage at an old index is skipped as well, without being looked at. */
    assert_int_equal(store_apply(s, 4, "\xc1", 1, &r), 0);
    assert_int_equal(r.entry_status, 0);
    store_results_free(&r);
}

static void test_applied_index_persists(void **state)
{
    (void)state;
    char dir[] = "/tmp/test_fsm.XXXXXX";
    assert_non_null(mkdtemp(dir));
    char path[256];
    snprintf(path, sizeof path, "%s/state.db", dir);

    struct store s;
    assert_int_equal(store_open(&s, path), 0);
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600); /* issue 12: the state is not world-readable */
    uint64_t index = 1;
    assert_int_equal(apply_adds(&s, &index, "one", "two", "three", NULL), 0);
    batch_member_set(&batch, 2, "127.0.0.1:7202");
    struct store_results r;
    assert_int_equal(batch_apply(&s, &batch, 40, &r), 0);
    store_results_free(&r);
    store_close(&s);
    store_close(&s); /* idempotent */

    assert_int_equal(store_open(&s, path), 0);
    assert_int_equal(s.applied_index, 40);
    assert_int_equal(exists(&s, "two"), 1);
    char api[64];
    assert_int_equal(store_member_api(&s, 2, api, sizeof api), 1);
    assert_string_equal(api, "127.0.0.1:7202");
    /* Replay of the log after the restart: everything up to 40 is skipped. */
    batch_remove(&batch, "two");
    assert_int_equal(batch_apply(&s, &batch, 2, &r), 0);
    assert_int_equal(r.n, 0);
    store_results_free(&r);
    assert_int_equal(exists(&s, "two"), 1);
    batch_remove(&batch, "two");
    assert_int_equal(batch_apply(&s, &batch, 41, &r), 0);
    assert_int_equal(r.n, 1);
    store_results_free(&r);
    store_close(&s);

    assert_int_equal(chmod(path, 0644), 0);
    assert_int_equal(store_open(&s, path), 0); /* an older, wider file is tightened */
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    assert_int_equal(s.applied_index, 41);
    assert_int_equal(exists(&s, "two"), 0);
    store_close(&s);

    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    assert_int_equal(system(cmd), 0);
}

static void test_open_errors(void **state)
{
    (void)state;
    struct store s;
    assert_int_equal(store_open(&s, "/nonexistent-dir/x/state.db"), -1);
    assert_non_null(strstr(s.errmsg, "store: open /nonexistent-dir/x/state.db: "));
    assert_non_null(strstr(s.errmsg, "check the data directory exists and is writable"));
    store_close(&s); /* harmless after a failed open */

    /* A file that is not SQLite at all. */
    char path[] = "/tmp/test_fsm_garbage.XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    char junk[4096];
    memset(junk, 'j', sizeof junk);
    assert_int_equal(write(fd, junk, sizeof junk), (ssize_t)sizeof junk);
    close(fd);
    assert_int_equal(store_open(&s, path), -1);
    assert_non_null(strstr(s.errmsg, "not a database"));
    assert_true(s.corrupt);
    unlink(path);

    /* A SQLite database of something else. */
    sqlite3 *other;
    assert_int_equal(sqlite3_open(path, &other), SQLITE_OK);
    assert_int_equal(sqlite3_exec(other, "CREATE TABLE t(x)", NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(other);
    assert_int_equal(store_open(&s, path), -1);
    assert_non_null(strstr(s.errmsg, "not a raftnode store"));
    assert_false(s.corrupt);
    unlink(path);

    /* A store written by a newer binary. */
    assert_int_equal(store_open(&s, path), 0);
    assert_int_equal(sqlite3_exec(s.db, "UPDATE meta SET value = 99 WHERE key = 'schema_version'",
                                  NULL, NULL, NULL),
                     SQLITE_OK);
    store_close(&s);
    assert_int_equal(store_open(&s, path), -1);
    assert_non_null(strstr(s.errmsg, "schema version 99 is not supported"));
    unlink(path);
    char side[300];
    snprintf(side, sizeof side, "%s-wal", path);
    unlink(side);
    snprintf(side, sizeof side, "%s-shm", path);
    unlink(side);
}

/* --- malformed entries --- */

static void test_malformed_entry_advances_index(void **state)
{
    struct store *s = *state;
    struct store_results r;
    assert_int_equal(store_apply(s, 1, "\x93\x01\x02\x03", 4, &r), 0);
    assert_int_equal(r.entry_status, 1);
    assert_int_equal(r.n, 0);
    assert_non_null(strstr(r.entry_message, "not a map"));
    store_results_free(&r);
    assert_int_equal(s->applied_index, 1);
    assert_int_equal(store_apply(s, 2, NULL, 0, &r), 0);
    assert_int_equal(r.entry_status, 1);
    store_results_free(&r);
    assert_int_equal(s->applied_index, 2);
}

static uint64_t rng_state = 0x2545f4914f6cdd1dULL;

static uint64_t rng(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}

/* Mutated entries through the whole apply path: never a failure return, index advances. */
static void test_fuzz_apply(void **state)
{
    struct store *s = *state;
    batch_add(&batch, "alpha");
    batch_remove(&batch, "beta");
    batch_member_set(&batch, 7, "192.168.0.7:7201");
    batch_member_forget(&batch, 9);
    void *orig;
    size_t len;
    assert_int_equal(batch_build(&batch, 3, &orig, &len), 0);
    unsigned char *buf = malloc(len);
    assert_non_null(buf);
    for (uint64_t index = 1; index <= 20000; index++) {
        memcpy(buf, orig, len);
        buf[rng() % len] = (unsigned char)rng();
        if (rng() % 2) {
            buf[rng() % len] = (unsigned char)rng();
        }
        struct store_results r;
        assert_int_equal(store_apply(s, index, buf, len, &r), 0);
        assert_true(r.entry_status == 1 || r.n > 0);
        store_results_free(&r);
        assert_true(s->applied_index == index);
    }
    free(buf);
    raft_free(orig);
    assert_int_equal(exists(s, "_global"), 1);
}

/* --- SQLite failures --- */

/* Every update of the meta table (the applied index) fails from now on: an I/O error's stand-in. */
static void fail_meta_updates(struct store *s)
{
    assert_int_equal(sqlite3_exec(s->db,
                                  "CREATE TEMP TRIGGER fail_meta BEFORE UPDATE ON main.meta "
                                  "BEGIN SELECT RAISE(ABORT, 'injected failure'); END",
                                  NULL, NULL, NULL),
                     SQLITE_OK);
}

/* A failure outside any command (here: recording the applied index) is fatal: the entry is
 * rolled back as a whole and the index does not move. The trigger stands in for an I/O
 * error, which SQLite reports on the same path. */
static void test_sqlite_failure_rolls_back(void **state)
{
    struct store *s = *state;
    fail_meta_updates(s);
    batch_add(&batch, "x1");
    batch_add(&batch, "x2");
    struct store_results r;
    assert_int_equal(batch_apply(s, &batch, 7, &r), -1);
    assert_int_equal(r.n, 0);
    assert_null(r.cmds);
    store_results_free(&r);
    assert_string_equal(s->errmsg,
                        "store: apply index 7: recording the applied index: injected failure");
    assert_int_equal(s->applied_index, 0);
    assert_int_equal(exists(s, "x1"), 0);
    assert_int_equal(sqlite3_get_autocommit(s->db), 1); /* no transaction left open */

    assert_int_equal(sqlite3_exec(s->db, "DROP TRIGGER fail_meta", NULL, NULL, NULL), SQLITE_OK);
    batch_add(&batch, "x1");
    expect_one(s, 7, 0, "ok", ""); /* the same entry applies once the fault is gone */
}

/* A failed COMMIT (a deferred foreign key here) is fatal too, with a message that says so. */
static void test_commit_failure(void **state)
{
    struct store *s = *state;
    assert_int_equal(
        sqlite3_exec(s->db,
                     "CREATE TABLE dangling (m INTEGER REFERENCES members (id) "
                     "  DEFERRABLE INITIALLY DEFERRED);"
                     "CREATE TRIGGER add_dangling AFTER INSERT ON projects "
                     "BEGIN INSERT INTO dangling VALUES (999); END",
                     NULL, NULL, NULL),
        SQLITE_OK);
    batch_add(&batch, "y");
    struct store_results r;
    /* group commit: the deferred key is checked when the group commits, not at the apply */
    assert_int_equal(batch_apply(s, &batch, 3, &r), 0);
    store_results_free(&r);
    assert_int_equal(s->applied_index, 3);
    assert_int_equal(s->group_entries, 1);
    assert_int_equal(store_commit(s), -1);
    assert_string_equal(s->errmsg, "store: commit of the entries 3-3: FOREIGN KEY constraint failed");
    assert_int_equal(s->applied_index, 0);
    assert_int_equal(s->committed_index, 0);
    assert_int_equal(s->group_entries, 0);
    assert_int_equal(exists(s, "y"), 0);
    assert_int_equal(sqlite3_get_autocommit(s->db), 1);
}

/* A failed commit that rolls back entries already applied (and answered: group commit replies
 * at the apply) breaks the store: applying the next entry on the rolled-back state would
 * answer what the replay after a restart does not reproduce (fault suite, disk-full seed 909:
 * a move from "unplaced" acknowledged after the rollback of the entry that had placed the
 * project). Every later apply, commit, snapshot and hash is refused until the store is
 * reopened. */
static void test_commit_failure_breaks_the_store(void **state)
{
    struct store *s = *state;
    struct store_results r;
    batch_add(&batch, "before");
    expect_one(s, 2, 0, "ok", "");
    assert_int_equal(store_commit(s), 0);
    batch_add(&batch, "placed");
    expect_one(s, 3, 0, "ok", ""); /* applied and answered, not committed */
    assert_int_equal(
        sqlite3_exec(s->db,
                     "CREATE TABLE dangling (m INTEGER REFERENCES members (id) "
                     "  DEFERRABLE INITIALLY DEFERRED);"
                     "CREATE TEMP TRIGGER add_dangling AFTER INSERT ON main.projects "
                     "WHEN new.name = 'doomed' BEGIN INSERT INTO dangling VALUES (999); END",
                     NULL, NULL, NULL),
        SQLITE_OK);
    batch_add(&batch, "doomed");
    expect_one(s, 4, 0, "ok", "");
    assert_false(s->broken);
    assert_int_equal(store_commit(s), -1); /* the disk-full stand-in: 3 and 4 roll back */
    assert_true(s->broken);
    assert_int_equal(s->applied_index, 2);
    assert_int_equal(exists(s, "placed"), 0);

    batch_add(&batch, "after");
    assert_int_equal(batch_apply(s, &batch, 5, &r), -1);
    store_results_free(&r);
    assert_non_null(strstr(s->errmsg, "store: apply index 5 refused: restart this member"));
    assert_non_null(strstr(s->errmsg, "after 2 that a failed write rolled back: store: commit of the entries 3-4"));
    assert_int_equal(exists(s, "after"), 0);
    assert_int_equal(s->applied_index, 2);

    void *image = NULL;
    size_t len = 0;
    uint64_t h;
    assert_int_equal(store_commit(s), -1);
    assert_int_equal(store_snapshot(s, &image, &len), -1); /* it would be labelled 4, hold 2 */
    assert_null(image);
    assert_int_equal(store_hash(s, &h), -1);
    assert_non_null(strstr(s->errmsg, "refused"));
}

/* A failed apply into an empty group loses nothing applied: the store stays usable (the glue
 * stops the member all the same). */
static void test_apply_failure_alone_does_not_break(void **state)
{
    struct store *s = *state;
    struct store_results r;
    fail_meta_updates(s);
    batch_add(&batch, "x1");
    assert_int_equal(batch_apply(s, &batch, 7, &r), -1);
    store_results_free(&r);
    assert_false(s->broken);
    assert_int_equal(sqlite3_exec(s->db, "DROP TRIGGER fail_meta", NULL, NULL, NULL), SQLITE_OK);

    /* the same failure with entry 7 applied in the open group does break it */
    batch_add(&batch, "x1");
    expect_one(s, 7, 0, "ok", "");
    fail_meta_updates(s);
    batch_add(&batch, "x2");
    assert_int_equal(batch_apply(s, &batch, 8, &r), -1);
    store_results_free(&r);
    assert_true(s->broken);
    assert_int_equal(exists(s, "x1"), 0);
}

/* A constraint failing inside one command refuses that command only ("failed"). project_add
 * runs without a savepoint (storage/fsm.c): its statement, failing after it wrote (here a
 * trigger adds a member row, then refuses), is undone by SQLite as a whole. */
static void test_constraint_in_command_is_refusal(void **state)
{
    struct store *s = *state;
    assert_int_equal(sqlite3_exec(s->db,
                                  "CREATE TEMP TRIGGER no_z AFTER INSERT ON main.projects "
                                  "WHEN NEW.name = 'z' BEGIN INSERT INTO members VALUES (9, 'x:1');"
                                  " SELECT RAISE(ABORT, 'z refused'); END",
                                  NULL, NULL, NULL),
                     SQLITE_OK);
    batch_add(&batch, "y");
    batch_add(&batch, "z");
    batch_add(&batch, "w");
    struct store_results r;
    assert_int_equal(batch_apply(s, &batch, 1, &r), 0);
    assert_int_equal(store_result_refused(&r.cmds[0]), 0);
    assert_int_equal(store_result_refused(&r.cmds[1]), 1);
    assert_string_equal(store_err_name(r.cmds[1].err), "failed");
    assert_string_equal(r.cmds[1].message, "project_add 'z': z refused");
    assert_int_equal(store_result_refused(&r.cmds[2]), 0);
    store_results_free(&r);
    assert_int_equal(exists(s, "y"), 1);
    assert_int_equal(exists(s, "z"), 0);
    assert_int_equal(exists(s, "w"), 1);
    char api[64];
    assert_int_equal(store_member_api(s, 9, api, sizeof api), 0);
}

/* --- members --- */

static void test_members(void **state)
{
    struct store *s = *state;
    char api[64];
    assert_int_equal(store_member_api(s, 1, api, sizeof api), 0);
    batch_member_set(&batch, 1, "10.0.0.1:7201");
    expect_one(s, 1, 0, "ok", "");
    assert_int_equal(store_member_api(s, 1, api, sizeof api), 1);
    assert_string_equal(api, "10.0.0.1:7201");
    batch_member_set(&batch, 1, "10.0.0.9:7201"); /* upsert */
    expect_one(s, 2, 0, "ok", "");
    assert_int_equal(store_member_api(s, 1, api, sizeof api), 1);
    assert_string_equal(api, "10.0.0.9:7201");
    assert_int_equal(store_member_api(s, 1, api, 5), -1); /* does not fit */
    assert_non_null(strstr(s->errmsg, "member 1"));
    batch_member_forget(&batch, 1);
    expect_one(s, 3, 0, "ok", "");
    assert_int_equal(store_member_api(s, 1, api, sizeof api), 0);
    batch_member_forget(&batch, 1); /* absent: still ok */
    expect_one(s, 4, 0, "ok", "");
    assert_int_equal(store_member_api(s, 0, api, sizeof api), 0);
    assert_int_equal(store_member_api(s, UINT64_MAX, api, sizeof api), 0);
}

/* --- project list --- */

static void test_pack_projects(void **state)
{
    struct store *s = *state;
    uint64_t index = 1;
    assert_int_equal(apply_adds(s, &index, "zeta", "Alpha", "beta", NULL), 0);
    msgpack_sbuffer sb;
    msgpack_packer pk;
    msgpack_sbuffer_init(&sb);
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    assert_int_equal(store_pack_projects(s, &pk), 0);

    msgpack_unpacked u;
    msgpack_unpacked_init(&u);
    size_t off = 0;
    assert_int_equal(msgpack_unpack_next(&u, sb.data, sb.size, &off), MSGPACK_UNPACK_SUCCESS);
    assert_int_equal(off, sb.size);
    assert_int_equal(u.data.type, MSGPACK_OBJECT_ARRAY);
    assert_int_equal(u.data.via.array.size, 4);
    const char *want[] = {"Alpha", "_global", "beta", "zeta"}; /* byte order */
    for (unsigned i = 0; i < 4; i++) {
        const msgpack_object *p = &u.data.via.array.ptr[i];
        char name[64];
        uint64_t epoch = 99;
        assert_int_equal(mp_get_cstr(p, "name", name, sizeof name), 0);
        assert_string_equal(name, want[i]);
        assert_int_equal(mp_get(p, "owner")->type, MSGPACK_OBJECT_NIL);
        assert_int_equal(mp_get(p, "owner_identity")->type, MSGPACK_OBJECT_NIL);
        assert_int_equal(mp_get_u64(p, "epoch", &epoch), 0);
        assert_int_equal(epoch, 0);
    }
    msgpack_unpacked_destroy(&u);
    msgpack_sbuffer_destroy(&sb);
}

/* --- performance --- */

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

/* store_apply runs on the event loop: a 1000-command entry must take a few ms. */
/* --- group commit (store.h) --- */

/* The committed applied index as another connection to PATH sees it. */
static int64_t committed_on_disk(const char *path)
{
    sqlite3 *db;
    sqlite3_stmt *st;
    int64_t v = -1;
    assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_prepare_v2(db, "SELECT value FROM meta WHERE key = 'applied_index'", -1, &st, NULL),
                     SQLITE_OK);
    if (sqlite3_step(st) == SQLITE_ROW) {
        v = sqlite3_column_int64(st, 0);
    }
    sqlite3_finalize(st);
    sqlite3_close(db);
    return v;
}

static void add_one(struct store *s, uint64_t index, const char *name)
{
    struct store_results r;
    batch_add(&batch, name);
    assert_int_equal(batch_apply(s, &batch, index, &r), 0);
    assert_int_equal(r.n, 1);
    assert_int_equal(store_result_refused(&r.cmds[0]), 0);
    store_results_free(&r);
}

/* Entries applied one after another share one transaction: visible here at once, to another
 * connection only after store_commit; a crash before the commit loses SQLite's copy only, and
 * applying the same entries again (libraft's replay) gives the same state. */
static void test_group_commit(void **state)
{
    struct store s;
    const char *path = *state;
    assert_int_equal(store_open(&s, path), 0);
    add_one(&s, 1, "a");
    add_one(&s, 2, "b");
    add_one(&s, 3, "c");
    assert_int_equal(s.applied_index, 3);
    assert_int_equal(s.committed_index, 0);
    assert_int_equal(s.group_entries, 3);
    assert_int_equal(s.group_first_index, 1);
    assert_int_equal(exists(&s, "c"), 1);         /* this connection sees the open group */
    assert_int_equal(committed_on_disk(path), 0); /* another one does not */
    assert_int_equal(store_commit(&s), 0);
    assert_int_equal(s.committed_index, 3);
    assert_int_equal(s.group_entries, 0);
    assert_int_equal(committed_on_disk(path), 3);
    assert_int_equal(store_commit(&s), 0); /* nothing open: no-op */

    /* crash with 4 and 5 applied, not committed: SQLite rolls them back */
    add_one(&s, 4, "d");
    add_one(&s, 5, "e");
    assert_int_equal(sqlite3_exec(s.db, "ROLLBACK", NULL, NULL, NULL), SQLITE_OK);
    s.group_entries = 0;
    store_close(&s);
    assert_int_equal(store_open(&s, path), 0);
    assert_int_equal(s.applied_index, 3);
    assert_int_equal(exists(&s, "d"), 0);
    /* the replay: 3 is skipped, 4 and 5 apply again */
    struct store_results r;
    batch_add(&batch, "c");
    assert_int_equal(batch_apply(&s, &batch, 3, &r), 0);
    assert_int_equal(r.n, 0);
    store_results_free(&r);
    add_one(&s, 4, "d");
    add_one(&s, 5, "e");
    assert_int_equal(s.group_entries, 2);
    store_close(&s); /* a clean stop commits the group */
    assert_int_equal(committed_on_disk(path), 5);
    assert_int_equal(store_open(&s, path), 0);
    assert_int_equal(s.applied_index, 5);
    assert_int_equal(exists(&s, "e"), 1);
    store_close(&s);
}

/* STATE: the path of a state.db in a fresh directory (removed by teardown_file). */
static int setup_file(void **state)
{
    char *dir = malloc(512);
    if (dir == NULL) {
        return -1;
    }
    snprintf(dir, 512, "/tmp/test_fsm_group.XXXXXX");
    if (mkdtemp(dir) == NULL) {
        free(dir);
        return -1;
    }
    strcat(dir, "/state.db"); /* 27 + 9 bytes: fits */
    *state = dir;
    return 0;
}

static int teardown_file(void **state)
{
    char *path = *state, cmd[600];
    *strrchr(path, '/') = '\0';
    snprintf(cmd, sizeof cmd, "rm -rf -- '%s'", path);
    int rc = system(cmd);
    free(path);
    return rc == 0 ? 0 : -1;
}

/* A group closes by itself at STORE_GROUP_MAX_ENTRIES; a snapshot, a hash and a restore
 * commit first (the snapshot must hold every applied entry: raft compacts behind it). */
static void test_group_commit_bounds(void **state)
{
    struct store *s = *state;
    char name[32];
    for (unsigned i = 1; i <= STORE_GROUP_MAX_ENTRIES; i++) {
        snprintf(name, sizeof name, "p%u", i);
        add_one(s, i, name);
    }
    assert_int_equal(s->group_entries, 0);
    assert_int_equal(s->committed_index, STORE_GROUP_MAX_ENTRIES);
    add_one(s, STORE_GROUP_MAX_ENTRIES + 1, "x");
    assert_int_equal(s->group_entries, 1);
    uint64_t h;
    assert_int_equal(store_hash(s, &h), 0);
    assert_int_equal(s->group_entries, 0);
    add_one(s, STORE_GROUP_MAX_ENTRIES + 2, "y");
    void *image;
    size_t len;
    assert_int_equal(store_snapshot(s, &image, &len), 0);
    assert_int_equal(s->group_entries, 0);
    assert_int_equal(s->committed_index, STORE_GROUP_MAX_ENTRIES + 2);
    add_one(s, STORE_GROUP_MAX_ENTRIES + 3, "z");
    assert_int_equal(store_restore(s, image, len), 0); /* older image: a no-op, after the commit */
    assert_int_equal(s->group_entries, 0);
    assert_int_equal(s->applied_index, STORE_GROUP_MAX_ENTRIES + 3);
    sqlite3_free(image);
}

static void test_apply_1000_adds_in_one_entry(void **state)
{
    (void)state;
    char dir[] = "/tmp/test_fsm_perf.XXXXXX";
    assert_non_null(mkdtemp(dir));
    char path[256];
    snprintf(path, sizeof path, "%s/state.db", dir);
    struct store s;
    assert_int_equal(store_open(&s, path), 0);
    double best = 1e9;
    for (unsigned round = 0; round < 5; round++) {
        for (unsigned i = 0; i < 1000; i++) {
            char name[32];
            snprintf(name, sizeof name, "project_%u_%04u", round, i);
            batch_add(&batch, name);
        }
        void *buf;
        size_t len;
        assert_int_equal(batch_build(&batch, 1, &buf, &len), 0);
        struct store_results r;
        double t0 = now_ms();
        assert_int_equal(store_apply(&s, round + 1, buf, len, &r), 0);
        double ms = now_ms() - t0;
        best = ms < best ? ms : best;
        assert_int_equal(r.n, 1000);
        for (unsigned i = 0; i < 1000; i++) {
            assert_int_equal(store_result_refused(&r.cmds[i]), 0);
        }
        store_results_free(&r);
        raft_free(buf);
    }
    /* Timing is a benchmark figure (bench/store_bench), not a pass/fail condition: printed only. */
    print_message("1000 project_add in one entry: best %.2f ms (file db, WAL)\n", best);
    store_close(&s);
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    assert_int_equal(system(cmd), 0);
}

#define T(f) cmocka_unit_test_setup_teardown(f, setup_memory, teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_open_seeds_global),
        T(test_add_and_remove),
        T(test_add_refuses_case_twin),
        T(test_add_kylin_marks_listed),
        T(test_case_rule_versioned),
        T(test_case_twin_lookup_uses_index),
        T(test_name_rule),
        T(test_refused_command_keeps_siblings),
        T(test_commands_in_order),
        T(test_replay_is_skipped),
        cmocka_unit_test(test_applied_index_persists),
        cmocka_unit_test(test_open_errors),
        T(test_malformed_entry_advances_index),
        T(test_fuzz_apply),
        T(test_sqlite_failure_rolls_back),
        T(test_commit_failure),
        T(test_commit_failure_breaks_the_store),
        T(test_apply_failure_alone_does_not_break),
        T(test_constraint_in_command_is_refusal),
        T(test_members),
        T(test_pack_projects),
        cmocka_unit_test(test_apply_1000_adds_in_one_entry),
        cmocka_unit_test_setup_teardown(test_group_commit, setup_file, teardown_file),
        T(test_group_commit_bounds),
    };
    return cmocka_run_group_tests_name("fsm", tests, NULL, NULL);
}
