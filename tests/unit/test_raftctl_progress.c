/* Unit tests of raftctl's rebalance progress line (tools/raftctl_progress.c): the
 * "rebalance.status" result is parsed strictly (wrong types, missing fields, counts that do not
 * add up are refused), numbers get thousands separators, the line's wording, and the poller
 * thread starts and stops promptly against an endpoint nobody answers. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/mp.h"
#include "tools/raftctl_progress.h"

/* Parses the map {"running": RUNNING, "planned": P, "applied": A, "failed": F}, with field
 * SKIP (0..3, or -1 for none) left out, through raftctl_progress_parse. */
static int parse_fields(bool running, uint64_t p, uint64_t a, uint64_t f, int skip, struct rebalance_progress *out)
{
    msgpack_sbuffer sb;
    msgpack_packer pk;
    msgpack_unpacked u;
    int rc;

    msgpack_sbuffer_init(&sb);
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    msgpack_pack_map(&pk, skip >= 0 ? 3 : 4);
    if (skip != 0) {
        mp_pack_kv_bool(&pk, "running", running);
    }
    if (skip != 1) {
        mp_pack_kv_u64(&pk, "planned", p);
    }
    if (skip != 2) {
        mp_pack_kv_u64(&pk, "applied", a);
    }
    if (skip != 3) {
        mp_pack_kv_u64(&pk, "failed", f);
    }
    msgpack_unpacked_init(&u);
    assert_int_equal(msgpack_unpack_next(&u, sb.data, sb.size, NULL), MSGPACK_UNPACK_SUCCESS);
    rc = raftctl_progress_parse(&u.data, out);
    msgpack_unpacked_destroy(&u);
    msgpack_sbuffer_destroy(&sb);
    return rc;
}

static void test_parse(void **state)
{
    struct rebalance_progress p;
    (void)state;
    assert_int_equal(parse_fields(true, 5000, 1024, 3, -1, &p), 0);
    assert_true(p.running);
    assert_int_equal(p.planned, 5000);
    assert_int_equal(p.applied, 1024);
    assert_int_equal(p.failed, 3);
    assert_int_equal(parse_fields(false, 0, 0, 0, -1, &p), 0);
    assert_false(p.running);
    for (int skip = 0; skip < 4; skip++) {
        assert_int_equal(parse_fields(true, 10, 1, 1, skip, &p), -1);
    }
    assert_int_equal(parse_fields(true, 10, 11, 0, -1, &p), -1); /* more applied than planned */
    assert_int_equal(parse_fields(true, 10, 6, 5, -1, &p), -1);  /* applied + failed > planned */
    assert_int_equal(parse_fields(true, 10, 5, 5, -1, &p), 0);
    assert_int_equal(raftctl_progress_parse(NULL, &p), -1);

    msgpack_object not_map = {.type = MSGPACK_OBJECT_POSITIVE_INTEGER, .via.u64 = 3};
    assert_int_equal(raftctl_progress_parse(&not_map, &p), -1);

    /* a field of another type */
    msgpack_sbuffer sb;
    msgpack_packer pk;
    msgpack_unpacked u;
    msgpack_sbuffer_init(&sb);
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    msgpack_pack_map(&pk, 4);
    mp_pack_kv_bool(&pk, "running", true);
    mp_pack_kv_str(&pk, "planned", "5000");
    mp_pack_kv_u64(&pk, "applied", 1);
    mp_pack_kv_u64(&pk, "failed", 0);
    msgpack_unpacked_init(&u);
    assert_int_equal(msgpack_unpack_next(&u, sb.data, sb.size, NULL), MSGPACK_UNPACK_SUCCESS);
    assert_int_equal(raftctl_progress_parse(&u.data, &p), -1);
    msgpack_unpacked_destroy(&u);
    msgpack_sbuffer_destroy(&sb);
}

static void test_thousands(void **state)
{
    char b[32];
    (void)state;
    assert_string_equal(raftctl_thousands(0, b, sizeof b), "0");
    assert_string_equal(raftctl_thousands(999, b, sizeof b), "999");
    assert_string_equal(raftctl_thousands(1000, b, sizeof b), "1,000");
    assert_string_equal(raftctl_thousands(1024, b, sizeof b), "1,024");
    assert_string_equal(raftctl_thousands(100000, b, sizeof b), "100,000");
    assert_string_equal(raftctl_thousands(1234567, b, sizeof b), "1,234,567");
    assert_string_equal(raftctl_thousands(UINT64_MAX, b, sizeof b), "18,446,744,073,709,551,615");
    assert_string_equal(raftctl_thousands(1234567, b, 4), "1,2"); /* cut, still terminated */
    assert_string_equal(raftctl_thousands(1234567, b, 1), "");
}

static void test_format(void **state)
{
    char line[160];
    struct rebalance_progress p = {true, 5000, 1024, 0};
    (void)state;
    raftctl_progress_format(&p, line, sizeof line);
    assert_string_equal(line, "rebalance: 1,024 of 5,000 moves applied");
    p.failed = 3;
    raftctl_progress_format(&p, line, sizeof line);
    assert_string_equal(line, "rebalance: 1,024 of 5,000 moves applied, 3 refused");
    raftctl_progress_format(&p, line, 12);
    assert_string_equal(line, "rebalance: ");
}

static void test_poller_start_stop(void **state)
{
    struct raftctl_poller p;
    const char endpoints[2][CLIENT_ENDPOINT_MAX] = {"127.0.0.1:1", "not an endpoint"};
    (void)state;
    assert_int_equal(raftctl_poller_start(&p, endpoints, 0, 100), -1);
    assert_false(p.started);
    raftctl_poller_stop(&p); /* nothing started: a no-op */
    assert_int_equal(raftctl_poller_start(&p, endpoints, 2, 100), 0);
    assert_true(p.started);
    raftctl_poller_stop(&p); /* wakes the thread at once and joins it */
    assert_false(p.started);
    assert_int_equal(p.polls, 0);
    assert_int_equal(p.lines, 0);
    raftctl_poller_stop(&p); /* idempotent */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse),
        cmocka_unit_test(test_thousands),
        cmocka_unit_test(test_format),
        cmocka_unit_test(test_poller_start_stop),
    };
    return cmocka_run_group_tests_name("raftctl_progress", tests, NULL, NULL);
}
