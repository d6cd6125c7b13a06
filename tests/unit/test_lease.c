/* Unit tests for raftnode/lease.c: the engine's lease rules (deadline, ack gate, hand-over
 * grace) that raftnode/engine.c and the simulation share. Times are plain numbers here. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "raftnode/lease.h"

static struct lease L;

static int setup(void **state)
{
    (void)state;
    lease_init(&L);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    lease_free(&L); /* ASan reports grace names left behind */
    return 0;
}

static void test_never_acknowledged_is_not_valid(void **state)
{
    (void)state;
    assert_false(lease_valid(&L, 0));
    assert_false(lease_valid(&L, 1000));
}

static void test_ack_of_applied_state_extends_at_once(void **state)
{
    (void)state;
    assert_true(lease_ack(&L, 10, 5000, 10));
    assert_true(lease_valid(&L, 4999));
    assert_false(lease_valid(&L, 5000));
    /* an older acknowledgement arriving late never shortens it */
    assert_true(lease_ack(&L, 9, 4000, 12));
    assert_int_equal(L.deadline, 5000);
}

static void test_ack_gate_waits_for_the_member_to_apply(void **state)
{
    (void)state;
    assert_false(lease_ack(&L, 20, 5000, 19));
    assert_false(lease_valid(&L, 100));
    assert_int_equal(L.gated, 1);
    assert_int_equal(lease_applied(&L, 19), 0);
    assert_false(lease_valid(&L, 100));
    assert_int_equal(lease_applied(&L, 20), 1);
    assert_true(lease_valid(&L, 100));
    assert_int_equal(L.deadline, 5000);
    assert_int_equal(L.n_pending, 0);
}

static void test_applied_releases_only_what_it_covers(void **state)
{
    (void)state;
    assert_false(lease_ack(&L, 30, 3000, 10));
    assert_false(lease_ack(&L, 20, 2000, 10));
    assert_int_equal(lease_applied(&L, 25), 1);
    assert_int_equal(L.deadline, 2000);
    assert_int_equal(lease_applied(&L, 30), 1);
    assert_int_equal(L.deadline, 3000);
}

static void test_full_gate_keeps_the_longest_leases(void **state)
{
    (void)state;
    for (unsigned i = 0; i < LEASE_PENDING_MAX; i++) {
        assert_false(lease_ack(&L, 100 + i, 1000 + i, 0));
    }
    assert_false(lease_ack(&L, 200, 500, 0)); /* shorter than all kept: dropped */
    assert_int_equal(L.n_pending, LEASE_PENDING_MAX);
    assert_false(lease_ack(&L, 201, 9000, 0)); /* replaces the shortest (1000) */
    assert_int_equal(L.n_pending, LEASE_PENDING_MAX);
    assert_int_equal(lease_applied(&L, 1000), LEASE_PENDING_MAX);
    assert_int_equal(L.deadline, 9000);
}

static void test_handover_grace_is_per_project(void **state)
{
    (void)state;
    assert_int_equal(lease_handover(&L, "p1", 2, 1100, 100), 0);
    assert_int_equal(lease_grace_until(&L, "p1", 2, 200), 1100);
    assert_int_equal(lease_grace_until(&L, "p2", 2, 200), 0);
    assert_int_equal(lease_grace_until(&L, "p", 1, 200), 0);  /* a prefix is another project */
    assert_int_equal(lease_grace_until(&L, "p1", 2, 1100), 0); /* ended: forgotten */
    assert_int_equal(L.handovers, 1);
}

static void test_later_handover_of_the_same_project_wins(void **state)
{
    (void)state;
    assert_int_equal(lease_handover(&L, "p1", 2, 1100, 100), 0);
    assert_int_equal(lease_handover(&L, "p1", 2, 1600, 600), 0);
    assert_int_equal(lease_grace_until(&L, "p1", 2, 1200), 1600);
}

static void test_grace_all_covers_every_project(void **state)
{
    (void)state;
    lease_grace_all(&L, 2000);
    assert_int_equal(lease_grace_until(&L, "anything", 8, 10), 2000);
    lease_grace_all(&L, 1500); /* never shortened */
    assert_int_equal(L.grace_all_until, 2000);
    assert_int_equal(lease_handover(&L, "p1", 2, 2500, 1500), 0);
    assert_int_equal(lease_grace_until(&L, "p1", 2, 1600), 2500);
    assert_int_equal(lease_grace_until(&L, "p2", 2, 1600), 2000);
}

static void test_many_handovers_reuse_ended_room(void **state)
{
    (void)state;
    char name[16];
    /* 10,000 hand-overs, 100 time units apart, each graced for 1,000: at most ~10 live */
    for (unsigned i = 0; i < 10000; i++) {
        int n = snprintf(name, sizeof name, "p%u", i);
        uint64_t now = 100ull * i;
        assert_int_equal(lease_handover(&L, name, (size_t)n, now + 1000, now), 0);
        if (i >= 5) {
            n = snprintf(name, sizeof name, "p%u", i - 5);
            assert_int_equal(lease_grace_until(&L, name, (size_t)n, now), now - 500 + 1000);
        }
    }
    assert_true(L.grace_cap <= 128);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_never_acknowledged_is_not_valid, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ack_of_applied_state_extends_at_once, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ack_gate_waits_for_the_member_to_apply, setup, teardown),
        cmocka_unit_test_setup_teardown(test_applied_releases_only_what_it_covers, setup, teardown),
        cmocka_unit_test_setup_teardown(test_full_gate_keeps_the_longest_leases, setup, teardown),
        cmocka_unit_test_setup_teardown(test_handover_grace_is_per_project, setup, teardown),
        cmocka_unit_test_setup_teardown(test_later_handover_of_the_same_project_wins, setup, teardown),
        cmocka_unit_test_setup_teardown(test_grace_all_covers_every_project, setup, teardown),
        cmocka_unit_test_setup_teardown(test_many_handovers_reuse_ended_room, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
