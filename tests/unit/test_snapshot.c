/* Unit tests of storage/snapshot.c and storage/hash.c: snapshot/restore round trips between
 * in-memory and WAL file stores, the no-op rule for older images, refusal of bad images with
 * the state intact, and the digest's sensitivity and order independence. */
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

#include "store_helpers.h"

static struct batch batch;

struct fixture {
    struct store a;
    struct store b;
    char dir[64];
};

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof *f);
    if (f == NULL) {
        return -1;
    }
    strcpy(f->dir, "/tmp/test_snapshot.XXXXXX");
    if (mkdtemp(f->dir) == NULL || store_open(&f->a, ":memory:") != 0 ||
        store_open(&f->b, ":memory:") != 0) {
        free(f);
        return -1;
    }
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    store_close(&f->a);
    store_close(&f->b);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", f->dir);
    int rc = system(cmd);
    free(f);
    return rc == 0 ? 0 : -1;
}

static uint64_t hash_of(struct store *s)
{
    uint64_t h = 0;
    assert_int_equal(store_hash(s, &h), 0);
    return h;
}

/* Reopens F->b as a WAL file database in the fixture's directory. */
static void expect_restore_fails(struct store *s, const void *buf, size_t len, const char *want);

static void reopen_b_as_file(struct fixture *f, const char *name)
{
    char path[128];
    snprintf(path, sizeof path, "%s/%s", f->dir, name);
    store_close(&f->b);
    assert_int_equal(store_open(&f->b, path), 0);
}

static void fill(struct store *s, uint64_t *index)
{
    assert_int_equal(apply_adds(s, index, "learn_kylin", "sales", "ops_2024", NULL), 0);
    batch_member_set(&batch, 1, "10.0.0.1:7201");
    batch_member_set(&batch, 2, "10.0.0.2:7201");
    batch_remove(&batch, "sales");
    struct store_results r;
    assert_int_equal(batch_apply(s, &batch, (*index)++, &r), 0);
    store_results_free(&r);
}

static void round_trip(struct store *from, struct store *to)
{
    void *image;
    size_t len;
    assert_int_equal(store_snapshot(from, &image, &len), 0);
    assert_true(len > 0);
    assert_int_equal(store_restore(to, image, len), 0);
    sqlite3_free(image);
    assert_true(to->applied_index == from->applied_index);
    assert_true(hash_of(to) == hash_of(from));
}

static void test_round_trip_memory(void **state)
{
    struct fixture *f = *state;
    uint64_t index = 1;
    fill(&f->a, &index);
    assert_true(hash_of(&f->a) != hash_of(&f->b));
    round_trip(&f->a, &f->b);
    assert_int_equal(f->b.applied_index, 4);
    assert_int_equal(store_project_exists(&f->b, "ops_2024", 8), 1);
    assert_int_equal(store_project_exists(&f->b, "sales", 5), 0);
    char api[64];
    assert_int_equal(store_member_api(&f->b, 2, api, sizeof api), 1);
    assert_string_equal(api, "10.0.0.2:7201");

    /* The restored store goes on applying with its cached statements. */
    batch_add(&batch, "after_restore");
    struct store_results r;
    assert_int_equal(batch_apply(&f->b, &batch, 5, &r), 0);
    assert_int_equal(store_result_refused(&r.cmds[0]), 0);
    store_results_free(&r);
    assert_int_equal(store_project_exists(&f->b, "after_restore", 13), 1);
}

/* WAL file -> memory, memory -> WAL file, WAL file -> WAL file, and across a reopen. */
static void test_round_trip_files(void **state)
{
    struct fixture *f = *state;
    char path[128];
    snprintf(path, sizeof path, "%s/a.db", f->dir);
    store_close(&f->a);
    assert_int_equal(store_open(&f->a, path), 0);
    uint64_t index = 1;
    fill(&f->a, &index);

    round_trip(&f->a, &f->b); /* file -> memory */
    reopen_b_as_file(f, "b.db");
    round_trip(&f->a, &f->b); /* file -> file */

    uint64_t want = hash_of(&f->a);
    store_close(&f->b);
    snprintf(path, sizeof path, "%s/b.db", f->dir);
    assert_int_equal(store_open(&f->b, path), 0);
    assert_int_equal(f->b.applied_index, 4);
    assert_true(hash_of(&f->b) == want);
    /* Still in WAL mode after the restore. */
    sqlite3_stmt *stmt;
    assert_int_equal(sqlite3_prepare_v2(f->b.db, "PRAGMA journal_mode", -1, &stmt, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(stmt), SQLITE_ROW);
    assert_string_equal((const char *)sqlite3_column_text(stmt, 0), "wal");
    sqlite3_finalize(stmt);

    struct store m;
    assert_int_equal(store_open(&m, ":memory:"), 0);
    index = 1;
    fill(&m, &index);
    batch_add(&batch, "only_in_m");
    struct store_results r;
    assert_int_equal(batch_apply(&m, &batch, 10, &r), 0);
    store_results_free(&r);
    reopen_b_as_file(f, "c.db");
    round_trip(&m, &f->b); /* memory -> file */
    store_close(&m);
    assert_int_equal(store_project_exists(&f->b, "only_in_m", 9), 1);
}

/* An image with another page size cannot go into a WAL store (SQLite's backup cannot change
 * a WAL database's page size): refused with a clear message, state intact. Stores always use
 * 4096-byte pages, so images from members never hit this. */
static void test_other_page_size_refused(void **state)
{
    struct fixture *f = *state;
    uint64_t index = 1;
    fill(&f->a, &index);
    assert_int_equal(store_commit(&f->a), 0); /* the backup below reads a.db directly */
    char path[128];
    snprintf(path, sizeof path, "%s/conv.db", f->dir);
    sqlite3 *conv;
    assert_int_equal(sqlite3_open(path, &conv), SQLITE_OK);
    sqlite3_backup *bk = sqlite3_backup_init(conv, "main", f->a.db, "main");
    assert_non_null(bk);
    assert_int_equal(sqlite3_backup_step(bk, -1), SQLITE_DONE);
    assert_int_equal(sqlite3_backup_finish(bk), SQLITE_OK);
    assert_int_equal(sqlite3_exec(conv, "PRAGMA page_size = 1024; VACUUM", NULL, NULL, NULL),
                     SQLITE_OK);
    sqlite3_int64 small_len;
    unsigned char *small = sqlite3_serialize(conv, "main", &small_len, 0);
    assert_non_null(small);
    assert_int_equal(small[16] * 256 + small[17], 1024);

    reopen_b_as_file(f, "pages.db");
    expect_restore_fails(&f->b, small, (size_t)small_len,
                         "store: restore image at index 4: its page size is 1024 bytes, the "
                         "local store's 4096");
    sqlite3_free(small);
    sqlite3_close(conv);
}

/* An image at or below the local applied index changes nothing. */
static void test_older_image_is_noop(void **state)
{
    struct fixture *f = *state;
    uint64_t index = 1;
    fill(&f->a, &index); /* a at 4 */
    void *old_image;
    size_t old_len;
    assert_int_equal(store_snapshot(&f->a, &old_image, &old_len), 0);
    round_trip(&f->a, &f->b); /* b at 4 */
    batch_add(&batch, "newer");
    struct store_results r;
    assert_int_equal(batch_apply(&f->b, &batch, 9, &r), 0);
    store_results_free(&r);
    uint64_t before = hash_of(&f->b);

    assert_int_equal(store_restore(&f->b, old_image, old_len), 0);
    assert_int_equal(f->b.applied_index, 9);
    assert_true(hash_of(&f->b) == before);
    assert_int_equal(store_project_exists(&f->b, "newer", 5), 1);

    /* Equal index: no-op too. */
    void *same;
    size_t same_len;
    assert_int_equal(store_snapshot(&f->b, &same, &same_len), 0);
    assert_int_equal(store_restore(&f->b, same, same_len), 0);
    assert_int_equal(f->b.applied_index, 9);
    sqlite3_free(same);
    sqlite3_free(old_image);
}

static void expect_restore_fails(struct store *s, const void *buf, size_t len, const char *want)
{
    uint64_t before = hash_of(s);
    uint64_t applied = s->applied_index;
    assert_int_equal(store_restore(s, buf, len), -1);
    if (strstr(s->errmsg, want) == NULL) {
        print_error("errmsg '%s', want '%s'\n", s->errmsg, want);
    }
    assert_non_null(strstr(s->errmsg, want));
    assert_true(s->applied_index == applied);
    assert_true(hash_of(s) == before);
}

static void test_bad_images_leave_state_intact(void **state)
{
    struct fixture *f = *state;
    reopen_b_as_file(f, "victim.db");
    uint64_t index = 1;
    fill(&f->b, &index);

    unsigned char garbage[8192];
    for (size_t i = 0; i < sizeof garbage; i++) {
        garbage[i] = (unsigned char)(i * 131 + 7);
    }
    expect_restore_fails(&f->b, garbage, sizeof garbage, "store: restore image of 8192 bytes: ");
    expect_restore_fails(&f->b, garbage, 10, "store: restore image of 10 bytes: ");
    expect_restore_fails(&f->b, "", 0, "store: restore: empty image");

    /* A truncated and a corrupted image of a real, newer store. */
    index = 1;
    fill(&f->a, &index);
    for (unsigned i = 0; i < 50; i++) {
        char name[32];
        snprintf(name, sizeof name, "bulk_%u", i);
        batch_add(&batch, name);
    }
    struct store_results r;
    assert_int_equal(batch_apply(&f->a, &batch, 100, &r), 0);
    store_results_free(&r);
    unsigned char *image;
    size_t len;
    assert_int_equal(store_snapshot(&f->a, (void **)&image, &len), 0);
    expect_restore_fails(&f->b, image, len / 2, "store: restore image of");
    unsigned char *bad = malloc(len);
    assert_non_null(bad);
    memcpy(bad, image, len);
    memset(bad + 4096 + 8, 0xee, 64); /* scribble over the second page's cell pointers */
    expect_restore_fails(&f->b, bad, len, "store: restore image of");
    free(bad);

    /* A sound SQLite database that is not a store. */
    sqlite3 *other;
    assert_int_equal(sqlite3_open(":memory:", &other), SQLITE_OK);
    assert_int_equal(sqlite3_exec(other, "CREATE TABLE t(x); INSERT INTO t VALUES (1)", NULL,
                                  NULL, NULL),
                     SQLITE_OK);
    sqlite3_int64 other_len;
    unsigned char *other_image = sqlite3_serialize(other, "main", &other_len, 0);
    assert_non_null(other_image);
    expect_restore_fails(&f->b, other_image, (size_t)other_len, "not a store image");
    sqlite3_free(other_image);
    sqlite3_close(other);

    /* An image from a newer binary. */
    assert_int_equal(sqlite3_exec(f->a.db, "UPDATE meta SET value = 99 WHERE key = 'schema_version'",
                                  NULL, NULL, NULL),
                     SQLITE_OK);
    unsigned char *newer;
    size_t newer_len;
    assert_int_equal(store_snapshot(&f->a, (void **)&newer, &newer_len), 0);
    expect_restore_fails(&f->b, newer, newer_len, "schema version 99");
    sqlite3_free(newer);

    /* After all that, the good image still installs. */
    assert_int_equal(store_restore(&f->b, image, len), 0);
    assert_int_equal(f->b.applied_index, 100);
    sqlite3_free(image);
}

static void test_hash_sensitivity(void **state)
{
    struct fixture *f = *state;
    uint64_t ia = 1, ib = 1;
    assert_true(hash_of(&f->a) == hash_of(&f->b)); /* two fresh stores */
    assert_int_equal(apply_adds(&f->a, &ia, "p", NULL), 0);
    assert_int_equal(apply_adds(&f->b, &ib, "q", NULL), 0);
    assert_true(hash_of(&f->a) != hash_of(&f->b));

    /* Same projects, different member address. */
    assert_int_equal(apply_adds(&f->a, &ia, "q", NULL), 0);
    assert_int_equal(apply_adds(&f->b, &ib, "p", NULL), 0);
    assert_true(hash_of(&f->a) == hash_of(&f->b));
    batch_member_set(&batch, 3, "h:1");
    struct store_results r;
    assert_int_equal(batch_apply(&f->a, &batch, ia++, &r), 0);
    store_results_free(&r);
    batch_member_set(&batch, 3, "h:2");
    assert_int_equal(batch_apply(&f->b, &batch, ib++, &r), 0);
    store_results_free(&r);
    assert_true(hash_of(&f->a) != hash_of(&f->b));

    /* Value boundaries must not collide: ("ab","c") vs ("a","bc") style shifts. */
    store_close(&f->a);
    store_close(&f->b);
    assert_int_equal(store_open(&f->a, ":memory:"), 0);
    assert_int_equal(store_open(&f->b, ":memory:"), 0);
    ia = ib = 1;
    assert_int_equal(apply_adds(&f->a, &ia, "ab", "c", NULL), 0);
    assert_int_equal(apply_adds(&f->b, &ib, "a", "bc", NULL), 0);
    assert_true(hash_of(&f->a) != hash_of(&f->b));

    /* A change made behind the commands' back (here: an epoch) is seen too. */
    uint64_t before = hash_of(&f->a);
    assert_int_equal(sqlite3_exec(f->a.db, "UPDATE projects SET epoch = 1 WHERE name = 'ab'",
                                  NULL, NULL, NULL),
                     SQLITE_OK);
    assert_true(hash_of(&f->a) != before);
}

static void test_hash_ignores_order_and_index(void **state)
{
    struct fixture *f = *state;
    uint64_t ia = 1, ib = 500;
    assert_int_equal(apply_adds(&f->a, &ia, "one", "two", "three", "four", NULL), 0);
    /* b: reverse order, other indexes, detours through removed projects and members. */
    assert_int_equal(apply_adds(&f->b, &ib, "four", "tmp", "three", "two", "one", NULL), 0);
    batch_remove(&batch, "tmp");
    batch_member_set(&batch, 5, "x:1");
    batch_member_forget(&batch, 5);
    struct store_results r;
    assert_int_equal(batch_apply(&f->b, &batch, ib++, &r), 0);
    store_results_free(&r);
    assert_true(f->a.applied_index != f->b.applied_index);
    assert_true(hash_of(&f->a) == hash_of(&f->b));

    /* Empty and malformed entries move the index only: the digest stays. */
    uint64_t before = hash_of(&f->a);
    assert_int_equal(batch_apply(&f->a, &batch, ia++, &r), 0);
    store_results_free(&r);
    assert_int_equal(store_apply(&f->a, ia++, "\xc1", 1, &r), 0);
    store_results_free(&r);
    assert_true(hash_of(&f->a) == before);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_round_trip_memory, setup, teardown),
        cmocka_unit_test_setup_teardown(test_round_trip_files, setup, teardown),
        cmocka_unit_test_setup_teardown(test_other_page_size_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_older_image_is_noop, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_images_leave_state_intact, setup, teardown),
        cmocka_unit_test_setup_teardown(test_hash_sensitivity, setup, teardown),
        cmocka_unit_test_setup_teardown(test_hash_ignores_order_and_index, setup, teardown),
    };
    return cmocka_run_group_tests_name("snapshot", tests, NULL, NULL);
}
