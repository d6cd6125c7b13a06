/* Unit tests for raftnode/recover.c (--force-new-cluster) on a real libraft disk log in a
 * temporary directory: the configuration written, the term jump, the record file, the no-op
 * second run, the refusal once members have joined, and the refusals of an empty log and of a
 * member absent from its own configuration. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <raft.h>
#include <raft/uv.h>
#include <uv.h>

#include "raftnode/marker.h"
#include "raftnode/recover.h"

struct member {
    uv_loop_t loop;
    struct raft_uv_transport transport;
    struct raft_io io;
    struct raft_fsm fsm;
    struct raft raft;
    char dir[256];      /* raft.data-dir */
    char raft_dir[300]; /* its raft/ */
};

static int fsm_apply(struct raft_fsm *fsm, const struct raft_buffer *buf, void **result)
{
    (void)fsm;
    (void)buf;
    *result = NULL;
    return 0;
}

static void member_open(struct member *m, const char *dir, raft_id id)
{
    char addr[32];
    memset(m, 0, sizeof *m);
    snprintf(m->dir, sizeof m->dir, "%s", dir);
    snprintf(m->raft_dir, sizeof m->raft_dir, "%s/raft", dir);
    mkdir(m->raft_dir, 0700);
    snprintf(addr, sizeof addr, "127.0.0.1:%u", (unsigned)(9000 + id));
    assert_int_equal(uv_loop_init(&m->loop), 0);
    m->transport.version = 1; /* version fields before init (libraft 0.22) */
    assert_int_equal(raft_uv_tcp_init(&m->transport, &m->loop), 0);
    assert_int_equal(raft_uv_init(&m->io, &m->loop, m->raft_dir, &m->transport), 0);
    m->fsm.version = 1;
    m->fsm.apply = fsm_apply;
    assert_int_equal(raft_init(&m->raft, &m->io, &m->fsm, id, addr), 0);
}

static void closed(struct raft *r)
{
    (void)r;
}

static void member_close(struct member *m)
{
    raft_close(&m->raft, closed);
    uv_run(&m->loop, UV_RUN_DEFAULT);
    raft_uv_close(&m->io);
    raft_uv_tcp_close(&m->transport);
    uv_run(&m->loop, UV_RUN_DEFAULT);
    assert_int_equal(uv_loop_close(&m->loop), 0);
}

/* The last configuration of the log in M (RAFT_CHANGE entry or snapshot) and the term. */
static void last_configuration(struct member *m, struct raft_configuration *conf, raft_term *term)
{
    struct raft_snapshot *snap = NULL;
    struct raft_entry *entries = NULL;
    raft_index start = 0;
    raft_id voted = 0;
    size_t n = 0;
    void *batch = NULL;

    assert_int_equal(m->io.load(&m->io, term, &voted, &snap, &start, &entries, &n), 0);
    assert_null(snap);
    raft_configuration_init(conf);
    for (size_t i = n; i-- > 0;) {
        if (entries[i].type == RAFT_CHANGE) {
            assert_int_equal(raft_configuration_decode(&entries[i].buf, conf), 0);
            break;
        }
    }
    for (size_t i = 0; i < n; i++) {
        if (entries[i].batch != batch) {
            batch = entries[i].batch;
            raft_free(batch);
        }
    }
    raft_free(entries);
}

static void bootstrap(const char *dir, raft_id self, unsigned n_members)
{
    struct member m;
    struct raft_configuration conf;
    char addr[32];

    member_open(&m, dir, self);
    raft_configuration_init(&conf);
    for (unsigned i = 1; i <= n_members; i++) {
        snprintf(addr, sizeof addr, "127.0.0.1:%u", 9000 + i);
        assert_int_equal(raft_configuration_add(&conf, i, addr, RAFT_VOTER), 0);
    }
    assert_int_equal(raft_bootstrap(&m.raft, &conf), 0);
    raft_configuration_close(&conf);
    member_close(&m);
}

static int force(const char *dir, raft_id id)
{
    struct member m;
    char addr[32];
    int rv;

    snprintf(addr, sizeof addr, "127.0.0.1:%u", (unsigned)(9000 + id));
    member_open(&m, dir, id);
    rv = recover_force_new_cluster(&m.raft, &m.io, id, addr, dir);
    member_close(&m);
    return rv;
}

/* The last configuration in DIR's log has WANT_N voters, FIRST_ID first, and the term is
 * WANT_TERM. */
static void check_log(const char *dir, unsigned want_n, raft_id first_id, raft_term want_term)
{
    struct member m;
    struct raft_configuration conf;
    raft_term term = 0;

    member_open(&m, dir, first_id);
    last_configuration(&m, &conf, &term);
    assert_int_equal(conf.n, want_n);
    assert_int_equal(conf.servers[0].id, first_id);
    assert_int_equal(conf.servers[0].role, RAFT_VOTER);
    assert_int_equal(term, want_term);
    raft_configuration_close(&conf);
    member_close(&m);
}

static char *make_tmp(void)
{
    char tmpl[] = "/tmp/test_recover.XXXXXX";
    char *d = mkdtemp(tmpl);
    assert_non_null(d);
    return strdup(d);
}

static void remove_tree(const char *dir)
{
    char cmd[512];
    snprintf(cmd, sizeof cmd, "rm -rf -- '%s'", dir);
    assert_int_equal(system(cmd), 0);
}

static void test_survivor_becomes_only_voter_once(void **state)
{
    char *dir = make_tmp();
    char text[512], err[256];
    (void)state;

    bootstrap(dir, 1, 3);
    assert_int_equal(force(dir, 1), 0);
    check_log(dir, 1, 1, 1001); /* bootstrap's term 1 raised by RECOVER_TERM_JUMP */
    assert_int_equal(marker_read(dir, RECOVER_MARKER, text, sizeof text, err, sizeof err), 1);
    assert_non_null(strstr(text, "index=2\n"));
    assert_non_null(strstr(text, "2=127.0.0.1:9002 3=127.0.0.1:9003"));

    /* a second run before anyone joined: nothing to do, nothing changes (no second jump) */
    assert_int_equal(force(dir, 1), 0);
    check_log(dir, 1, 1, 1001);
    remove_tree(dir);
    free(dir);
}

static void test_refused_once_members_joined(void **state)
{
    char *dir = make_tmp();
    struct member m;
    struct raft_configuration conf;
    (void)state;

    bootstrap(dir, 1, 3);
    assert_int_equal(force(dir, 1), 0);
    /* members 4 and 5 join: a newer configuration in the log */
    member_open(&m, dir, 1);
    raft_configuration_init(&conf);
    assert_int_equal(raft_configuration_add(&conf, 1, "127.0.0.1:9001", RAFT_VOTER), 0);
    assert_int_equal(raft_configuration_add(&conf, 4, "127.0.0.1:9004", RAFT_VOTER), 0);
    assert_int_equal(raft_configuration_add(&conf, 5, "127.0.0.1:9005", RAFT_VOTER), 0);
    assert_int_equal(raft_recover(&m.raft, &conf), 0);
    raft_configuration_close(&conf);
    member_close(&m);

    assert_int_equal(force(dir, 1), -1);
    check_log(dir, 3, 1, 1001); /* untouched */
    remove_tree(dir);
    free(dir);
}

static void test_refused_for_a_member_not_in_its_configuration(void **state)
{
    char *dir = make_tmp();
    (void)state;

    bootstrap(dir, 1, 3);
    assert_int_equal(force(dir, 9), -1);
    check_log(dir, 3, 1, 1); /* untouched: bootstrap's configuration and term */
    remove_tree(dir);
    free(dir);
}

static void test_refused_on_an_empty_log(void **state)
{
    char *dir = make_tmp();
    char text[64], err[256];
    (void)state;

    assert_int_equal(force(dir, 1), -1);
    assert_int_equal(marker_read(dir, RECOVER_MARKER, text, sizeof text, err, sizeof err), 0);
    remove_tree(dir);
    free(dir);
}

static void test_marker_round_trip(void **state)
{
    char *dir = make_tmp();
    char text[8], err[256];
    (void)state;

    assert_int_equal(marker_read(dir, "absent", text, sizeof text, err, sizeof err), 0);
    assert_int_equal(marker_write(dir, "m", "0123456789\n", err, sizeof err), 0);
    assert_int_equal(marker_read(dir, "m", text, sizeof text, err, sizeof err), 1);
    assert_string_equal(text, "0123456"); /* truncated to the buffer */
    assert_int_equal(marker_write("/nonexistent/dir", "m", "x", err, sizeof err), -1);
    assert_non_null(strstr(err, "/nonexistent/dir/m.tmp"));
    remove_tree(dir);
    free(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_survivor_becomes_only_voter_once),
        cmocka_unit_test(test_refused_once_members_joined),
        cmocka_unit_test(test_refused_for_a_member_not_in_its_configuration),
        cmocka_unit_test(test_refused_on_an_empty_log),
        cmocka_unit_test(test_marker_round_trip),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
