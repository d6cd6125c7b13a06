/* Unit tests of the recorded Kylin claims (docs/kylin.md, "Recorded claims"): the
 * kylin_claimed command's packing and decoding (storage/command_kylin.c, command_decode.c),
 * its apply (storage/claims.c: compare-and-set on owner and epoch, stale records refused
 * "busy" in the result, assign clearing the claim), the reads, the hash and snapshots, and
 * schema version 4 (the v3 -> v4 migration of an existing state.db and of a v3 image). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <sqlite3.h>

#include "common/mp.h"
#include "storage/command_decode.h"
#include "storage/schema.h"
#include "store_helpers.h"

static struct batch batch;

#include "store_fixture.h"

/* The recorded claim of NAME: IDENTITY ("" = none) and EPOCH_ID. */
static void check_claim(struct store *s, const char *name, const char *identity, int64_t epoch_id)
{
    struct store_claim c;
    assert_int_equal(store_claim_get(s, name, strlen(name), &c), 1);
    if (identity[0] == '\0') {
        assert_null(c.identity);
    } else {
        assert_non_null(c.identity);
        assert_string_equal(c.identity, identity);
        assert_true(c.epoch_id == epoch_id);
    }
    store_claim_clear(&c);
}

/* Engines 1 and 2 (all), projects p1 (engine 1, epoch 1), p2 (engine 2, epoch 1), p3 (none). */
static void cluster(struct store *s, uint64_t *index)
{
    batch_engine_set(&batch, 1, "all", 1, "10.0.0.1:7070|1000", true);
    batch_engine_set(&batch, 2, "all", 1, "10.0.0.2:7070|2000", true);
    batch_add(&batch, "p1");
    batch_add(&batch, "p2");
    batch_add(&batch, "p3");
    batch_assign(&batch, "p1", 0, 1, "new", 1);
    batch_assign(&batch, "p2", 0, 2, "new", 1);
    expect_on(s, index, "ok", "ok", "ok", "ok", "ok", "ok", "ok", NULL);
}

/* --- pack and decode --- */

static void *entry_buf; /* the entry decode_one decoded: E's strings point into it */

/* Decodes the one command of `batch`'s entry into C (strings point into E and the entry's
 * buffer, which msgpack-c does not copy; entry_done frees both). */
static int decode_one(struct command_entry *e, struct command *c, char *err, size_t cap)
{
    size_t len = 0;
    assert_null(entry_buf);
    assert_int_equal(batch_build(&batch, 3, &entry_buf, &len), 0);
    assert_int_equal(command_entry_decode(e, entry_buf, len, err, cap), 0);
    assert_int_equal(e->n, 1);
    return command_decode(e, 0, c, err, cap);
}

static void entry_done(struct command_entry *e)
{
    command_entry_free(e);
    raft_free(entry_buf);
    entry_buf = NULL;
}

static void test_pack_decode_round_trip(void **state)
{
    (void)state;
    struct command_entry e;
    struct command c;
    char err[256];
    batch_kylin_claimed(&batch, "Sales", 7, 42, "10.0.0.7:7070|1700000000123", 9);
    assert_int_equal(decode_one(&e, &c, err, sizeof err), 0);
    assert_int_equal(c.type, COMMAND_KYLIN_CLAIMED);
    assert_int_equal(c.u.claimed.len, 5);
    assert_memory_equal(c.u.claimed.project, "Sales", 5);
    assert_int_equal(c.u.claimed.owner, 7);
    assert_int_equal(c.u.claimed.epoch, 42);
    assert_int_equal(c.u.claimed.identity_len, strlen("10.0.0.7:7070|1700000000123"));
    assert_memory_equal(c.u.claimed.identity, "10.0.0.7:7070|1700000000123", c.u.claimed.identity_len);
    assert_true(c.u.claimed.epoch_id == 9);
    entry_done(&e);

    /* Kylin's epoch_id is a signed int column: a negative one survives the round trip */
    batch_kylin_claimed(&batch, "p", 1, 0, "h:1|1", -3);
    assert_int_equal(decode_one(&e, &c, err, sizeof err), 0);
    assert_true(c.u.claimed.epoch_id == -3);
    entry_done(&e);
}

static void test_decode_refuses_bad_fields(void **state)
{
    (void)state;
    struct command_entry e;
    struct command c;
    char err[256];
    char long_identity[300];
    memset(long_identity, 'x', sizeof long_identity - 1);
    long_identity[sizeof long_identity - 1] = '\0';

    batch_kylin_claimed(&batch, "p", 0, 1, "h:1|1", 1); /* owner 0: a claim always has an owner */
    assert_int_equal(decode_one(&e, &c, err, sizeof err), 1);
    assert_non_null(strstr(err, "'owner'"));
    entry_done(&e);

    batch_kylin_claimed(&batch, "p", 1, 1, "", 1);
    assert_int_equal(decode_one(&e, &c, err, sizeof err), 1);
    assert_non_null(strstr(err, "'identity'"));
    entry_done(&e);

    batch_kylin_claimed(&batch, "p", 1, 1, "h:1|\x01", 1);
    assert_int_equal(decode_one(&e, &c, err, sizeof err), 1);
    assert_non_null(strstr(err, "printable"));
    entry_done(&e);

    batch_kylin_claimed(&batch, "p", 1, 1, long_identity, 1);
    assert_int_equal(decode_one(&e, &c, err, sizeof err), 1);
    assert_non_null(strstr(err, "1..255"));
    entry_done(&e);

    /* a map without epoch_id */
    msgpack_packer pk;
    batch_next(&batch, &pk);
    msgpack_pack_map(&pk, 5);
    mp_pack_kv_str(&pk, "t", "kylin_claimed");
    mp_pack_kv_str(&pk, "project", "p");
    mp_pack_kv_u64(&pk, "owner", 1);
    mp_pack_kv_u64(&pk, "epoch", 1);
    mp_pack_kv_str(&pk, "identity", "h:1|1");
    assert_int_equal(decode_one(&e, &c, err, sizeof err), 1);
    assert_non_null(strstr(err, "'epoch_id' is missing"));
    entry_done(&e);

    /* epoch_id of the wrong type; beyond INT64_MAX */
    batch_next(&batch, &pk);
    msgpack_pack_map(&pk, 6);
    mp_pack_kv_str(&pk, "t", "kylin_claimed");
    mp_pack_kv_str(&pk, "project", "p");
    mp_pack_kv_u64(&pk, "owner", 1);
    mp_pack_kv_u64(&pk, "epoch", 1);
    mp_pack_kv_str(&pk, "identity", "h:1|1");
    mp_pack_kv_u64(&pk, "epoch_id", UINT64_MAX);
    assert_int_equal(decode_one(&e, &c, err, sizeof err), 1);
    assert_non_null(strstr(err, "'epoch_id' must be at most"));
    entry_done(&e);
}

/* --- apply --- */

static void test_apply_records_claim(void **state)
{
    struct fixture *f = *state;
    cluster(&f->s, &f->index);
    check_claim(&f->s, "p1", "", 0);
    uint64_t version = f->s.ownership_version, decision = f->s.decision_index, h0 = hash_of(&f->s);

    batch_kylin_claimed(&batch, "p1", 1, 1, "10.0.0.1:7070|555", 4);
    expect(f, "ok", NULL);
    check_claim(&f->s, "p1", "10.0.0.1:7070|555", 4);
    check_claim(&f->s, "p2", "", 0);
    /* a record is not an ownership decision: planners and the mirror are not woken */
    assert_true(f->s.ownership_version == version);
    assert_true(f->s.decision_index == decision);
    uint64_t h1 = hash_of(&f->s);
    assert_true(h1 != h0); /* replicated, so hashed */

    /* the same record again changes nothing */
    batch_kylin_claimed(&batch, "p1", 1, 1, "10.0.0.1:7070|555", 4);
    expect(f, "ok", NULL);
    assert_true(hash_of(&f->s) == h1);

    /* Kylin claimed again (repair): a new epoch_id, same decision */
    batch_kylin_claimed(&batch, "p1", 1, 1, "10.0.0.1:7070|555", 5);
    batch_kylin_claimed(&batch, "p2", 2, 1, "10.0.0.2:7070|777", -1);
    expect(f, "ok", "ok", NULL);
    check_claim(&f->s, "p1", "10.0.0.1:7070|555", 5);
    check_claim(&f->s, "p2", "10.0.0.2:7070|777", -1);
}

static void test_stale_claims_are_ignored(void **state)
{
    struct fixture *f = *state;
    cluster(&f->s, &f->index);
    batch_kylin_claimed(&batch, "p1", 1, 1, "10.0.0.1:7070|555", 4);
    expect(f, "ok", NULL);
    uint64_t h = hash_of(&f->s);

    batch_kylin_claimed(&batch, "p1", 2, 1, "10.0.0.2:7070|1", 9);   /* another owner */
    batch_kylin_claimed(&batch, "p1", 1, 0, "10.0.0.1:7070|555", 9); /* an older epoch */
    batch_kylin_claimed(&batch, "p3", 1, 0, "10.0.0.1:7070|555", 9); /* no owner at all */
    batch_kylin_claimed(&batch, "nope", 1, 1, "10.0.0.1:7070|555", 9);
    batch_kylin_claimed(&batch, "p2", 2, 1, "10.0.0.2:7070|1", 3);   /* a good sibling applies */
    expect(f, "busy:stale claim of p1: made for engine 2 at epoch 1", "busy:now engine 1's (0 = none) at epoch 1",
           "busy:stale claim of p3", "not_found", "ok", NULL);
    check_claim(&f->s, "p1", "10.0.0.1:7070|555", 4);
    check_claim(&f->s, "p3", "", 0);
    check_claim(&f->s, "p2", "10.0.0.2:7070|1", 3);
    assert_true(hash_of(&f->s) != h);
}

static void test_assign_clears_claim(void **state)
{
    struct fixture *f = *state;
    cluster(&f->s, &f->index);
    batch_kylin_claimed(&batch, "p1", 1, 1, "10.0.0.1:7070|555", 4);
    batch_kylin_claimed(&batch, "p2", 2, 1, "10.0.0.2:7070|777", 2);
    expect(f, "ok", "ok", NULL);

    batch_assign(&batch, "p1", 1, 2, "move", 2);
    expect(f, "ok", NULL);
    check_claim(&f->s, "p1", "", 0);               /* the owner changed: the claim is gone */
    check_claim(&f->s, "p2", "10.0.0.2:7070|777", 2); /* others keep theirs */

    /* the old owner's late record for epoch 1 is stale; the new owner's for epoch 2 applies */
    batch_kylin_claimed(&batch, "p1", 1, 1, "10.0.0.1:7070|555", 6);
    batch_kylin_claimed(&batch, "p1", 2, 2, "10.0.0.2:7070|777", 5);
    expect(f, "busy", "ok", NULL);
    check_claim(&f->s, "p1", "10.0.0.2:7070|777", 5);

    /* a no-op assign (same owner) keeps the claim; a failover to none clears it */
    batch_assign(&batch, "p1", 2, 2, "move", 3);
    expect(f, "ok", NULL);
    check_claim(&f->s, "p1", "10.0.0.2:7070|777", 5);
    batch_engine_dead(&batch, 2);
    batch_assign(&batch, "p1", 2, 0, "failover", 4);
    expect(f, "ok", "ok", NULL);
    check_claim(&f->s, "p1", "", 0);

    /* removing and re-adding a project starts without a claim */
    batch_remove(&batch, "p2");
    batch_add(&batch, "p2");
    expect(f, "ok", "ok", NULL);
    check_claim(&f->s, "p2", "", 0);
}

static void test_load_claims(void **state)
{
    struct fixture *f = *state;
    cluster(&f->s, &f->index);
    batch_kylin_claimed(&batch, "p1", 1, 1, "10.0.0.1:7070|555", 4);
    expect(f, "ok", NULL);
    struct store_claim *rows;
    size_t n;
    assert_int_equal(store_load_claims(&f->s, 0, &rows, &n), 0);
    assert_int_equal(n, 4); /* _global, p1, p2, p3 by name */
    assert_string_equal(rows[0].name, "_global");
    assert_string_equal(rows[1].name, "p1");
    assert_int_equal(rows[1].owner, 1);
    assert_int_equal(rows[1].epoch, 1);
    assert_string_equal(rows[1].identity, "10.0.0.1:7070|555");
    assert_null(rows[2].identity);
    assert_int_equal(rows[3].owner, 0);
    store_free_claims(rows, n);
    assert_int_equal(store_load_claims(&f->s, 2, &rows, &n), 0);
    assert_int_equal(n, 1);
    assert_string_equal(rows[0].name, "p2");
    store_free_claims(rows, n);
    assert_int_equal(store_load_claims(&f->s, 9, &rows, &n), 0);
    assert_int_equal(n, 0);
    store_free_claims(rows, n);
    struct store_claim c;
    assert_int_equal(store_claim_get(&f->s, "zz", 2, &c), 0);
}

/* Two members applying the same log agree, and an image carries the claims. */
static void test_replay_hash_and_snapshot(void **state)
{
    struct fixture *f = *state;
    struct store b;
    uint64_t ib = 1;
    assert_int_equal(store_open(&b, ":memory:"), 0);
    cluster(&f->s, &f->index);
    cluster(&b, &ib);
    batch_kylin_claimed(&batch, "p1", 1, 1, "10.0.0.1:7070|555", 4);
    batch_kylin_claimed(&batch, "p2", 1, 1, "10.0.0.1:7070|555", 4); /* stale on both */
    expect(f, "ok", "busy", NULL);
    batch_kylin_claimed(&batch, "p1", 1, 1, "10.0.0.1:7070|555", 4);
    batch_kylin_claimed(&batch, "p2", 1, 1, "10.0.0.1:7070|555", 4);
    expect_on(&b, &ib, "ok", "busy", NULL);
    assert_true(hash_of(&f->s) == hash_of(&b));
    /* a replayed entry is skipped */
    batch_kylin_claimed(&batch, "p1", 1, 1, "10.0.0.1:7070|999", 8);
    struct store_results r;
    assert_int_equal(batch_apply(&b, &batch, ib - 1, &r), 0);
    assert_int_equal(r.n, 0);
    store_results_free(&r);
    check_claim(&b, "p1", "10.0.0.1:7070|555", 4);

    void *image;
    size_t len;
    struct store c;
    assert_int_equal(store_snapshot(&f->s, &image, &len), 0);
    assert_int_equal(store_open(&c, ":memory:"), 0);
    assert_int_equal(store_restore(&c, image, len), 0);
    sqlite3_free(image);
    check_claim(&c, "p1", "10.0.0.1:7070|555", 4);
    assert_true(hash_of(&c) == hash_of(&f->s));
    store_close(&c);
    store_close(&b);
}

/* --- schema version 4 --- */

/* A state.db as schema version 3 left it: project p1 owned by engine 2 at epoch 1. */
static const char v3_ddl[] =
    STORE_V2_TABLES_DDL
    "INSERT INTO meta (key, value) VALUES ('applied_index', 20), ('schema_version', 3),"
    "  ('decision_index', 18);"
    "INSERT INTO projects (name, owner, epoch) VALUES ('_global', NULL, 0), ('p1', 2, 1);"
    STORE_ENGINE2_OWNS_P1_ROWS("18");

/* The same state reached through the log on a fresh store. */
static void v3_state_by_log(struct store *s)
{
    uint64_t index = 18;
    batch_engine_set(&batch, 2, "all", 1, "10.0.0.2:7070|5", true);
    batch_add(&batch, "p1");
    batch_assign(&batch, "p1", 0, 2, "new", 1);
    expect_on(s, &index, "ok", "ok", "ok", NULL);
}

static void test_migration_v3_to_current(void **state)
{
    (void)state;
    char dir[] = "/tmp/test_claims.XXXXXX";
    char path[256];
    db_file_from_ddl(dir, path, sizeof path, v3_ddl);

    struct store s, fresh;
    assert_int_equal(store_open(&s, path), 0);
    assert_int_equal(q_int(&s, "SELECT value FROM meta WHERE key = 'schema_version'"), SCHEMA_VERSION);
    assert_int_equal(s.applied_index, 20);
    assert_int_equal(s.decision_index, 18);
    check_claim(&s, "p1", "", 0); /* as a replay of its log would leave it */
    /* the migrated store hashes like a fresh one that applied the same commands */
    assert_int_equal(store_open(&fresh, ":memory:"), 0);
    v3_state_by_log(&fresh);
    assert_true(hash_of(&s) == hash_of(&fresh));

    /* and serves the new command */
    uint64_t index = 21;
    batch_kylin_claimed(&batch, "p1", 2, 1, "10.0.0.2:7070|99", 3);
    expect_on(&s, &index, "ok", NULL);
    index = 21;
    batch_kylin_claimed(&batch, "p1", 2, 1, "10.0.0.2:7070|99", 3);
    expect_on(&fresh, &index, "ok", NULL);
    uint64_t h = hash_of(&s);
    assert_true(h == hash_of(&fresh));
    store_close(&s);
    store_close(&fresh);

    /* reopening is a no-op */
    assert_int_equal(store_open(&s, path), 0);
    assert_int_equal(q_int(&s, "SELECT value FROM meta WHERE key = 'schema_version'"), SCHEMA_VERSION);
    check_claim(&s, "p1", "10.0.0.2:7070|99", 3);
    assert_true(hash_of(&s) == h);
    store_close(&s);
    remove_dir(dir);
}

/* A v3 image (a snapshot from a member not yet upgraded) is migrated on the way in. */
static void test_restore_v3_image(void **state)
{
    struct fixture *f = *state;
    restore_from_ddl(&f->s, v3_ddl);
    assert_int_equal(f->s.applied_index, 20);
    check_claim(&f->s, "p1", "", 0);
    f->index = 21;
    batch_kylin_claimed(&batch, "p1", 2, 1, "10.0.0.2:7070|99", 3);
    expect(f, "ok", NULL);
    check_claim(&f->s, "p1", "10.0.0.2:7070|99", 3);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pack_decode_round_trip),
        cmocka_unit_test(test_decode_refuses_bad_fields),
        T(test_apply_records_claim),
        T(test_stale_claims_are_ignored),
        T(test_assign_clears_claim),
        T(test_load_claims),
        T(test_replay_hash_and_snapshot),
        cmocka_unit_test(test_migration_v3_to_current),
        T(test_restore_v3_image),
    };
    return cmocka_run_group_tests_name("claims", tests, NULL, NULL);
}
