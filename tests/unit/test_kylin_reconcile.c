/* Unit tests for kylin/reconcile.c: every rule of the claim / verify / record / poke cycle
 * (reconcile.h), with this member as engine 1 whose Kylin is 10.0.0.1:7070. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "kylin/reconcile.h"

#define ME 1
#define OTHER 2
#define PREFIX "10.0.0.1:7070"
#define ID_OLD "10.0.0.1:7070|1700000000000"
#define ID "10.0.0.1:7070|1700000500000"
#define ID_NEW "10.0.0.1:7070|1700000900000"
#define ID_B "10.0.0.2:7070|1700000100000"
#define MAINT "10.0.0.1:0000|9223372036854775807"

static struct kylin_reconcile_in base(void)
{
    struct kylin_reconcile_in in;
    memset(&in, 0, sizeof in);
    in.self = ME;
    in.prefix = PREFIX;
    in.identity = ID;
    return in;
}

#define SET(in, field, arr) ((in).field = (arr), (in).n_##field = sizeof(arr) / sizeof((arr)[0]))

static bool has(const char *const *list, size_t n, const char *name)
{
    size_t i;
    for (i = 0; i < n; i++) {
        if (strcmp(list[i], name) == 0) {
            return true;
        }
    }
    return false;
}

static void run(const struct kylin_reconcile_in *in, struct kylin_reconcile_out *out)
{
    assert_int_equal(kylin_reconcile(in, out), 0);
}

static void test_idle_cluster_does_nothing(void **state)
{
    const struct kylin_desired desired[] = {{"a", ME}, {"b", OTHER}, {"_global", ME}};
    const struct kylin_claim claims[] = {{"a", ME, ID, 3}, {"b", OTHER, ID_B, 7}, {"_global", ME, ID, 9}};
    const struct kylin_row rows[] = {{"a", ID, 3, 4}, {"b", ID_B, 7, 8}, {"_global", ID, 9, 12}};
    struct kylin_reconcile_in in = base();
    struct kylin_reconcile_out out;
    (void)state;
    SET(in, desired, desired);
    SET(in, claims, claims);
    SET(in, rows, rows);
    run(&in, &out);
    assert_int_equal(out.n_claim, 0);
    assert_int_equal(out.n_record, 0);
    assert_int_equal(out.n_release, 0);
    assert_false(out.poke);
    assert_int_equal(out.global, KYLIN_GLOBAL_NONE);
    assert_string_equal(out.identity, ID);
    assert_false(out.identity_changed);
    assert_false(out.restarted);
    kylin_reconcile_free(&out);
}

static void test_claim_missing_blank_other_and_older_incarnation(void **state)
{
    const struct kylin_desired desired[] = {{"missing", ME}, {"blank", ME},   {"null", ME},   {"theirs", ME},
                                            {"older", ME},   {"mine", ME},    {"not_me", OTHER}, {"nobody", 0}};
    const struct kylin_row rows[] = {{"blank", "", 2, 2},     {"null", NULL, 2, 2},   {"theirs", ID_B, 4, 4},
                                     {"older", ID_OLD, 5, 5}, {"mine", ID, 6, 6},     {"not_me", ID_B, 1, 1},
                                     {"nobody", "", 1, 1}};
    struct kylin_reconcile_in in = base();
    struct kylin_reconcile_out out;
    (void)state;
    SET(in, desired, desired);
    SET(in, rows, rows);
    run(&in, &out);
    assert_int_equal(out.n_claim, 5);
    /* in desired order */
    assert_string_equal(out.claim[0], "missing");
    assert_string_equal(out.claim[1], "blank");
    assert_string_equal(out.claim[2], "null");
    assert_string_equal(out.claim[3], "theirs");
    assert_string_equal(out.claim[4], "older");
    /* "mine" is already right: recorded now (no claim on record yet) */
    assert_int_equal(out.n_record, 1);
    assert_string_equal(out.record[0].project, "mine");
    assert_string_equal(out.record[0].identity, ID);
    assert_int_equal(out.record[0].epoch_id, 6);
    assert_true(out.poke);
    kylin_reconcile_free(&out);
}

static void test_maintenance_never_claims_nor_writes_global_nor_pokes(void **state)
{
    const struct kylin_desired desired[] = {{"a", ME}, {"b", ME}, {"_global", ME}, {"moved", OTHER}};
    const struct kylin_claim claims[] = {{"moved", ME, ID, 1}};
    const struct kylin_row rows[] = {{"b", ID, 2, 2}, {"_global", MAINT, 3, 3}, {"moved", ID_B, 2, 2}};
    struct kylin_reconcile_in in = base();
    struct kylin_reconcile_out out;
    (void)state;
    in.maintenance = true;
    in.reclaim_all = true;
    SET(in, desired, desired);
    SET(in, claims, claims);
    SET(in, rows, rows);
    run(&in, &out);
    assert_int_equal(out.n_claim, 0);
    assert_int_equal(out.global, KYLIN_GLOBAL_NONE);
    assert_false(out.poke);
    kylin_reconcile_free(&out);
    /* learning and recording go on */
    in.reclaim_all = false;
    run(&in, &out);
    assert_int_equal(out.n_claim, 0);
    assert_int_equal(out.n_record, 1);
    assert_string_equal(out.record[0].project, "b");
    assert_false(out.poke);
    kylin_reconcile_free(&out);
}

static void test_reclaim_all_claims_everything_mine(void **state)
{
    const struct kylin_desired desired[] = {{"a", ME}, {"b", ME}, {"c", OTHER}, {"_global", ME}};
    const struct kylin_claim claims[] = {{"a", ME, ID, 3}, {"b", ME, ID, 4}, {"_global", ME, ID, 2}};
    const struct kylin_row rows[] = {{"a", ID, 3, 3}, {"b", ID, 4, 4}, {"c", ID_B, 1, 1}, {"_global", ID, 2, 2}};
    struct kylin_reconcile_in in = base();
    struct kylin_reconcile_out out;
    (void)state;
    in.reclaim_all = true; /* Kylin was DOWN then UP: the rows' identity may be a dead JVM's */
    SET(in, desired, desired);
    SET(in, claims, claims);
    SET(in, rows, rows);
    run(&in, &out);
    assert_int_equal(out.n_claim, 2);
    assert_true(has(out.claim, out.n_claim, "a") && has(out.claim, out.n_claim, "b"));
    assert_false(has(out.claim, out.n_claim, "_global")); /* never through /api/epoch */
    assert_null(out.identity);                            /* not trusted */
    assert_true(out.identity_changed);
    assert_int_equal(out.n_record, 0);
    assert_int_equal(out.global, KYLIN_GLOBAL_NEED_IDENTITY);
    assert_false(out.poke);
    kylin_reconcile_free(&out);
}

static void test_learn_identity_after_claim_then_record_and_poke(void **state)
{
    const struct kylin_desired desired[] = {{"a", ME}, {"b", ME}};
    const char *just[] = {"a", "b"};
    const struct kylin_row rows[] = {{"a", ID_NEW, 4, 5}, {"b", ID_NEW, 1, 0}};
    struct kylin_reconcile_in in = base();
    struct kylin_reconcile_out out;
    (void)state;
    in.identity = NULL;
    SET(in, desired, desired);
    SET(in, rows, rows);
    SET(in, just_claimed, just);
    run(&in, &out);
    assert_string_equal(out.identity, ID_NEW);
    assert_true(out.identity_changed);
    assert_int_equal(out.n_claim, 0);
    assert_int_equal(out.n_record, 2);
    assert_int_equal(out.record[0].epoch_id, 4);
    assert_int_equal(out.record[1].epoch_id, 1);
    assert_int_equal(out.n_unverified, 0);
    assert_true(out.poke); /* puts them into Kylin's lastRenewEpochSet */
    kylin_reconcile_free(&out);
}

static void test_failed_claim_is_unverified_and_claimed_again(void **state)
{
    /* /api/epoch answered success, but the row still shows the other node */
    const struct kylin_desired desired[] = {{"a", ME}, {"gone", ME}};
    const char *just[] = {"a", "gone"};
    const struct kylin_row rows[] = {{"a", ID_B, 4, 5}};
    struct kylin_reconcile_in in = base();
    struct kylin_reconcile_out out;
    (void)state;
    SET(in, desired, desired);
    SET(in, rows, rows);
    SET(in, just_claimed, just);
    run(&in, &out);
    assert_int_equal(out.n_unverified, 2);
    assert_int_equal(out.n_claim, 2);
    assert_int_equal(out.n_record, 0);
    assert_string_equal(out.identity, ID); /* unchanged: nothing taught */
    assert_false(out.identity_changed);
    kylin_reconcile_free(&out);
}

static void test_learning_prefers_the_identity_the_claim_wrote(void **state)
{
    /* Kylin restarted with a clock that went back: the new incarnation has smaller millis;
     * a claim that failed left one row at the old identity */
    const struct kylin_desired desired[] = {{"a", ME}, {"b", ME}};
    const char *just[] = {"a", "b"};
    const struct kylin_row rows[] = {{"a", ID, 4, 5}, {"b", ID_OLD, 2, 2}};
    struct kylin_reconcile_in in = base();
    struct kylin_reconcile_out out;
    (void)state;
    SET(in, desired, desired);
    SET(in, rows, rows);
    SET(in, just_claimed, just);
    run(&in, &out);
    assert_string_equal(out.identity, ID_OLD); /* differs from the known one: the claim wrote it */
    assert_true(out.identity_changed);
    assert_int_equal(out.n_claim, 1);
    assert_string_equal(out.claim[0], "a");
    kylin_reconcile_free(&out);
    /* with nothing known, the largest millis wins */
    in.identity = NULL;
    run(&in, &out);
    assert_string_equal(out.identity, ID);
    kylin_reconcile_free(&out);
}

static void test_restart_detected_from_a_newer_incarnation_in_the_table(void **state)
{
    /* Kylin restarted between two probes; its start-up check took the blank row "c" */
    const struct kylin_desired desired[] = {{"a", ME}, {"b", ME}, {"c", ME}};
    const struct kylin_claim claims[] = {{"a", ME, ID, 3}, {"b", ME, ID, 4}};
    const struct kylin_row rows[] = {{"a", ID, 3, 3}, {"b", ID, 4, 4}, {"c", ID_NEW, 1, 0}};
    struct kylin_reconcile_in in = base();
    struct kylin_reconcile_out out;
    (void)state;
    SET(in, desired, desired);
    SET(in, claims, claims);
    SET(in, rows, rows);
    run(&in, &out);
    assert_true(out.restarted);
    assert_null(out.identity);
    assert_true(out.identity_changed);
    assert_int_equal(out.n_claim, 3); /* a and b look right but name a dead JVM */
    kylin_reconcile_free(&out);
    /* a newer incarnation on a row of another engine's project is no restart */
    {
        const struct kylin_desired desired2[] = {{"a", ME}, {"b", ME}, {"c", OTHER}};
        const struct kylin_row rows2[] = {{"a", ID, 3, 3}, {"b", ID, 4, 4}, {"c", ID_NEW, 1, 0}};
        SET(in, desired, desired2);
        SET(in, rows, rows2);
        run(&in, &out);
        assert_false(out.restarted);
        assert_string_equal(out.identity, ID);
        assert_int_equal(out.n_claim, 0);
        kylin_reconcile_free(&out);
        SET(in, desired, desired);
    }
    /* older incarnations in the table are no restart */
    in.identity = ID_NEW;
    {
        const struct kylin_row rows2[] = {{"a", ID, 3, 3}, {"b", ID_OLD, 4, 4}, {"c", ID_NEW, 1, 0}};
        SET(in, rows, rows2);
        run(&in, &out);
        assert_false(out.restarted);
        assert_int_equal(out.n_claim, 2);
        assert_true(has(out.claim, 2, "a") && has(out.claim, 2, "b"));
        kylin_reconcile_free(&out);
    }
}

static void test_unknown_identity_probes_with_one_claim(void **state)
{
    /* member restarted, Kylin did not: every row already shows our prefix */
    const struct kylin_desired desired[] = {{"a", ME}, {"b", ME}, {"c", ME}, {"d", OTHER}};
    const struct kylin_row rows[] = {{"a", ID, 3, 3}, {"b", ID, 4, 4}, {"c", ID_OLD, 1, 0}, {"d", ID_B, 1, 1}};
    struct kylin_reconcile_in in = base();
    struct kylin_reconcile_out out;
    const char *just[] = {"a"};
    const struct kylin_row after[] = {{"a", ID, 3, 4}, {"b", ID, 4, 4}, {"c", ID_OLD, 1, 0}, {"d", ID_B, 1, 1}};
    (void)state;
    in.identity = NULL;
    SET(in, desired, desired);
    SET(in, rows, rows);
    run(&in, &out);
    assert_int_equal(out.n_claim, 1);
    assert_string_equal(out.claim[0], "a");
    assert_int_equal(out.n_record, 0);
    kylin_reconcile_free(&out);
    /* the probe's row teaches the identity: only the older incarnation's row is claimed */
    SET(in, rows, after);
    SET(in, just_claimed, just);
    run(&in, &out);
    assert_string_equal(out.identity, ID);
    assert_int_equal(out.n_claim, 1);
    assert_string_equal(out.claim[0], "c");
    assert_int_equal(out.n_record, 2);
    kylin_reconcile_free(&out);
    /* with other claims due anyway, no separate probe */
    {
        const struct kylin_row rows3[] = {{"a", ID, 3, 3}, {"b", "", 4, 4}, {"c", ID_B, 1, 0}};
        in.identity = NULL;
        in.just_claimed = NULL;
        in.n_just_claimed = 0;
        SET(in, rows, rows3);
        run(&in, &out);
        assert_int_equal(out.n_claim, 2);
        assert_true(has(out.claim, 2, "b") && has(out.claim, 2, "c"));
        kylin_reconcile_free(&out);
    }
}

static void test_record_when_recorded_claim_differs(void **state)
{
    const struct kylin_desired desired[] = {{"same", ME}, {"epoch", ME}, {"ident", ME}, {"engine", ME}};
    const struct kylin_claim claims[] = {
        {"same", ME, ID, 3}, {"epoch", ME, ID, 3}, {"ident", ME, ID_OLD, 3}, {"engine", OTHER, ID_B, 3}};
    const struct kylin_row rows[] = {{"same", ID, 3, 3}, {"epoch", ID, 4, 4}, {"ident", ID, 3, 3}, {"engine", ID, 4, 4}};
    struct kylin_reconcile_in in = base();
    struct kylin_reconcile_out out;
    (void)state;
    SET(in, desired, desired);
    SET(in, claims, claims);
    SET(in, rows, rows);
    run(&in, &out);
    assert_int_equal(out.n_claim, 0);
    assert_int_equal(out.n_record, 3);
    assert_string_equal(out.record[0].project, "epoch");
    assert_int_equal(out.record[0].epoch_id, 4);
    assert_string_equal(out.record[1].project, "ident");
    assert_string_equal(out.record[2].project, "engine");
    assert_true(out.poke);
    kylin_reconcile_free(&out);
}

static void test_release_pokes_until_the_new_owner_records(void **state)
{
    const struct kylin_desired desired[] = {{"p", OTHER}, {"q", OTHER}, {"r", OTHER}, {"dropped_p", 0}};
    const struct kylin_claim claims[] = {{"p", ME, ID, 3}, {"q", ME, ID, 3}, {"r", ME, ID, 3}};
    /* p: B's Kylin claimed it; q: not claimed yet (still mine in the table); r: blank */
    const struct kylin_row rows[] = {{"p", ID_B, 4, 4}, {"q", ID, 3, 3}, {"r", "", 3, 3}};
    struct kylin_reconcile_in in = base();
    struct kylin_reconcile_out out;
    (void)state;
    SET(in, desired, desired);
    SET(in, claims, claims);
    SET(in, rows, rows);
    run(&in, &out);
    assert_int_equal(out.n_release, 1);
    assert_string_equal(out.release[0].project, "p");
    assert_string_equal(out.release[0].owner, ID_B);
    assert_int_equal(out.release[0].epoch_id, 4);
    assert_true(out.poke);
    assert_int_equal(out.n_claim, 0); /* never claims what is not mine */
    kylin_reconcile_free(&out);
    /* once B's member recorded its claim, the poke stops (edge-triggered) */
    {
        const struct kylin_claim recorded[] = {{"p", OTHER, ID_B, 4}, {"q", ME, ID, 3}, {"r", ME, ID, 3}};
        SET(in, claims, recorded);
        run(&in, &out);
        assert_int_equal(out.n_release, 0);
        assert_false(out.poke);
        kylin_reconcile_free(&out);
    }
}

static void test_drift_repair(void **state)
{
    /* a person, a graceful stop (blank) and a ZooKeeper-triggered race moved rows */
    const struct kylin_desired desired[] = {{"a", ME}, {"b", ME}, {"c", ME}};
    const struct kylin_claim claims[] = {{"a", ME, ID, 3}, {"b", ME, ID, 4}, {"c", ME, ID, 5}};
    const struct kylin_row rows[] = {{"a", ID, 3, 3}, {"b", "", 4, 9}, {"c", ID_B, 6, 6}};
    struct kylin_reconcile_in in = base();
    struct kylin_reconcile_out out;
    const char *just[] = {"b", "c"};
    const struct kylin_row repaired[] = {{"a", ID, 3, 3}, {"b", ID, 5, 10}, {"c", ID, 7, 7}};
    (void)state;
    SET(in, desired, desired);
    SET(in, claims, claims);
    SET(in, rows, rows);
    run(&in, &out);
    assert_int_equal(out.n_claim, 2);
    assert_string_equal(out.claim[0], "b");
    assert_string_equal(out.claim[1], "c");
    assert_false(out.poke);
    kylin_reconcile_free(&out);
    SET(in, rows, repaired);
    SET(in, just_claimed, just);
    run(&in, &out);
    assert_int_equal(out.n_claim, 0);
    assert_int_equal(out.n_unverified, 0);
    assert_int_equal(out.n_record, 2); /* new epoch_ids */
    assert_int_equal(out.record[0].epoch_id, 5);
    assert_int_equal(out.record[1].epoch_id, 7);
    assert_true(out.poke);
    kylin_reconcile_free(&out);
}

/* raftctl maintenance on with a Kylin attached: _global's owner writes Kylin's marker (a
 * compare-and-set; no identity needed, no poke); others write nothing; off: the identity again. */
static void test_maintenance_marker_on_global(void **state)
{
    const struct kylin_desired desired[] = {{"_global", ME}, {"a", ME}};
    const struct kylin_row mine[] = {{"_global", ID, 7, 11}, {"a", ID, 2, 2}};
    const struct kylin_row marked[] = {{"_global", MAINT, 8, 12}, {"a", ID, 2, 2}};
    struct kylin_reconcile_in in = base();
    struct kylin_reconcile_out out;
    (void)state;
    in.maintenance = true;
    in.maint_owner = MAINT;
    SET(in, desired, desired);
    SET(in, rows, mine);
    /* identity unknown: no marker that could not be taken back */
    in.identity = NULL;
    run(&in, &out);
    assert_int_equal(out.global, KYLIN_GLOBAL_NEED_IDENTITY);
    kylin_reconcile_free(&out);
    in.identity = ID;
    run(&in, &out);
    assert_int_equal(out.global, KYLIN_GLOBAL_UPDATE);
    assert_string_equal(out.global_owner, MAINT);
    assert_int_equal(out.global_expect_mvcc, 11);
    assert_int_equal(out.global_epoch_id, 8);
    assert_int_equal(out.global_mvcc, 12);
    assert_int_equal(out.n_claim, 0);
    assert_false(out.poke);
    kylin_reconcile_free(&out);
    /* written: nothing more */
    SET(in, rows, marked);
    run(&in, &out);
    assert_int_equal(out.global, KYLIN_GLOBAL_NONE);
    kylin_reconcile_free(&out);
    /* missing row: inserted with the marker */
    in.rows = NULL;
    in.n_rows = 0;
    run(&in, &out);
    assert_int_equal(out.global, KYLIN_GLOBAL_INSERT);
    assert_string_equal(out.global_owner, MAINT);
    kylin_reconcile_free(&out);
    /* _global is another engine's: its member writes the marker, not this one */
    const struct kylin_desired theirs[] = {{"_global", OTHER}, {"a", ME}};
    SET(in, desired, theirs);
    SET(in, rows, mine);
    run(&in, &out);
    assert_int_equal(out.global, KYLIN_GLOBAL_NONE);
    kylin_reconcile_free(&out);
    /* off: the normal claim path takes the marker row over for the identity */
    in.maintenance = false;
    SET(in, desired, desired);
    SET(in, rows, marked);
    run(&in, &out);
    assert_int_equal(out.global, KYLIN_GLOBAL_UPDATE);
    assert_string_equal(out.global_owner, ID);
    assert_int_equal(out.global_expect_mvcc, 12);
    kylin_reconcile_free(&out);
}

static void test_global_update_insert_and_need_identity(void **state)
{
    const struct kylin_desired desired[] = {{"_global", ME}};
    const struct kylin_row theirs[] = {{"_global", ID_B, 7, 11}};
    const struct kylin_row maint[] = {{"_global", MAINT, 8, 12}};
    struct kylin_reconcile_in in = base();
    struct kylin_reconcile_out out;
    (void)state;
    SET(in, desired, desired);
    SET(in, rows, theirs);
    run(&in, &out);
    assert_int_equal(out.global, KYLIN_GLOBAL_UPDATE);
    assert_int_equal(out.global_expect_mvcc, 11);
    assert_int_equal(out.global_epoch_id, 8);
    assert_int_equal(out.global_mvcc, 12);
    assert_int_equal(out.n_claim, 0);
    assert_true(out.poke);
    kylin_reconcile_free(&out);
    /* maintenance off in the quorum: the marker row is taken over */
    SET(in, rows, maint);
    run(&in, &out);
    assert_int_equal(out.global, KYLIN_GLOBAL_UPDATE);
    assert_int_equal(out.global_expect_mvcc, 12);
    kylin_reconcile_free(&out);
    /* missing row: Kylin's new Epoch(1, ..., mvcc 0) */
    in.rows = NULL;
    in.n_rows = 0;
    run(&in, &out);
    assert_int_equal(out.global, KYLIN_GLOBAL_INSERT);
    assert_int_equal(out.global_epoch_id, 1);
    assert_int_equal(out.global_mvcc, 0);
    kylin_reconcile_free(&out);
    /* identity not known yet: say so, write nothing */
    in.identity = NULL;
    SET(in, rows, theirs);
    run(&in, &out);
    assert_int_equal(out.global, KYLIN_GLOBAL_NEED_IDENTITY);
    assert_false(out.poke);
    kylin_reconcile_free(&out);
    /* _global elsewhere: nothing */
    {
        const struct kylin_desired elsewhere[] = {{"_global", OTHER}};
        in.identity = ID;
        SET(in, desired, elsewhere);
        run(&in, &out);
        assert_int_equal(out.global, KYLIN_GLOBAL_NONE);
        kylin_reconcile_free(&out);
    }
}

static void test_names_exact_on_postgres_folded_on_mysql(void **state)
{
    /* the quorum's project is "Sales"; the table has a leftover row "sales" owned by me */
    const struct kylin_desired desired[] = {{"Sales", ME}};
    const struct kylin_row rows[] = {{"sales", ID, 3, 3}};
    struct kylin_reconcile_in in = base();
    struct kylin_reconcile_out out;
    (void)state;
    SET(in, desired, desired);
    SET(in, rows, rows);
    run(&in, &out); /* PostgreSQL: Kylin looks up 'Sales' exactly and finds nothing */
    assert_int_equal(out.n_claim, 1);
    assert_string_equal(out.claim[0], "Sales");
    assert_int_equal(out.n_record, 0);
    kylin_reconcile_free(&out);
    in.targets_fold_case = true; /* MySQL: 'Sales' finds the row 'sales' */
    run(&in, &out);
    assert_int_equal(out.n_claim, 0);
    assert_int_equal(out.n_record, 1);
    assert_string_equal(out.record[0].project, "Sales"); /* the quorum's exact name */
    kylin_reconcile_free(&out);
    /* an exact row always wins over a folded one */
    {
        const struct kylin_row both[] = {{"sales", ID, 3, 3}, {"Sales", ID_B, 5, 5}};
        SET(in, rows, both);
        run(&in, &out);
        assert_int_equal(out.n_claim, 1);
        kylin_reconcile_free(&out);
    }
}

static void test_rows_not_desired_are_ignored(void **state)
{
    const struct kylin_desired desired[] = {{"a", ME}};
    const struct kylin_row rows[] = {{"a", ID, 1, 1}, {"unknown", "", 1, 1}, {"zz", ID_B, 1, 1}, {NULL, ID, 1, 1}};
    const struct kylin_claim claims[] = {{"a", ME, ID, 1}};
    struct kylin_reconcile_in in = base();
    struct kylin_reconcile_out out;
    (void)state;
    SET(in, desired, desired);
    SET(in, rows, rows);
    SET(in, claims, claims);
    run(&in, &out);
    assert_int_equal(out.n_claim, 0);
    assert_int_equal(out.n_record, 0);
    assert_false(out.poke);
    kylin_reconcile_free(&out);
}

static void test_prefix_match_is_exact_up_to_the_bar(void **state)
{
    (void)state;
    assert_true(kylin_identity_has_prefix("10.0.0.1:7070|1", "10.0.0.1:7070"));
    assert_false(kylin_identity_has_prefix("10.0.0.1:70701|1", "10.0.0.1:7070"));
    assert_false(kylin_identity_has_prefix("10.0.0.1:7070", "10.0.0.1:7070"));
    assert_false(kylin_identity_has_prefix("110.0.0.1:7070|1", "10.0.0.1:7070"));
    assert_false(kylin_identity_has_prefix(NULL, "10.0.0.1:7070"));
    assert_false(kylin_identity_has_prefix("x|1", ""));
}

static void test_contract_violations(void **state)
{
    struct kylin_reconcile_in in = base();
    struct kylin_reconcile_out out;
    (void)state;
    in.self = 0;
    assert_int_equal(kylin_reconcile(&in, &out), -1);
    in = base();
    in.prefix = "";
    assert_int_equal(kylin_reconcile(&in, &out), -1);
    in = base();
    in.n_rows = 3;
    assert_int_equal(kylin_reconcile(&in, &out), -1);
    assert_int_equal(kylin_reconcile(NULL, &out), -1);
    /* empty input is fine */
    in = base();
    assert_int_equal(kylin_reconcile(&in, &out), 0);
    assert_false(out.poke);
    kylin_reconcile_free(&out);
}

static void test_ten_thousand_projects(void **state)
{
    enum { N = 10000 };
    struct kylin_desired *desired = calloc(N, sizeof *desired);
    struct kylin_row *rows = calloc(N, sizeof *rows);
    struct kylin_claim *claims = calloc(N, sizeof *claims);
    char (*names)[16] = calloc(N, sizeof *names);
    struct kylin_reconcile_in in = base();
    struct kylin_reconcile_out out;
    size_t i;
    (void)state;
    assert_non_null(desired);
    assert_non_null(rows);
    assert_non_null(claims);
    assert_non_null(names);
    for (i = 0; i < N; i++) {
        snprintf(names[i], sizeof names[i], "p%zu", (N - i) * 7919 % 100003);
        desired[i] = (struct kylin_desired){names[i], i % 3 == 0 ? ME : OTHER};
        rows[N - 1 - i] = (struct kylin_row){names[i], i % 3 == 0 ? ID : ID_B, 2, 2};
        claims[i] = (struct kylin_claim){names[i], i % 3 == 0 ? ME : OTHER, i % 3 == 0 ? ID : ID_B, 2};
    }
    rows[0].owner = ""; /* desired[N - 1]: owner OTHER unless N - 1 divisible by 3 */
    in.desired = desired;
    in.n_desired = N;
    in.rows = rows;
    in.n_rows = N;
    in.claims = claims;
    in.n_claims = N;
    run(&in, &out);
    assert_int_equal(out.n_claim, (N - 1) % 3 == 0 ? 1 : 0);
    assert_int_equal(out.n_record, 0);
    kylin_reconcile_free(&out);
    free(desired);
    free(rows);
    free(claims);
    free(names);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_idle_cluster_does_nothing),
        cmocka_unit_test(test_claim_missing_blank_other_and_older_incarnation),
        cmocka_unit_test(test_maintenance_never_claims_nor_writes_global_nor_pokes),
        cmocka_unit_test(test_maintenance_marker_on_global),
        cmocka_unit_test(test_reclaim_all_claims_everything_mine),
        cmocka_unit_test(test_learn_identity_after_claim_then_record_and_poke),
        cmocka_unit_test(test_failed_claim_is_unverified_and_claimed_again),
        cmocka_unit_test(test_learning_prefers_the_identity_the_claim_wrote),
        cmocka_unit_test(test_restart_detected_from_a_newer_incarnation_in_the_table),
        cmocka_unit_test(test_unknown_identity_probes_with_one_claim),
        cmocka_unit_test(test_record_when_recorded_claim_differs),
        cmocka_unit_test(test_release_pokes_until_the_new_owner_records),
        cmocka_unit_test(test_drift_repair),
        cmocka_unit_test(test_global_update_insert_and_need_identity),
        cmocka_unit_test(test_names_exact_on_postgres_folded_on_mysql),
        cmocka_unit_test(test_rows_not_desired_are_ignored),
        cmocka_unit_test(test_prefix_match_is_exact_up_to_the_bar),
        cmocka_unit_test(test_contract_violations),
        cmocka_unit_test(test_ten_thousand_projects),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
