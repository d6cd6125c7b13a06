/* Unit tests for raftnode/raft_fix.c: the rewrite of AppendEntries messages that reach below
 * the follower's snapshot (libraft 0.22.1 bug; seed 204214 of tests/sim replays the crash
 * it prevents). Entries are built the way libraft receives them: one raft_malloc'd batch for
 * every entry's data and one raft_malloc'd array, which libraft frees when entries remain. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "raftnode/raft_fix.h"

/* An AppendEntries carrying prev+1 .. prev+n, entry i's data = its index (8 bytes). */
static void make_ae(struct raft_message *m, raft_index prev, raft_term prev_term, unsigned n)
{
    memset(m, 0, sizeof *m);
    m->type = RAFT_APPEND_ENTRIES;
    m->append_entries.term = 3;
    m->append_entries.prev_log_index = prev;
    m->append_entries.prev_log_term = prev_term;
    m->append_entries.n_entries = n;
    if (n == 0) {
        return;
    }
    uint64_t *batch = raft_malloc(n * sizeof *batch);
    struct raft_entry *e = raft_malloc(n * sizeof *e);
    assert_non_null(batch);
    assert_non_null(e);
    for (unsigned i = 0; i < n; i++) {
        batch[i] = prev + 1 + i;
        e[i].term = 2;
        e[i].type = RAFT_COMMAND;
        e[i].buf.base = &batch[i];
        e[i].buf.len = sizeof batch[i];
        e[i].batch = batch;
    }
    m->append_entries.entries = e;
}

/* What libraft does with the message's memory afterwards (legacy.c recvCb + recv). */
static void release_like_libraft(struct raft_message *m)
{
    if (m->append_entries.n_entries > 0) {
        raft_free(m->append_entries.entries[0].batch);
        raft_free(m->append_entries.entries);
    }
}

static void test_message_above_the_snapshot_is_untouched(void **state)
{
    (void)state;
    struct raft_message m;
    int rewritten;
    make_ae(&m, 21, 2, 3);
    assert_int_equal(raft_fix_rewrite(&m, 21, 2, &rewritten), 0);
    assert_false(rewritten);
    assert_int_equal(m.append_entries.prev_log_index, 21);
    assert_int_equal(m.append_entries.n_entries, 3);
    release_like_libraft(&m);
}

static void test_no_snapshot_or_other_message_is_untouched(void **state)
{
    (void)state;
    struct raft_message m;
    int rewritten;
    make_ae(&m, 0, 0, 2);
    assert_int_equal(raft_fix_rewrite(&m, 0, 0, &rewritten), 0); /* no local snapshot */
    assert_false(rewritten);
    assert_int_equal(m.append_entries.n_entries, 2);
    release_like_libraft(&m);

    memset(&m, 0, sizeof m);
    m.type = RAFT_REQUEST_VOTE;
    assert_int_equal(raft_fix_rewrite(&m, 10, 1, &rewritten), 0);
    assert_false(rewritten);
}

/* The crash of seed 204214: snapshot at 21 (term 2), the leader sends 1..30 after prev 0. */
static void test_entries_up_to_the_snapshot_are_dropped(void **state)
{
    (void)state;
    struct raft_message m;
    int rewritten;
    make_ae(&m, 0, 0, 30);
    assert_int_equal(raft_fix_rewrite(&m, 21, 2, &rewritten), 21);
    assert_true(rewritten);
    assert_int_equal(m.append_entries.prev_log_index, 21);
    assert_int_equal(m.append_entries.prev_log_term, 2);
    assert_int_equal(m.append_entries.n_entries, 9);
    for (unsigned i = 0; i < 9; i++) { /* the remaining entries are 22..30, in order */
        assert_int_equal(*(uint64_t *)m.append_entries.entries[i].buf.base, 22 + i);
    }
    release_like_libraft(&m); /* entries[0].batch is still the batch: no leak under ASan */
}

static void test_message_entirely_below_the_snapshot_becomes_a_heartbeat(void **state)
{
    (void)state;
    struct raft_message m;
    int rewritten;
    make_ae(&m, 4, 1, 10); /* 5..14, snapshot at 21 */
    assert_int_equal(raft_fix_rewrite(&m, 21, 2, &rewritten), 10);
    assert_true(rewritten);
    assert_int_equal(m.append_entries.n_entries, 0);
    assert_null(m.append_entries.entries); /* freed by the rewrite */
    assert_int_equal(m.append_entries.prev_log_index, 21);
    assert_int_equal(m.append_entries.prev_log_term, 2);

    make_ae(&m, 3, 1, 0); /* a heartbeat probing below the snapshot */
    assert_int_equal(raft_fix_rewrite(&m, 21, 2, &rewritten), 0);
    assert_true(rewritten);
    assert_int_equal(m.append_entries.prev_log_index, 21);
}

static void test_message_ending_exactly_at_the_snapshot(void **state)
{
    (void)state;
    struct raft_message m;
    int rewritten;
    make_ae(&m, 20, 2, 1); /* just entry 21 */
    assert_int_equal(raft_fix_rewrite(&m, 21, 2, &rewritten), 1);
    assert_int_equal(m.append_entries.n_entries, 0);
    assert_int_equal(m.append_entries.prev_log_index, 21);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_message_above_the_snapshot_is_untouched),
        cmocka_unit_test(test_no_snapshot_or_other_message_is_untouched),
        cmocka_unit_test(test_entries_up_to_the_snapshot_are_dropped),
        cmocka_unit_test(test_message_entirely_below_the_snapshot_becomes_a_heartbeat),
        cmocka_unit_test(test_message_ending_exactly_at_the_snapshot),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
