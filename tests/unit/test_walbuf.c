/* Unit tests of storage/walbuf.c: a commit's WAL frames reach the file in a few large writes,
 * at the commit itself (another connection sees the commit at once, a process killed right
 * after it keeps it); a failing write fails the commit and leaves the database as it was;
 * cache spills (frames written, then overwritten, before the commit) and rolled-back
 * transactions keep the file exactly what SQLite alone would have made of it. */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>
#include <sqlite3.h>

#include "storage/walbuf.h"

struct fixture {
    char dir[64];
    char path[96];
    sqlite3 *db;     /* through walbuf */
    sqlite3 *reader; /* the default VFS, as the metastore mirror's and checkpointer's are */
};

static sqlite3 *open_db(const char *path, const char *vfs)
{
    sqlite3 *db = NULL;
    int rc = sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, vfs);
    if (rc != SQLITE_OK) {
        print_error("open %s: %s\n", path, db != NULL ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
        sqlite3_close(db);
        return NULL;
    }
    return db;
}

static void exec_ok(sqlite3 *db, const char *sql)
{
    char *err = NULL;
    int rc = sqlite3_exec(db, sql, NULL, NULL, &err);
    if (rc != SQLITE_OK) {
        print_error("%s: %s\n", sql, err != NULL ? err : sqlite3_errstr(rc));
    }
    sqlite3_free(err);
    assert_int_equal(rc, SQLITE_OK);
}

static int64_t query_int(sqlite3 *db, const char *sql)
{
    sqlite3_stmt *st = NULL;
    assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    int64_t v = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return v;
}

static void assert_integrity(sqlite3 *db)
{
    sqlite3_stmt *st = NULL;
    assert_int_equal(sqlite3_prepare_v2(db, "PRAGMA integrity_check", -1, &st, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    const char *r = (const char *)sqlite3_column_text(st, 0);
    if (r == NULL || strcmp(r, "ok") != 0) {
        print_error("integrity_check: %s\n", r != NULL ? r : "(null)");
    }
    assert_string_equal(r, "ok");
    sqlite3_finalize(st);
}

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof *f);
    if (f == NULL || walbuf_register() != SQLITE_OK) {
        free(f);
        return -1;
    }
    snprintf(f->dir, sizeof f->dir, "/tmp/test_walbuf.XXXXXX");
    if (mkdtemp(f->dir) == NULL) {
        free(f);
        return -1;
    }
    snprintf(f->path, sizeof f->path, "%s/t.db", f->dir);
    f->db = open_db(f->path, WALBUF_VFS);
    if (f->db == NULL) {
        return -1;
    }
    /* as the store: WAL, no sync at commit, no automatic checkpoint */
    exec_ok(f->db, "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA wal_autocheckpoint=0;"
                   "CREATE TABLE t (k INTEGER PRIMARY KEY, v BLOB); CREATE INDEX t_v ON t (v);"
                   "CREATE TABLE meta (n INTEGER)");
    exec_ok(f->db, "INSERT INTO meta VALUES (0)");
    f->reader = open_db(f->path, NULL);
    *state = f;
    return f->reader != NULL ? 0 : -1;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    char p[128];
    sqlite3_close(f->reader);
    sqlite3_close(f->db);
    const char *suffixes[] = {"", "-wal", "-shm"};
    for (size_t i = 0; i < 3; i++) {
        snprintf(p, sizeof p, "%s%s", f->path, suffixes[i]);
        (void)unlink(p);
    }
    (void)rmdir(f->dir);
    free(f);
    return 0;
}

/* One transaction: ROWS rows of 300 random bytes at scattered keys (many pages), and the
 * commit counter meta.n set to N. */
static int transaction(sqlite3 *db, int n, int rows)
{
    char sql[256];
    snprintf(sql, sizeof sql,
             "BEGIN; WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < %d) "
             "INSERT OR REPLACE INTO t SELECT abs(random()) %% 1000000, randomblob(300) FROM c; "
             "UPDATE meta SET n = %d; COMMIT",
             rows, n);
    int rc = sqlite3_exec(db, sql, NULL, NULL, NULL);
    if (rc != SQLITE_OK && sqlite3_get_autocommit(db) == 0) {
        (void)sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
    }
    return rc;
}

static void test_commit_is_few_writes_and_visible_at_once(void **state)
{
    struct fixture *f = *state;
    struct walbuf_stats a, b;
    exec_ok(f->db, "PRAGMA cache_size=-65536"); /* no spill before the commit: see the spill test */
    for (int n = 1; n <= 20; n++) {
        walbuf_stats(&a);
        assert_int_equal(transaction(f->db, n, 400), SQLITE_OK);
        walbuf_stats(&b);
        /* about a hundred frames, two writes each, in a run of 64 KiB pieces written once */
        assert_true(b.writes - a.writes >= 100);
        assert_int_equal(b.commit_flushes - a.commit_flushes, 1);
        assert_true(b.flushes - a.flushes <= 2);
        assert_int_equal(b.late_flushes, a.late_flushes);
        assert_int_equal(query_int(f->reader, "SELECT n FROM meta"), n); /* the other connection */
    }
    assert_integrity(f->reader);
}

/* A process killed right after its commit returned (no close, nothing flushed at exit) keeps
 * the commit: its frames were written at the commit frame. */
static void test_killed_after_commit_keeps_it(void **state)
{
    struct fixture *f = *state;
    fflush(NULL);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        sqlite3 *db = open_db(f->path, WALBUF_VFS);
        int bad = db == NULL;
        for (int n = 1; n <= 30 && !bad; n++) {
            bad = transaction(db, n, 150) != SQLITE_OK;
        }
        _exit(bad ? 1 : 0); /* as a kill -9: no sqlite3_close */
    }
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
    sqlite3 *db = open_db(f->path, NULL);
    assert_non_null(db);
    assert_int_equal(query_int(db, "SELECT n FROM meta"), 30);
    assert_integrity(db);
    sqlite3_close(db);
}

/* The WAL cannot grow (RLIMIT_FSIZE: the write fails with EFBIG): the commit fails, and the
 * database keeps its last commit, for this connection and another, once the limit is gone. */
static void test_failed_write_fails_the_commit(void **state)
{
    struct fixture *f = *state;
    struct rlimit old, lim;
    struct walbuf_stats a, b;
    assert_int_equal(transaction(f->db, 1, 50), SQLITE_OK);
    struct stat st;
    char wal[128];
    snprintf(wal, sizeof wal, "%s-wal", f->path);
    assert_int_equal(stat(wal, &st), 0);
    assert_int_equal(getrlimit(RLIMIT_FSIZE, &old), 0);
    void (*prev)(int) = signal(SIGXFSZ, SIG_IGN);
    lim = old;
    lim.rlim_cur = (rlim_t)st.st_size + 64 * 1024; /* room for a few frames, not for 400 rows */
    assert_int_equal(setrlimit(RLIMIT_FSIZE, &lim), 0);
    walbuf_stats(&a);
    int rc = transaction(f->db, 2, 400);
    walbuf_stats(&b);
    assert_int_equal(setrlimit(RLIMIT_FSIZE, &old), 0);
    signal(SIGXFSZ, prev);
    assert_int_not_equal(rc, SQLITE_OK);
    assert_true(b.failures > a.failures);
    assert_int_equal(query_int(f->db, "SELECT n FROM meta"), 1);
    assert_int_equal(query_int(f->reader, "SELECT n FROM meta"), 1);
    assert_int_equal(transaction(f->db, 3, 50), SQLITE_OK); /* and it works again */
    assert_int_equal(query_int(f->reader, "SELECT n FROM meta"), 3);
    assert_integrity(f->reader);
}

/* A page cache of 10 pages spills a large transaction's frames into the WAL before its commit
 * and overwrites them when the pages change again (SQLite then rewrites the checksums of the
 * frames after them); savepoints roll parts back, whole transactions roll back. The file
 * ends up as SQLite alone makes it: the same rows as a database written without walbuf. */
static void test_spills_rewrites_and_rollbacks(void **state)
{
    struct fixture *f = *state;
    char plain_path[128];
    snprintf(plain_path, sizeof plain_path, "%s/plain.db", f->dir);
    sqlite3 *plain = open_db(plain_path, NULL);
    assert_non_null(plain);
    exec_ok(plain, "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA wal_autocheckpoint=0;"
                   "CREATE TABLE t (k INTEGER PRIMARY KEY, v BLOB); CREATE INDEX t_v ON t (v)");
    exec_ok(f->db, "PRAGMA cache_size=10");
    exec_ok(plain, "PRAGMA cache_size=10");
    sqlite3 *dbs[2] = {f->db, plain};
    for (int round = 0; round < 12; round++) {
        char sql[640];
        /* the same statements on both: deterministic values from the round */
        snprintf(sql, sizeof sql,
                 "BEGIN;"
                 "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 400)"
                 " INSERT OR REPLACE INTO t SELECT (x * 7919 + %d) %% 5000, zeroblob(200 + x %% 50) || x FROM c;"
                 "SAVEPOINT s; UPDATE t SET v = v || 'a' WHERE k %% 3 = %d; %s"
                 "UPDATE t SET v = v || 'b' WHERE k %% 5 = %d;"
                 "%s",
                 round * 131, round % 3, round % 2 ? "ROLLBACK TO s;" : "RELEASE s;", round % 5,
                 round % 4 == 3 ? "ROLLBACK" : "COMMIT");
        for (int i = 0; i < 2; i++) {
            exec_ok(dbs[i], sql);
        }
        assert_int_equal(query_int(f->reader, "SELECT count(*) FROM t"), query_int(plain, "SELECT count(*) FROM t"));
    }
    /* row by row: the same keys and values */
    exec_ok(f->db, "ATTACH DATABASE '' AS unused"); /* any statement: the connection is sane */
    char attach[200];
    snprintf(attach, sizeof attach, "ATTACH DATABASE '%s' AS p", plain_path);
    exec_ok(f->reader, attach);
    assert_int_equal(query_int(f->reader, "SELECT count(*) FROM (SELECT k, v FROM main.t EXCEPT SELECT k, v FROM p.t)"),
                     0);
    assert_int_equal(query_int(f->reader, "SELECT count(*) FROM (SELECT k, v FROM p.t EXCEPT SELECT k, v FROM main.t)"),
                     0);
    exec_ok(f->reader, "DETACH DATABASE p");
    assert_integrity(f->reader);
    sqlite3_close(plain);
    snprintf(attach, sizeof attach, "%s-wal", plain_path);
    (void)unlink(attach);
    snprintf(attach, sizeof attach, "%s-shm", plain_path);
    (void)unlink(attach);
    (void)unlink(plain_path);
}

/* A checkpoint by another connection, and the WAL restarting from its start under the writer,
 * keep every commit readable. */
static void test_checkpoints_and_wal_restart(void **state)
{
    struct fixture *f = *state;
    struct walbuf_stats a, b;
    walbuf_stats(&a);
    for (int n = 1; n <= 40; n++) {
        assert_int_equal(transaction(f->db, n, 100), SQLITE_OK);
        if (n % 7 == 0) {
            int log = 0, done = 0;
            assert_int_equal(sqlite3_wal_checkpoint_v2(f->reader, NULL, SQLITE_CHECKPOINT_PASSIVE, &log, &done),
                             SQLITE_OK);
        }
        assert_int_equal(query_int(f->reader, "SELECT n FROM meta"), n);
    }
    assert_integrity(f->reader);
    walbuf_stats(&b);
    assert_int_equal(b.late_flushes, a.late_flushes); /* every commit flushed at its frame */
    assert_int_equal(b.commit_flushes - a.commit_flushes, 40);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_commit_is_few_writes_and_visible_at_once, setup, teardown),
        cmocka_unit_test_setup_teardown(test_killed_after_commit_keeps_it, setup, teardown),
        cmocka_unit_test_setup_teardown(test_failed_write_fails_the_commit, setup, teardown),
        cmocka_unit_test_setup_teardown(test_spills_rewrites_and_rollbacks, setup, teardown),
        cmocka_unit_test_setup_teardown(test_checkpoints_and_wal_restart, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
