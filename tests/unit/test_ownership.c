/* Unit tests of the engine and ownership commands (storage/ownership.c), the reads that
 * serve them (storage/query.c), and schema version 2 (storage/schema.c): engine upserts and
 * single-engine mode, heartbeats, the assign compare-and-set with invariants 1 and 3,
 * maintenance, pins, drains, history, ownership_version, replay, snapshots, hashing and the
 * v1 -> v2 migration. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <sqlite3.h>

#include "common/mp.h"
#include "storage/schema.h"
#include "store_helpers.h"

static struct batch batch;

#include "store_fixture.h"

static struct store_engine engine(struct store *s, uint64_t id)
{
    struct store_engine e;
    assert_int_equal(store_engine_get(s, id, &e), 1);
    return e;
}

static struct store_project_row project(struct store *s, const char *name)
{
    struct store_project_row p;
    assert_int_equal(store_project_get(s, name, strlen(name), &p), 1);
    free(p.name);
    p.name = NULL;
    return p;
}

/* Engines 1 (all), 2 (job), 3 (query), all alive and racing; projects p1, p2, p3. */
static void standard_cluster(struct fixture *f)
{
    batch_engine_set(&batch, 1, "all", 1, "10.0.0.1:7070|1000", true);
    batch_engine_set(&batch, 2, "job", 2, "10.0.0.2:7070|2000", true);
    batch_engine_set(&batch, 3, "query", 1, "10.0.0.3:7070|3000", true);
    batch_add(&batch, "p1");
    batch_add(&batch, "p2");
    batch_add(&batch, "p3");
    expect(f, "ok", "ok", "ok", "ok", "ok", "ok", NULL);
}

/* Decodes a packed msgpack buffer; the caller destroys U. */
static const msgpack_object *unpack(msgpack_sbuffer *sb, msgpack_unpacked *u)
{
    size_t off = 0;
    msgpack_unpacked_init(u);
    assert_int_equal(msgpack_unpack_next(u, sb->data, sb->size, &off), MSGPACK_UNPACK_SUCCESS);
    assert_int_equal(off, sb->size);
    return &u->data;
}

/* --- engines --- */

static void test_engine_set_insert_and_update(void **state)
{
    struct fixture *f = *state;
    assert_int_equal(store_engine_get(&f->s, 1, &(struct store_engine){0}), 0);
    uint64_t v0 = f->s.ownership_version;
    batch_engine_set(&batch, 1, "all", 3, "h1:7070|111", true);
    expect(f, "ok", NULL);
    assert_true(f->s.ownership_version > v0);
    struct store_engine e = engine(&f->s, 1);
    assert_int_equal(e.id, 1);
    assert_string_equal(e.mode, "all");
    assert_int_equal(e.weight, 3);
    assert_string_equal(e.identity, "h1:7070|111");
    assert_true(e.race_enabled);
    assert_true(e.alive);
    assert_false(e.draining);
    assert_int_equal(e.heartbeats, 0);
    assert_int_equal(e.last_heartbeat_index, 0);
    assert_int_equal(e.projects, 0);

    /* An update changes mode/weight/identity/race_enabled only: liveness, drain flag and
     * heartbeat counters stay. */
    const uint64_t ids[] = {1};
    batch_heartbeat(&batch, ids, 1);
    batch_engine_dead(&batch, 1);
    batch_drain(&batch, 1, true);
    expect(f, "ok", "ok", "ok", NULL);
    uint64_t v1 = f->s.ownership_version;
    batch_engine_set(&batch, 1, "job", 5, "h1:7070|222", false);
    expect(f, "ok", NULL);
    assert_true(f->s.ownership_version > v1);
    e = engine(&f->s, 1);
    assert_string_equal(e.mode, "job");
    assert_int_equal(e.weight, 5);
    assert_string_equal(e.identity, "h1:7070|222");
    assert_false(e.race_enabled);
    assert_false(e.alive);
    assert_true(e.draining);
    assert_int_equal(e.heartbeats, 1);
    assert_int_equal(e.last_heartbeat_index, 2);

    /* The same settings again change nothing: no ownership_version bump. */
    uint64_t v2 = f->s.ownership_version;
    batch_engine_set(&batch, 1, "job", 5, "h1:7070|222", false);
    expect(f, "ok", NULL);
    assert_true(f->s.ownership_version == v2);
}

static void test_single_engine_mode(void **state)
{
    struct fixture *f = *state;
    batch_engine_set(&batch, 1, "all", 1, "h1:1|1", false);
    batch_engine_set(&batch, 2, "job", 1, "h2:1|1", false);
    batch_engine_set(&batch, 3, "query", 1, "h3:1|1", false); /* query engines own nothing */
    batch_engine_set(&batch, 4, "all", 1, "h4:1|1", true);
    batch_engine_set(&batch, 1, "job", 2, "h1:1|2", false); /* the single engine itself */
    expect(f, "ok",
           "invalid:single-engine mode (kylin.server.leader-race.enabled=false): engine 1 "
           "already owns every project; only one such engine may exist",
           "ok", "ok", "ok", NULL);
    assert_int_equal(store_engine_get(&f->s, 2, &(struct store_engine){0}), 0);

    /* Turning the race off on a second engine is refused too, and leaves it as it was. */
    batch_engine_set(&batch, 4, "all", 7, "h4:1|9", false);
    expect(f, "invalid:engine 1 already owns every project", NULL);
    struct store_engine e = engine(&f->s, 4);
    assert_true(e.race_enabled);
    assert_int_equal(e.weight, 1);
    assert_string_equal(e.identity, "h4:1|1");

    /* Once engine 1 races again, another may take the single role. */
    batch_engine_set(&batch, 1, "job", 2, "h1:1|2", true);
    batch_engine_set(&batch, 4, "all", 7, "h4:1|9", false);
    expect(f, "ok", "ok", NULL);
    assert_false(engine(&f->s, 4).race_enabled);
}

static void test_heartbeat(void **state)
{
    struct fixture *f = *state;
    standard_cluster(f); /* index 1 */
    batch_assign(&batch, "p1", 0, 2, "new", 100);
    batch_engine_dead(&batch, 2);
    expect(f, "ok", "ok", NULL); /* index 2 */
    assert_false(engine(&f->s, 2).alive);

    /* Unknown ids are ignored; a plain heartbeat is no ownership change. */
    const uint64_t live[] = {1, 3, 99};
    uint64_t v = f->s.ownership_version;
    batch_heartbeat(&batch, live, 3);
    expect(f, "ok", NULL); /* index 3 */
    assert_true(f->s.ownership_version == v);
    assert_int_equal(engine(&f->s, 1).heartbeats, 1);
    assert_int_equal(engine(&f->s, 1).last_heartbeat_index, 3);
    assert_int_equal(engine(&f->s, 2).heartbeats, 0);
    assert_int_equal(store_engine_get(&f->s, 99, &(struct store_engine){0}), 0);

    /* A heartbeat revives the dead engine 2: counted, owners and epochs untouched. */
    const uint64_t two[] = {2, 1};
    batch_heartbeat(&batch, two, 2);
    expect(f, "ok", NULL); /* index 4 */
    assert_true(f->s.ownership_version > v);
    struct store_engine e = engine(&f->s, 2);
    assert_true(e.alive);
    assert_int_equal(e.heartbeats, 1);
    assert_int_equal(e.last_heartbeat_index, 4);
    assert_int_equal(engine(&f->s, 1).heartbeats, 2);
    struct store_project_row p = project(&f->s, "p1");
    assert_int_equal(p.owner, 2);
    assert_int_equal(p.epoch, 1);
    assert_int_equal(q_int(&f->s, "SELECT count(*) FROM history"), 1);

    /* An empty batch is fine. */
    batch_heartbeat(&batch, NULL, 0);
    expect(f, "ok", NULL);
}

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

/* A heartbeat of 5000 engines is one command on the event loop: a few ms. */
static void test_heartbeat_many_is_fast(void **state)
{
    struct fixture *f = *state;
    enum { N = 5000 };
    for (unsigned i = 1; i <= N; i++) {
        char identity[32];
        snprintf(identity, sizeof identity, "h%u:7070|1", i);
        batch_engine_set(&batch, i, "all", 1, identity, true);
        if (batch.n == 1000) {
            struct store_results r;
            assert_int_equal(batch_apply(&f->s, &batch, f->index++, &r), 0);
            store_results_free(&r);
        }
    }
    static uint64_t ids[N];
    for (unsigned i = 0; i < N; i++) {
        ids[i] = N - i; /* any order */
    }
    double best = 1e9;
    for (unsigned round = 0; round < 5; round++) {
        batch_heartbeat(&batch, ids, N);
        void *buf;
        size_t len;
        assert_int_equal(batch_build(&batch, 1, &buf, &len), 0);
        struct store_results r;
        double t0 = now_ms();
        assert_int_equal(store_apply(&f->s, f->index, buf, len, &r), 0);
        double ms = now_ms() - t0;
        best = ms < best ? ms : best;
        assert_int_equal(store_result_refused(&r.cmds[0]), 0);
        store_results_free(&r);
        raft_free(buf);
        f->index++;
    }
    print_message("heartbeat of %d engines: best %.2f ms\n", N, best);
    assert_true(best < 200.0); /* a few ms normally; generous for sanitizer builds */
    assert_int_equal(engine(&f->s, 1).heartbeats, 5);
    assert_int_equal(engine(&f->s, N).last_heartbeat_index, f->index - 1);
}

static void test_engine_dead(void **state)
{
    struct fixture *f = *state;
    standard_cluster(f);
    uint64_t v = f->s.ownership_version;
    batch_engine_dead(&batch, 1);
    batch_engine_dead(&batch, 42);
    expect(f, "ok", "not_found:engine_dead: no engine with id 42", NULL);
    assert_false(engine(&f->s, 1).alive);
    assert_true(f->s.ownership_version == v + 1);
    batch_engine_dead(&batch, 1); /* already dead: ok, nothing changes */
    expect(f, "ok", NULL);
    assert_true(f->s.ownership_version == v + 1);
}

/* --- assign --- */

static void test_assign_compare_and_set(void **state)
{
    struct fixture *f = *state;
    standard_cluster(f);
    uint64_t h = hash_of(&f->s);
    uint64_t v = f->s.ownership_version;
    batch_assign(&batch, "p1", 1, 2, "move", 5); /* owner is none, not 1 */
    batch_assign(&batch, "nope", 0, 1, "new", 5);
    expect(f, "busy:stale move of p1: owner is none, not 1",
           "not_found:assign: project 'nope' does not exist", NULL);
    assert_true(hash_of(&f->s) == h); /* nothing changed */
    assert_true(f->s.ownership_version == v);

    batch_assign(&batch, "p1", 0, 1, "new", 5);
    batch_assign(&batch, "p1", 0, 2, "new", 6); /* a second plan made on the old state */
    batch_assign(&batch, "p1", 2, 1, "move", 7);
    expect(f, "ok", "busy:stale move of p1: owner is 1, not none",
           "busy:stale move of p1: owner is 1, not 2", NULL);
    struct store_project_row p = project(&f->s, "p1");
    assert_int_equal(p.owner, 1);
    assert_int_equal(p.epoch, 1);
    assert_int_equal(q_int(&f->s, "SELECT count(*) FROM history"), 1);
    assert_true(f->s.ownership_version == v + 1);

    /* _global is a project like any other. */
    batch_assign(&batch, "_global", 0, 2, "new", 8);
    expect(f, "ok", NULL);
    assert_int_equal(project(&f->s, "_global").owner, 2);
}

/* assign runs without a savepoint (storage/fsm.c): its history row cannot be refused once
 * the owner changed, so a failure there (injected: it cannot happen on its own) stops the FSM
 * and rolls the whole entry back; the same entry applies once the fault is gone. */
static void test_assign_history_failure_is_fatal(void **state)
{
    struct fixture *f = *state;
    standard_cluster(f);
    uint64_t h = hash_of(&f->s);
    assert_int_equal(sqlite3_exec(f->s.db,
                                  "CREATE TEMP TRIGGER fail_history BEFORE INSERT ON main.history "
                                  "WHEN NEW.project = 'p2' BEGIN SELECT RAISE(ABORT, 'injected'); END",
                                  NULL, NULL, NULL),
                     SQLITE_OK);
    batch_assign(&batch, "p1", 0, 1, "new", 5);
    batch_assign(&batch, "p2", 0, 1, "new", 5);
    struct store_results r;
    assert_int_equal(batch_apply(&f->s, &batch, f->index, &r), -1);
    store_results_free(&r);
    char want[128];
    snprintf(want, sizeof want,
             "store: apply index %llu: assign 'p2': history row after the owner change: injected",
             (unsigned long long)f->index);
    assert_string_equal(f->s.errmsg, want);
    assert_int_equal(sqlite3_get_autocommit(f->s.db), 1);
    assert_true(f->s.applied_index == f->index - 1);
    assert_true(hash_of(&f->s) == h); /* p1's change went with the entry */
    assert_int_equal(project(&f->s, "p1").owner, 0);

    assert_int_equal(sqlite3_exec(f->s.db, "DROP TRIGGER fail_history", NULL, NULL, NULL), SQLITE_OK);
    batch_assign(&batch, "p1", 0, 1, "new", 5);
    batch_assign(&batch, "p2", 0, 1, "new", 5);
    expect(f, "ok", "ok", NULL);
    assert_int_equal(project(&f->s, "p2").owner, 1);
    assert_int_equal(project(&f->s, "p2").epoch, 1);
    assert_int_equal(q_int(&f->s, "SELECT count(*) FROM history"), 2);
}

static void test_assign_to_ineligible(void **state)
{
    struct fixture *f = *state;
    standard_cluster(f);
    batch_engine_set(&batch, 4, "all", 1, "h4:1|1", true);
    batch_engine_set(&batch, 5, "job", 1, "h5:1|1", true);
    batch_engine_dead(&batch, 4);
    batch_drain(&batch, 5, true);
    batch_assign(&batch, "p1", 0, 1, "new", 1);
    expect(f, "ok", "ok", "ok", "ok", "ok", NULL);
    uint64_t h = hash_of(&f->s);
    batch_assign(&batch, "p1", 1, 4, "failover", 2);
    batch_assign(&batch, "p1", 1, 5, "move", 2);
    batch_assign(&batch, "p1", 1, 3, "move", 2);
    batch_assign(&batch, "p1", 1, 42, "move", 2);
    batch_assign(&batch, "p2", 0, 4, "new", 2);
    expect(f, "invalid:cannot assign p1 to engine 4: it is dead",
           "invalid:cannot assign p1 to engine 5: it is draining",
           "invalid:cannot assign p1 to engine 3: it runs in query mode",
           "invalid:cannot assign p1 to engine 42: no such engine",
           "invalid:cannot assign p2 to engine 4: it is dead", NULL);
    assert_true(hash_of(&f->s) == h);
    /* An ineligible owner keeps its project until moved away; moving away is allowed. */
    batch_drain(&batch, 1, true);
    batch_assign(&batch, "p1", 1, 2, "drain", 3);
    expect(f, "ok", "ok", NULL);
    assert_int_equal(project(&f->s, "p1").owner, 2);
}

static void test_maintenance_freezes(void **state)
{
    struct fixture *f = *state;
    standard_cluster(f);
    bool on = true;
    char reason[64] = "x";
    assert_int_equal(store_maintenance(&f->s, &on, reason, sizeof reason), 0);
    assert_false(on);
    assert_string_equal(reason, "");

    uint64_t v = f->s.ownership_version;
    batch_maintenance(&batch, true, "upgrading the metastore");
    batch_assign(&batch, "p1", 0, 1, "new", 1);
    expect(f, "ok", "invalid:maintenance mode is on: ownership is frozen", NULL);
    assert_true(f->s.ownership_version == v + 1);
    assert_int_equal(store_maintenance(&f->s, &on, reason, sizeof reason), 0);
    assert_true(on);
    assert_string_equal(reason, "upgrading the metastore");
    char small[8];
    assert_int_equal(store_maintenance(&f->s, &on, small, sizeof small), 0);
    assert_string_equal(small, "upgradi"); /* cut to the buffer */
    /* a cut never splits a character: "ab\u00e9\u00e9" is 6 bytes; 5 fit in small[6]... */
    batch_maintenance(&batch, true, "ab\xc3\xa9\xc3\xa9");
    expect(f, "ok", NULL);
    char six[6];
    assert_int_equal(store_maintenance(&f->s, &on, six, sizeof six), 0);
    assert_string_equal(six, "ab\xc3\xa9"); /* ...but the fifth is half of the second e-acute */
    char five[5];
    assert_int_equal(store_maintenance(&f->s, &on, five, sizeof five), 0);
    assert_string_equal(five, "ab\xc3\xa9");
    batch_maintenance(&batch, true, "upgrading the metastore");
    expect(f, "ok", NULL);
    v = f->s.ownership_version; /* each new reason counted as a change */
    assert_int_equal(project(&f->s, "p1").owner, 0);

    batch_maintenance(&batch, true, "upgrading the metastore"); /* same: no change */
    expect(f, "ok", NULL);
    assert_true(f->s.ownership_version == v);

    batch_maintenance(&batch, false, "");
    batch_assign(&batch, "p1", 0, 1, "new", 1);
    expect(f, "ok", "ok", NULL);
    assert_int_equal(store_maintenance(&f->s, &on, reason, sizeof reason), 0);
    assert_false(on);
    assert_int_equal(project(&f->s, "p1").owner, 1);
}

/* Invariant 1: the epoch changes exactly when the owner changes, by +1, never down. */
static void test_epoch_follows_owner(void **state)
{
    struct fixture *f = *state;
    standard_cluster(f);
    struct {
        uint64_t from, to;
        uint64_t owner, epoch, history;
    } steps[] = {
        {0, 0, 0, 0, 0}, /* none -> none: no-op */
        {0, 1, 1, 1, 1}, {1, 1, 1, 1, 1}, /* same owner: no-op */
        {1, 2, 2, 2, 2}, {2, 0, 0, 3, 3}, /* unassigned: still a change of owner */
        {0, 0, 0, 3, 3}, {0, 2, 2, 4, 4}, {2, 2, 2, 4, 4},
    };
    for (size_t i = 0; i < sizeof steps / sizeof steps[0]; i++) {
        uint64_t v = f->s.ownership_version;
        batch_assign(&batch, "p2", steps[i].from, steps[i].to, "move", 1000 + i);
        expect(f, "ok", NULL);
        struct store_project_row p = project(&f->s, "p2");
        assert_int_equal(p.owner, steps[i].owner);
        assert_int_equal(p.epoch, steps[i].epoch);
        assert_int_equal(q_int(&f->s, "SELECT count(*) FROM history"), steps[i].history);
        assert_true(f->s.ownership_version == v + (steps[i].from != steps[i].to));
    }
    /* The owner column is NULL (not 0) when unassigned. */
    assert_int_equal(q_int(&f->s, "SELECT count(*) FROM projects WHERE owner = 0"), 0);
}

/* "by" of an assign lands in its history row ("by" nil without it); an audit command adds a
 * row to the audit table with who, method and detail. */
static void test_history_by_and_audit(void **state)
{
    struct fixture *f = *state;
    msgpack_packer pk;
    standard_cluster(f);
    command_pack_audit(batch_next(&batch, &pk), "admin", "project.move", "{\"name\"=>\"p1\"}", 1700000000000);
    command_pack_assign_by(batch_next(&batch, &pk), "p1", 2, 0, 1, "move", 1700000000001, "admin");
    batch_assign(&batch, "p1", 1, 2, "failover", 1700000000002);
    struct store_results r;
    assert_int_equal(batch_apply_term(&f->s, &batch, 7, 3, &r), 0);
    for (int i = 0; i < 3; i++) {
        assert_int_equal(store_result_refused(&r.cmds[i]), 0);
    }
    store_results_free(&r);

    msgpack_sbuffer sb;
    msgpack_unpacked u;
    const msgpack_object *a, *v;
    msgpack_sbuffer_init(&sb);
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    assert_int_equal(store_pack_history(&f->s, "p1", 2, 0, &pk), 0);
    a = unpack(&sb, &u);
    assert_int_equal(a->via.array.size, 2);
    v = mp_get(&a->via.array.ptr[0], "by");
    assert_true(v != NULL && mp_str_eq(v, "admin"));
    v = mp_get(&a->via.array.ptr[1], "by");
    assert_true(v != NULL && v->type == MSGPACK_OBJECT_NIL);
    msgpack_unpacked_destroy(&u);
    msgpack_sbuffer_destroy(&sb);

    msgpack_sbuffer_init(&sb);
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    assert_int_equal(store_pack_audit(&f->s, 0, &pk), 0);
    a = unpack(&sb, &u);
    assert_int_equal(a->via.array.size, 1);
    const msgpack_object *row = &a->via.array.ptr[0];
    uint64_t n;
    assert_int_equal(mp_get_u64(row, "index", &n), 0);
    assert_int_equal(n, 7);
    assert_int_equal(mp_get_u64(row, "time_ms", &n), 0);
    assert_true(n == 1700000000000);
    assert_true(mp_str_eq(mp_get(row, "by"), "admin"));
    assert_true(mp_str_eq(mp_get(row, "method"), "project.move"));
    assert_true(mp_str_eq(mp_get(row, "detail"), "{\"name\"=>\"p1\"}"));
    msgpack_unpacked_destroy(&u);
    msgpack_sbuffer_destroy(&sb);
}

static void test_history_rows(void **state)
{
    struct fixture *f = *state;
    standard_cluster(f);
    batch_assign(&batch, "p1", 0, 1, "new", 1700000000123);
    batch_assign(&batch, "p1", 1, 2, "failover", 1700000000456);
    struct store_results r;
    assert_int_equal(batch_apply_term(&f->s, &batch, 7, 3, &r), 0);
    assert_int_equal(store_result_refused(&r.cmds[0]), 0);
    assert_int_equal(store_result_refused(&r.cmds[1]), 0);
    store_results_free(&r);
    batch_assign(&batch, "p1", 2, 0, "drain", 1700000000789);
    assert_int_equal(batch_apply_term(&f->s, &batch, 9, 4, &r), 0);
    store_results_free(&r);

    msgpack_sbuffer sb;
    msgpack_packer pk;
    msgpack_sbuffer_init(&sb);
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    assert_int_equal(store_pack_history(&f->s, NULL, 0, 0, &pk), 0);
    msgpack_unpacked u;
    const msgpack_object *a = unpack(&sb, &u);
    assert_int_equal(a->type, MSGPACK_OBJECT_ARRAY);
    assert_int_equal(a->via.array.size, 3);
    struct {
        uint64_t index, term, time_ms, from, to, epoch;
        const char *reason;
    } want[] = {
        {7, 3, 1700000000123, 0, 1, 1, "new"},
        {7, 3, 1700000000456, 1, 2, 2, "failover"},
        {9, 4, 1700000000789, 2, 0, 3, "drain"},
    };
    for (unsigned i = 0; i < 3; i++) {
        const msgpack_object *row = &a->via.array.ptr[i];
        assert_int_equal(row->via.map.size, 9);
        assert_non_null(mp_get(row, "by")); /* nil: automatic, from an assign without "by" */
        assert_int_equal(mp_get(row, "by")->type, MSGPACK_OBJECT_NIL);
        uint64_t v;
        char text[64];
        assert_int_equal(mp_get_u64(row, "index", &v), 0);
        assert_int_equal(v, want[i].index);
        assert_int_equal(mp_get_u64(row, "term", &v), 0);
        assert_int_equal(v, want[i].term);
        assert_int_equal(mp_get_u64(row, "time_ms", &v), 0);
        assert_int_equal(v, want[i].time_ms);
        assert_int_equal(mp_get_cstr(row, "project", text, sizeof text), 0);
        assert_string_equal(text, "p1");
        if (want[i].from == 0) {
            assert_int_equal(mp_get(row, "from")->type, MSGPACK_OBJECT_NIL);
        } else {
            assert_int_equal(mp_get_u64(row, "from", &v), 0);
            assert_int_equal(v, want[i].from);
        }
        if (want[i].to == 0) {
            assert_int_equal(mp_get(row, "to")->type, MSGPACK_OBJECT_NIL);
        } else {
            assert_int_equal(mp_get_u64(row, "to", &v), 0);
            assert_int_equal(v, want[i].to);
        }
        assert_int_equal(mp_get_u64(row, "epoch", &v), 0);
        assert_int_equal(v, want[i].epoch);
        assert_int_equal(mp_get_cstr(row, "reason", text, sizeof text), 0);
        assert_string_equal(text, want[i].reason);
    }
    msgpack_unpacked_destroy(&u);
    msgpack_sbuffer_destroy(&sb);
    /* Stored NULLs, not zeros, for "none". */
    assert_int_equal(q_int(&f->s, "SELECT count(*) FROM history WHERE from_owner IS NULL"), 1);
    assert_int_equal(q_int(&f->s, "SELECT count(*) FROM history WHERE to_owner IS NULL"), 1);

    /* Removing an owned project is allowed; its history stays. */
    batch_assign(&batch, "p1", 0, 1, "restore", 1);
    batch_remove(&batch, "p1");
    f->index = 10;
    expect(f, "ok", "ok", NULL);
    assert_int_equal(store_project_exists(&f->s, "p1", 2), 0);
    assert_int_equal(q_int(&f->s, "SELECT count(*) FROM history WHERE project = 'p1'"), 4);
}

/* Packs history and returns the epochs of the rows (project filter P, limit L). */
static unsigned history_epochs(struct store *s, const char *p, unsigned limit, uint64_t *epochs,
                               const char **projects)
{
    msgpack_sbuffer sb;
    msgpack_packer pk;
    msgpack_sbuffer_init(&sb);
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    assert_int_equal(store_pack_history(s, p, p != NULL ? strlen(p) : 0, limit, &pk), 0);
    msgpack_unpacked u;
    const msgpack_object *a = unpack(&sb, &u);
    assert_int_equal(a->type, MSGPACK_OBJECT_ARRAY);
    unsigned n = a->via.array.size;
    for (unsigned i = 0; i < n; i++) {
        char name[16];
        assert_int_equal(mp_get_u64(&a->via.array.ptr[i], "epoch", &epochs[i]), 0);
        assert_int_equal(mp_get_cstr(&a->via.array.ptr[i], "project", name, sizeof name), 0);
        projects[i] = strcmp(name, "p1") == 0 ? "p1" : strcmp(name, "p2") == 0 ? "p2" : "?";
    }
    msgpack_unpacked_destroy(&u);
    msgpack_sbuffer_destroy(&sb);
    return n;
}

static void test_pack_history_limit_and_filter(void **state)
{
    struct fixture *f = *state;
    standard_cluster(f);
    /* p1 moves 6 times (epochs 1..6), p2 4 times (1..4), interleaved. */
    uint64_t o1 = 0, o2 = 0;
    for (unsigned i = 0; i < 6; i++) {
        uint64_t to = o1 == 1 ? 2 : 1;
        batch_assign(&batch, "p1", o1, to, "rebalance", i);
        o1 = to;
        if (i < 4) {
            to = o2 == 1 ? 2 : 1;
            batch_assign(&batch, "p2", o2, to, "rebalance", i);
            o2 = to;
        }
    }
    struct store_results r;
    assert_int_equal(batch_apply(&f->s, &batch, f->index++, &r), 0);
    for (unsigned i = 0; i < r.n; i++) {
        assert_int_equal(store_result_refused(&r.cmds[i]), 0);
    }
    store_results_free(&r);

    uint64_t e[16];
    const char *p[16];
    assert_int_equal(history_epochs(&f->s, NULL, 0, e, p), 10);
    assert_int_equal(history_epochs(&f->s, NULL, 100, e, p), 10);
    /* The newest 3, oldest first: p1 epoch 4 (seq 8: p1 e5? see order below). Order of
     * application: p1e1 p2e1 p1e2 p2e2 p1e3 p2e3 p1e4 p2e4 p1e5 p1e6. */
    assert_int_equal(history_epochs(&f->s, NULL, 3, e, p), 3);
    assert_string_equal(p[0], "p2");
    assert_int_equal(e[0], 4);
    assert_string_equal(p[1], "p1");
    assert_int_equal(e[1], 5);
    assert_string_equal(p[2], "p1");
    assert_int_equal(e[2], 6);

    assert_int_equal(history_epochs(&f->s, "p2", 0, e, p), 4);
    for (unsigned i = 0; i < 4; i++) {
        assert_string_equal(p[i], "p2");
        assert_int_equal(e[i], i + 1);
    }
    assert_int_equal(history_epochs(&f->s, "p1", 2, e, p), 2);
    assert_int_equal(e[0], 5);
    assert_int_equal(e[1], 6);
    assert_int_equal(history_epochs(&f->s, "p3", 0, e, p), 0);
    assert_int_equal(history_epochs(&f->s, "no_such", 5, e, p), 0);
    char long_name[300];
    memset(long_name, 'a', sizeof long_name - 1);
    long_name[sizeof long_name - 1] = '\0';
    assert_int_equal(history_epochs(&f->s, long_name, 5, e, p), 0);
}

/* --- pins and drains --- */

static void test_pin_and_drain(void **state)
{
    struct fixture *f = *state;
    standard_cluster(f);
    uint64_t v = f->s.ownership_version;
    batch_pin(&batch, "p1", 2);
    batch_pin(&batch, "p2", 3); /* any existing engine */
    batch_pin(&batch, "nope", 1);
    batch_pin(&batch, "p1", 42);
    expect(f, "ok", "ok", "not_found:pin: project 'nope' does not exist",
           "not_found:pin p1: no engine with id 42", NULL);
    assert_true(f->s.ownership_version == v + 1);
    assert_int_equal(project(&f->s, "p1").pinned, 2);
    assert_int_equal(project(&f->s, "p2").pinned, 3);
    v = f->s.ownership_version;
    batch_pin(&batch, "p1", 2); /* unchanged */
    expect(f, "ok", NULL);
    assert_true(f->s.ownership_version == v);
    batch_pin(&batch, "p1", 0);
    expect(f, "ok", NULL);
    assert_true(f->s.ownership_version == v + 1);
    assert_int_equal(project(&f->s, "p1").pinned, 0);
    assert_int_equal(q_int(&f->s, "SELECT count(*) FROM projects WHERE pinned IS NULL"), 3);

    v = f->s.ownership_version;
    batch_drain(&batch, 2, true);
    batch_drain(&batch, 77, true);
    expect(f, "ok", "not_found:drain: no engine with id 77", NULL);
    assert_true(engine(&f->s, 2).draining);
    assert_true(f->s.ownership_version == v + 1);
    batch_drain(&batch, 2, true);
    expect(f, "ok", NULL);
    assert_true(f->s.ownership_version == v + 1);
    batch_drain(&batch, 2, false);
    expect(f, "ok", NULL);
    assert_false(engine(&f->s, 2).draining);
    assert_true(f->s.ownership_version == v + 2);
}

/* --- reads --- */

static void test_load_engines_counts(void **state)
{
    struct fixture *f = *state;
    standard_cluster(f);
    batch_add(&batch, "p4");
    batch_engine_set(&batch, 9, "all", 4, "h9:1|1", true);
    batch_assign(&batch, "p1", 0, 1, "new", 1);
    batch_assign(&batch, "p2", 0, 1, "new", 1);
    batch_assign(&batch, "_global", 0, 1, "new", 1);
    batch_assign(&batch, "p3", 0, 2, "new", 1);
    expect(f, "ok", "ok", "ok", "ok", "ok", "ok", NULL);
    struct store_engine *e;
    size_t n;
    assert_int_equal(store_load_engines(&f->s, &e, &n), 0);
    assert_int_equal(n, 4);
    const uint64_t ids[] = {1, 2, 3, 9};
    const uint64_t counts[] = {3, 1, 0, 0};
    for (size_t i = 0; i < n; i++) {
        assert_int_equal(e[i].id, ids[i]);
        assert_int_equal(e[i].projects, counts[i]);
    }
    assert_string_equal(e[1].mode, "job");
    assert_int_equal(e[1].weight, 2);
    assert_int_equal(e[3].weight, 4);
    free(e);
    assert_int_equal(engine(&f->s, 1).projects, 3);
    assert_int_equal(store_engine_get(&f->s, 0, &(struct store_engine){0}), 0);
    assert_int_equal(store_engine_get(&f->s, UINT64_MAX, &(struct store_engine){0}), 0);

    msgpack_sbuffer sb;
    msgpack_packer pk;
    msgpack_sbuffer_init(&sb);
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    assert_int_equal(store_pack_engines(&f->s, &pk), 0);
    msgpack_unpacked u;
    const msgpack_object *a = unpack(&sb, &u);
    assert_int_equal(a->via.array.size, 4);
    const msgpack_object *first = &a->via.array.ptr[0];
    assert_int_equal(first->via.map.size, 10);
    uint64_t v;
    bool b;
    char text[64];
    assert_int_equal(mp_get_u64(first, "id", &v), 0);
    assert_int_equal(v, 1);
    assert_int_equal(mp_get_u64(first, "projects", &v), 0);
    assert_int_equal(v, 3);
    assert_int_equal(mp_get_cstr(first, "mode", text, sizeof text), 0);
    assert_string_equal(text, "all");
    assert_int_equal(mp_get_cstr(first, "identity", text, sizeof text), 0);
    assert_string_equal(text, "10.0.0.1:7070|1000");
    assert_int_equal(mp_get_bool(first, "alive", &b), 0);
    assert_true(b);
    assert_int_equal(mp_get_bool(first, "draining", &b), 0);
    assert_false(b);
    assert_int_equal(mp_get_bool(first, "race_enabled", &b), 0);
    assert_true(b);
    assert_int_equal(mp_get_u64(first, "weight", &v), 0);
    assert_int_equal(mp_get_u64(first, "heartbeats", &v), 0);
    assert_int_equal(mp_get_u64(first, "last_heartbeat_index", &v), 0);
    msgpack_unpacked_destroy(&u);
    msgpack_sbuffer_destroy(&sb);

    /* No engines: an empty array, NULL-safe to free. */
    struct store empty;
    assert_int_equal(store_open(&empty, ":memory:"), 0);
    assert_int_equal(store_load_engines(&empty, &e, &n), 0);
    assert_int_equal(n, 0);
    free(e);
    store_close(&empty);
}

static void test_projects_reads(void **state)
{
    struct fixture *f = *state;
    standard_cluster(f);
    batch_assign(&batch, "p2", 0, 2, "new", 1);
    batch_pin(&batch, "p3", 1);
    expect(f, "ok", "ok", NULL);
    /* An owner without an engine row (not reachable through commands) reads as nil. */
    assert_int_equal(sqlite3_exec(f->s.db, "UPDATE projects SET owner = 77 WHERE name = 'p3'",
                                  NULL, NULL, NULL),
                     SQLITE_OK);

    struct store_project_row *rows;
    size_t n;
    assert_int_equal(store_load_projects(&f->s, &rows, &n), 0);
    assert_int_equal(n, 4);
    const char *names[] = {"_global", "p1", "p2", "p3"};
    for (size_t i = 0; i < n; i++) {
        assert_string_equal(rows[i].name, names[i]);
    }
    assert_int_equal(rows[2].owner, 2);
    assert_int_equal(rows[2].epoch, 1);
    assert_int_equal(rows[3].pinned, 1);
    assert_int_equal(rows[1].owner, 0);
    store_free_projects(rows, n);

    struct store_project_row p;
    assert_int_equal(store_project_get(&f->s, "p2", 2, &p), 1);
    assert_string_equal(p.name, "p2");
    assert_int_equal(p.owner, 2);
    free(p.name);
    assert_int_equal(store_project_get(&f->s, "zz", 2, &p), 0);
    assert_null(p.name);

    msgpack_sbuffer sb;
    msgpack_packer pk;
    msgpack_sbuffer_init(&sb);
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    assert_int_equal(store_pack_projects(&f->s, &pk), 0);
    msgpack_unpacked u;
    const msgpack_object *a = unpack(&sb, &u);
    assert_int_equal(a->via.array.size, 4);
    char text[64];
    uint64_t v;
    assert_int_equal(mp_get_cstr(&a->via.array.ptr[2], "name", text, sizeof text), 0);
    assert_string_equal(text, "p2");
    assert_int_equal(mp_get_u64(&a->via.array.ptr[2], "owner", &v), 0);
    assert_int_equal(v, 2);
    assert_int_equal(mp_get_cstr(&a->via.array.ptr[2], "owner_identity", text, sizeof text), 0);
    assert_string_equal(text, "10.0.0.2:7070|2000");
    assert_int_equal(mp_get_u64(&a->via.array.ptr[2], "epoch", &v), 0);
    assert_int_equal(v, 1);
    assert_int_equal(mp_get(&a->via.array.ptr[1], "owner")->type, MSGPACK_OBJECT_NIL);
    assert_int_equal(mp_get(&a->via.array.ptr[1], "owner_identity")->type, MSGPACK_OBJECT_NIL);
    assert_int_equal(mp_get_u64(&a->via.array.ptr[3], "owner", &v), 0);
    assert_int_equal(v, 77);
    assert_int_equal(mp_get(&a->via.array.ptr[3], "owner_identity")->type, MSGPACK_OBJECT_NIL);
    msgpack_unpacked_destroy(&u);
    msgpack_sbuffer_destroy(&sb);
}

/* 100,000 projects: loading and packing them stays well under a second. */
static void test_many_projects_are_fast(void **state)
{
    struct fixture *f = *state;
    standard_cluster(f);
    for (unsigned i = 0; i < 100000; i++) {
        char name[32];
        snprintf(name, sizeof name, "proj_%06u", i);
        batch_add(&batch, name);
        if (i % 3 == 0) {
            batch_assign(&batch, name, 0, i % 2 ? 1 : 2, "new", i);
        }
        if (batch.n >= 1000) {
            struct store_results r;
            assert_int_equal(batch_apply(&f->s, &batch, f->index++, &r), 0);
            for (unsigned k = 0; k < r.n; k++) {
                assert_int_equal(store_result_refused(&r.cmds[k]), 0);
            }
            store_results_free(&r);
        }
    }
    struct store_results r;
    assert_int_equal(batch_apply(&f->s, &batch, f->index++, &r), 0);
    store_results_free(&r);

    double t0 = now_ms();
    struct store_project_row *rows;
    size_t n;
    assert_int_equal(store_load_projects(&f->s, &rows, &n), 0);
    double load_ms = now_ms() - t0;
    assert_int_equal(n, 100004);
    assert_string_equal(rows[0].name, "_global");
    assert_string_equal(rows[1].name, "p1");
    assert_string_equal(rows[4].name, "proj_000000");
    assert_int_equal(rows[4].owner, 2);
    store_free_projects(rows, n);

    msgpack_sbuffer sb;
    msgpack_packer pk;
    msgpack_sbuffer_init(&sb);
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    t0 = now_ms();
    assert_int_equal(store_pack_projects(&f->s, &pk), 0);
    double pack_ms = now_ms() - t0;
    msgpack_sbuffer_destroy(&sb);

    t0 = now_ms();
    struct store_engine *e;
    assert_int_equal(store_load_engines(&f->s, &e, &n), 0);
    double engines_ms = now_ms() - t0;
    assert_int_equal(e[0].projects + e[1].projects, 33334);
    free(e);
    print_message("100k projects: load %.1f ms, pack %.1f ms, engines %.1f ms\n", load_ms,
                  pack_ms, engines_ms);
    assert_true(load_ms < 1000.0 && pack_ms < 1000.0 && engines_ms < 1000.0);
}

/* A 1000-command entry of assigns applies in a few ms. */
static void test_apply_1000_assigns_is_fast(void **state)
{
    struct fixture *f = *state;
    standard_cluster(f);
    for (unsigned i = 0; i < 1000; i++) {
        char name[32];
        snprintf(name, sizeof name, "q%04u", i);
        batch_add(&batch, name);
    }
    struct store_results r;
    assert_int_equal(batch_apply(&f->s, &batch, f->index++, &r), 0);
    store_results_free(&r);
    double best = 1e9;
    for (unsigned round = 0; round < 4; round++) {
        for (unsigned i = 0; i < 1000; i++) {
            char name[32];
            snprintf(name, sizeof name, "q%04u", i);
            uint64_t from = round == 0 ? 0 : round % 2 ? 1 : 2;
            batch_assign(&batch, name, from, round % 2 ? 2 : 1, "rebalance", round);
        }
        void *buf;
        size_t len;
        assert_int_equal(batch_build(&batch, 1, &buf, &len), 0);
        double t0 = now_ms();
        assert_int_equal(store_apply(&f->s, f->index++, buf, len, &r), 0);
        double ms = now_ms() - t0;
        best = ms < best ? ms : best;
        for (unsigned i = 0; i < 1000; i++) {
            assert_int_equal(store_result_refused(&r.cmds[i]), 0);
        }
        store_results_free(&r);
        raft_free(buf);
    }
    print_message("1000 assigns in one entry: best %.2f ms\n", best);
    assert_true(best < 200.0);
    assert_int_equal(q_int(&f->s, "SELECT count(*) FROM history"), 4000);
    assert_int_equal(q_int(&f->s, "SELECT max(epoch) FROM projects"), 4);
}

/* --- ownership_version, replay --- */

static void test_ownership_version(void **state)
{
    struct fixture *f = *state;
    uint64_t v = f->s.ownership_version;
    batch_member_set(&batch, 1, "h:1");
    expect(f, "ok", NULL);
    assert_true(f->s.ownership_version == v); /* members are not ownership */
    batch_add(&batch, "a");
    expect(f, "ok", NULL);
    assert_true(f->s.ownership_version == v + 1);
    batch_add(&batch, "a"); /* refused: nothing changed */
    batch_remove(&batch, "zz");
    expect(f, "exists", "not_found", NULL);
    assert_true(f->s.ownership_version == v + 1);
    batch_remove(&batch, "a");
    batch_add(&batch, "b");
    batch_engine_set(&batch, 1, "all", 1, "h:1|1", true);
    expect(f, "ok", "ok", "ok", NULL);
    assert_true(f->s.ownership_version == v + 2); /* once per entry */
    struct store_results r;
    assert_int_equal(store_apply(&f->s, f->index++, "\xc1", 1, &r), 0); /* malformed */
    store_results_free(&r);
    assert_true(f->s.ownership_version == v + 2);
}

static void test_replay_is_skipped(void **state)
{
    struct fixture *f = *state;
    standard_cluster(f); /* index 1 */
    batch_assign(&batch, "p1", 0, 1, "new", 1);
    expect(f, "ok", NULL); /* index 2 */
    uint64_t h = hash_of(&f->s);
    uint64_t v = f->s.ownership_version;
    /* The same index again, even with other content: skipped, nothing looked at. */
    batch_assign(&batch, "p1", 1, 2, "move", 2);
    struct store_results r;
    assert_int_equal(batch_apply(&f->s, &batch, 2, &r), 0);
    assert_int_equal(r.n, 0);
    store_results_free(&r);
    batch_assign(&batch, "p1", 0, 1, "new", 1); /* the original entry replayed */
    assert_int_equal(batch_apply(&f->s, &batch, 2, &r), 0);
    assert_int_equal(r.n, 0);
    store_results_free(&r);
    assert_true(hash_of(&f->s) == h);
    assert_true(f->s.ownership_version == v);
    assert_int_equal(project(&f->s, "p1").epoch, 1);
    assert_int_equal(q_int(&f->s, "SELECT count(*) FROM history"), 1);
}

/* --- snapshots and hashing --- */

static void fill_ownership(struct fixture *f)
{
    standard_cluster(f);
    const uint64_t ids[] = {1, 2};
    batch_assign(&batch, "p1", 0, 1, "new", 11);
    batch_assign(&batch, "p2", 0, 2, "new", 12);
    batch_heartbeat(&batch, ids, 2);
    batch_drain(&batch, 2, true);
    batch_pin(&batch, "p1", 1);
    batch_maintenance(&batch, true, "backup");
    expect(f, "ok", "ok", "ok", "ok", "ok", "ok", NULL);
}

static void test_snapshot_round_trip(void **state)
{
    struct fixture *f = *state;
    fill_ownership(f);
    struct store b;
    assert_int_equal(store_open(&b, ":memory:"), 0);
    uint64_t h = hash_of(&f->s);
    assert_true(hash_of(&b) != h);
    void *image;
    size_t len;
    assert_int_equal(store_snapshot(&f->s, &image, &len), 0);
    uint64_t v = b.ownership_version;
    assert_int_equal(store_restore(&b, image, len), 0);
    sqlite3_free(image);
    assert_true(b.ownership_version > v); /* a restore may change anything */
    assert_true(b.applied_index == f->s.applied_index);
    assert_true(hash_of(&b) == h);
    struct store_engine e;
    assert_int_equal(store_engine_get(&b, 2, &e), 1);
    assert_true(e.draining);
    assert_int_equal(e.heartbeats, 1);
    assert_int_equal(e.projects, 1);
    bool on;
    char reason[16];
    assert_int_equal(store_maintenance(&b, &on, reason, sizeof reason), 0);
    assert_true(on);
    assert_string_equal(reason, "backup");
    struct store_project_row p;
    assert_int_equal(store_project_get(&b, "p1", 2, &p), 1);
    assert_int_equal(p.owner, 1);
    assert_int_equal(p.pinned, 1);
    assert_int_equal(p.epoch, 1);
    free(p.name);

    /* The restored store goes on applying ownership commands with its cached statements. */
    batch_maintenance(&batch, false, "");
    batch_assign(&batch, "p1", 1, 0, "move", 13);
    struct store_results r;
    assert_int_equal(batch_apply(&b, &batch, f->index, &r), 0);
    assert_int_equal(store_result_refused(&r.cmds[0]), 0);
    assert_int_equal(store_result_refused(&r.cmds[1]), 0);
    store_results_free(&r);
    assert_int_equal(store_project_get(&b, "p1", 2, &p), 1);
    assert_int_equal(p.epoch, 2);
    free(p.name);
    store_close(&b);
}

/* The digest covers engines and settings, and does not depend on insertion order. */
static void test_hash_covers_new_tables(void **state)
{
    struct fixture *f = *state;
    struct store b;
    assert_int_equal(store_open(&b, ":memory:"), 0);
    uint64_t ib = 100;
    /* Same engines, opposite order, different indexes and batching. */
    batch_engine_set(&batch, 1, "all", 1, "h1:1|1", true);
    batch_engine_set(&batch, 2, "job", 1, "h2:1|1", true);
    expect(f, "ok", "ok", NULL);
    struct store_results r;
    batch_engine_set(&batch, 2, "job", 1, "h2:1|1", true);
    assert_int_equal(batch_apply(&b, &batch, ib++, &r), 0);
    store_results_free(&r);
    batch_engine_set(&batch, 1, "all", 1, "h1:1|1", true);
    assert_int_equal(batch_apply(&b, &batch, ib++, &r), 0);
    store_results_free(&r);
    assert_true(hash_of(&f->s) == hash_of(&b));

    /* Settings: maintenance on one side only. */
    batch_maintenance(&batch, true, "x");
    expect(f, "ok", NULL);
    assert_true(hash_of(&f->s) != hash_of(&b));
    batch_maintenance(&batch, true, "y");
    assert_int_equal(batch_apply(&b, &batch, ib++, &r), 0);
    store_results_free(&r);
    assert_true(hash_of(&f->s) != hash_of(&b)); /* the reason counts */
    batch_maintenance(&batch, true, "x");
    assert_int_equal(batch_apply(&b, &batch, ib++, &r), 0);
    store_results_free(&r);
    assert_true(hash_of(&f->s) == hash_of(&b));

    /* Engine columns: a heartbeat counter. */
    const uint64_t one[] = {1};
    batch_heartbeat(&batch, one, 1);
    expect(f, "ok", NULL);
    assert_true(hash_of(&f->s) != hash_of(&b));
    store_close(&b);
}

/* --- migration --- */

/* The version 1 DDL exactly as released (schema.c, migration 0 -> 1). */
static const char v1_ddl[] =
    STORE_V1_TABLES_DDL
    "INSERT INTO meta (key, value) VALUES ('applied_index', 12), ('schema_version', 1);"
    "INSERT INTO projects (name) VALUES ('_global'), ('old_project');"
    "INSERT INTO members (id, api_address) VALUES (2, '10.0.0.2:7201');";

static int object_exists(struct store *s, const char *type, const char *name)
{
    char sql[256];
    snprintf(sql, sizeof sql, "SELECT count(*) FROM sqlite_schema WHERE type = '%s' AND name = '%s'",
             type, name);
    return (int)q_int(s, sql);
}

static void test_migration_v1_to_v2(void **state)
{
    (void)state;
    char dir[] = "/tmp/test_ownership.XXXXXX";
    char path[256];
    db_file_from_ddl(dir, path, sizeof path, v1_ddl);

    struct store s;
    assert_int_equal(store_open(&s, path), 0);
    assert_int_equal(s.applied_index, 12);
    assert_int_equal(q_int(&s, "SELECT value FROM meta WHERE key = 'schema_version'"), SCHEMA_VERSION);
    assert_int_equal(object_exists(&s, "table", "audit"), 1);
    assert_int_equal(object_exists(&s, "table", "engines"), 1);
    assert_int_equal(object_exists(&s, "table", "settings"), 1);
    assert_int_equal(object_exists(&s, "index", "projects_by_owner"), 1);
    assert_int_equal(object_exists(&s, "index", "projects_by_name_nocase"), 0); /* v8: the key */
    assert_int_equal(store_project_exists(&s, "old_project", 11), 1);
    char api[64];
    assert_int_equal(store_member_api(&s, 2, api, sizeof api), 1);
    assert_string_equal(api, "10.0.0.2:7201");

    /* The migrated store serves the new commands. */
    struct store_results r;
    batch_engine_set(&batch, 2, "all", 1, "10.0.0.2:7070|5", true);
    batch_assign(&batch, "old_project", 0, 2, "new", 1);
    assert_int_equal(batch_apply(&s, &batch, 13, &r), 0);
    assert_int_equal(store_result_refused(&r.cmds[0]), 0);
    assert_int_equal(store_result_refused(&r.cmds[1]), 0);
    store_results_free(&r);
    uint64_t migrated = hash_of(&s);
    store_close(&s);

    /* Reopening is a no-op; a store created at v2 with the same commands hashes equal. */
    assert_int_equal(store_open(&s, path), 0);
    assert_int_equal(q_int(&s, "SELECT value FROM meta WHERE key = 'schema_version'"), SCHEMA_VERSION);
    assert_int_equal(object_exists(&s, "table", "audit"), 1);
    assert_int_equal(engine(&s, 2).projects, 1);
    assert_true(hash_of(&s) == migrated);
    store_close(&s);

    struct store fresh;
    assert_int_equal(store_open(&fresh, ":memory:"), 0);
    batch_add(&batch, "old_project");
    batch_member_set(&batch, 2, "10.0.0.2:7201");
    batch_engine_set(&batch, 2, "all", 1, "10.0.0.2:7070|5", true);
    batch_assign(&batch, "old_project", 0, 2, "new", 1);
    assert_int_equal(batch_apply(&fresh, &batch, 13, &r), 0);
    store_results_free(&r);
    assert_true(hash_of(&fresh) == migrated);
    store_close(&fresh);
    remove_dir(dir);
}

/* A v1 image restored into a v2 store is migrated on the way in. */
static void test_restore_v1_image(void **state)
{
    struct fixture *f = *state;
    restore_from_ddl(&f->s, v1_ddl);
    assert_int_equal(f->s.applied_index, 12);
    assert_int_equal(store_project_exists(&f->s, "old_project", 11), 1);
    batch_engine_set(&batch, 2, "all", 1, "h:1|1", true);
    batch_assign(&batch, "old_project", 0, 2, "new", 1);
    f->index = 13;
    expect(f, "ok", "ok", NULL);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_engine_set_insert_and_update),
        T(test_single_engine_mode),
        T(test_heartbeat),
        T(test_heartbeat_many_is_fast),
        T(test_engine_dead),
        T(test_assign_compare_and_set),
        T(test_assign_history_failure_is_fatal),
        T(test_assign_to_ineligible),
        T(test_maintenance_freezes),
        T(test_epoch_follows_owner),
        T(test_history_rows),
        T(test_history_by_and_audit),
        T(test_pack_history_limit_and_filter),
        T(test_pin_and_drain),
        T(test_load_engines_counts),
        T(test_projects_reads),
        T(test_many_projects_are_fast),
        T(test_apply_1000_assigns_is_fast),
        T(test_ownership_version),
        T(test_replay_is_skipped),
        T(test_snapshot_round_trip),
        T(test_hash_covers_new_tables),
        cmocka_unit_test(test_migration_v1_to_v2),
        T(test_restore_v1_image),
    };
    return cmocka_run_group_tests_name("ownership", tests, NULL, NULL);
}
