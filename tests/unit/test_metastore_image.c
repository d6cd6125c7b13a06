/* Unit tests of the mirror's incremental path, without a database server: the image's hash
 * table (metastore/image.c), the store contract view_read_delta relies on (metastore/view.h),
 * and the epoch table after many incremental batches against a full re-sync (sync_epoch.c),
 * through a fake backend that keeps <prefix>_epoch in memory. The mirror against real
 * PostgreSQL and MariaDB servers: tests/metastore/. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "metastore/image.h"
#include "metastore/sync_int.h"
#include "metastore/view.h"
#include "store_helpers.h"

static struct batch batch;

/* ---- the image's hash table ---- */

static void test_image_put_find_remove(void **state)
{
    (void)state;
    struct image img = {0};
    char name[32];
    for (int i = 0; i < 5000; i++) {
        snprintf(name, sizeof name, "p_%d", i);
        assert_non_null(image_put(&img, name, strlen(name), (uint64_t)i % 3, (uint64_t)i, i));
    }
    assert_int_equal(img.n, 5000);
    /* Remove every third one (backward shift keeps the others reachable). */
    for (int i = 0; i < 5000; i += 3) {
        snprintf(name, sizeof name, "p_%d", i);
        image_remove(&img, name, strlen(name));
        image_remove(&img, name, strlen(name)); /* twice: no-op */
    }
    for (int i = 0; i < 5000; i++) {
        snprintf(name, sizeof name, "p_%d", i);
        struct image_row *r = image_find(&img, name, strlen(name));
        if (i % 3 == 0) {
            assert_null(r);
        } else {
            assert_non_null(r);
            assert_int_equal(r->epoch, i);
            assert_int_equal(r->mvcc, i);
        }
    }
    assert_int_equal(img.n, 5000 - 1667);
    /* Update in place. */
    struct image_row *r = image_put(&img, "p_1", 3, 7, 8, 9);
    assert_non_null(r);
    assert_int_equal(img.n, 5000 - 1667);
    assert_int_equal(image_find(&img, "p_1", 3)->owner, 7);
    assert_null(image_find(&img, "p_", 2));
    image_reset(&img);
    assert_null(image_find(&img, "p_1", 3));
    assert_false(img.valid);
}

/* ---- a fake backend: <prefix>_epoch in memory ---- */

#define FAKE_MAX 512

struct fake_row {
    char *vals[7]; /* epoch_target .. maintenance_mode_reason, mvcc (text) */
};

static struct fake {
    struct fake_row rows[FAKE_MAX];
    size_t n;
    uint64_t upserted, deleted; /* rows written since the last reset of the counters */
} F;

static char *dup_or_null(const char *s)
{
    return s != NULL ? strdup(s) : NULL;
}

static struct fake_row *fake_find(const char *target)
{
    for (size_t i = 0; i < F.n; i++) {
        if (strcmp(F.rows[i].vals[0], target) == 0) {
            return &F.rows[i];
        }
    }
    return NULL;
}

static void fake_row_set(struct fake_row *r, const char *const *v, long long mvcc)
{
    char buf[32];
    for (size_t c = 0; c < 6; c++) {
        free(r->vals[c]);
        r->vals[c] = dup_or_null(v[c]);
    }
    free(r->vals[6]);
    snprintf(buf, sizeof buf, "%lld", mvcc);
    r->vals[6] = strdup(buf);
}

static void fake_delete(const char *target)
{
    struct fake_row *r = fake_find(target);
    if (r != NULL) {
        for (size_t c = 0; c < 7; c++) {
            free(r->vals[c]);
        }
        *r = F.rows[--F.n];
        memset(&F.rows[F.n], 0, sizeof F.rows[F.n]);
    }
}

static void fake_clear(void)
{
    while (F.n > 0) {
        fake_delete(F.rows[0].vals[0]);
    }
    F.upserted = F.deleted = 0;
}

static int fake_connect(struct ms_backend *b)
{
    b->connected = true;
    return 0;
}

static void fake_disconnect(struct ms_backend *b)
{
    b->connected = false;
}

static int fake_exec(struct ms_backend *b, const char *sql)
{
    (void)b;
    (void)sql;
    return 0;
}

static int fake_exec_params(struct ms_backend *b, const char *sql, size_t n, const char *const *values,
                            uint64_t *affected)
{
    (void)b;
    if (strncmp(sql, "INSERT INTO t_epoch", 19) == 0) {
        assert_int_equal(n % SQL_EPOCH_WRITE_COLS, 0);
        for (size_t i = 0; i < n; i += SQL_EPOCH_WRITE_COLS) {
            struct fake_row *r = fake_find(values[i]);
            long long mvcc = 0;
            if (r != NULL) {
                mvcc = r->vals[6] != NULL ? atoll(r->vals[6]) + 1 : 0;
            } else {
                assert_true(F.n < FAKE_MAX);
                r = &F.rows[F.n++];
                memset(r, 0, sizeof *r);
            }
            fake_row_set(r, values + i, mvcc);
            F.upserted++;
        }
    } else if (strncmp(sql, "DELETE FROM t_epoch", 19) == 0) {
        for (size_t i = 0; i < n; i++) {
            F.deleted += fake_find(values[i]) != NULL;
            fake_delete(values[i]);
        }
    }
    if (affected != NULL) {
        *affected = n;
    }
    return 0;
}

static int fake_query(struct ms_backend *b, const char *sql, struct ms_rows *out)
{
    (void)b;
    memset(out, 0, sizeof *out);
    if (strncmp(sql, "SELECT epoch_target", 19) != 0) {
        out->cells = calloc(1, sizeof *out->cells);
        assert_non_null(out->cells);
        return 0;
    }
    out->n_rows = F.n;
    out->n_cols = 7;
    out->cells = calloc(F.n * 7 + 1, sizeof *out->cells);
    assert_non_null(out->cells);
    for (size_t i = 0; i < F.n; i++) {
        for (size_t c = 0; c < 7; c++) {
            out->cells[i * 7 + c] = dup_or_null(F.rows[i].vals[c]);
        }
    }
    return 0;
}

static const struct ms_backend_ops fake_ops = {
    .name = "fake",
    .connect = fake_connect,
    .disconnect = fake_disconnect,
    .exec = fake_exec,
    .exec_params = fake_exec_params,
    .query = fake_query,
};

/* ---- fixture: a store, its reader, the image and the fake table ---- */

struct fixture {
    char dir[64];
    char path[128];
    struct store s;
    uint64_t index;
    struct view_reader r;
    struct image img;
    struct ms_url url;
    struct ms_backend b;
    struct sync_params p;
    uint64_t watermark;
    unsigned fallbacks; /* deltas that could not account for every project */
};

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof *f);
    assert_non_null(f);
    snprintf(f->dir, sizeof f->dir, "/tmp/test_metastore_image.XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    snprintf(f->path, sizeof f->path, "%s/state.db", f->dir);
    assert_int_equal(store_open(&f->s, f->path), 0);
    f->index = 1;
    assert_int_equal(view_open(&f->r, f->path), 0);
    f->url.kind = MS_KIND_POSTGRESQL;
    snprintf(f->url.prefix, sizeof f->url.prefix, "t");
    ms_backend_init(&f->b, &f->url, -1);
    f->b.ops = &fake_ops;
    f->b.connected = true;
    f->p = (struct sync_params){.prefix = "t", .term = 1, .self_id = 1, .self_api = "127.0.0.1:7201",
                                .self_host = "10.0.0.1"};
    fake_clear();
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    fake_clear();
    image_reset(&f->img);
    view_close(&f->r);
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

/* Applies the batch as the next entry (refused commands are fine: the state stays). */
static void apply(struct fixture *f)
{
    struct store_results r;
    assert_int_equal(batch_apply(&f->s, &batch, f->index++, &r), 0);
    store_results_free(&r);
    assert_int_equal(store_commit(&f->s), 0); /* the view reads through its own connection */
}

/* The rows the table must hold for the store's state: a full compare into an empty table. */
static void expected_rows(struct fixture *f, struct fake_row *rows, size_t *n)
{
    struct view v;
    char maint_owner[SYNC_ADDR_MAX + 32];
    struct epoch_ctx c;
    assert_int_equal(view_read(&f->r, 0, &v), 0);
    epoch_ctx_of_view(&c, &v, &f->p, maint_owner, sizeof maint_owner);
    *n = v.n_projects;
    for (size_t i = 0; i < v.n_projects; i++) {
        struct epoch_vals w;
        epoch_values(&c, v.projects[i].owner, v.projects[i].epoch, &w);
        const char *vals[6] = {v.projects[i].name, w.epoch_id, w.owner, w.renew, w.mode, w.reason};
        memset(&rows[i], 0, sizeof rows[i]);
        fake_row_set(&rows[i], vals, 0);
    }
    view_free(&v);
}

static void free_rows(struct fake_row *rows, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        for (size_t c = 0; c < 7; c++) {
            free(rows[i].vals[c]);
        }
    }
}

static bool same_text(const char *a, const char *b)
{
    return a == NULL || b == NULL ? a == b : strcmp(a, b) == 0;
}

/* The fake table equals the store's state, and the image equals the fake table (mvcc too). */
static void assert_mirrored(struct fixture *f)
{
    static struct fake_row want[FAKE_MAX];
    size_t n = 0;
    expected_rows(f, want, &n);
    assert_int_equal(F.n, n);
    for (size_t i = 0; i < n; i++) {
        struct fake_row *have = fake_find(want[i].vals[0]);
        if (have == NULL) {
            fail_msg("row %s missing from the table", want[i].vals[0]);
        }
        for (size_t c = 1; c < 6; c++) {
            if (!same_text(have->vals[c], want[i].vals[c])) {
                fail_msg("row %s column %zu: table '%s', store '%s'", want[i].vals[0], c,
                         have->vals[c] ? have->vals[c] : "NULL", want[i].vals[c] ? want[i].vals[c] : "NULL");
            }
        }
        const struct image_row *r = image_find(&f->img, have->vals[0], strlen(have->vals[0]));
        assert_non_null(r);
        assert_int_equal(r->mvcc, atoll(have->vals[6]));
    }
    assert_int_equal(f->img.n, n);
    free_rows(want, n);
}

/* One batch of the epoch table: full when the image is not valid, else incremental (with
 * the fallback sync_batch takes); nothing when nothing was decided. */
static void mirror(struct fixture *f)
{
    struct view v;
    struct sync_result out;
    memset(&out, 0, sizeof out);
    bool full = !f->img.valid;
    assert_int_equal(full ? view_read(&f->r, f->watermark, &v) : view_read_delta(&f->r, f->watermark, &v), 0);
    if (v.decision_index == f->watermark) {
        view_free(&v);
        return;
    }
    int rc = full ? sync_epochs_full(&f->b, &v, &f->p, &f->img, false, &out)
                  : sync_epochs_incremental(&f->b, &v, &f->p, &f->img, &out);
    if (rc == 1) {
        f->fallbacks++;
        view_free(&v);
        assert_int_equal(view_read(&f->r, f->watermark, &v), 0);
        rc = sync_epochs_incremental(&f->b, &v, &f->p, &f->img, &out);
    }
    assert_int_equal(rc, 0);
    f->img.valid = true;
    f->watermark = v.decision_index;
    view_free(&v);
}

static void engines3(struct fixture *f)
{
    batch_engine_set(&batch, 1, "all", 1, "10.0.0.1:7070|11", true);
    batch_engine_set(&batch, 2, "job", 1, "10.0.0.2:7070|22", true);
    batch_engine_set(&batch, 3, "all", 2, "10.0.0.3:7070|33", true);
    apply(f);
}

/* The store contract of view_read_delta, and its fallback: a delta names exactly what changed. */
static void test_delta_reads_changes_only(void **state)
{
    struct fixture *f = *state;
    engines3(f);
    batch_assign(&batch, "_global", 0, 1, "new", 5);
    for (int i = 0; i < 40; i++) {
        char n[16];
        snprintf(n, sizeof n, "p%02d", i);
        batch_add(&batch, n);
        batch_assign(&batch, n, 0, 1 + (uint64_t)i % 3, "new", 5);
    }
    apply(f);
    mirror(f);
    assert_mirrored(f);
    uint64_t w = f->watermark;

    batch_assign(&batch, "p01", 2, 1, "move", 6); /* changed: history */
    batch_add(&batch, "fresh");                    /* new, unowned */
    batch_remove(&batch, "p02");                   /* owned, removed: no trace */
    apply(f);
    batch_add(&batch, "gone");
    batch_assign(&batch, "gone", 0, 1, "new", 7);
    batch_remove(&batch, "gone");                  /* named in history, gone */
    apply(f);
    struct view v;
    assert_int_equal(view_read_delta(&f->r, w, &v), 0);
    assert_false(v.complete);
    assert_int_equal(v.n_projects, 2); /* fresh (unowned), p01 (history) */
    assert_string_equal(v.projects[0].name, "fresh");
    assert_int_equal(v.projects[0].owner, 0);
    assert_string_equal(v.projects[1].name, "p01");
    assert_int_equal(v.projects[1].owner, 1);
    assert_int_equal(v.n_gone, 1);
    assert_string_equal(v.gone[0], "gone");
    assert_int_equal(v.n_all, 41 + 1 - 1); /* + _global, + fresh, - p02 */
    view_free(&v);

    /* p02's removal shows only in the count: one fallback to a complete read. */
    mirror(f);
    assert_int_equal(f->fallbacks, 1);
    assert_mirrored(f);
    assert_null(fake_find("p02"));
}

/* Many random decisions, mirrored incrementally now and then: the table always equals a
 * full re-sync, each row is written only when its values change, and the image's mvcc
 * follows the table's. Then stray writes by "someone else" are found and put back by a
 * full compare. */
static void test_incremental_equals_full(void **state)
{
    struct fixture *f = *state;
    engines3(f);
    srand(42);
    char names[60][24];
    bool exists[60] = {false};
    for (int i = 0; i < 60; i++) {
        snprintf(names[i], sizeof names[i], "proj_%02d", i);
    }
    bool maintenance = false;
    unsigned identity_gen = 0;
    for (int step = 0; step < 400; step++) {
        int ops = 1 + rand() % 4;
        for (int k = 0; k < ops; k++) {
            int i = rand() % 60, what = rand() % 100;
            uint64_t to = 1 + (uint64_t)(rand() % 3);
            if (what < 30) {
                batch_add(&batch, names[i]);
                exists[i] = true;
            } else if (what < 60 && exists[i]) {
                /* from is checked by the store: try each owner, only the right one applies */
                for (uint64_t from = 0; from <= 3; from++) {
                    if (from != to) {
                        batch_assign(&batch, names[i], from, to, "move", 10 + (uint64_t)step);
                    }
                }
            } else if (what < 63) {
                batch_assign(&batch, names[i], to, 0, "failover", 10 + (uint64_t)step); /* unowned */
            } else if (what < 72) {
                batch_remove(&batch, names[i]);
                exists[i] = false;
            } else if (what < 78) {
                char id[48];
                snprintf(id, sizeof id, "10.0.0.%u:7070|%u", (unsigned)to, 100 + identity_gen++);
                batch_engine_set(&batch, to, to == 2 ? "job" : "all", 1, id, true);
            } else if (what < 82) {
                maintenance = !maintenance;
                batch_maintenance(&batch, maintenance, maintenance ? "upgrade" : NULL);
            } else if (what < 85) {
                batch_engine_set(&batch, to, rand() % 2 ? "job" : "all", 1, "10.0.0.9:7070|9", true);
            } else {
                const uint64_t ids[] = {1, 2, 3};
                batch_heartbeat(&batch, ids, 3); /* no decision */
            }
        }
        apply(f);
        if (rand() % 3 == 0) { /* several entries per batch now and then */
            continue;
        }
        static struct fake_row before[FAKE_MAX];
        size_t n_before = F.n;
        for (size_t r = 0; r < F.n; r++) {
            memset(&before[r], 0, sizeof before[r]);
            fake_row_set(&before[r], (const char *const *)F.rows[r].vals, 0);
        }
        F.upserted = F.deleted = 0;
        mirror(f);
        assert_mirrored(f);
        /* Only rows whose values changed were written. */
        uint64_t changed = 0;
        for (size_t r = 0; r < F.n; r++) {
            const struct fake_row *b = NULL;
            for (size_t q = 0; q < n_before && b == NULL; q++) {
                b = strcmp(before[q].vals[0], F.rows[r].vals[0]) == 0 ? &before[q] : NULL;
            }
            bool same = b != NULL;
            for (size_t c = 1; c < 6 && same; c++) {
                same = same_text(b->vals[c], F.rows[r].vals[c]);
            }
            changed += !same;
        }
        assert_int_equal(F.upserted, changed);
        free_rows(before, n_before);
    }
    assert_true(f->fallbacks > 0); /* the removal path was exercised */

    /* Someone else writes: one row changed, one deleted, one inserted. */
    assert_true(F.n >= 2);
    free(F.rows[0].vals[2]);
    F.rows[0].vals[2] = strdup("10.9.9.9:7070|1");
    fake_delete(F.rows[1].vals[0]);
    const char *stray[6] = {"stray_row", "1", "x:1|2", "-1", NULL, NULL};
    fake_row_set(&F.rows[F.n++], stray, 0);
    /* An incremental batch does not see it (the image is trusted)... */
    batch_add(&batch, "one_more");
    apply(f);
    mirror(f);
    assert_non_null(fake_find("stray_row"));
    /* ... the full compare does, counts it and puts the quorum's rows back. */
    batch_add(&batch, "two_more");
    apply(f);
    struct view v;
    struct sync_result out;
    memset(&out, 0, sizeof out);
    assert_int_equal(view_read(&f->r, f->watermark, &v), 0);
    assert_int_equal(sync_epochs_full(&f->b, &v, &f->p, &f->img, true, &out), 0);
    f->watermark = v.decision_index;
    view_free(&v);
    assert_int_equal(out.stray_rows, 3);
    assert_true(out.stray_example[0] != '\0');
    assert_null(fake_find("stray_row"));
    assert_mirrored(f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_image_put_find_remove),
        cmocka_unit_test_setup_teardown(test_delta_reads_changes_only, setup, teardown),
        cmocka_unit_test_setup_teardown(test_incremental_equals_full, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
