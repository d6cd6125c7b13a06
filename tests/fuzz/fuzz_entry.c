/* fuzz_entry: the input is one raft log entry (docs/protocol.md, "Log entries").
 *
 * 1. command_entry_decode + command_decode of every command (storage/command_decode.c);
 * 2. store_apply on an in-memory store that holds only the setup entry (engines, projects,
 *    an owner, so that assign/pin/drain can succeed), twice (index 2 and 3: the second
 *    pass meets the state the first one left), then a replay of index 2 that must be
 *    skipped;
 * 3. when a command was applied: every read the API serves from that state (recorded
 *    Kylin claims included), and a
 *    snapshot/restore round trip whose hash must match.
 * store_apply must never fail on entry bytes (-1 means a fatal SQLite failure).
 *
 * Opening a store costs milliseconds under ASan, so the stores are opened once and the
 * working store is rewound to the setup state before every input (see rewind_store). */
#include <raft.h>
#include <sqlite3.h>
#include <string.h>

#include "common/proto.h"
#include "storage/command.h"
#include "storage/command_decode.h"
#include "storage/store.h"
#include "tests/fuzz/fuzz.h"

/* True when BUF (CAP bytes) holds a NUL: a message that did not run off its buffer. */
static int terminated(const char *buf, size_t cap)
{
    return memchr(buf, '\0', cap) != NULL;
}

static void check_decode(const uint8_t *data, size_t size)
{
    struct command_entry e;
    char err[STORE_ERRMSG_MAX];
    int rc = command_entry_decode(&e, data, size, err, sizeof err);
    FUZZ_CHECK(rc >= 0); /* -1 is out of memory, which entry bytes must never cause */
    FUZZ_CHECK(rc == 0 || (terminated(err, sizeof err) && err[0] != '\0'));
    for (uint32_t i = 0; rc == 0 && i < e.n; i++) {
        struct command c;
        if (command_decode(&e, i, &c, err, sizeof err) != 0) {
            FUZZ_CHECK(terminated(err, sizeof err) && err[0] != '\0');
        }
    }
    command_entry_free(&e);
}

/* The state every input starts from: engines 1 (all), 2 (job), 3 (query); projects p1
 * (owned by 1), p2 (owned and pinned by 2), p3 (no owner); member 1's API address. */
static void build_setup(void **buf, size_t *len)
{
    enum { N = 12 };
    msgpack_sbuffer sb[N];
    msgpack_packer pk[N];
    const void *cmds[N];
    size_t lens[N];
    int rc = 0;

    for (int i = 0; i < N; i++) {
        msgpack_sbuffer_init(&sb[i]);
        msgpack_packer_init(&pk[i], &sb[i], msgpack_sbuffer_write);
    }
    rc |= command_pack_engine_set(&pk[0], 1, "all", 1, "10.0.0.1:7070|1", true);
    rc |= command_pack_engine_set(&pk[1], 2, "job", 2, "10.0.0.2:7070|2", true);
    rc |= command_pack_engine_set(&pk[2], 3, "query", 1, "10.0.0.3:7070|3", true);
    rc |= command_pack_project_add(&pk[3], "p1", 2);
    rc |= command_pack_project_add(&pk[4], "p2", 2);
    rc |= command_pack_project_add(&pk[5], "p3", 2);
    rc |= command_pack_assign(&pk[6], "p1", 2, 0, 1, "new", 1000);
    rc |= command_pack_assign(&pk[7], "p2", 2, 0, 2, "new", 1000);
    rc |= command_pack_pin(&pk[8], "p2", 2, 2);
    rc |= command_pack_member_set(&pk[9], 1, "127.0.0.1:7201");
    rc |= command_pack_audit(&pk[10], "admin", "project.move", "{\"name\"=>\"p3\"}", 1000);
    rc |= command_pack_assign_by(&pk[11], "p3", 2, 0, 2, "move", 1000, "admin");
    FUZZ_CHECK(rc == 0);
    for (int i = 0; i < N; i++) {
        cmds[i] = sb[i].data;
        lens[i] = sb[i].size;
    }
    FUZZ_CHECK(command_entry_build(1, cmds, lens, N, buf, len) == 0);
    for (int i = 0; i < N; i++) {
        msgpack_sbuffer_destroy(&sb[i]);
    }
}

/* Applies BUF at INDEX; returns the number of commands applied with status 0. */
static unsigned apply_checked(struct store *s, uint64_t index, const void *buf, size_t len,
                              int expect_all_ok)
{
    unsigned ok = 0;
    struct store_results r;
    int rc = store_apply(s, index, buf, len, &r);
    if (rc != 0) {
        fprintf(stderr, "store_apply(%llu): %s\n", (unsigned long long)index, s->errmsg);
    }
    FUZZ_CHECK(rc == 0);
    FUZZ_CHECK(r.n == 0 || r.entry_status == 0);
    FUZZ_CHECK(r.entry_status == 0 || terminated(r.entry_message, sizeof r.entry_message));
    for (unsigned i = 0; i < r.n; i++) {
        const struct store_cmd_result *c = &r.cmds[i];
        FUZZ_CHECK((unsigned)c->err < STORE_ERR_COUNT && terminated(c->message, sizeof c->message));
        if (expect_all_ok && store_result_refused(c)) {
            fprintf(stderr, "setup command %u refused: %s\n", i, c->message);
        }
        FUZZ_CHECK(!expect_all_ok || !store_result_refused(c));
        ok += !store_result_refused(c);
    }
    FUZZ_CHECK(s->applied_index == index);
    store_results_free(&r);
    return ok;
}

static void count_handover(void *data, const char *project, size_t len)
{
    (void)project;
    (void)len;
    (*(unsigned *)data)++;
}

/* Every read of query.c and hash.c must succeed on whatever state the input produced. */
static void check_reads(struct store *s)
{
    msgpack_sbuffer sb;
    msgpack_packer pk;
    struct store_engine *engines = NULL;
    struct store_project_row *projects = NULL;
    size_t n_engines = 0, n_projects = 0;
    uint64_t hash;
    bool on;
    char reason[64];
    unsigned handovers = 0;

    msgpack_sbuffer_init(&sb);
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    FUZZ_CHECK(store_pack_projects(s, &pk) == 0);
    FUZZ_CHECK(store_pack_engines(s, &pk) == 0);
    FUZZ_CHECK(store_pack_history(s, NULL, 0, 0, &pk) == 0);
    FUZZ_CHECK(store_pack_history(s, "p1", 2, 5, &pk) == 0);
    msgpack_sbuffer_destroy(&sb);
    FUZZ_CHECK(store_load_engines(s, &engines, &n_engines) == 0);
    for (size_t i = 0; i < n_engines; i++) {
        struct store_engine one;
        FUZZ_CHECK(store_engine_get(s, engines[i].id, &one) == 1);
        FUZZ_CHECK(terminated(one.identity, sizeof one.identity));
    }
    free(engines);
    FUZZ_CHECK(store_load_projects(s, &projects, &n_projects) == 0);
    for (size_t i = 0; i < n_projects; i++) {
        struct store_project_row one;
        FUZZ_CHECK(store_project_exists(s, projects[i].name, strlen(projects[i].name)) == 1);
        FUZZ_CHECK(store_project_get(s, projects[i].name, strlen(projects[i].name), &one) == 1);
        free(one.name);
    }
    store_free_projects(projects, n_projects);
    struct store_claim *claims = NULL;
    size_t n_claims = 0;
    FUZZ_CHECK(store_load_claims(s, 0, &claims, &n_claims) == 0);
    for (size_t i = 0; i < n_claims; i++) {
        struct store_claim one;
        FUZZ_CHECK(store_claim_get(s, claims[i].name, strlen(claims[i].name), &one) == 1);
        /* a recorded claim is always the current owner's (assign clears it) */
        FUZZ_CHECK(one.identity == NULL || one.owner != 0);
        store_claim_clear(&one);
    }
    store_free_claims(claims, n_claims);
    FUZZ_CHECK(store_maintenance(s, &on, reason, sizeof reason) == 0);
    FUZZ_CHECK(terminated(reason, sizeof reason));
    FUZZ_CHECK(store_each_handover(s, s->applied_index, count_handover, &handovers) == 0);
    FUZZ_CHECK(store_hash(s, &hash) == 0);
}

/* A snapshot installed on another member must reproduce the same state digest. COPY holds
 * an older state; its applied index is zeroed so that restore installs the image (restore
 * only installs images newer than the local state). */
static void check_snapshot(struct store *s, struct store *copy)
{
    void *image = NULL;
    size_t len = 0;
    uint64_t want, got;

    FUZZ_CHECK(store_hash(s, &want) == 0);
    FUZZ_CHECK(store_snapshot(s, &image, &len) == 0);
    copy->applied_index = 0;
    FUZZ_CHECK(store_restore(copy, image, len) == 0);
    FUZZ_CHECK(store_hash(copy, &got) == 0);
    FUZZ_CHECK(got == want && copy->applied_index == s->applied_index);
    FUZZ_CHECK(copy->decision_index == s->decision_index);
    sqlite3_free(image);
}

static void open_checked(struct store *s)
{
    if (store_open(s, ":memory:") != 0) {
        fprintf(stderr, "store_open: %s\n", s->errmsg);
        abort();
    }
}

/* Makes S equal to PRISTINE (a store right after the setup entry), as a freshly opened
 * store that applied the setup entry would be: the database pages by SQLite's backup (what
 * store_restore does last), then the two fields that mirror the database's meta table. */
static void rewind_store(struct store *s, const struct store *pristine)
{
    sqlite3_backup *b = sqlite3_backup_init(s->db, "main", pristine->db, "main");
    FUZZ_CHECK(b != NULL);
    int rc = sqlite3_backup_step(b, -1);
    FUZZ_CHECK(sqlite3_backup_finish(b) == SQLITE_OK && rc == SQLITE_DONE);
    s->applied_index = pristine->applied_index;
    s->decision_index = pristine->decision_index;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* Kept for the whole run (reachable, so not leaks). */
    static struct store pristine, s, copy;
    static int ready;
    struct store_results r;
    uint64_t decision;
    unsigned ok;

    check_decode(data, size);
    if (!ready) {
        void *setup;
        size_t setup_len;
        build_setup(&setup, &setup_len);
        open_checked(&pristine);
        apply_checked(&pristine, 1, setup, setup_len, 1);
        raft_free(setup);
        open_checked(&s);
        open_checked(&copy);
        check_reads(&pristine);
        check_snapshot(&pristine, &copy);
        ready = 1;
    }
    rewind_store(&s, &pristine);
    ok = apply_checked(&s, 2, data, size, 0);
    ok += apply_checked(&s, 3, data, size, 0);
    decision = s.decision_index;
    FUZZ_CHECK(store_apply(&s, 2, data, size, &r) == 0 && r.n == 0); /* replay: skipped */
    store_results_free(&r);
    FUZZ_CHECK(s.applied_index == 3 && s.decision_index == decision);
    if (ok > 0) { /* otherwise the state is the setup's, already checked */
        check_reads(&s);
        check_snapshot(&s, &copy);
    }
    return 0;
}
