/* Unit tests of storage/command.c and storage/command_decode.c: entry round trips, and
 * malformed input of every kind giving an entry or per-command error, never a crash. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "storage/command_decode.h"
#include "store_helpers.h"

static struct batch batch;

/* --- raw msgpack writers for hand-made (possibly wrong) entries --- */

struct raw {
    msgpack_sbuffer sb;
    msgpack_packer pk;
};

static msgpack_packer *raw_init(struct raw *r)
{
    msgpack_sbuffer_init(&r->sb);
    msgpack_packer_init(&r->pk, &r->sb, msgpack_sbuffer_write);
    return &r->pk;
}

static void pack_str(msgpack_packer *pk, const char *s)
{
    msgpack_pack_str(pk, strlen(s));
    msgpack_pack_str_body(pk, s, strlen(s));
}

/* Entry header {"v": 1, "term": 7, "cmds": [ <n items follow> ]}. */
static void pack_header(msgpack_packer *pk, uint32_t n)
{
    msgpack_pack_map(pk, 3);
    pack_str(pk, "v");
    msgpack_pack_uint64(pk, 1);
    pack_str(pk, "term");
    msgpack_pack_uint64(pk, 7);
    pack_str(pk, "cmds");
    msgpack_pack_array(pk, n);
}

/* Decodes BUF/LEN expecting an entry-level error containing WANT. */
static void expect_entry_error(const void *buf, size_t len, const char *want)
{
    struct command_entry e;
    char err[256] = "";
    int rc = command_entry_decode(&e, buf, len, err, sizeof err);
    if (rc != 1 || strstr(err, want) == NULL) {
        print_error("rc=%d err='%s' want '%s'\n", rc, err, want);
    }
    assert_int_equal(rc, 1);
    assert_non_null(strstr(err, want));
    command_entry_free(&e);
}

/* Decodes an entry holding exactly one command, expecting that command to be invalid with a
 * message containing WANT. */
static void expect_cmd_error(struct raw *r, const char *want)
{
    struct command_entry e;
    struct command c;
    char err[256] = "";
    assert_int_equal(command_entry_decode(&e, r->sb.data, r->sb.size, err, sizeof err), 0);
    assert_int_equal(e.n, 1);
    int rc = command_decode(&e, 0, &c, err, sizeof err);
    if (rc != 1 || strstr(err, want) == NULL) {
        print_error("rc=%d err='%s' want '%s'\n", rc, err, want);
    }
    assert_int_equal(rc, 1);
    assert_non_null(strstr(err, want));
    command_entry_free(&e);
    msgpack_sbuffer_destroy(&r->sb);
}

/* Decodes the whole entry and every command: must not crash whatever the bytes. */
static int decode_everything(const void *buf, size_t len)
{
    struct command_entry e;
    char err[256];
    int rc = command_entry_decode(&e, buf, len, err, sizeof err);
    if (rc == 0) {
        for (uint32_t i = 0; i < e.n; i++) {
            struct command c;
            int crc = command_decode(&e, i, &c, err, sizeof err);
            assert_true(crc == 0 || crc == 1);
        }
    }
    command_entry_free(&e);
    return rc;
}

/* --- round trips --- */

static void test_round_trip(void **state)
{
    (void)state;
    batch_add(&batch, "learn_kylin");
    batch_remove(&batch, "old_one");
    batch_member_set(&batch, 3, "10.0.0.3:7201");
    batch_member_forget(&batch, UINT64_C(9223372036854775807));
    void *buf;
    size_t len;
    assert_int_equal(batch_build(&batch, 42, &buf, &len), 0);

    struct command_entry e;
    struct command c;
    char err[256];
    assert_int_equal(command_entry_decode(&e, buf, len, err, sizeof err), 0);
    assert_int_equal(e.term, 42);
    assert_int_equal(e.n, 4);
    assert_int_equal(command_decode(&e, 0, &c, err, sizeof err), 0);
    assert_int_equal(c.type, COMMAND_PROJECT_ADD);
    assert_int_equal(c.u.project.len, strlen("learn_kylin"));
    assert_memory_equal(c.u.project.name, "learn_kylin", c.u.project.len);
    assert_int_equal(command_decode(&e, 1, &c, err, sizeof err), 0);
    assert_int_equal(c.type, COMMAND_PROJECT_REMOVE);
    assert_memory_equal(c.u.project.name, "old_one", c.u.project.len);
    assert_int_equal(command_decode(&e, 2, &c, err, sizeof err), 0);
    assert_int_equal(c.type, COMMAND_MEMBER_SET);
    assert_int_equal(c.u.member.id, 3);
    assert_int_equal(c.u.member.api_len, strlen("10.0.0.3:7201"));
    assert_memory_equal(c.u.member.api_address, "10.0.0.3:7201", c.u.member.api_len);
    assert_int_equal(command_decode(&e, 3, &c, err, sizeof err), 0);
    assert_int_equal(c.type, COMMAND_MEMBER_FORGET);
    assert_true(c.u.member.id == UINT64_C(9223372036854775807));
    command_entry_free(&e);
    raft_free(buf);
}

static void test_empty_entry_is_valid(void **state)
{
    (void)state;
    void *buf;
    size_t len;
    assert_int_equal(batch_build(&batch, UINT64_MAX, &buf, &len), 0);
    struct command_entry e;
    char err[256];
    assert_int_equal(command_entry_decode(&e, buf, len, err, sizeof err), 0);
    assert_int_equal(e.n, 0);
    assert_true(e.term == UINT64_MAX);
    command_entry_free(&e);
    raft_free(buf);
}

/* Commands appended to one growing buffer, wrapped by command_entry_build_n. */
static void test_build_n_concatenated(void **state)
{
    (void)state;
    struct raw r;
    msgpack_packer *pk = raw_init(&r);
    command_pack_project_add(pk, "a1", 2);
    command_pack_member_forget(pk, 4);
    command_pack_project_remove(pk, "b2", 2);
    const void *bufs[2] = {r.sb.data, r.sb.data + 5};
    size_t lens[2] = {5, r.sb.size - 5}; /* split anywhere: only the concatenation counts */
    void *buf;
    size_t len;
    assert_int_equal(command_entry_build_n(9, bufs, lens, 2, 3, &buf, &len), 0);
    struct command_entry e;
    struct command c;
    char err[256];
    assert_int_equal(command_entry_decode(&e, buf, len, err, sizeof err), 0);
    assert_int_equal(e.n, 3);
    assert_int_equal(e.term, 9);
    assert_int_equal(command_decode(&e, 1, &c, err, sizeof err), 0);
    assert_int_equal(c.type, COMMAND_MEMBER_FORGET);
    assert_int_equal(command_decode(&e, 2, &c, err, sizeof err), 0);
    assert_memory_equal(c.u.project.name, "b2", 2);
    command_entry_free(&e);
    raft_free(buf);
    /* A wrong count makes a malformed entry, which the decoder reports. */
    assert_int_equal(command_entry_build_n(9, bufs, lens, 2, 2, &buf, &len), 0);
    expect_entry_error(buf, len, "trailing bytes");
    raft_free(buf);
    /* Too high a count: the zero padding (see command_entry_build_n) decodes as a 4th
     * element that is not a command map, or the entry is truncated. */
    assert_int_equal(command_entry_build_n(9, bufs, lens, 2, 4, &buf, &len), 0);
    if (command_entry_decode(&e, buf, len, err, sizeof err) == 0) {
        assert_int_equal(e.n, 4);
        assert_int_not_equal(command_decode(&e, 3, &c, err, sizeof err), 0);
        command_entry_free(&e);
    }
    raft_free(buf);
    msgpack_sbuffer_destroy(&r.sb);
}

/* Names are packed as given (binary-safe): validation is the state machine's job. */
static void test_pack_keeps_bytes(void **state)
{
    (void)state;
    msgpack_packer pk;
    command_pack_project_add(batch_next(&batch, &pk), "a\0b", 3);
    void *buf;
    size_t len;
    assert_int_equal(batch_build(&batch, 1, &buf, &len), 0);
    struct command_entry e;
    struct command c;
    char err[256];
    assert_int_equal(command_entry_decode(&e, buf, len, err, sizeof err), 0);
    assert_int_equal(command_decode(&e, 0, &c, err, sizeof err), 0);
    assert_int_equal(c.u.project.len, 3);
    assert_memory_equal(c.u.project.name, "a\0b", 3);
    command_entry_free(&e);
    raft_free(buf);
}

/* --- whole-entry errors --- */

static void test_entry_empty_and_non_map(void **state)
{
    (void)state;
    expect_entry_error("", 0, "empty");
    expect_entry_error("\x01", 1, "not a map, got unsigned integer");
    expect_entry_error("\x93\x01\x02\x03", 4, "not a map, got array");
    expect_entry_error("\xa3" "abc", 4, "not a map, got string");
    expect_entry_error("\xc0", 1, "not a map, got nil");
}

static void test_entry_invalid_msgpack(void **state)
{
    (void)state;
    expect_entry_error("\xc1", 1, "byte 0xc1 at offset 0");
    expect_entry_error("\x81\xa1v\xc1", 4, "byte 0xc1 at offset 3");
}

static void test_entry_truncated_everywhere(void **state)
{
    (void)state;
    batch_add(&batch, "p1");
    batch_member_set(&batch, 2, "127.0.0.1:7202");
    void *buf;
    size_t len;
    assert_int_equal(batch_build(&batch, 5, &buf, &len), 0);
    assert_int_equal(len % 8, 0); /* libraft needs 8-byte multiples */
    msgpack_unpacked u;
    size_t end = 0;
    msgpack_unpacked_init(&u);
    assert_int_equal(msgpack_unpack_next(&u, buf, len, &end), MSGPACK_UNPACK_SUCCESS);
    msgpack_unpacked_destroy(&u);
    assert_true(len - end < 8);
    for (size_t cut = 0; cut < end; cut++) {
        expect_entry_error(buf, cut, cut == 0 ? "empty" : "truncated");
    }
    raft_free(buf);
}

static void test_entry_trailing_garbage(void **state)
{
    (void)state;
    void *buf;
    size_t len;
    batch_add(&batch, "p1");
    assert_int_equal(batch_build(&batch, 5, &buf, &len), 0);
    unsigned char *longer = malloc(len + 3);
    assert_non_null(longer);
    memcpy(longer, buf, len);
    memcpy(longer + len, "\x01\x02\x03", 3);
    expect_entry_error(longer, len + 3, "trailing bytes");
    /* A second complete object after the entry is trailing garbage too. */
    memcpy(longer + len, buf, 3);
    expect_entry_error(longer, len + 1, "trailing bytes");
    free(longer);
    raft_free(buf);
}

static void test_entry_bad_header_fields(void **state)
{
    (void)state;
    struct raw r;
    msgpack_packer *pk;

    pk = raw_init(&r); /* no v */
    msgpack_pack_map(pk, 2);
    pack_str(pk, "term"), msgpack_pack_uint64(pk, 1);
    pack_str(pk, "cmds"), msgpack_pack_array(pk, 0);
    expect_entry_error(r.sb.data, r.sb.size, "field 'v' is missing");
    msgpack_sbuffer_destroy(&r.sb);

    pk = raw_init(&r); /* v is a string */
    msgpack_pack_map(pk, 3);
    pack_str(pk, "v"), pack_str(pk, "1");
    pack_str(pk, "term"), msgpack_pack_uint64(pk, 1);
    pack_str(pk, "cmds"), msgpack_pack_array(pk, 0);
    expect_entry_error(r.sb.data, r.sb.size, "field 'v' must be an unsigned integer, got string");
    msgpack_sbuffer_destroy(&r.sb);

    pk = raw_init(&r); /* unknown version */
    msgpack_pack_map(pk, 3);
    pack_str(pk, "v"), msgpack_pack_uint64(pk, 2);
    pack_str(pk, "term"), msgpack_pack_uint64(pk, 1);
    pack_str(pk, "cmds"), msgpack_pack_array(pk, 0);
    expect_entry_error(r.sb.data, r.sb.size, "entry version 2 is not supported");
    msgpack_sbuffer_destroy(&r.sb);

    pk = raw_init(&r); /* negative term */
    msgpack_pack_map(pk, 3);
    pack_str(pk, "v"), msgpack_pack_uint64(pk, 1);
    pack_str(pk, "term"), msgpack_pack_int64(pk, -1);
    pack_str(pk, "cmds"), msgpack_pack_array(pk, 0);
    expect_entry_error(r.sb.data, r.sb.size, "field 'term' must be an unsigned integer, got negative");
    msgpack_sbuffer_destroy(&r.sb);

    pk = raw_init(&r); /* no cmds */
    msgpack_pack_map(pk, 2);
    pack_str(pk, "v"), msgpack_pack_uint64(pk, 1);
    pack_str(pk, "term"), msgpack_pack_uint64(pk, 1);
    expect_entry_error(r.sb.data, r.sb.size, "field 'cmds' is missing");
    msgpack_sbuffer_destroy(&r.sb);

    pk = raw_init(&r); /* cmds is a map */
    msgpack_pack_map(pk, 3);
    pack_str(pk, "v"), msgpack_pack_uint64(pk, 1);
    pack_str(pk, "term"), msgpack_pack_uint64(pk, 1);
    pack_str(pk, "cmds"), msgpack_pack_map(pk, 0);
    expect_entry_error(r.sb.data, r.sb.size, "field 'cmds' must be an array, got map");
    msgpack_sbuffer_destroy(&r.sb);
}

/* A few bytes that declare a huge container must be refused before msgpack-c allocates for
 * it (it would try 4G * 24 bytes), and deep nesting before msgpack-c's stack limit (which it
 * reports as out-of-memory). */
static void test_entry_hostile_sizes(void **state)
{
    (void)state;
    expect_entry_error("\xdd\xff\xff\xff\xff", 5, "declares 4294967295 objects");
    expect_entry_error("\xdf\xff\xff\xff\xff\x01", 6, "declares 8589934590 objects");
    expect_entry_error("\xdb\xff\xff\xff\xff" "ab", 7, "needs 4294967295 bytes");
    expect_entry_error("\xc9\x7f\xff\xff\xff\x01", 6, "needs 2147483648 bytes");

    unsigned char deep[64];
    memset(deep, 0x91, sizeof deep); /* [[[[...]]]] */
    deep[sizeof deep - 1] = 0x01;
    expect_entry_error(deep, sizeof deep, "deeper than 16 levels");
    /* 16 levels is within the limit: it decodes (and is not a map). */
    memset(deep, 0x91, 16);
    deep[16] = 0x01;
    expect_entry_error(deep, 17, "not a map, got array");
}

/* --- per-command errors --- */

static void test_cmd_not_a_map_and_type_errors(void **state)
{
    (void)state;
    struct raw r;
    msgpack_packer *pk;

    pk = raw_init(&r);
    pack_header(pk, 1);
    msgpack_pack_array(pk, 2), msgpack_pack_uint64(pk, 1), msgpack_pack_nil(pk);
    expect_cmd_error(&r, "command is not a map, got array");

    pk = raw_init(&r);
    pack_header(pk, 1);
    msgpack_pack_map(pk, 1), pack_str(pk, "name"), pack_str(pk, "x");
    expect_cmd_error(&r, "field 't' (its type) is missing");

    pk = raw_init(&r);
    pack_header(pk, 1);
    msgpack_pack_map(pk, 1), pack_str(pk, "t"), msgpack_pack_uint64(pk, 3);
    expect_cmd_error(&r, "field 't' must be a string, got unsigned integer");

    pk = raw_init(&r);
    pack_header(pk, 1);
    msgpack_pack_map(pk, 2), pack_str(pk, "t"), pack_str(pk, "engine_explode");
    pack_str(pk, "name"), pack_str(pk, "x");
    expect_cmd_error(&r, "unknown command type 'engine_explode'");

    pk = raw_init(&r); /* hostile type string is quoted, not copied raw */
    pack_header(pk, 1);
    msgpack_pack_map(pk, 1), pack_str(pk, "t");
    msgpack_pack_str(pk, 3), msgpack_pack_str_body(pk, "a\nb", 3);
    expect_cmd_error(&r, "unknown command type 'a\\x0ab'");
}

static void test_cmd_field_errors(void **state)
{
    (void)state;
    struct raw r;
    msgpack_packer *pk;

    pk = raw_init(&r);
    pack_header(pk, 1);
    msgpack_pack_map(pk, 1), pack_str(pk, "t"), pack_str(pk, "project_add");
    expect_cmd_error(&r, "project_add: field 'name' is missing");

    pk = raw_init(&r);
    pack_header(pk, 1);
    msgpack_pack_map(pk, 2), pack_str(pk, "t"), pack_str(pk, "project_remove");
    pack_str(pk, "name"), msgpack_pack_bin(pk, 1), msgpack_pack_bin_body(pk, "x", 1);
    expect_cmd_error(&r, "project_remove: field 'name' must be a string, got binary");

    pk = raw_init(&r);
    pack_header(pk, 1);
    msgpack_pack_map(pk, 2), pack_str(pk, "t"), pack_str(pk, "member_set");
    pack_str(pk, "api_address"), pack_str(pk, "h:1");
    expect_cmd_error(&r, "member_set: field 'id' is missing");

    pk = raw_init(&r);
    pack_header(pk, 1);
    msgpack_pack_map(pk, 3), pack_str(pk, "t"), pack_str(pk, "member_set");
    pack_str(pk, "id"), msgpack_pack_uint64(pk, 0), pack_str(pk, "api_address"), pack_str(pk, "h:1");
    expect_cmd_error(&r, "member_set: field 'id' must be 1..9223372036854775807, got 0");

    pk = raw_init(&r);
    pack_header(pk, 1);
    msgpack_pack_map(pk, 3), pack_str(pk, "t"), pack_str(pk, "member_set");
    pack_str(pk, "id"), msgpack_pack_int64(pk, -4), pack_str(pk, "api_address"), pack_str(pk, "h:1");
    expect_cmd_error(&r, "field 'id' must be an unsigned integer, got negative integer");

    pk = raw_init(&r);
    pack_header(pk, 1);
    msgpack_pack_map(pk, 3), pack_str(pk, "t"), pack_str(pk, "member_set");
    pack_str(pk, "id"), msgpack_pack_uint64(pk, 2), pack_str(pk, "api_address"), pack_str(pk, "");
    expect_cmd_error(&r, "field 'api_address' must have 1..255 printable ASCII bytes");

    pk = raw_init(&r);
    pack_header(pk, 1);
    msgpack_pack_map(pk, 3), pack_str(pk, "t"), pack_str(pk, "member_set");
    pack_str(pk, "id"), msgpack_pack_uint64(pk, 2), pack_str(pk, "api_address"), pack_str(pk, "h :1");
    expect_cmd_error(&r, "got 'h :1' (4 bytes)");

    char long_addr[257];
    memset(long_addr, 'a', 256);
    long_addr[256] = '\0';
    pk = raw_init(&r);
    pack_header(pk, 1);
    msgpack_pack_map(pk, 3), pack_str(pk, "t"), pack_str(pk, "member_set");
    pack_str(pk, "id"), msgpack_pack_uint64(pk, 2), pack_str(pk, "api_address"), pack_str(pk, long_addr);
    expect_cmd_error(&r, "(256 bytes)");

    pk = raw_init(&r);
    pack_header(pk, 1);
    msgpack_pack_map(pk, 2), pack_str(pk, "t"), pack_str(pk, "member_forget");
    pack_str(pk, "id"), msgpack_pack_uint64(pk, UINT64_C(9223372036854775808));
    expect_cmd_error(&r, "got 9223372036854775808");
}

/* One bad command does not spoil the others of its entry. */
static void test_cmd_errors_are_per_command(void **state)
{
    (void)state;
    struct raw r;
    msgpack_packer *pk = raw_init(&r);
    pack_header(pk, 3);
    command_pack_project_add(pk, "good1", 5);
    msgpack_pack_array(pk, 1), msgpack_pack_map(pk, 1), pack_str(pk, "x"), msgpack_pack_nil(pk);
    command_pack_project_add(pk, "good2", 5);
    struct command_entry e;
    struct command c;
    char err[256];
    assert_int_equal(command_entry_decode(&e, r.sb.data, r.sb.size, err, sizeof err), 0);
    assert_int_equal(e.n, 3);
    assert_int_equal(command_decode(&e, 0, &c, err, sizeof err), 0);
    assert_int_equal(command_decode(&e, 1, &c, err, sizeof err), 1);
    assert_int_equal(command_decode(&e, 2, &c, err, sizeof err), 0);
    assert_memory_equal(c.u.project.name, "good2", 5);
    command_entry_free(&e);
    msgpack_sbuffer_destroy(&r.sb);
}

/* --- fuzzing: random bytes and mutated valid entries --- */

static uint64_t rng_state = 0x9e3779b97f4a7c15ULL;

static uint64_t rng(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}

static void test_fuzz_random_bytes(void **state)
{
    (void)state;
    unsigned char buf[128];
    for (int round = 0; round < 200000; round++) {
        size_t len = (size_t)(rng() % sizeof buf);
        for (size_t i = 0; i < len; i++) {
            buf[i] = (unsigned char)rng();
        }
        int rc = decode_everything(buf, len);
        assert_true(rc == 0 || rc == 1);
    }
}

static void test_fuzz_mutated_entries(void **state)
{
    (void)state;
    batch_add(&batch, "alpha");
    batch_remove(&batch, "beta");
    batch_member_set(&batch, 7, "192.168.0.7:7201");
    batch_member_forget(&batch, 9);
    void *orig;
    size_t len;
    assert_int_equal(batch_build(&batch, 3, &orig, &len), 0);
    unsigned char *buf = malloc(len);
    assert_non_null(buf);
    unsigned decoded = 0;
    for (int round = 0; round < 100000; round++) {
        memcpy(buf, orig, len);
        unsigned flips = 1 + (unsigned)(rng() % 4);
        for (unsigned f = 0; f < flips; f++) {
            buf[rng() % len] = (unsigned char)rng();
        }
        int rc = decode_everything(buf, (size_t)(rng() % 8 == 0 ? rng() % (len + 1) : len));
        assert_true(rc == 0 || rc == 1);
        decoded += rc == 0;
    }
    assert_true(decoded > 0); /* mutations that keep the shape reach the command decoder */
    free(buf);
    raft_free(orig);
}

/* --- engines and ownership commands --- */

/* Starts a raw entry holding one command of type T with N_FIELDS more fields to follow. */
static msgpack_packer *raw_cmd(struct raw *r, const char *t, uint32_t n_fields)
{
    msgpack_packer *pk = raw_init(r);
    pack_header(pk, 1);
    msgpack_pack_map(pk, 1 + n_fields);
    pack_str(pk, "t");
    pack_str(pk, t);
    return pk;
}

/* Decodes the one command of a raw entry expecting success. */
static void expect_cmd_ok(struct raw *r, struct command_entry *e, struct command *c)
{
    char err[256] = "";
    assert_int_equal(command_entry_decode(e, r->sb.data, r->sb.size, err, sizeof err), 0);
    assert_int_equal(e->n, 1);
    int rc = command_decode(e, 0, c, err, sizeof err);
    if (rc != 0) {
        print_error("err='%s'\n", err);
    }
    assert_int_equal(rc, 0);
}

static void test_round_trip_ownership(void **state)
{
    (void)state;
    char identity[256];
    memset(identity, 'h', 255);
    identity[255] = '\0';
    identity[0] = ' '; /* printable: space allowed */
    const uint64_t ids[] = {1, 2, UINT64_C(9223372036854775807)};
    char reason[5001];
    memset(reason, 'r', 5000);
    reason[5000] = '\0';
    memcpy(reason, "caf\xc3\xa9 \xe2\x9c\x93 \xf0\x9f\x98\x80", 14); /* UTF-8 is fine */

    batch_engine_set(&batch, 3, "job", 1000000, identity, false);
    batch_heartbeat(&batch, ids, 3);
    batch_engine_dead(&batch, UINT64_C(9223372036854775807));
    batch_assign(&batch, "_global", 0, 7, "restore", UINT64_C(9223372036854775807));
    batch_drain(&batch, 4, true);
    batch_pin(&batch, "p1", 0);
    batch_maintenance(&batch, true, reason);
    batch_heartbeat(&batch, NULL, 0);
    batch_engine_set(&batch, 1, "query", 1, "10.0.0.1:7070|1700000000000", true);
    batch_assign(&batch, "learn", 5, 0, "drain", 0);
    void *buf;
    size_t len;
    assert_int_equal(batch_build(&batch, 11, &buf, &len), 0);

    struct command_entry e;
    struct command c;
    char err[256];
    assert_int_equal(command_entry_decode(&e, buf, len, err, sizeof err), 0);
    assert_int_equal(e.n, 10);

    assert_int_equal(command_decode(&e, 0, &c, err, sizeof err), 0);
    assert_int_equal(c.type, COMMAND_ENGINE_SET);
    assert_int_equal(c.u.engine.id, 3);
    assert_string_equal(c.u.engine.mode, "job");
    assert_int_equal(c.u.engine.weight, 1000000);
    assert_int_equal(c.u.engine.identity_len, 255);
    assert_memory_equal(c.u.engine.identity, identity, 255);
    assert_false(c.u.engine.race_enabled);

    assert_int_equal(command_decode(&e, 1, &c, err, sizeof err), 0);
    assert_int_equal(c.type, COMMAND_HEARTBEAT);
    assert_int_equal(c.u.heartbeat.n, 3);
    for (uint32_t i = 0; i < 3; i++) {
        assert_true(command_heartbeat_id(&c, i) == ids[i]);
    }

    assert_int_equal(command_decode(&e, 2, &c, err, sizeof err), 0);
    assert_int_equal(c.type, COMMAND_ENGINE_DEAD);
    assert_true(c.u.engine.id == UINT64_C(9223372036854775807));

    assert_int_equal(command_decode(&e, 3, &c, err, sizeof err), 0);
    assert_int_equal(c.type, COMMAND_ASSIGN);
    assert_int_equal(c.u.assign.len, 7);
    assert_memory_equal(c.u.assign.project, "_global", 7);
    assert_int_equal(c.u.assign.from, 0);
    assert_int_equal(c.u.assign.to, 7);
    assert_string_equal(c.u.assign.reason, "restore");
    assert_true(c.u.assign.time_ms == UINT64_C(9223372036854775807));

    assert_int_equal(command_decode(&e, 4, &c, err, sizeof err), 0);
    assert_int_equal(c.type, COMMAND_DRAIN);
    assert_int_equal(c.u.drain.id, 4);
    assert_true(c.u.drain.on);

    assert_int_equal(command_decode(&e, 5, &c, err, sizeof err), 0);
    assert_int_equal(c.type, COMMAND_PIN);
    assert_memory_equal(c.u.pin.project, "p1", 2);
    assert_int_equal(c.u.pin.engine, 0);

    assert_int_equal(command_decode(&e, 6, &c, err, sizeof err), 0);
    assert_int_equal(c.type, COMMAND_MAINTENANCE);
    assert_true(c.u.maintenance.on);
    assert_int_equal(c.u.maintenance.reason_len, 5000);
    assert_memory_equal(c.u.maintenance.reason, reason, 5000);

    assert_int_equal(command_decode(&e, 7, &c, err, sizeof err), 0);
    assert_int_equal(c.type, COMMAND_HEARTBEAT);
    assert_int_equal(c.u.heartbeat.n, 0);

    assert_int_equal(command_decode(&e, 8, &c, err, sizeof err), 0);
    assert_string_equal(c.u.engine.mode, "query");
    assert_true(c.u.engine.race_enabled);
    assert_int_equal(c.u.engine.weight, 1);

    assert_int_equal(command_decode(&e, 9, &c, err, sizeof err), 0);
    assert_int_equal(c.u.assign.from, 5);
    assert_int_equal(c.u.assign.to, 0);
    assert_string_equal(c.u.assign.reason, "drain");
    command_entry_free(&e);
    raft_free(buf);

    /* Every reason word and mode word decodes to its canonical static string. */
    const char *reasons[] = {"new", "failover", "rebalance", "move", "drain", "restore"};
    for (unsigned i = 0; i < 6; i++) {
        batch_assign(&batch, "p", 1, 2, reasons[i], 5);
    }
    batch_engine_set(&batch, 9, "all", 2, "h:1|2", true);
    assert_int_equal(batch_build(&batch, 1, &buf, &len), 0);
    assert_int_equal(command_entry_decode(&e, buf, len, err, sizeof err), 0);
    for (unsigned i = 0; i < 6; i++) {
        assert_int_equal(command_decode(&e, i, &c, err, sizeof err), 0);
        assert_string_equal(c.u.assign.reason, reasons[i]);
    }
    assert_int_equal(command_decode(&e, 6, &c, err, sizeof err), 0);
    assert_string_equal(c.u.engine.mode, "all");
    command_entry_free(&e);
    raft_free(buf);
}

/* The largest heartbeat batch (100000 ids) decodes; one more id is refused. */
static void test_heartbeat_limits(void **state)
{
    (void)state;
    uint64_t *ids = malloc(100001 * sizeof *ids);
    assert_non_null(ids);
    for (uint64_t i = 0; i < 100001; i++) {
        ids[i] = i + 1;
    }
    struct raw r;
    msgpack_packer *pk = raw_init(&r);
    pack_header(pk, 1);
    command_pack_heartbeat(pk, ids, 100000);
    struct command_entry e;
    struct command c;
    expect_cmd_ok(&r, &e, &c);
    assert_int_equal(c.u.heartbeat.n, 100000);
    assert_int_equal(command_heartbeat_id(&c, 99999), 100000);
    command_entry_free(&e);
    msgpack_sbuffer_destroy(&r.sb);

    pk = raw_init(&r);
    pack_header(pk, 1);
    command_pack_heartbeat(pk, ids, 100001);
    expect_cmd_error(&r, "heartbeat: field 'ids' has 100001 entries; at most 100000");
    free(ids);
}

static void test_engine_set_field_errors(void **state)
{
    (void)state;
    struct raw r;
    msgpack_packer *pk;

    pk = raw_cmd(&r, "engine_set", 4); /* no id */
    pack_str(pk, "mode"), pack_str(pk, "all");
    pack_str(pk, "weight"), msgpack_pack_uint64(pk, 1);
    pack_str(pk, "identity"), pack_str(pk, "h:1|1");
    pack_str(pk, "race_enabled"), msgpack_pack_true(pk);
    expect_cmd_error(&r, "engine_set: field 'id' is missing");

    struct {
        uint64_t id;
        const char *mode;
        uint64_t weight;
        const char *identity;
        int race; /* 0 false, 1 true, 2 the integer 1 */
        const char *want;
    } cases[] = {
        {0, "all", 1, "h:1|1", 1, "engine_set: field 'id' must be 1..9223372036854775807, got 0"},
        {UINT64_C(9223372036854775808), "all", 1, "h:1|1", 1, "got 9223372036854775808"},
        {1, "master", 1, "h:1|1", 1,
         "engine_set: field 'mode' must be one of all, job, query, got 'master'"},
        {1, "ALL", 1, "h:1|1", 1, "got 'ALL'"},
        {1, "", 1, "h:1|1", 1, "got ''"},
        {1, "all", 0, "h:1|1", 1, "engine_set: field 'weight' must be 1..1000000, got 0"},
        {1, "all", 1000001, "h:1|1", 1, "field 'weight' must be 1..1000000, got 1000001"},
        {1, "job", 1, "", 1, "field 'identity' must have 1..255 printable ASCII bytes"},
        {1, "job", 1, "h:1\n|1", 1, "got 'h:1\\x0a|1' (6 bytes)"},
        {1, "job", 1, "h\x7f", 1, "got 'h\\x7f' (2 bytes)"},
        {1, "query", 1, "h:1|1", 2,
         "engine_set: field 'race_enabled' must be a boolean, got unsigned integer"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        pk = raw_cmd(&r, "engine_set", 5);
        pack_str(pk, "id"), msgpack_pack_uint64(pk, cases[i].id);
        pack_str(pk, "mode"), pack_str(pk, cases[i].mode);
        pack_str(pk, "weight"), msgpack_pack_uint64(pk, cases[i].weight);
        pack_str(pk, "identity"), pack_str(pk, cases[i].identity);
        pack_str(pk, "race_enabled");
        if (cases[i].race == 2) {
            msgpack_pack_uint64(pk, 1);
        } else if (cases[i].race == 1) {
            msgpack_pack_true(pk);
        } else {
            msgpack_pack_false(pk);
        }
        expect_cmd_error(&r, cases[i].want);
    }

    char long_identity[257];
    memset(long_identity, 'i', 256);
    long_identity[256] = '\0';
    pk = raw_cmd(&r, "engine_set", 5);
    pack_str(pk, "id"), msgpack_pack_uint64(pk, 1);
    pack_str(pk, "mode"), pack_str(pk, "all");
    pack_str(pk, "weight"), msgpack_pack_uint64(pk, 1);
    pack_str(pk, "identity"), pack_str(pk, long_identity);
    pack_str(pk, "race_enabled"), msgpack_pack_true(pk);
    expect_cmd_error(&r, "(256 bytes)");

    pk = raw_cmd(&r, "engine_set", 5); /* mode of the wrong type */
    pack_str(pk, "id"), msgpack_pack_uint64(pk, 1);
    pack_str(pk, "mode"), msgpack_pack_uint64(pk, 1);
    pack_str(pk, "weight"), msgpack_pack_uint64(pk, 1);
    pack_str(pk, "identity"), pack_str(pk, "h:1|1");
    pack_str(pk, "race_enabled"), msgpack_pack_true(pk);
    expect_cmd_error(&r, "engine_set: field 'mode' must be a string, got unsigned integer");

    pk = raw_cmd(&r, "engine_set", 4); /* no race_enabled */
    pack_str(pk, "id"), msgpack_pack_uint64(pk, 1);
    pack_str(pk, "mode"), pack_str(pk, "all");
    pack_str(pk, "weight"), msgpack_pack_int64(pk, -1);
    pack_str(pk, "identity"), pack_str(pk, "h:1|1");
    expect_cmd_error(&r, "field 'weight' must be an unsigned integer, got negative integer");
}

static void test_heartbeat_and_dead_field_errors(void **state)
{
    (void)state;
    struct raw r;
    msgpack_packer *pk;

    pk = raw_cmd(&r, "heartbeat", 0);
    expect_cmd_error(&r, "heartbeat: field 'ids' is missing");

    pk = raw_cmd(&r, "heartbeat", 1);
    pack_str(pk, "ids"), msgpack_pack_map(pk, 0);
    expect_cmd_error(&r, "heartbeat: field 'ids' must be an array, got map");

    pk = raw_cmd(&r, "heartbeat", 1);
    pack_str(pk, "ids"), msgpack_pack_array(pk, 3);
    msgpack_pack_uint64(pk, 1), pack_str(pk, "2"), msgpack_pack_uint64(pk, 3);
    expect_cmd_error(&r, "heartbeat: ids[1] must be an unsigned integer, got string");

    pk = raw_cmd(&r, "heartbeat", 1);
    pack_str(pk, "ids"), msgpack_pack_array(pk, 3);
    msgpack_pack_uint64(pk, 1), msgpack_pack_uint64(pk, 2), msgpack_pack_uint64(pk, 0);
    expect_cmd_error(&r, "heartbeat: ids[2] must be 1..9223372036854775807, got 0");

    pk = raw_cmd(&r, "heartbeat", 1);
    pack_str(pk, "ids"), msgpack_pack_array(pk, 1);
    msgpack_pack_uint64(pk, UINT64_MAX);
    expect_cmd_error(&r, "ids[0] must be 1..9223372036854775807, got 18446744073709551615");

    pk = raw_cmd(&r, "heartbeat", 1);
    pack_str(pk, "ids"), msgpack_pack_array(pk, 1), msgpack_pack_int64(pk, -2);
    expect_cmd_error(&r, "ids[0] must be an unsigned integer, got negative integer");

    pk = raw_cmd(&r, "engine_dead", 0);
    expect_cmd_error(&r, "engine_dead: field 'id' is missing");

    pk = raw_cmd(&r, "engine_dead", 1);
    pack_str(pk, "id"), msgpack_pack_uint64(pk, 0);
    expect_cmd_error(&r, "engine_dead: field 'id' must be 1..9223372036854775807, got 0");

    pk = raw_cmd(&r, "engine_dead", 1);
    pack_str(pk, "id"), pack_str(pk, "3");
    expect_cmd_error(&r, "engine_dead: field 'id' must be an unsigned integer, got string");
}

/* A valid assign without field SKIP (NULL: complete). */
static msgpack_packer *raw_assign(struct raw *r, const char *skip)
{
    const char *keys[] = {"project", "from", "to", "reason", "time_ms"};
    msgpack_packer *pk = raw_cmd(r, "assign", skip != NULL ? 4 : 5);
    for (unsigned i = 0; i < 5; i++) {
        if (skip != NULL && strcmp(skip, keys[i]) == 0) {
            continue;
        }
        pack_str(pk, keys[i]);
        switch (i) {
        case 0: pack_str(pk, "p1"); break;
        case 1: msgpack_pack_uint64(pk, 1); break;
        case 2: msgpack_pack_uint64(pk, 2); break;
        case 3: pack_str(pk, "move"); break;
        default: msgpack_pack_uint64(pk, 1700000000000); break;
        }
    }
    return pk;
}

static void test_assign_field_errors(void **state)
{
    (void)state;
    struct raw r;
    msgpack_packer *pk;
    const char *keys[] = {"project", "from", "to", "reason", "time_ms"};
    for (unsigned i = 0; i < 5; i++) {
        char want[64];
        snprintf(want, sizeof want, "assign: field '%s' is missing", keys[i]);
        raw_assign(&r, keys[i]);
        expect_cmd_error(&r, want);
    }
    pk = raw_cmd(&r, "assign", 5);
    pack_str(pk, "project"), msgpack_pack_uint64(pk, 1);
    pack_str(pk, "from"), msgpack_pack_uint64(pk, 0);
    pack_str(pk, "to"), msgpack_pack_uint64(pk, 0);
    pack_str(pk, "reason"), pack_str(pk, "new");
    pack_str(pk, "time_ms"), msgpack_pack_uint64(pk, 0);
    expect_cmd_error(&r, "assign: field 'project' must be a string, got unsigned integer");

    struct {
        const char *key;
        int kind; /* 0 u64 value, 1 string value, 2 negative, 3 nil */
        uint64_t u;
        const char *str;
        const char *want;
    } cases[] = {
        {"from", 0, UINT64_C(9223372036854775808), NULL,
         "assign: field 'from' must be 0..9223372036854775807, got 9223372036854775808"},
        {"to", 2, 0, NULL, "assign: field 'to' must be an unsigned integer, got negative integer"},
        {"to", 3, 0, NULL, "assign: field 'to' must be an unsigned integer, got nil"},
        {"reason", 1, 0, "whim",
         "assign: field 'reason' must be one of new, failover, rebalance, move, drain, restore, "
         "got 'whim'"},
        {"reason", 1, 0, "moved", "got 'moved'"},
        {"reason", 0, 3, NULL, "field 'reason' must be a string, got unsigned integer"},
        {"time_ms", 0, UINT64_MAX, NULL,
         "assign: field 'time_ms' must be 0..9223372036854775807, got 18446744073709551615"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        pk = raw_cmd(&r, "assign", 5);
        const char *order[] = {"project", "from", "to", "reason", "time_ms"};
        for (unsigned k = 0; k < 5; k++) {
            pack_str(pk, order[k]);
            if (strcmp(order[k], cases[i].key) == 0) {
                switch (cases[i].kind) {
                case 0: msgpack_pack_uint64(pk, cases[i].u); break;
                case 1: pack_str(pk, cases[i].str); break;
                case 2: msgpack_pack_int64(pk, -1); break;
                default: msgpack_pack_nil(pk); break;
                }
            } else if (k == 0) {
                pack_str(pk, "p1");
            } else if (k == 3) {
                pack_str(pk, "move");
            } else {
                msgpack_pack_uint64(pk, 1);
            }
        }
        expect_cmd_error(&r, cases[i].want);
    }
}

static void test_drain_pin_maintenance_field_errors(void **state)
{
    (void)state;
    struct raw r;
    msgpack_packer *pk;

    pk = raw_cmd(&r, "drain", 1);
    pack_str(pk, "id"), msgpack_pack_uint64(pk, 1);
    expect_cmd_error(&r, "drain: field 'on' is missing");

    pk = raw_cmd(&r, "drain", 2);
    pack_str(pk, "id"), msgpack_pack_uint64(pk, 1), pack_str(pk, "on"), msgpack_pack_uint64(pk, 1);
    expect_cmd_error(&r, "drain: field 'on' must be a boolean, got unsigned integer");

    pk = raw_cmd(&r, "drain", 2);
    pack_str(pk, "id"), msgpack_pack_uint64(pk, 0), pack_str(pk, "on"), msgpack_pack_true(pk);
    expect_cmd_error(&r, "drain: field 'id' must be 1..9223372036854775807, got 0");

    pk = raw_cmd(&r, "pin", 1);
    pack_str(pk, "project"), pack_str(pk, "p");
    expect_cmd_error(&r, "pin: field 'engine' is missing");

    pk = raw_cmd(&r, "pin", 2);
    pack_str(pk, "project"), pack_str(pk, "p"), pack_str(pk, "engine"), msgpack_pack_int64(pk, -1);
    expect_cmd_error(&r, "pin: field 'engine' must be an unsigned integer, got negative integer");

    pk = raw_cmd(&r, "pin", 2);
    pack_str(pk, "project"), pack_str(pk, "p");
    pack_str(pk, "engine"), msgpack_pack_uint64(pk, UINT64_C(9223372036854775808));
    expect_cmd_error(&r, "pin: field 'engine' must be 0..9223372036854775807");

    pk = raw_cmd(&r, "pin", 2);
    pack_str(pk, "project"), msgpack_pack_nil(pk), pack_str(pk, "engine"), msgpack_pack_uint64(pk, 1);
    expect_cmd_error(&r, "pin: field 'project' must be a string, got nil");

    pk = raw_cmd(&r, "maintenance", 1);
    pack_str(pk, "reason"), pack_str(pk, "upgrade");
    expect_cmd_error(&r, "maintenance: field 'on' is missing");

    pk = raw_cmd(&r, "maintenance", 1);
    pack_str(pk, "on"), msgpack_pack_true(pk);
    expect_cmd_error(&r, "maintenance: field 'reason' is missing");

    pk = raw_cmd(&r, "maintenance", 2);
    pack_str(pk, "on"), pack_str(pk, "yes"), pack_str(pk, "reason"), pack_str(pk, "x");
    expect_cmd_error(&r, "maintenance: field 'on' must be a boolean, got string");

    char *long_reason = malloc(5002);
    assert_non_null(long_reason);
    memset(long_reason, 'x', 5001);
    long_reason[5001] = '\0';
    pk = raw_cmd(&r, "maintenance", 2);
    pack_str(pk, "on"), msgpack_pack_true(pk), pack_str(pk, "reason"), pack_str(pk, long_reason);
    expect_cmd_error(&r, "maintenance: field 'reason' has 5001 bytes; at most 5000");
    free(long_reason);

    /* Text the metastores would refuse: NUL, stray bytes, overlong forms, surrogates,
     * truncated sequences, code points beyond U+10FFFF. */
    struct {
        const char *bytes;
        size_t len;
    } bad[] = {
        {"a\0b", 3},         {"\xff", 1},          {"\xc0\x80", 2},      {"\xe0\x80\xaf", 3},
        {"\xed\xa0\x80", 3}, {"\xe2\x82", 2},      {"\xf4\x90\x80\x80", 4}, {"ok\x80", 3},
        {"\xf0\x8f\xbf\xbf", 4},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        pk = raw_cmd(&r, "maintenance", 2);
        pack_str(pk, "on"), msgpack_pack_true(pk), pack_str(pk, "reason");
        msgpack_pack_str(pk, bad[i].len), msgpack_pack_str_body(pk, bad[i].bytes, bad[i].len);
        expect_cmd_error(&r, "maintenance: field 'reason' must be UTF-8 text without NUL bytes");
    }
    /* The edges of valid UTF-8 pass. */
    const char *good[] = {"", "\x7f", "\xc2\x80", "\xe0\xa0\x80", "\xef\xbf\xbf",
                          "\xf0\x90\x80\x80", "\xf4\x8f\xbf\xbf"};
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        struct command_entry e;
        struct command c;
        pk = raw_cmd(&r, "maintenance", 2);
        pack_str(pk, "on"), msgpack_pack_false(pk), pack_str(pk, "reason"), pack_str(pk, good[i]);
        expect_cmd_ok(&r, &e, &c);
        assert_false(c.u.maintenance.on);
        assert_int_equal(c.u.maintenance.reason_len, strlen(good[i]));
        command_entry_free(&e);
        msgpack_sbuffer_destroy(&r.sb);
    }
}

static void test_fuzz_mutated_ownership_entries(void **state)
{
    (void)state;
    const uint64_t ids[] = {1, 2, 3};
    batch_engine_set(&batch, 1, "all", 3, "h:1|2", true);
    batch_heartbeat(&batch, ids, 3);
    batch_engine_dead(&batch, 2);
    batch_assign(&batch, "alpha", 1, 2, "failover", 17);
    batch_drain(&batch, 3, true);
    batch_pin(&batch, "alpha", 2);
    batch_maintenance(&batch, true, "upgrade");
    void *orig;
    size_t len;
    assert_int_equal(batch_build(&batch, 3, &orig, &len), 0);
    unsigned char *buf = malloc(len);
    assert_non_null(buf);
    unsigned decoded = 0;
    for (int round = 0; round < 100000; round++) {
        memcpy(buf, orig, len);
        unsigned flips = 1 + (unsigned)(rng() % 4);
        for (unsigned f = 0; f < flips; f++) {
            buf[rng() % len] = (unsigned char)rng();
        }
        int rc = decode_everything(buf, (size_t)(rng() % 8 == 0 ? rng() % (len + 1) : len));
        assert_true(rc == 0 || rc == 1);
        decoded += rc == 0;
    }
    assert_true(decoded > 0);
    free(buf);
    raft_free(orig);
}

/* project_add's "nocase" (command.h): packed true; absent in entries written before the case
 * rule, which decode as false; any other type is an invalid command. */
static void test_project_add_nocase(void **state)
{
    (void)state;
    struct raw r;
    struct command_entry e;
    struct command c;

    msgpack_packer *pk = raw_init(&r);
    pack_header(pk, 1);
    assert_int_equal(command_pack_project_add(pk, "Sales", 5), 0);
    expect_cmd_ok(&r, &e, &c);
    assert_int_equal(c.type, COMMAND_PROJECT_ADD);
    assert_true(c.u.project.nocase);
    command_entry_free(&e);
    msgpack_sbuffer_destroy(&r.sb);

    pk = raw_cmd(&r, "project_add", 1);
    pack_str(pk, "name"), pack_str(pk, "Sales");
    expect_cmd_ok(&r, &e, &c);
    assert_false(c.u.project.nocase);
    assert_memory_equal(c.u.project.name, "Sales", 5);
    command_entry_free(&e);
    msgpack_sbuffer_destroy(&r.sb);

    pk = raw_cmd(&r, "project_add", 2);
    pack_str(pk, "name"), pack_str(pk, "Sales"), pack_str(pk, "nocase"), msgpack_pack_false(pk);
    expect_cmd_ok(&r, &e, &c);
    assert_false(c.u.project.nocase);
    command_entry_free(&e);
    msgpack_sbuffer_destroy(&r.sb);

    pk = raw_cmd(&r, "project_add", 2);
    pack_str(pk, "name"), pack_str(pk, "Sales"), pack_str(pk, "nocase"), msgpack_pack_uint64(pk, 1);
    expect_cmd_error(&r, "project_add: field 'nocase' must be a boolean, got unsigned integer");

    /* "kylin" (the follow loop's add): packed true; absent = false; not a boolean = invalid */
    pk = raw_init(&r);
    pack_header(pk, 1);
    assert_int_equal(command_pack_project_add_kylin(pk, "Sales", 5), 0);
    expect_cmd_ok(&r, &e, &c);
    assert_true(c.u.project.kylin);
    assert_true(c.u.project.nocase);
    command_entry_free(&e);
    msgpack_sbuffer_destroy(&r.sb);

    pk = raw_init(&r);
    pack_header(pk, 1);
    assert_int_equal(command_pack_project_add(pk, "Sales", 5), 0);
    expect_cmd_ok(&r, &e, &c);
    assert_false(c.u.project.kylin);
    command_entry_free(&e);
    msgpack_sbuffer_destroy(&r.sb);

    pk = raw_cmd(&r, "project_add", 2);
    pack_str(pk, "name"), pack_str(pk, "Sales"), pack_str(pk, "kylin"), pack_str(pk, "yes");
    expect_cmd_error(&r, "project_add: field 'kylin' must be a boolean");
}

/* "by" of assign: optional (absent or nil = unknown, as in logs from before it existed),
 * printable ASCII when present; the audit command round-trips and checks its fields. */
static void test_who_fields(void **state)
{
    (void)state;
    struct raw r;
    msgpack_packer *pk = raw_init(&r);
    struct command_entry e;
    struct command c;
    char err[256], who[COMMAND_WHO_MAX + 2];

    pack_header(pk, 4);
    assert_int_equal(command_pack_assign_by(pk, "p1", 2, 1, 2, "move", 5, "admin"), 0);
    assert_int_equal(command_pack_assign_by(pk, "p1", 2, 2, 1, "failover", 6, NULL), 0);
    assert_int_equal(command_pack_assign(pk, "p1", 2, 1, 3, "rebalance", 7), 0);
    assert_int_equal(command_pack_audit(pk, "peer 127.0.0.1:5000", "project.add", "{\"name\"=>\"p1\"}", 8), 0);
    assert_int_equal(command_entry_decode(&e, r.sb.data, r.sb.size, err, sizeof err), 0);
    assert_int_equal(command_decode(&e, 0, &c, err, sizeof err), 0);
    assert_int_equal(c.type, COMMAND_ASSIGN);
    assert_int_equal(c.u.assign.by_len, 5);
    assert_memory_equal(c.u.assign.by, "admin", 5);
    assert_int_equal(c.u.assign.to, 2);
    assert_int_equal(command_decode(&e, 1, &c, err, sizeof err), 0);
    assert_null(c.u.assign.by); /* absent: automatic or unknown */
    assert_int_equal(command_decode(&e, 2, &c, err, sizeof err), 0);
    assert_null(c.u.assign.by);
    assert_int_equal(command_decode(&e, 3, &c, err, sizeof err), 0);
    assert_int_equal(c.type, COMMAND_AUDIT);
    assert_memory_equal(c.u.audit.by, "peer 127.0.0.1:5000", c.u.audit.by_len);
    assert_memory_equal(c.u.audit.method, "project.add", c.u.audit.method_len);
    assert_int_equal(c.u.audit.detail_len, strlen("{\"name\"=>\"p1\"}"));
    assert_int_equal(c.u.audit.time_ms, 8);
    command_entry_free(&e);
    msgpack_sbuffer_destroy(&r.sb);

    /* nil "by" decodes as absent */
    pk = raw_init(&r);
    pack_header(pk, 1);
    msgpack_pack_map(pk, 7);
    pack_str(pk, "t"), pack_str(pk, "assign");
    pack_str(pk, "by"), msgpack_pack_nil(pk);
    pack_str(pk, "project"), pack_str(pk, "p1");
    pack_str(pk, "from"), msgpack_pack_uint64(pk, 0);
    pack_str(pk, "to"), msgpack_pack_uint64(pk, 1);
    pack_str(pk, "reason"), pack_str(pk, "new");
    pack_str(pk, "time_ms"), msgpack_pack_uint64(pk, 0);
    assert_int_equal(command_entry_decode(&e, r.sb.data, r.sb.size, err, sizeof err), 0);
    assert_int_equal(command_decode(&e, 0, &c, err, sizeof err), 0);
    assert_null(c.u.assign.by);
    command_entry_free(&e);
    msgpack_sbuffer_destroy(&r.sb);

    /* a bad "by" refuses the command, the same way on every member */
    memset(who, 'w', sizeof who - 1);
    who[sizeof who - 1] = '\0';
    const char *bad_by[] = {"", "a\x01b", who};
    for (size_t i = 0; i < 3; i++) {
        pk = raw_init(&r); /* by hand: command_pack_assign_by leaves "" out */
        pack_header(pk, 1);
        msgpack_pack_map(pk, 7);
        pack_str(pk, "t"), pack_str(pk, "assign");
        pack_str(pk, "by"), pack_str(pk, bad_by[i]);
        pack_str(pk, "project"), pack_str(pk, "p1");
        pack_str(pk, "from"), msgpack_pack_uint64(pk, 0);
        pack_str(pk, "to"), msgpack_pack_uint64(pk, 1);
        pack_str(pk, "reason"), pack_str(pk, "new");
        pack_str(pk, "time_ms"), msgpack_pack_uint64(pk, 0);
        expect_cmd_error(&r, "assign: field 'by' must have 1..128 printable ASCII bytes");
    }

    /* audit: every field required; detail is UTF-8 text of at most 1024 bytes */
    const char *audit_keys[] = {"by", "method", "detail", "time_ms"};
    for (size_t skip = 0; skip < 4; skip++) {
        pk = raw_init(&r);
        pack_header(pk, 1);
        msgpack_pack_map(pk, 4);
        pack_str(pk, "t"), pack_str(pk, "audit");
        for (size_t k = 0; k < 4; k++) {
            if (k == skip) {
                continue;
            }
            pack_str(pk, audit_keys[k]);
            if (k == 3) {
                msgpack_pack_uint64(pk, 1);
            } else {
                pack_str(pk, "x");
            }
        }
        char want[64];
        snprintf(want, sizeof want, "audit: field '%s' is missing", audit_keys[skip]);
        expect_cmd_error(&r, want);
    }
    char detail[COMMAND_DETAIL_MAX + 2];
    memset(detail, 'd', sizeof detail - 1);
    detail[sizeof detail - 1] = '\0';
    pk = raw_init(&r);
    pack_header(pk, 1);
    assert_int_equal(command_pack_audit(pk, "admin", "maintenance", detail, 1), 0);
    expect_cmd_error(&r, "audit: field 'detail' must be UTF-8 text");
}

static void test_quote(void **state)
{
    (void)state;
    char out[128];
    command_quote(out, sizeof out, "ok_Name1", 8);
    assert_string_equal(out, "ok_Name1");
    command_quote(out, sizeof out, "a'\\\x01\xff", 5);
    assert_string_equal(out, "a\\x27\\x5c\\x01\\xff");
    char long_name[300];
    memset(long_name, 'n', sizeof long_name);
    command_quote(out, sizeof out, long_name, sizeof long_name);
    assert_int_equal(strlen(out), 67);
    assert_string_equal(out + 64, "...");
    command_quote(out, 5, "\x01\x02", 2); /* never overruns a small buffer */
    assert_string_equal(out, "\\x01");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_empty_entry_is_valid),
        cmocka_unit_test(test_build_n_concatenated),
        cmocka_unit_test(test_pack_keeps_bytes),
        cmocka_unit_test(test_entry_empty_and_non_map),
        cmocka_unit_test(test_entry_invalid_msgpack),
        cmocka_unit_test(test_entry_truncated_everywhere),
        cmocka_unit_test(test_entry_trailing_garbage),
        cmocka_unit_test(test_entry_bad_header_fields),
        cmocka_unit_test(test_entry_hostile_sizes),
        cmocka_unit_test(test_cmd_not_a_map_and_type_errors),
        cmocka_unit_test(test_cmd_field_errors),
        cmocka_unit_test(test_cmd_errors_are_per_command),
        cmocka_unit_test(test_fuzz_random_bytes),
        cmocka_unit_test(test_fuzz_mutated_entries),
        cmocka_unit_test(test_quote),
        cmocka_unit_test(test_project_add_nocase),
        cmocka_unit_test(test_who_fields),
        cmocka_unit_test(test_round_trip_ownership),
        cmocka_unit_test(test_heartbeat_limits),
        cmocka_unit_test(test_engine_set_field_errors),
        cmocka_unit_test(test_heartbeat_and_dead_field_errors),
        cmocka_unit_test(test_assign_field_errors),
        cmocka_unit_test(test_drain_pin_maintenance_field_errors),
        cmocka_unit_test(test_fuzz_mutated_ownership_entries),
    };
    return cmocka_run_group_tests_name("command", tests, NULL, NULL);
}
