/* Unit tests of storage/loads.c: the per-engine counts kept by TEMP triggers equal a full
 * count after every kind of change (add, assign, remove, refused commands, whole entries),
 * survive nothing they should not (a restore, with and without later applies, makes them
 * recount), never reach the snapshot image or the digest, and the projects needing an owner
 * come out in name order. Random histories against the full count of store_load_engines. */
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

#include "storage/loads.h"
#include "store_helpers.h"

static struct batch batch;

struct fixture {
    struct store a;
    struct store b;
    uint64_t index_a, index_b;
    char dir[64];
};

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof *f);
    if (f == NULL) {
        return -1;
    }
    strcpy(f->dir, "/tmp/test_loads.XXXXXX");
    char path[96];
    if (mkdtemp(f->dir) == NULL) {
        free(f);
        return -1;
    }
    snprintf(path, sizeof path, "%s/state.db", f->dir);
    /* A WAL file store (the production case) and an in-memory one (the simulation's). */
    if (store_open(&f->a, path) != 0 || store_open(&f->b, ":memory:") != 0) {
        free(f);
        return -1;
    }
    f->index_a = f->index_b = 1;
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

/* Applies `batch` as the next entry of S; refusals are fine. */
static void apply(struct store *s, uint64_t *index)
{
    struct store_results r;
    assert_int_equal(batch_apply(s, &batch, (*index)++, &r), 0);
    store_results_free(&r);
}

/* The tracked counts equal the full count (store_load_engines counts every project). */
static void assert_counts_exact(struct store *s)
{
    struct store_engine *full = NULL, *fast = NULL;
    struct store_load *loads = NULL;
    size_t nf = 0, nq = 0, nl = 0;
    assert_int_equal(store_load_engines(s, &full, &nf), 0);
    assert_int_equal(store_loads_engines(s, &fast, &nq), 0);
    assert_int_equal(store_loads(s, &loads, &nl), 0);
    assert_int_equal(nf, nq);
    size_t owners = 0;
    for (size_t i = 0; i < nf; i++) {
        assert_int_equal(full[i].id, fast[i].id);
        assert_int_equal(full[i].projects, fast[i].projects);
        assert_string_equal(full[i].mode, fast[i].mode);
        assert_int_equal(full[i].alive, fast[i].alive);
        assert_int_equal(full[i].draining, fast[i].draining);
        assert_int_equal(full[i].weight, fast[i].weight);
        owners += full[i].projects > 0;
    }
    /* store_loads lists every owner with projects (here all are engines), by id */
    assert_int_equal(nl, owners);
    for (size_t i = 0; i < nl; i++) {
        assert_true(i == 0 || loads[i - 1].engine < loads[i].engine);
        assert_true(loads[i].projects > 0);
    }
    free(full);
    free(fast);
    free(loads);
}

static void engines(struct store *s, uint64_t *index, unsigned n)
{
    for (unsigned i = 1; i <= n; i++) {
        char identity[32];
        snprintf(identity, sizeof identity, "h%u:7070|1", i);
        batch_engine_set(&batch, i, i == n && n > 2 ? "query" : "all", 1, identity, true);
    }
    apply(s, index);
}

static void test_counts_follow_every_change(void **state)
{
    struct fixture *f = *state;
    engines(&f->a, &f->index_a, 3);
    assert_counts_exact(&f->a); /* first use installs and counts */
    batch_add(&batch, "a");
    batch_add(&batch, "b");
    batch_add(&batch, "c");
    batch_assign(&batch, "a", 0, 1, "new", 1);
    batch_assign(&batch, "b", 0, 1, "new", 1);
    batch_assign(&batch, "c", 0, 2, "new", 1);
    apply(&f->a, &f->index_a);
    assert_counts_exact(&f->a);
    batch_assign(&batch, "a", 1, 2, "move", 2);    /* owner change */
    batch_assign(&batch, "b", 2, 1, "move", 2);    /* stale: refused, nothing changes */
    batch_assign(&batch, "c", 2, 3, "move", 2);    /* query engine: refused */
    batch_assign(&batch, "zz", 0, 1, "move", 2);   /* no such project: refused */
    batch_remove(&batch, "b");                      /* an owned project goes */
    apply(&f->a, &f->index_a);
    assert_counts_exact(&f->a);
    batch_engine_dead(&batch, 2); /* owners stay as they are: counts too */
    batch_assign(&batch, "a", 2, 0, "move", 3); /* to none */
    apply(&f->a, &f->index_a);
    assert_counts_exact(&f->a);
}

/* Random histories on both stores: after every entry the counts are exact. */
static void test_random_histories(void **state)
{
    struct fixture *f = *state;
    uint64_t seed = 0x9e3779b97f4a7c15ULL;
    struct {
        struct store *s;
        uint64_t *index;
    } st[2] = {{&f->a, &f->index_a}, {&f->b, &f->index_b}};
    for (int k = 0; k < 2; k++) {
        engines(st[k].s, st[k].index, 4);
    }
    for (int round = 0; round < 400; round++) {
        for (int k = 0; k < 2; k++) {
            unsigned n = 1 + (unsigned)(seed % 6);
            for (unsigned i = 0; i < n; i++) {
                seed = seed * 6364136223846793005ULL + 1442695040888963407ULL;
                unsigned r = (unsigned)(seed >> 33);
                char name[16];
                snprintf(name, sizeof name, "p%u", r % 40);
                uint64_t from = (r >> 8) % 4, to = (r >> 12) % 4;
                switch ((r >> 16) % 8) {
                case 0:
                case 1: batch_add(&batch, name); break;
                case 2: batch_remove(&batch, name); break;
                case 3: batch_drain(&batch, 1 + (r >> 20) % 3, (r >> 22) % 2); break;
                default: batch_assign(&batch, name, from, to, "move", 1); break;
                }
            }
            apply(st[k].s, st[k].index);
            if (round % 3 == 0) {
                assert_counts_exact(st[k].s);
            }
        }
    }
    assert_counts_exact(&f->a);
    assert_counts_exact(&f->b);
}

/* A restore replaces the pages without running the triggers: the counts notice and recount,
 * whether or not entries were applied after the restore. */
static void test_restore_recounts(void **state)
{
    struct fixture *f = *state;
    void *image = NULL;
    size_t len = 0;
    engines(&f->a, &f->index_a, 3);
    engines(&f->b, &f->index_b, 3);
    assert_counts_exact(&f->a);
    /* b gets ahead with a different ownership */
    for (int i = 0; i < 5; i++) {
        char name[16];
        snprintf(name, sizeof name, "q%d", i);
        batch_add(&batch, name);
        batch_assign(&batch, name, 0, 1 + (uint64_t)(i % 2), "new", 1);
    }
    apply(&f->b, &f->index_b);
    batch_add(&batch, "x");
    apply(&f->b, &f->index_b);
    assert_int_equal(store_snapshot(&f->b, &image, &len), 0);
    assert_int_equal(store_restore(&f->a, image, len), 0);
    f->index_a = f->index_b;
    assert_counts_exact(&f->a); /* restored, nothing applied since */

    batch_assign(&batch, "x", 0, 2, "new", 2);
    apply(&f->b, &f->index_b);
    sqlite3_free(image);
    assert_int_equal(store_snapshot(&f->b, &image, &len), 0);
    assert_int_equal(store_restore(&f->a, image, len), 0);
    f->index_a = f->index_b;
    batch_assign(&batch, "q0", 1, 2, "move", 3); /* applied after the restore */
    apply(&f->a, &f->index_a);
    assert_counts_exact(&f->a);
    sqlite3_free(image);
}

/* The TEMP objects stay out of the image and the digest. */
static void test_not_replicated(void **state)
{
    struct fixture *f = *state;
    uint64_t ha = 0, hb = 0;
    void *ia = NULL, *ib = NULL;
    size_t la = 0, lb = 0;
    engines(&f->a, &f->index_a, 2);
    engines(&f->b, &f->index_b, 2);
    assert_counts_exact(&f->a); /* a tracks, b does not */
    batch_add(&batch, "a");
    batch_assign(&batch, "a", 0, 1, "new", 1);
    apply(&f->a, &f->index_a);
    batch_add(&batch, "a");
    batch_assign(&batch, "a", 0, 1, "new", 1);
    apply(&f->b, &f->index_b);
    assert_int_equal(store_hash(&f->a, &ha), 0);
    assert_int_equal(store_hash(&f->b, &hb), 0);
    assert_int_equal(ha, hb);
    assert_int_equal(store_snapshot(&f->a, &ia, &la), 0);
    assert_int_equal(store_snapshot(&f->b, &ib, &lb), 0);
    /* a's image restores into a fresh store that then tracks from scratch */
    struct store c;
    assert_int_equal(store_open(&c, ":memory:"), 0);
    assert_int_equal(store_restore(&c, ia, la), 0);
    sqlite3_stmt *stmt = NULL;
    assert_int_equal(sqlite3_prepare_v2(c.db, "SELECT count(*) FROM sqlite_schema WHERE name LIKE 'engine_load%'", -1,
                                        &stmt, NULL),
                     SQLITE_OK);
    assert_int_equal(sqlite3_step(stmt), SQLITE_ROW);
    assert_int_equal(sqlite3_column_int(stmt, 0), 0);
    sqlite3_finalize(stmt);
    assert_counts_exact(&c);
    store_close(&c);
    sqlite3_free(ia);
    sqlite3_free(ib);
}

static void test_projects_needing_in_name_order(void **state)
{
    struct fixture *f = *state;
    struct store_project_row *rows = NULL;
    size_t n = 0;
    for (uint64_t id = 1; id <= 3; id++) {
        batch_engine_set(&batch, id, "job", 1, "h:7070|1", true);
    }
    apply(&f->a, &f->index_a);
    static const char *const names[] = {"m", "b", "z", "a", "k", "c"};
    static const uint64_t owner[] = {1, 2, 0, 3, 1, 0};
    for (size_t i = 0; i < 6; i++) {
        batch_add(&batch, names[i]);
        if (owner[i] != 0) {
            batch_assign(&batch, names[i], 0, owner[i], "new", 1);
        }
    }
    apply(&f->a, &f->index_a);
    uint64_t owners[] = {3, 1};
    assert_int_equal(store_load_projects_needing(&f->a, true, owners, 2, 0, &rows, &n), 0);
    static const char *const want[] = {"_global", "a", "c", "k", "m", "z"};
    assert_int_equal(n, 6);
    for (size_t i = 0; i < n; i++) {
        assert_string_equal(rows[i].name, want[i]);
    }
    assert_int_equal(rows[1].owner, 3);
    assert_int_equal(rows[0].owner, 0);
    store_free_projects(rows, n);
    assert_int_equal(store_load_projects_needing(&f->a, false, owners, 1, 0, &rows, &n), 0);
    assert_int_equal(n, 1);
    assert_string_equal(rows[0].name, "a");
    store_free_projects(rows, n);
    assert_int_equal(store_load_projects_needing(&f->a, false, NULL, 0, 0, &rows, &n), 0);
    assert_int_equal(n, 0);
    store_free_projects(rows, n);
}

/* Asserts that store_load_projects_needing(S, unowned, OWNERS/N_OWNERS, LIMIT) gives WANT (N_WANT
 * names, in order). */
static void assert_needing(struct store *s, const uint64_t *owners, size_t n_owners, size_t limit,
                           const char *const *want, size_t n_want)
{
    struct store_project_row *rows = NULL;
    size_t n = 0;
    assert_int_equal(store_load_projects_needing(s, true, owners, n_owners, limit, &rows, &n), 0);
    assert_int_equal(n, n_want);
    for (size_t i = 0; i < n; i++) {
        assert_string_equal(rows[i].name, want[i]);
    }
    store_free_projects(rows, n);
}

/* With a limit and no project pinned, only the first LIMIT of each group by name; while any
 * project is pinned (added, pinned, unpinned, removed, restored over), every one. */
static void test_projects_needing_limit_unless_pinned(void **state)
{
    struct fixture *f = *state;
    for (uint64_t id = 1; id <= 2; id++) {
        batch_engine_set(&batch, id, "job", 1, "h:7070|1", true);
    }
    apply(&f->a, &f->index_a);
    static const char *const names[] = {"f", "b", "e", "a", "d", "c", "y", "x", "w"};
    for (size_t i = 0; i < 9; i++) {
        batch_add(&batch, names[i]);
        if (i >= 6) {
            batch_assign(&batch, names[i], 0, 2, "new", 1); /* x, y, w owned by engine 2 */
        }
    }
    apply(&f->a, &f->index_a);
    uint64_t owners[] = {2};
    static const char *const all[] = {"_global", "a", "b", "c", "d", "e", "f", "w", "x", "y"};
    static const char *const first2[] = {"_global", "a", "w", "x"}; /* 2 unowned + 2 of engine 2 */
    assert_needing(&f->a, owners, 1, 0, all, 10);
    assert_needing(&f->a, owners, 1, 2, first2, 4);
    assert_needing(&f->a, owners, 1, 100, all, 10);
    batch_pin(&batch, "f", 1); /* sorts after the limit: still read */
    apply(&f->a, &f->index_a);
    assert_needing(&f->a, owners, 1, 2, all, 10);
    batch_pin(&batch, "f", 0);
    apply(&f->a, &f->index_a);
    assert_needing(&f->a, owners, 1, 2, first2, 4);
    batch_pin(&batch, "e", 2);
    batch_pin(&batch, "e", 1); /* pinned to another engine: still one pinned project */
    apply(&f->a, &f->index_a);
    assert_needing(&f->a, owners, 1, 2, all, 10);
    batch_remove(&batch, "e");
    apply(&f->a, &f->index_a);
    static const char *const without_e[] = {"_global", "a", "b", "c", "d", "f", "w", "x", "y"};
    assert_needing(&f->a, owners, 1, 0, without_e, 9);
    assert_needing(&f->a, owners, 1, 2, first2, 4);
    /* A restore replaces the pages behind the triggers: the pin count is recounted too. */
    f->index_b = f->index_a + 10; /* an image ahead of A, as a leader's snapshot is */
    batch_engine_set(&batch, 1, "job", 1, "h:7070|1", true);
    batch_add(&batch, "e");
    batch_pin(&batch, "e", 1);
    apply(&f->b, &f->index_b);
    void *img = NULL;
    size_t len = 0;
    assert_int_equal(store_snapshot(&f->b, &img, &len), 0);
    assert_int_equal(store_restore(&f->a, img, len), 0);
    f->index_a = f->index_b;
    sqlite3_free(img);
    static const char *const only_e[] = {"_global", "e"};
    assert_needing(&f->a, NULL, 0, 1, only_e, 2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_counts_follow_every_change, setup, teardown),
        cmocka_unit_test_setup_teardown(test_random_histories, setup, teardown),
        cmocka_unit_test_setup_teardown(test_restore_recounts, setup, teardown),
        cmocka_unit_test_setup_teardown(test_not_replicated, setup, teardown),
        cmocka_unit_test_setup_teardown(test_projects_needing_in_name_order, setup, teardown),
        cmocka_unit_test_setup_teardown(test_projects_needing_limit_unless_pinned, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
