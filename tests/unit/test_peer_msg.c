/* Unit tests for raftnode/peer_msg.c: the framing checks the peer transport runs before libraft
 * decodes a byte. Messages are built here the way libraft 0.22.1's uvEncodeMessage and
 * uvTcpEncodeHandshake build them; issue 12's attacks are spelled out as bytes. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "raftnode/peer_msg.h"

#define MAX_BYTES PEER_MSG_DEFAULT_MAX_BYTES

struct wire {
    uint8_t b[4096];
    size_t n;
};

static void put64(struct wire *w, uint64_t v)
{
    for (int i = 0; i < 8; i++) {
        w->b[w->n++] = (uint8_t)(v >> (8 * i));
    }
}

static void put8(struct wire *w, uint8_t v)
{
    w->b[w->n++] = v;
}

static void put_bytes(struct wire *w, const void *p, size_t n)
{
    memcpy(w->b + w->n, p, n);
    w->n += n;
}

static void pad8(struct wire *w, size_t from)
{
    while ((w->n - from) % 8 != 0) {
        put8(w, 0);
    }
}

/* Preamble of TYPE with VERSION and header length HLEN. */
static void preamble(struct wire *w, uint8_t type, uint8_t version, uint64_t hlen)
{
    put8(w, type);
    put8(w, 0);
    put8(w, version);
    put8(w, 0);
    for (int i = 0; i < 4; i++) {
        put8(w, 0);
    }
    put64(w, hlen);
}

static void request_vote(struct wire *w, uint64_t term, uint64_t flags)
{
    preamble(w, 3, 2, 40);
    put64(w, term);
    put64(w, 2);  /* candidate */
    put64(w, 10); /* last log index */
    put64(w, 3);  /* last log term */
    put64(w, flags);
}

static void configuration(struct wire *w)
{
    size_t from = w->n;
    put8(w, 1);
    put64(w, 2);
    put64(w, 1);
    put_bytes(w, "127.0.0.1:7101", 15);
    put8(w, 1);
    put64(w, 2);
    put_bytes(w, "127.0.0.1:7102", 15);
    put8(w, 1);
    pad8(w, from);
}

/* AppendEntries with N entries of 16 bytes each (the last one a configuration when CHANGE). */
static void append_entries(struct wire *w, uint64_t term, unsigned n, int change)
{
    struct wire conf = {.n = 0};
    configuration(&conf);
    preamble(w, 1, 0, 48 + 16 * (uint64_t)n);
    put64(w, term);
    put64(w, 5);
    put64(w, term);
    put64(w, 5);
    put64(w, n);
    for (unsigned i = 0; i < n; i++) {
        int is_change = change && i + 1 == n;
        put64(w, term);
        put8(w, is_change ? 3 : 1);
        put8(w, 0);
        put8(w, 0);
        put8(w, 0);
        uint32_t len = is_change ? (uint32_t)conf.n : 16;
        for (int k = 0; k < 4; k++) {
            put8(w, (uint8_t)(len >> (8 * k)));
        }
    }
    put64(w, 0);
    for (unsigned i = 0; i < n; i++) {
        if (change && i + 1 == n) {
            put_bytes(w, conf.b, conf.n);
        } else {
            put64(w, 0xabcdef);
            put64(w, i);
        }
    }
}

static void install_snapshot(struct wire *w, uint64_t data_len)
{
    struct wire conf = {.n = 0};
    configuration(&conf);
    preamble(w, 5, 0, 56 + conf.n);
    put64(w, 4);
    put64(w, 100);
    put64(w, 4);
    put64(w, 1);
    put64(w, conf.n);
    put_bytes(w, conf.b, conf.n);
    put64(w, data_len);
    put64(w, 0);
    for (uint64_t i = 0; i < data_len; i++) {
        put8(w, (uint8_t)i);
    }
}

static void handshake(struct wire *w, uint64_t protocol, uint64_t id, const char *address)
{
    size_t len = strlen(address) + 1, padded = (len + 7) / 8 * 8;
    put64(w, protocol);
    put64(w, id);
    put64(w, padded);
    put_bytes(w, address, len);
    for (size_t i = len; i < padded; i++) {
        put8(w, 0);
    }
}

static int check(const struct wire *w, size_t *need, char *why)
{
    return peer_msg_check(w->b, w->n, MAX_BYTES, need, why, 200);
}

/* A good message passes at its exact length, asks for more at every shorter length, and a copy
 * followed by more bytes still passes with the same length. */
static void assert_good(const struct wire *w)
{
    char why[200] = "";
    size_t need = 0;
    assert_int_equal(check(w, &need, why), PEER_MSG_OK);
    assert_int_equal(need, w->n);
    for (size_t cut = 0; cut < w->n; cut++) {
        size_t n2 = 0;
        assert_int_equal(peer_msg_check(w->b, cut, MAX_BYTES, &n2, why, sizeof why), PEER_MSG_MORE);
        assert_true(n2 > cut && n2 <= w->n);
    }
}

static void assert_bad(const struct wire *w, const char *what)
{
    char why[200] = "";
    size_t need = 0;
    int rv = check(w, &need, why);
    if (rv != PEER_MSG_BAD) {
        fail_msg("expected \"%s\", got %d (need %zu of %zu)", what, rv, need, w->n);
    }
    if (strstr(why, what) == NULL) {
        fail_msg("why \"%s\" does not say \"%s\"", why, what);
    }
}

static void test_good_messages_of_every_type_pass(void **state)
{
    struct wire w = {.n = 0};
    (void)state;
    request_vote(&w, 7, 1);
    assert_good(&w);

    w.n = 0;
    preamble(&w, 4, 2, 24); /* RequestVoteResult */
    put64(&w, 7);
    put64(&w, 1);
    put64(&w, 0x0000000100010001ull);
    assert_good(&w);

    w.n = 0;
    preamble(&w, 2, 2, 32); /* AppendEntriesResult */
    put64(&w, 7);
    put64(&w, 0);
    put64(&w, 12);
    put64(&w, 0x10001);
    assert_good(&w);

    w.n = 0;
    preamble(&w, 6, 0, 24); /* TimeoutNow */
    put64(&w, 7);
    put64(&w, 12);
    put64(&w, 7);
    assert_good(&w);

    w.n = 0;
    append_entries(&w, 7, 0, 0); /* heartbeat */
    assert_good(&w);
    w.n = 0;
    append_entries(&w, 7, 3, 0);
    assert_good(&w);
    w.n = 0;
    append_entries(&w, 7, 2, 1);
    assert_good(&w);
    w.n = 0;
    install_snapshot(&w, 24);
    assert_good(&w);
}

static void test_two_messages_in_one_buffer_are_cut_at_the_first(void **state)
{
    struct wire w = {.n = 0};
    size_t need = 0, first;
    char why[200];
    (void)state;
    append_entries(&w, 7, 2, 0);
    first = w.n;
    request_vote(&w, 8, 0);
    assert_int_equal(check(&w, &need, why), PEER_MSG_OK);
    assert_int_equal(need, first);
    assert_int_equal(peer_msg_check(w.b + first, w.n - first, MAX_BYTES, &need, why, sizeof why),
                     PEER_MSG_OK);
    assert_int_equal(need, w.n - first);
}

/* Issue 12: a RequestVote with term 2^64-1 and "disrupt leader" (after a handshake claiming
 * id 2) left every member at that term for good. */
static void test_request_vote_with_term_near_2_64_is_refused(void **state)
{
    struct wire w = {.n = 0};
    size_t need = 0, hs;
    uint64_t id = 0;
    const char *address = NULL;
    char why[200];
    (void)state;
    handshake(&w, 1, 2, "10.0.0.9:7102");
    hs = w.n;
    assert_int_equal(peer_hs_check(w.b, w.n, &need, &id, &address, why, sizeof why), PEER_MSG_OK);
    assert_int_equal(need, hs);
    assert_int_equal(id, 2);
    assert_string_equal(address, "10.0.0.9:7102");
    request_vote(&w, UINT64_MAX, 1);
    assert_int_equal(peer_msg_check(w.b + hs, w.n - hs, MAX_BYTES, &need, why, sizeof why), PEER_MSG_BAD);
    assert_non_null(strstr(why, "RequestVote: term 18446744073709551615"));
    w.n = 0;
    request_vote(&w, PEER_MSG_MAX_TERM, 1);
    assert_good(&w);
}

/* Issue 12: an AppendEntries header claiming 50,000,000 entries crashed libraft. */
static void test_append_entries_claiming_50_million_entries_is_refused(void **state)
{
    struct wire w = {.n = 0};
    (void)state;
    append_entries(&w, 7, 1, 0);
    memset(w.b + 16 + 32, 0, 8);
    w.b[16 + 32] = (uint8_t)(50000000u & 0xff);
    w.b[16 + 33] = (uint8_t)((50000000u >> 8) & 0xff);
    w.b[16 + 34] = (uint8_t)((50000000u >> 16) & 0xff);
    w.b[16 + 35] = (uint8_t)((50000000u >> 24) & 0xff);
    assert_bad(&w, "50000000 entries claimed");

    /* the same count with a header long enough for it: refused before it is read */
    w.n = 0;
    preamble(&w, 1, 0, 48 + 16ull * 50000000);
    assert_bad(&w, "AppendEntries: header of");
}

/* Issue 12: a forged AppendEntries with term +1000 ended in a double free: with a well-formed
 * frame it passes the framing check (only peer TLS keeps it out); malformed variants don't. */
static void test_append_entries_variants(void **state)
{
    struct wire w = {.n = 0};
    (void)state;
    append_entries(&w, 1007, 1, 0);
    assert_good(&w);

    w.n = 0;
    append_entries(&w, 7, 2, 0);
    w.b[16 + 40 + 8] = 9; /* first entry's type */
    assert_bad(&w, "entry 0 of type 9");

    w.n = 0;
    append_entries(&w, 7, 2, 0);
    w.b[16 + 40 + 12] = 13; /* first entry's length: not a multiple of 8 */
    assert_bad(&w, "entry 0 of 13 bytes");

    w.n = 0;
    append_entries(&w, 7, 1, 0);
    memset(w.b + 16 + 40 + 12, 0, 4); /* zero-length entry */
    assert_bad(&w, "entry 0 of 0 bytes");

    w.n = 0;
    append_entries(&w, 7, 1, 0);
    memset(w.b + 16 + 40, 0, 8); /* entry term 0 */
    assert_bad(&w, "entry 0 of term 0");

    w.n = 0;
    append_entries(&w, 7, 1, 0);
    w.b[16 + 40 + 15] = 0x7f; /* entry of ~2 GiB: over the limit */
    assert_bad(&w, "entries of more than");

    w.n = 0;
    append_entries(&w, 7, 2, 1);
    w.b[w.n - 64] = 0; /* the configuration entry's format byte (57 bytes padded to 64, last) */
    assert_bad(&w, "configuration of");

    w.n = 0;
    preamble(&w, 1, 0, 40); /* shorter than the fixed part */
    assert_bad(&w, "AppendEntries: header of 40 bytes");
}

/* Issue 12: a RequestVote whose header is 1 byte long made libraft read past the buffer. */
static void test_truncated_and_oversized_headers_are_refused(void **state)
{
    struct wire w = {.n = 0};
    static const struct {
        uint8_t type;
        uint64_t good;
    } fixed[] = {{2, 32}, {3, 40}, {4, 24}, {6, 24}};
    (void)state;
    preamble(&w, 3, 2, 1);
    put8(&w, 0xff);
    assert_bad(&w, "RequestVote: header of 1 bytes, expected 40");

    for (size_t i = 0; i < sizeof fixed / sizeof fixed[0]; i++) {
        uint64_t lens[] = {0, 1, 8, fixed[i].good - 8, fixed[i].good + 8, UINT64_MAX};
        for (size_t k = 0; k < sizeof lens / sizeof lens[0]; k++) {
            w.n = 0;
            preamble(&w, fixed[i].type, 2, lens[k]);
            assert_bad(&w, "header of");
        }
    }
    w.n = 0;
    preamble(&w, 5, 0, UINT64_MAX);
    assert_bad(&w, "InstallSnapshot: header of");
}

static void test_unknown_types_and_preamble_flags_are_refused(void **state)
{
    struct wire w = {.n = 0};
    uint8_t types[] = {0, 7, 8, 0x41, 0xff};
    (void)state;
    for (size_t i = 0; i < sizeof types; i++) {
        w.n = 0;
        preamble(&w, types[i], 0, 24);
        assert_bad(&w, "unknown");
    }
    w.n = 0;
    request_vote(&w, 7, 0);
    w.b[1] = 1;
    assert_bad(&w, "preamble");
    w.n = 0;
    request_vote(&w, 7, 0);
    w.b[2] = 3; /* version */
    assert_bad(&w, "preamble");
}

static void test_install_snapshot_variants(void **state)
{
    struct wire w = {.n = 0};
    (void)state;
    install_snapshot(&w, 8);
    w.b[16 + 32] += 8; /* configuration length beyond the header */
    assert_bad(&w, "InstallSnapshot: configuration of");

    w.n = 0;
    install_snapshot(&w, 8);
    w.b[16 + 40 + 1] = 200; /* 200 servers in a 48-byte configuration */
    assert_bad(&w, "past its end");


    w.n = 0;
    install_snapshot(&w, 8);
    w.b[16 + 40 + 9 + 8 + 15] = 7; /* first role */
    assert_bad(&w, "configuration role 7");

    w.n = 0;
    install_snapshot(&w, 0);
    assert_bad(&w, "empty snapshot");

    w.n = 0;
    install_snapshot(&w, 0);
    w.b[w.n - 16 + 7] = 0x10; /* 2^60 bytes of snapshot */
    assert_bad(&w, "bytes of payload");
}

static void test_handshakes(void **state)
{
    struct wire w = {.n = 0};
    size_t need = 0;
    uint64_t id = 0;
    const char *address = NULL;
    char why[200] = "";
    (void)state;

    handshake(&w, 1, 3, "127.0.0.1:7103");
    for (size_t cut = 0; cut < w.n; cut++) {
        assert_int_equal(peer_hs_check(w.b, cut, &need, &id, &address, why, sizeof why), PEER_MSG_MORE);
    }
    assert_int_equal(peer_hs_check(w.b, w.n, &need, &id, &address, why, sizeof why), PEER_MSG_OK);
    assert_int_equal(need, 24 + 16);

    w.n = 0;
    handshake(&w, 2, 3, "127.0.0.1:7103");
    assert_int_equal(peer_hs_check(w.b, w.n, &need, &id, &address, why, sizeof why), PEER_MSG_BAD);
    assert_non_null(strstr(why, "protocol 2"));

    uint64_t ids[] = {0, (uint64_t)INT64_MAX + 1, UINT64_MAX};
    for (size_t i = 0; i < 3; i++) {
        w.n = 0;
        handshake(&w, 1, ids[i], "127.0.0.1:7103");
        assert_int_equal(peer_hs_check(w.b, w.n, &need, &id, &address, why, sizeof why), PEER_MSG_BAD);
        assert_non_null(strstr(why, "server id"));
    }
    w.n = 0;
    handshake(&w, 1, (uint64_t)INT64_MAX, "127.0.0.1:7103");
    assert_int_equal(peer_hs_check(w.b, w.n, &need, &id, &address, why, sizeof why), PEER_MSG_OK);

    uint64_t lens[] = {0, 7, 264, 1u << 30, UINT64_MAX};
    for (size_t i = 0; i < sizeof lens / sizeof lens[0]; i++) {
        w.n = 0;
        put64(&w, 1);
        put64(&w, 2);
        put64(&w, lens[i]);
        assert_int_equal(peer_hs_check(w.b, w.n, &need, &id, &address, why, sizeof why), PEER_MSG_BAD);
        assert_non_null(strstr(why, "address length"));
    }
    w.n = 0;
    put64(&w, 1);
    put64(&w, 2);
    put64(&w, 16);
    memset(w.b + w.n, 'a', 16); /* no NUL */
    w.n += 16;
    assert_int_equal(peer_hs_check(w.b, w.n, &need, &id, &address, why, sizeof why), PEER_MSG_BAD);
    assert_non_null(strstr(why, "not NUL-terminated"));
}

static void test_limit_is_applied_to_the_whole_message(void **state)
{
    struct wire w = {.n = 0};
    size_t need = 0;
    char why[200];
    (void)state;
    install_snapshot(&w, 1000);
    assert_int_equal(peer_msg_check(w.b, w.n, w.n, &need, why, sizeof why), PEER_MSG_OK);
    assert_int_equal(peer_msg_check(w.b, w.n, w.n - 1, &need, why, sizeof why), PEER_MSG_BAD);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_good_messages_of_every_type_pass),
        cmocka_unit_test(test_two_messages_in_one_buffer_are_cut_at_the_first),
        cmocka_unit_test(test_request_vote_with_term_near_2_64_is_refused),
        cmocka_unit_test(test_append_entries_claiming_50_million_entries_is_refused),
        cmocka_unit_test(test_append_entries_variants),
        cmocka_unit_test(test_truncated_and_oversized_headers_are_refused),
        cmocka_unit_test(test_unknown_types_and_preamble_flags_are_refused),
        cmocka_unit_test(test_install_snapshot_variants),
        cmocka_unit_test(test_handshakes),
        cmocka_unit_test(test_limit_is_applied_to_the_whole_message),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
