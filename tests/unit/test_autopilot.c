/* Unit tests for raftnode/autopilot_policy.c: the autopilot's pure rules (which member is
 * healthy, dead or stable; at most one quorum-safe change at a time). Times are plain numbers. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>
#include <raft.h>

#include "raftnode/autopilot_policy.h"

static const struct autopilot_params P = {
    .voters = 3, .dead_ms = 10000, .healthy_ms = 1000, .stable_ms = 10000, .max_lag = 256,
    .cleanup = false, .cleanup_ms = 600000, .readmit = true};

#define NOW 100000u
#define LAST 5000u

static struct autopilot_member M[8];
static unsigned N;

/* A member last heard from SILENT ms before NOW, MATCH entries, stable for STABLE ms (0: not). */
static void add(uint64_t id, int role, uint64_t silent, uint64_t match, uint64_t stable)
{
    M[N++] = (struct autopilot_member){.id = id, .role = role, .tracked = true, .last_contact_ms = NOW - silent,
                                       .match_index = match, .stable = stable != 0,
                                       .stable_since_ms = NOW - stable};
}

static struct autopilot_view view(bool pending)
{
    return (struct autopilot_view){
        .members = M, .n = N, .leader_id = 1, .last_index = LAST, .now_ms = NOW, .change_pending = pending};
}

static struct autopilot_action decide_with(const struct autopilot_params *p)
{
    struct autopilot_view v = view(false);
    return autopilot_decide(p, &v);
}

static struct autopilot_action decide(void)
{
    return decide_with(&P);
}

static int setup(void **state)
{
    (void)state;
    memset(M, 0, sizeof M);
    N = 0;
    return 0;
}

/* 3 voters (1 the leader), 1 standby; voter 3 silent for SILENT3 ms; the standby at MATCH4. */
static void three_and_standby(uint64_t silent3, uint64_t match4, uint64_t stable4)
{
    add(1, RAFT_VOTER, 0, LAST, 50000);
    add(2, RAFT_VOTER, 50, LAST, 50000);
    add(3, RAFT_VOTER, silent3, LAST - 100, silent3 == 0 ? 50000 : 0);
    add(4, RAFT_STANDBY, 40, match4, stable4);
}

static void test_healthy_cluster_does_nothing(void **state)
{
    (void)state;
    three_and_standby(0, LAST, 50000);
    assert_int_equal(decide().kind, AUTOPILOT_NONE);
    struct autopilot_summary s;
    struct autopilot_view v = view(false);
    autopilot_summarise(&P, &v, &s);
    assert_true(s.healthy);
    assert_int_equal(s.voters, 3);
    assert_int_equal(s.healthy_voters, 3);
    assert_int_equal(s.failure_tolerance, 1);
}

/* Demotion first (autopilot_policy.c says why), then the promotion. */
static void test_dead_voter_and_caught_up_standby_demote_then_promote(void **state)
{
    (void)state;
    three_and_standby(10000, LAST - 3, 20000);
    struct autopilot_action a = decide();
    assert_int_equal(a.kind, AUTOPILOT_DEMOTE);
    assert_int_equal(a.id, 3);
    assert_non_null(a.reason);
    M[2].role = RAFT_SPARE; /* the demotion committed: 2 voters, both healthy */
    a = decide();
    assert_int_equal(a.kind, AUTOPILOT_PROMOTE);
    assert_int_equal(a.id, 4);
    M[3].role = RAFT_VOTER;
    assert_int_equal(decide().kind, AUTOPILOT_NONE); /* done: the dead spare stays (cleanup off) */
}

static void test_voter_not_dead_yet_does_nothing(void **state)
{
    (void)state;
    three_and_standby(9999, LAST, 20000); /* unreachable, but not for dead_ms */
    assert_int_equal(decide().kind, AUTOPILOT_NONE);
}

static void test_lagging_standby_is_not_promoted(void **state)
{
    (void)state;
    three_and_standby(20000, LAST - 257, 20000);
    assert_int_equal(decide().kind, AUTOPILOT_NONE);
    assert_int_equal(autopilot_health(&P, &M[3], 1, LAST, NOW), AUTOPILOT_LAGGING);
}

static void test_standby_not_stable_long_enough_waits(void **state)
{
    (void)state;
    three_and_standby(20000, LAST, 9999);
    assert_int_equal(decide().kind, AUTOPILOT_NONE); /* not even the demotion: nothing replaces it yet */
    M[3].stable_since_ms = NOW - 10000;
    assert_int_equal(decide().kind, AUTOPILOT_DEMOTE);
    M[2].role = RAFT_SPARE;
    assert_int_equal(decide().kind, AUTOPILOT_PROMOTE);
}

static void test_unreachable_standby_is_not_promoted(void **state)
{
    (void)state;
    three_and_standby(20000, LAST, 20000);
    M[3].last_contact_ms = NOW - 1001; /* stale stable flag: health wins */
    assert_int_equal(decide().kind, AUTOPILOT_NONE);
}

static void test_two_dead_of_three_does_nothing(void **state)
{
    (void)state;
    three_and_standby(20000, LAST, 20000);
    M[1].last_contact_ms = NOW - 20000; /* voter 2 dead too: the leader alone is no quorum */
    assert_int_equal(decide().kind, AUTOPILOT_NONE);
    struct autopilot_params p = P;
    p.cleanup = true;
    p.cleanup_ms = 15000;
    assert_int_equal(decide_with(&p).kind, AUTOPILOT_NONE); /* not even cleanup */
    struct autopilot_summary s;
    struct autopilot_view v = view(false);
    autopilot_summarise(&P, &v, &s);
    assert_false(s.healthy);
    assert_int_equal(s.failure_tolerance, 0);
}

static void test_one_change_at_a_time(void **state)
{
    (void)state;
    three_and_standby(20000, LAST, 20000);
    struct autopilot_view v = view(true);
    assert_int_equal(autopilot_decide(&P, &v).kind, AUTOPILOT_NONE);
}

static void test_dead_voter_beyond_the_target_is_demoted(void **state)
{
    (void)state;
    three_and_standby(20000, LAST, 20000);
    M[3].role = RAFT_VOTER; /* 4 voters (an operator promoted the standby), 3 healthy */
    struct autopilot_action a = decide();
    assert_int_equal(a.kind, AUTOPILOT_DEMOTE);
    assert_int_equal(a.id, 3);
    M[2].role = RAFT_SPARE;
    assert_int_equal(decide().kind, AUTOPILOT_NONE);
}

/* 5 voters, two dead, one standby: both dead voters are demoted (a standby is there), then the
 * standby promoted: 4 healthy voters, one failure tolerated again. */
static void test_two_dead_of_five_with_one_standby(void **state)
{
    (void)state;
    add(1, RAFT_VOTER, 0, LAST, 50000);
    add(2, RAFT_VOTER, 50, LAST, 50000);
    add(3, RAFT_VOTER, 30000, LAST - 10, 0);
    add(4, RAFT_VOTER, 20000, LAST - 10, 0);
    add(5, RAFT_VOTER, 50, LAST, 50000);
    add(6, RAFT_STANDBY, 50, LAST, 50000);
    struct autopilot_params p = P;
    p.voters = 5;
    struct autopilot_action a = decide_with(&p);
    assert_int_equal(a.kind, AUTOPILOT_DEMOTE);
    assert_int_equal(a.id, 3); /* the longest dead first */
    M[2].role = RAFT_SPARE;
    a = decide_with(&p);
    assert_int_equal(a.kind, AUTOPILOT_DEMOTE);
    assert_int_equal(a.id, 4);
    M[3].role = RAFT_SPARE;
    a = decide_with(&p);
    assert_int_equal(a.kind, AUTOPILOT_PROMOTE);
    assert_int_equal(a.id, 6);
    M[5].role = RAFT_VOTER;
    assert_int_equal(decide_with(&p).kind, AUTOPILOT_NONE);
}

static void test_dead_voter_without_standby_is_kept(void **state)
{
    (void)state;
    add(1, RAFT_VOTER, 0, LAST, 50000);
    add(2, RAFT_VOTER, 50, LAST, 50000);
    add(3, RAFT_VOTER, 20000, LAST - 100, 0);
    assert_int_equal(decide().kind, AUTOPILOT_NONE);
}

static void test_the_leader_is_never_dead(void **state)
{
    (void)state;
    three_and_standby(0, LAST, 20000);
    M[0].last_contact_ms = 0; /* the leader's own entry: healthy by definition */
    assert_int_equal(autopilot_health(&P, &M[0], 1, LAST, NOW), AUTOPILOT_HEALTHY);
    assert_int_equal(decide().kind, AUTOPILOT_NONE);
}

static void test_cleanup_after_timeout(void **state)
{
    (void)state;
    struct autopilot_params p = P;
    p.cleanup = true;
    p.cleanup_ms = 60000;
    three_and_standby(59999, LAST, 20000);
    M[2].role = RAFT_SPARE; /* demoted earlier by this leader */
    M[3].role = RAFT_VOTER;
    assert_int_equal(decide_with(&p).kind, AUTOPILOT_NONE);
    M[2].last_contact_ms = NOW - 60000;
    struct autopilot_action a = decide_with(&p);
    assert_int_equal(a.kind, AUTOPILOT_REMOVE);
    assert_int_equal(a.id, 3);
    /* off: never removed */
    assert_int_equal(decide().kind, AUTOPILOT_NONE);
    /* an untracked spare (never seen replicating by this leader) is never removed */
    M[2].tracked = false;
    assert_int_equal(decide_with(&p).kind, AUTOPILOT_NONE);
    assert_int_equal(autopilot_health(&p, &M[2], 1, LAST, NOW), AUTOPILOT_UNKNOWN);
}

static void test_cleanup_of_a_voter_keeps_quorum(void **state)
{
    (void)state;
    struct autopilot_params p = P;
    p.cleanup = true;
    p.cleanup_ms = 60000;
    /* 3 voters, one dead for long, no standby: removing it leaves 2 healthy of 2 */
    add(1, RAFT_VOTER, 0, LAST, 50000);
    add(2, RAFT_VOTER, 50, LAST, 50000);
    add(3, RAFT_VOTER, 70000, LAST - 100, 0);
    struct autopilot_action a = decide_with(&p);
    assert_int_equal(a.kind, AUTOPILOT_REMOVE);
    assert_int_equal(a.id, 3);
    /* 5 voters, 2 dead for long, 1 more unreachable: 2 healthy of 5, no quorum: nothing */
    add(4, RAFT_VOTER, 70000, LAST, 0);
    add(5, RAFT_VOTER, 2000, LAST, 0);
    assert_int_equal(decide_with(&p).kind, AUTOPILOT_NONE);
}

static void test_fewer_voters_than_target_promotes(void **state)
{
    (void)state;
    add(1, RAFT_VOTER, 0, LAST, 50000);
    add(2, RAFT_VOTER, 50, LAST, 50000);
    add(3, RAFT_STANDBY, 50, LAST, 50000);
    assert_int_equal(decide().kind, AUTOPILOT_PROMOTE);
    struct autopilot_params p = P;
    p.voters = 2;
    assert_int_equal(decide_with(&p).kind, AUTOPILOT_NONE);
}

static void test_most_caught_up_standby_wins(void **state)
{
    (void)state;
    three_and_standby(20000, LAST - 10, 20000);
    add(5, RAFT_STANDBY, 40, LAST - 2, 20000);
    add(6, RAFT_STANDBY, 40, LAST - 2, 20000);
    assert_int_equal(decide().kind, AUTOPILOT_DEMOTE);
    M[2].role = RAFT_SPARE;
    struct autopilot_action a = decide();
    assert_int_equal(a.kind, AUTOPILOT_PROMOTE);
    assert_int_equal(a.id, 5);
}

static void test_observe_tracks_stability(void **state)
{
    (void)state;
    struct autopilot_member m = {.id = 4, .role = RAFT_STANDBY, .tracked = true, .last_contact_ms = 1000,
                                 .match_index = LAST};
    autopilot_observe(&P, &m, 1, LAST, 1500);
    assert_true(m.stable);
    assert_int_equal(m.stable_since_ms, 1500);
    autopilot_observe(&P, &m, 1, LAST, 1900);
    assert_int_equal(m.stable_since_ms, 1500); /* unbroken: unchanged */
    autopilot_observe(&P, &m, 1, LAST + 300, 1950); /* fell behind: the clock restarts */
    assert_false(m.stable);
    m.last_contact_ms = 2000;
    autopilot_observe(&P, &m, 1, LAST, 2100);
    assert_int_equal(m.stable_since_ms, 2100);
    autopilot_observe(&P, &m, 1, LAST, 3001); /* 1001 ms silent: unreachable */
    assert_false(m.stable);
    assert_int_equal(autopilot_health(&P, &m, 1, LAST, 3001), AUTOPILOT_UNREACHABLE);
    assert_int_equal(autopilot_health(&P, &m, 1, LAST, 12000), AUTOPILOT_DEAD);
    assert_string_equal(autopilot_health_name(AUTOPILOT_DEAD), "dead");
}

/* The model runs' start: a healthy cluster of 3 voters and a standby (3 not stable yet). */
static void model_start(void)
{
    three_and_standby(0, LAST, 50000);
    M[2].stable = false;
}

/* One leader tick of the model runs below at T: every member observed, the decided action (if
 * any) applied at once (never a removal), and the healthy voters still a quorum. */
static struct autopilot_action model_step(uint64_t t)
{
    struct autopilot_view v = {.members = M, .n = N, .leader_id = 1, .last_index = LAST, .now_ms = t};
    for (unsigned i = 0; i < N; i++) {
        autopilot_observe(&P, &M[i], 1, LAST, t);
    }
    struct autopilot_action a = autopilot_decide(&P, &v);
    for (unsigned i = 0; i < N && a.kind != AUTOPILOT_NONE; i++) {
        if (M[i].id == a.id) {
            assert_int_not_equal(a.kind, AUTOPILOT_REMOVE);
            M[i].role = a.kind == AUTOPILOT_PROMOTE ? RAFT_VOTER : a.kind == AUTOPILOT_READMIT ? RAFT_STANDBY : RAFT_SPARE;
            M[i].heard_as_spare = false;
        }
    }
    struct autopilot_summary s;
    autopilot_summarise(&P, &v, &s);
    assert_true(s.healthy_voters >= s.voters / 2 + 1);
    return a;
}

/* A small model run: from a healthy cluster, voter 3 dies; applying each decided action
 * (never two at once) ends with 3 healthy voters, voter 3 a spare, and the healthy voters a
 * quorum after every step. */
static void test_replacement_sequence_keeps_quorum(void **state)
{
    (void)state;
    unsigned actions = 0;
    model_start();
    for (uint64_t t = NOW; t < NOW + 60000; t += 50) {
        for (unsigned i = 0; i < N; i++) {
            if (M[i].id != 3) {
                M[i].last_contact_ms = t; /* everyone but 3 answers */
                M[i].match_index = LAST;
            }
        }
        actions += model_step(t).kind != AUTOPILOT_NONE;
    }
    assert_int_equal(actions, 2);
    assert_int_equal(M[2].role, RAFT_SPARE);
    assert_int_equal(M[3].role, RAFT_VOTER);
}

/* The leader heard from member M[I] SILENT ms before NOW while it was a spare. */
static void heard_as_spare(unsigned i, uint64_t silent)
{
    M[i].heard_as_spare = true;
    M[i].spare_contact_ms = NOW - silent;
    M[i].last_contact_ms = NOW - silent;
}

/* After a replacement (3 demoted, 4 a voter): voter 3 comes back, campaigning with its old
 * configuration; the leader hears from it as a spare and turns it back into a standby. */
static void replaced_and_back(uint64_t silent3)
{
    three_and_standby(30000, LAST, 50000);
    M[2].role = RAFT_SPARE;
    M[3].role = RAFT_VOTER;
    heard_as_spare(2, silent3);
}

static void test_returned_spare_is_readmitted(void **state)
{
    (void)state;
    replaced_and_back(200);
    assert_int_equal(autopilot_health(&P, &M[2], 1, LAST, NOW), AUTOPILOT_BACK);
    assert_string_equal(autopilot_health_name(AUTOPILOT_BACK), "back");
    struct autopilot_action a = decide();
    assert_int_equal(a.kind, AUTOPILOT_READMIT);
    assert_int_equal(a.id, 3);
    assert_non_null(a.reason);
    M[2].role = RAFT_STANDBY; /* done: a standby, far behind, not stable yet: nothing more */
    M[2].match_index = 10;
    M[2].stable = false;
    assert_int_equal(decide().kind, AUTOPILOT_NONE);
    /* readmit off: it stays a spare */
    M[2].role = RAFT_SPARE;
    struct autopilot_params p = P;
    p.readmit = false;
    assert_int_equal(decide_with(&p).kind, AUTOPILOT_NONE);
}

static void test_returned_spare_waits_for_a_change_in_flight(void **state)
{
    (void)state;
    replaced_and_back(200);
    struct autopilot_view v = view(true);
    assert_int_equal(autopilot_decide(&P, &v).kind, AUTOPILOT_NONE);
    /* nor without a healthy quorum of voters (nothing could commit) */
    M[1].last_contact_ms = NOW - 20000;
    M[3].last_contact_ms = NOW - 20000;
    assert_int_equal(decide().kind, AUTOPILOT_NONE);
}

static void test_spare_not_heard_from_stays_a_spare(void **state)
{
    (void)state;
    replaced_and_back(200);
    M[2].heard_as_spare = false; /* demoted and silent (dead or a spare with a current configuration) */
    assert_int_equal(decide().kind, AUTOPILOT_NONE);
    M[2].tracked = false; /* demoted under an earlier leader, never heard from */
    assert_int_equal(decide().kind, AUTOPILOT_NONE);
    /* heard from once, but not for the dead timeout: gone again */
    heard_as_spare(2, 10000);
    assert_int_equal(decide().kind, AUTOPILOT_NONE);
    assert_int_equal(autopilot_health(&P, &M[2], 1, LAST, NOW), AUTOPILOT_UNKNOWN); /* untracked, not heard lately */
    heard_as_spare(2, 9999);
    assert_int_equal(decide().kind, AUTOPILOT_READMIT);
}

/* A replacement comes first: a dead voter with a stable standby is demoted before a returned
 * spare is re-admitted; the promotion follows, then the re-admission. */
static void test_replacement_before_readmission(void **state)
{
    (void)state;
    three_and_standby(20000, LAST, 20000);
    add(5, RAFT_SPARE, 100, LAST - 500, 0);
    heard_as_spare(4, 100);
    struct autopilot_action a = decide();
    assert_int_equal(a.kind, AUTOPILOT_DEMOTE);
    assert_int_equal(a.id, 3);
    M[2].role = RAFT_SPARE;
    a = decide();
    assert_int_equal(a.kind, AUTOPILOT_PROMOTE);
    assert_int_equal(a.id, 4);
    M[3].role = RAFT_VOTER;
    a = decide();
    assert_int_equal(a.kind, AUTOPILOT_READMIT);
    assert_int_equal(a.id, 5);
}

/* The model run of a member that comes back: voter 3 dies and is replaced by standby 4; it
 * comes back, is re-admitted as a standby, catches up and becomes stable; then voter 2 dies for
 * good and 3 replaces it. The healthy voters are a quorum after every step. */
static void test_returned_member_replaces_the_next_dead_voter(void **state)
{
    (void)state;
    unsigned actions = 0;
    model_start();
    for (uint64_t t = NOW; t < NOW + 120000; t += 50) {
        bool back = t >= NOW + 30000, two_dead = t >= NOW + 70000;
        for (unsigned i = 0; i < N; i++) {
            if ((M[i].id == 3 && !back) || (M[i].id == 2 && two_dead)) {
                continue; /* silent */
            }
            M[i].last_contact_ms = t;
            if (M[i].role == RAFT_SPARE) {
                M[i].heard_as_spare = true; /* campaigning with its old configuration */
                M[i].spare_contact_ms = t;
            } else if (M[i].match_index < LAST) {
                M[i].match_index += 100; /* catching up */
            }
        }
        struct autopilot_action a = model_step(t);
        if (a.kind == AUTOPILOT_READMIT) {
            assert_int_equal(a.id, 3);
            assert_true(back && !two_dead);
            M[2].match_index = 0; /* far behind: it catches up from here */
        }
        actions += a.kind != AUTOPILOT_NONE;
    }
    assert_int_equal(actions, 5); /* demote 3, promote 4, readmit 3, demote 2, promote 3 */
    assert_int_equal(M[0].role, RAFT_VOTER);
    assert_int_equal(M[1].role, RAFT_SPARE);
    assert_int_equal(M[2].role, RAFT_VOTER);
    assert_int_equal(M[3].role, RAFT_VOTER);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_healthy_cluster_does_nothing, setup),
        cmocka_unit_test_setup(test_dead_voter_and_caught_up_standby_demote_then_promote, setup),
        cmocka_unit_test_setup(test_voter_not_dead_yet_does_nothing, setup),
        cmocka_unit_test_setup(test_lagging_standby_is_not_promoted, setup),
        cmocka_unit_test_setup(test_standby_not_stable_long_enough_waits, setup),
        cmocka_unit_test_setup(test_unreachable_standby_is_not_promoted, setup),
        cmocka_unit_test_setup(test_two_dead_of_three_does_nothing, setup),
        cmocka_unit_test_setup(test_one_change_at_a_time, setup),
        cmocka_unit_test_setup(test_dead_voter_beyond_the_target_is_demoted, setup),
        cmocka_unit_test_setup(test_two_dead_of_five_with_one_standby, setup),
        cmocka_unit_test_setup(test_dead_voter_without_standby_is_kept, setup),
        cmocka_unit_test_setup(test_the_leader_is_never_dead, setup),
        cmocka_unit_test_setup(test_cleanup_after_timeout, setup),
        cmocka_unit_test_setup(test_cleanup_of_a_voter_keeps_quorum, setup),
        cmocka_unit_test_setup(test_fewer_voters_than_target_promotes, setup),
        cmocka_unit_test_setup(test_most_caught_up_standby_wins, setup),
        cmocka_unit_test_setup(test_observe_tracks_stability, setup),
        cmocka_unit_test_setup(test_replacement_sequence_keeps_quorum, setup),
        cmocka_unit_test_setup(test_returned_spare_is_readmitted, setup),
        cmocka_unit_test_setup(test_returned_spare_waits_for_a_change_in_flight, setup),
        cmocka_unit_test_setup(test_spare_not_heard_from_stays_a_spare, setup),
        cmocka_unit_test_setup(test_replacement_before_readmission, setup),
        cmocka_unit_test_setup(test_returned_member_replaces_the_next_dead_voter, setup),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
