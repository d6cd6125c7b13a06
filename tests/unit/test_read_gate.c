/* Unit tests for raftnode/read_gate.c: when a restarted member answers plain reads again
 * (read_gate.h). Indexes are plain numbers: A is what the member applied before its kill, L
 * its local log's last index at start, the store holds less than A after a group-commit loss. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "raftnode/read_gate.h"

/* A gate after a start with the local log ending at LAST. */
static struct read_gate started(uint64_t last)
{
    struct read_gate g;
    read_gate_init(&g);
    read_gate_start(&g, last);
    return g;
}

static void test_closed_until_started(void **state)
{
    struct read_gate g;
    (void)state;
    read_gate_init(&g);
    assert_false(read_gate_check(&g, 0));
    assert_false(read_gate_check(&g, 1000));
    read_gate_leader(&g, 0, 5); /* before the log is loaded: no lowering below an unknown L */
    read_gate_start(&g, 10);
    assert_int_equal(g.target, 10);
    assert_int_equal(g.last_index, 10);
    assert_false(read_gate_check(&g, 9));
    assert_true(read_gate_check(&g, 10));
}

/* Applied 95 before the kill (A), the store lost 81..95 (group commit), the log holds up to 100. */
static void test_holds_until_the_local_log_is_applied(void **state)
{
    struct read_gate g = started(100);
    (void)state;
    assert_false(read_gate_check(&g, 80)); /* the store after the restart: older than A */
    assert_false(read_gate_check(&g, 95));
    assert_false(read_gate_check(&g, 99));
    assert_true(read_gate_check(&g, 100));
    assert_true(g.open);
}

static void test_stays_open(void **state)
{
    struct read_gate g = started(50);
    (void)state;
    assert_true(read_gate_check(&g, 60));
    read_gate_leader(&g, 10, 70); /* a hint changes nothing once open */
    assert_true(read_gate_check(&g, 60));
    assert_true(read_gate_check(&g, 0));
}

/* A new leader that does not yet know what is committed (its no-op barrier is not yet
 * committed) sends a commit index below its prev index: it must not open the gate early. */
static void test_lagging_leader_commit_is_ignored(void **state)
{
    struct read_gate g = started(100);
    (void)state;
    read_gate_leader(&g, 100, 90);
    assert_int_equal(g.target, 100);
    assert_false(read_gate_check(&g, 90));
    read_gate_leader(&g, 97, 96);
    assert_int_equal(g.target, 100);
    assert_false(g.hinted);
    assert_false(read_gate_check(&g, 99));
}

/* A deposed leader's uncommitted tail 101..120: the new leader's log ends at 100, all committed;
 * its heartbeat (prev 100, commit 100) lowers the target so a quiet cluster still opens. */
static void test_uncommitted_tail_opens_at_the_leaders_commit(void **state)
{
    struct read_gate g = started(120);
    (void)state;
    assert_false(read_gate_check(&g, 100));
    read_gate_leader(&g, 100, 100);
    assert_int_equal(g.target, 100);
    assert_false(read_gate_check(&g, 99));
    assert_true(read_gate_check(&g, 100));
}

/* The leader committed past L: the member must reach the leader's commit index, and later
 * hints (the commit index keeps moving under load) do not move the target again. */
static void test_first_hint_sets_the_target(void **state)
{
    struct read_gate g = started(120);
    (void)state;
    read_gate_leader(&g, 110, 150);
    assert_int_equal(g.target, 150);
    assert_true(g.hinted);
    read_gate_leader(&g, 140, 160);
    read_gate_leader(&g, 100, 100);
    assert_int_equal(g.target, 150);
    assert_false(read_gate_check(&g, 149));
    assert_true(read_gate_check(&g, 150));
}

/* Applied 95, but the kill came before the member's own append of 91..95 reached its disk
 * (libraft applies what the leader says is committed at once): L = 90 < A. The leader's
 * commit index, once a message shows it, still covers A. */
static void test_lost_log_tail_waits_for_the_leaders_commit(void **state)
{
    struct read_gate g = started(90);
    (void)state;
    read_gate_leader(&g, 90, 100);
    assert_int_equal(g.target, 100);
    assert_false(read_gate_check(&g, 90));
    assert_false(read_gate_check(&g, 95));
    assert_true(read_gate_check(&g, 100));
}

/* A member that joins with an empty log has served nothing: it is open at once. */
static void test_empty_log_is_open(void **state)
{
    struct read_gate g = started(0);
    (void)state;
    assert_true(read_gate_check(&g, 0));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_closed_until_started),
        cmocka_unit_test(test_holds_until_the_local_log_is_applied),
        cmocka_unit_test(test_stays_open),
        cmocka_unit_test(test_lagging_leader_commit_is_ignored),
        cmocka_unit_test(test_uncommitted_tail_opens_at_the_leaders_commit),
        cmocka_unit_test(test_first_hint_sets_the_target),
        cmocka_unit_test(test_lost_log_tail_waits_for_the_leaders_commit),
        cmocka_unit_test(test_empty_log_is_open),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
