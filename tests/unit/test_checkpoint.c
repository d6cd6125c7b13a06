/* Unit tests of storage/checkpoint.c: checkpoints from a second connection copy the WAL and
 * let the writer restart it; run on another thread while the store applies entries they
 * never make an apply fail and the state stays exactly the state of a store that applied the
 * same entries alone; the WAL hook reports the WAL's size after each commit and keeps its
 * inline fallback when nothing checkpoints; a store reopened without any checkpoint (a
 * kill -9) holds everything it committed. */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <sqlite3.h>

#include "storage/checkpoint.h"
#include "store_helpers.h"

static struct batch batch;

struct fixture {
    struct store s;
    char dir[64];
    char path[96];
    uint64_t index;
    int last_frames, max_frames;
    unsigned commits;
    struct store_wal_watch watch;
};

static void on_wal(void *arg, int frames)
{
    struct fixture *f = arg;
    f->last_frames = frames;
    f->max_frames = frames > f->max_frames ? frames : f->max_frames;
    f->commits++;
}

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof *f);
    if (f == NULL) {
        return -1;
    }
    strcpy(f->dir, "/tmp/test_checkpoint.XXXXXX");
    if (mkdtemp(f->dir) == NULL) {
        free(f);
        return -1;
    }
    snprintf(f->path, sizeof f->path, "%s/state.db", f->dir);
    if (store_open(&f->s, f->path) != 0) {
        free(f);
        return -1;
    }
    f->index = 1;
    f->watch = (struct store_wal_watch){.fn = on_wal, .arg = f};
    store_wal_watch(&f->s, &f->watch);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    store_close(&f->s);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", f->dir);
    int rc = system(cmd);
    free(f);
    return rc == 0 ? 0 : -1;
}

/* One entry of N project adds named PREFIX_<k> and their placement on S at *INDEX. */
static void apply_placed(struct store *s, uint64_t *index, const char *prefix, unsigned first, unsigned n)
{
    struct store_results r;
    for (unsigned k = first; k < first + n; k++) {
        char name[32];
        /* scattered over the key space, as many clients' names are: many pages per entry */
        snprintf(name, sizeof name, "%s%08x_%u", prefix, k * 2654435761u, k);
        batch_add(&batch, name);
        batch_assign(&batch, name, 0, 1 + k % 2, "new", 1);
    }
    assert_int_equal(batch_apply(s, &batch, (*index)++, &r), 0);
    for (unsigned i = 0; i < r.n; i++) {
        assert_int_equal(store_result_refused(&r.cmds[i]), 0);
    }
    store_results_free(&r);
    assert_int_equal(store_commit(s), 0); /* the WAL figures below count per commit */
}

static void engines(struct store *s, uint64_t *index)
{
    struct store_results r;
    batch_engine_set(&batch, 1, "all", 1, "h1:7070|1", true);
    batch_engine_set(&batch, 2, "all", 1, "h2:7070|1", true);
    assert_int_equal(batch_apply(s, &batch, (*index)++, &r), 0);
    store_results_free(&r);
    assert_int_equal(store_commit(s), 0);
}

static void test_memory_store_needs_none(void **state)
{
    (void)state;
    struct store_checkpointer c;
    assert_int_equal(store_checkpointer_open(&c, ":memory:"), 1);
    assert_null(c.db);
    struct store_checkpointer bad;
    assert_int_equal(store_checkpointer_open(&bad, "/nonexistent/dir/state.db"), -1);
    assert_true(strlen(bad.errmsg) > 0);
}

/* Nothing checkpoints inline below the fallback; the checkpointer copies it all and the
 * writer's next commit starts the WAL over. */
static void test_checkpoint_copies_and_restarts(void **state)
{
    struct fixture *f = *state;
    struct store_checkpointer c;
    engines(&f->s, &f->index);
    for (unsigned i = 0; i < 80; i++) {
        apply_placed(&f->s, &f->index, "a", i * 50, 50);
    }
    int grown = f->last_frames;
    assert_true(grown > 1000); /* SQLite's automatic checkpoint (1000 pages) is off */
    assert_true(grown < STORE_WAL_INLINE_FRAMES);
    assert_int_equal(store_checkpointer_open(&c, f->path), 0);
    assert_int_equal(store_checkpointer_run(&c, 4), 0);
    assert_int_equal(c.log_frames, grown);
    assert_int_equal(c.done_frames, grown);
    assert_true(c.rounds >= 2); /* one to copy, one to see nothing new came */
    apply_placed(&f->s, &f->index, "b", 0, 1);
    assert_true(f->last_frames < grown); /* restarted from the beginning */
    store_checkpointer_close(&c);
    uint64_t h1 = 0, h2 = 0;
    assert_int_equal(store_hash(&f->s, &h1), 0);
    /* the database file alone (after closing, SQLite folds the WAL in) has it all */
    uint64_t applied = f->s.applied_index;
    store_close(&f->s);
    assert_int_equal(store_open(&f->s, f->path), 0);
    assert_int_equal(f->s.applied_index, applied);
    assert_int_equal(store_hash(&f->s, &h2), 0);
    assert_int_equal(h1, h2);
}

/* Without any checkpointer the inline fallback keeps the WAL bounded. */
static void test_inline_fallback_bounds_wal(void **state)
{
    struct fixture *f = *state;
    engines(&f->s, &f->index);
    unsigned after = 0;
    for (unsigned i = 0; after < 20 && i < 5000; i++) {
        apply_placed(&f->s, &f->index, "c", i * 40, 40);
        after += f->max_frames >= STORE_WAL_INLINE_FRAMES;
    }
    assert_true(f->max_frames >= STORE_WAL_INLINE_FRAMES);
    assert_true(f->max_frames < STORE_WAL_INLINE_FRAMES + 2000); /* + one entry's pages */
    assert_true(f->last_frames < f->max_frames);
}

struct bg {
    struct store_checkpointer c;
    atomic_bool stop;
    unsigned runs, failures;
};

static void *bg_main(void *arg)
{
    struct bg *b = arg;
    while (!atomic_load(&b->stop)) {
        if (store_checkpointer_run(&b->c, 4) != 0) {
            b->failures++;
        }
        b->runs++;
        usleep(500);
    }
    return NULL;
}

/* Checkpoints on another thread while entries apply: no apply fails, and the state equals a
 * store's that applied the same entries with no checkpointer. */
static void test_concurrent_with_applies(void **state)
{
    struct fixture *f = *state;
    struct bg b = {.runs = 0};
    struct store ref;
    uint64_t ref_index = 1;
    pthread_t t;
    assert_int_equal(store_open(&ref, ":memory:"), 0);
    engines(&f->s, &f->index);
    engines(&ref, &ref_index);
    assert_int_equal(store_checkpointer_open(&b.c, f->path), 0);
    atomic_init(&b.stop, false);
    assert_int_equal(pthread_create(&t, NULL, bg_main, &b), 0);
    for (unsigned i = 0; i < 300; i++) {
        apply_placed(&f->s, &f->index, "d", i * 20, 20);
        apply_placed(&ref, &ref_index, "d", i * 20, 20);
    }
    atomic_store(&b.stop, true);
    assert_int_equal(pthread_join(t, NULL), 0);
    assert_int_equal(b.failures, 0);
    assert_true(b.runs > 0);
    store_checkpointer_close(&b.c);
    uint64_t h1 = 0, h2 = 0;
    assert_int_equal(store_hash(&f->s, &h1), 0);
    assert_int_equal(store_hash(&ref, &h2), 0);
    assert_int_equal(h1, h2);
    assert_int_equal(f->s.applied_index, ref.applied_index);
    store_close(&ref);
}

/* A member killed with everything still in the WAL (no checkpoint ever ran) reopens with
 * every committed entry: SQLite replays the WAL, and the applied index tells libraft where
 * to resume. Simulated by copying the files while the store is open, as kill -9 leaves them. */
static void test_reopen_from_wal_only(void **state)
{
    struct fixture *f = *state;
    engines(&f->s, &f->index);
    for (unsigned i = 0; i < 20; i++) {
        apply_placed(&f->s, &f->index, "e", i * 30, 30);
    }
    uint64_t h1 = 0, h2 = 0;
    assert_int_equal(store_hash(&f->s, &h1), 0);
    char cmd[512];
    snprintf(cmd, sizeof cmd, "cd '%s' && mkdir copy && cp state.db state.db-wal copy/", f->dir);
    assert_int_equal(system(cmd), 0);
    char copy[128];
    snprintf(copy, sizeof copy, "%s/copy/state.db", f->dir);
    struct store s2;
    assert_int_equal(store_open(&s2, copy), 0);
    assert_int_equal(s2.applied_index, f->s.applied_index);
    assert_int_equal(store_hash(&s2, &h2), 0);
    assert_int_equal(h1, h2);
    store_close(&s2);
}

/* A WAL grown past its old 8 MiB truncation size (and below STORE_WAL_SIZE_LIMIT) keeps its
 * size when the writer starts it over after a checkpoint: its blocks stay allocated. */
static void test_restart_keeps_wal_size(void **state)
{
    struct fixture *f = *state;
    struct store_checkpointer c;
    char wal[128];
    struct stat st;
    const long long old_limit = 8388608, frame = 4096 + 24;
    engines(&f->s, &f->index);
    for (unsigned i = 0; i < 400 && (long long)f->last_frames * frame <= old_limit + 1048576; i++) {
        apply_placed(&f->s, &f->index, "w", i * 50, 50);
    }
    long long grown = (long long)f->last_frames * frame;
    assert_true(grown > old_limit + 1048576);
    assert_true(grown < STORE_WAL_SIZE_LIMIT);
    assert_int_equal(store_checkpointer_open(&c, f->path), 0);
    assert_int_equal(store_checkpointer_run(&c, 4), 0);
    assert_int_equal(c.done_frames, f->last_frames);
    int before = f->last_frames;
    apply_placed(&f->s, &f->index, "x", 0, 1);
    assert_true(f->last_frames < before); /* restarted from the beginning */
    store_checkpointer_close(&c);
    snprintf(wal, sizeof wal, "%s-wal", f->path);
    assert_int_equal(stat(wal, &st), 0);
    assert_true((long long)st.st_size >= grown);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_memory_store_needs_none),
        cmocka_unit_test_setup_teardown(test_checkpoint_copies_and_restarts, setup, teardown),
        cmocka_unit_test_setup_teardown(test_inline_fallback_bounds_wal, setup, teardown),
        cmocka_unit_test_setup_teardown(test_restart_keeps_wal_size, setup, teardown),
        cmocka_unit_test_setup_teardown(test_concurrent_with_applies, setup, teardown),
        cmocka_unit_test_setup_teardown(test_reopen_from_wal_only, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
