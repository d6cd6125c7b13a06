/* Unit tests of storage/restore_fence.c (store_fence_restore, `raftnode --restore`): the
 * fenced state is the same on every member restored from one image, every epoch is raised by
 * the margin with one 'restore' history row per project, the indexes start the new cluster,
 * and an image whose epochs would pass Kylin's int column is refused with nothing changed. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <sqlite3.h>

#include "store_helpers.h"

static struct batch batch;

struct fixture {
    struct store src, a, b;
    void *image;
    size_t len;
};

static uint64_t epoch_of(struct store *s, const char *name)
{
    struct store_project_row row;
    assert_int_equal(store_project_get(s, name, strlen(name), &row), 1);
    free(row.name);
    return row.epoch;
}

static int count(struct store *s, const char *sql)
{
    sqlite3_stmt *st = NULL;
    assert_int_equal(sqlite3_prepare_v2(s->db, sql, -1, &st, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    int n = sqlite3_column_int(st, 0);
    sqlite3_finalize(st);
    return n;
}

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof *f);
    uint64_t index = 1;
    struct store_results r;
    if (f == NULL || store_open(&f->src, ":memory:") != 0 || store_open(&f->a, ":memory:") != 0 ||
        store_open(&f->b, ":memory:") != 0) {
        return -1;
    }
    if (apply_adds(&f->src, &index, "sales", "ops_2024", "learn_kylin", NULL) != 0) {
        return -1;
    }
    batch_engine_set(&batch, 1, "all", 1, "10.0.0.1:7070|1", true);
    batch_engine_set(&batch, 2, "job", 1, "10.0.0.2:7070|2", true);
    if (batch_apply(&f->src, &batch, index++, &r) != 0) {
        return -1;
    }
    store_results_free(&r);
    batch_assign(&batch, "sales", 0, 1, "new", 1000);
    batch_assign(&batch, "ops_2024", 0, 2, "new", 1000);
    batch_assign(&batch, "sales", 1, 2, "move", 2000);
    if (batch_apply(&f->src, &batch, index++, &r) != 0) {
        return -1;
    }
    store_results_free(&r);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    sqlite3_free(f->image);
    store_close(&f->src);
    store_close(&f->a);
    store_close(&f->b);
    free(f);
    return 0;
}

static void take_image(struct fixture *f)
{
    sqlite3_free(f->image);
    f->image = NULL;
    assert_int_equal(store_snapshot(&f->src, &f->image, &f->len), 0);
}

static void test_fenced_state_is_the_same_everywhere(void **state)
{
    struct fixture *f = *state;
    take_image(f);
    uint64_t sales = epoch_of(&f->src, "sales"), ops = epoch_of(&f->src, "ops_2024"),
             learn = epoch_of(&f->src, "learn_kylin"), global = epoch_of(&f->src, "_global");
    assert_int_equal(sales, 2);
    int history_before = count(&f->src, "SELECT count(*) FROM history");

    assert_int_equal(store_restore(&f->a, f->image, f->len), 0);
    assert_int_equal(store_restore(&f->b, f->image, f->len), 0);
    assert_int_equal(store_fence_restore(&f->a, 7, 123456), 0);
    assert_int_equal(store_fence_restore(&f->b, 7, 123456), 0);

    uint64_t ha = 0, hb = 0;
    assert_int_equal(store_hash(&f->a, &ha), 0);
    assert_int_equal(store_hash(&f->b, &hb), 0);
    assert_true(ha == hb);

    assert_int_equal(epoch_of(&f->a, "sales"), sales + STORE_RESTORE_EPOCH_MARGIN);
    assert_int_equal(epoch_of(&f->a, "ops_2024"), ops + STORE_RESTORE_EPOCH_MARGIN);
    assert_int_equal(epoch_of(&f->a, "learn_kylin"), learn + STORE_RESTORE_EPOCH_MARGIN);
    assert_int_equal(epoch_of(&f->a, "_global"), global + STORE_RESTORE_EPOCH_MARGIN);
    /* owners unchanged; one restore row per project, owner to itself, at the raised epoch */
    assert_int_equal(count(&f->a, "SELECT count(*) FROM projects WHERE name = 'sales' AND owner = 2"), 1);
    assert_int_equal(count(&f->a, "SELECT count(*) FROM history"), history_before + 4);
    assert_int_equal(count(&f->a, "SELECT count(*) FROM history h JOIN projects p ON p.name = h.project"
                                  " WHERE h.reason = 'restore' AND h.epoch = p.epoch AND h.raft_index = 2"
                                  " AND h.term = 7 AND h.time_ms = 123456"
                                  " AND h.from_owner IS p.owner AND h.to_owner IS p.owner"),
                     4);
    /* the state is the new cluster's raft snapshot at index 2; its entries start at 3 */
    assert_int_equal(f->a.applied_index, STORE_RESTORE_INDEX);
    assert_int_equal(f->a.decision_index, STORE_RESTORE_INDEX);
    assert_int_equal(count(&f->a, "SELECT value FROM meta WHERE key = 'applied_index'"), STORE_RESTORE_INDEX);
    assert_int_equal(count(&f->a, "SELECT value FROM meta WHERE key = 'decision_index'"), STORE_RESTORE_INDEX);

    /* the new cluster's first entry applies on top */
    struct store_results r;
    batch_assign(&batch, "learn_kylin", 0, 1, "new", 3000);
    assert_int_equal(batch_apply(&f->a, &batch, STORE_RESTORE_INDEX + 1, &r), 0);
    assert_int_equal(r.n, 1);
    store_results_free(&r);
    assert_int_equal(epoch_of(&f->a, "learn_kylin"), learn + STORE_RESTORE_EPOCH_MARGIN + 1);
}

static void test_epoch_past_kylins_int_refused(void **state)
{
    struct fixture *f = *state;
    assert_int_equal(sqlite3_exec(f->src.db, "UPDATE projects SET epoch = 2147000000 WHERE name = 'sales'", NULL,
                                  NULL, NULL),
                     SQLITE_OK);
    take_image(f);
    assert_int_equal(store_restore(&f->a, f->image, f->len), 0);
    uint64_t h0 = 0, h1 = 0;
    assert_int_equal(store_hash(&f->a, &h0), 0);
    assert_int_equal(store_fence_restore(&f->a, 1, 1), -1);
    assert_non_null(strstr(f->a.errmsg, "cannot be fenced"));
    assert_int_equal(store_hash(&f->a, &h1), 0);
    assert_true(h0 == h1);
    assert_int_equal(epoch_of(&f->a, "sales"), 2147000000);
    assert_int_equal(count(&f->a, "SELECT count(*) FROM history WHERE reason = 'restore'"), 0);
    /* the highest epoch that still fits is accepted */
    assert_int_equal(sqlite3_exec(f->src.db, "UPDATE projects SET epoch = 2146483647 WHERE name = 'sales'", NULL,
                                  NULL, NULL),
                     SQLITE_OK);
    take_image(f);
    assert_int_equal(store_restore(&f->b, f->image, f->len), 0);
    assert_int_equal(store_fence_restore(&f->b, 1, 1), 0);
    assert_int_equal(epoch_of(&f->b, "sales"), STORE_EPOCH_MAX);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_fenced_state_is_the_same_everywhere, setup, teardown),
        cmocka_unit_test_setup_teardown(test_epoch_past_kylins_int_refused, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
