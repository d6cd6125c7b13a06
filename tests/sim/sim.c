/* sim: command line, seed loop and failure report of the deterministic simulation (sim.h).
 *
 *   sim --seeds N [--first S] [--steps K] [--servers 3|5] [-v] [--io-faults] [--no-fork]
 *
 * Runs seeds S .. S+N-1. A run: K steps of SIM_TICK_MS virtual milliseconds (faults, client
 * commands, engine heartbeats, each member's scheduler tick and proposal flush), checking
 * invariants 1, 2, 3 and 5 after every fixture event; then every fault heals and the run
 * goes on until the cluster converges (at most SIM_HEAL_MS), where invariant 5, invariant 4
 * and placement are checked. A seed fully determines its run: the fixture's virtual time,
 * one splitmix64 stream, no wall clock. A failing seed prints its error, the last events,
 * every member's state and the command that replays it; the exit status is 1 when any
 * seed failed. */
#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "sim.h"
#include "storage/command.h"

#define SIM_HEAL_MS 60000
#define SIM_SETTLE_MS 40000 /* libraft retries a lost InstallSnapshot after 30 s */

/* ---- PRNG ---- */

uint64_t rng_next(struct rng *r)
{
    uint64_t z = (r->s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

unsigned rng_below(struct rng *r, unsigned n)
{
    return (unsigned)(rng_next(r) % n);
}

bool rng_permille(struct rng *r, unsigned pm)
{
    return rng_below(r, 1000) < pm;
}

unsigned rng_range(struct rng *r, unsigned lo, unsigned hi)
{
    return lo + rng_below(r, hi - lo + 1);
}

/* ---- events and failures ---- */

#define DIGEST_INIT 0xcbf29ce484222325ull /* FNV-1a 64 */

static uint64_t digest_add(uint64_t h, const void *p, size_t len)
{
    const unsigned char *b = p;
    for (size_t i = 0; i < len; i++) {
        h = (h ^ b[i]) * 0x100000001b3ull;
    }
    return h;
}

uint64_t sim_now(struct sim *s)
{
    return raft_fixture_time(&s->f);
}

void sim_event(struct sim *s, const char *fmt, ...)
{
    char *line = s->history[s->n_history % SIM_HISTORY];
    int n = snprintf(line, SIM_EVENT_MAX, "[%7llu ms] ", (unsigned long long)sim_now(s));
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line + n, SIM_EVENT_MAX - (size_t)n, fmt, ap);
    va_end(ap);
    s->n_history++;
    s->digest = digest_add(s->digest, line, strlen(line) + 1); /* with its NUL: line-separated */
    if (s->opts->verbose) {
        printf("%s\n", line);
    }
}

void sim_fail(struct sim *s, const char *fmt, ...)
{
    va_list ap;
    if (s->failed) {
        return; /* the first failure is the one to report */
    }
    s->failed = true;
    va_start(ap, fmt);
    vsnprintf(s->failure, sizeof s->failure, fmt, ap);
    va_end(ap);
}

static void dump_state(struct sim *s)
{
    uint64_t now = sim_now(s);
    printf("  state at %llu ms:\n", (unsigned long long)now);
    for (unsigned i = 0; i < s->n; i++) {
        struct srv *v = &s->srv[i];
        struct raft *r = srv_raft(v);
        raft_id leader;
        const char *addr;
        raft_leader(r, &leader, &addr);
        printf(
            "    server %llu: %s %s term %llu applied %llu (raft %llu) commit %llu last %llu leader %llu | engine %s "
            "w%u%s lease %s%lld ms%s\n",
            (unsigned long long)v->id, srv_alive(v) ? "alive" : "KILLED", raft_state_name(raft_state(r)),
            (unsigned long long)raft_current_term(r), (unsigned long long)v->store.applied_index,
            (unsigned long long)raft_last_applied(r), (unsigned long long)raft_commit_index(r),
            (unsigned long long)raft_last_index(r), (unsigned long long)leader, v->mode, v->weight,
            v->race_enabled ? "" : " single-engine", lease_valid(&v->lease, now) ? "valid, " : "expired, ",
            (long long)v->lease.deadline - (long long)now, now < v->silent_until_ms ? " SILENT" : "");
        printf("      projects:");
        for (size_t k = 0; k < v->n_snap; k++) {
            printf(" %s=%llu/e%llu%s", v->snap[k].name, (unsigned long long)v->snap[k].owner,
                   (unsigned long long)v->snap[k].epoch, v->snap[k].pinned ? "*" : "");
        }
        printf("\n");
        struct store_engine *e = NULL;
        size_t ne = 0;
        if (store_load_engines(&v->store, &e, &ne) == 0) {
            printf("      engines:");
            for (size_t k = 0; k < ne; k++) {
                printf(" %llu:%s%s%s", (unsigned long long)e[k].id, e[k].mode, e[k].alive ? "" : ",dead",
                       e[k].draining ? ",draining" : "");
            }
            printf("\n");
            free(e);
        }
    }
}

static void report(struct sim *s)
{
    unsigned first = s->n_history > SIM_HISTORY ? s->n_history - SIM_HISTORY : 0;
    printf("sim: seed %llu FAILED at step %u (%llu ms virtual, %u servers): %s\n", (unsigned long long)s->seed, s->step,
           (unsigned long long)sim_now(s), s->n, s->failure);
    if (!s->opts->verbose) {
        printf("  last %u events:\n", s->n_history - first);
        for (unsigned i = first; i < s->n_history; i++) {
            printf("    %s\n", s->history[i % SIM_HISTORY]);
        }
    }
    dump_state(s);
    printf("replay: build/sim/sim --seeds 1 --first %llu --steps %u --servers %u%s%s%s%s%s%s%s%s%s%s%s%s%s%s%s -v\n",
           (unsigned long long)s->seed, s->opts->steps, s->n, s->opts->autopilot ? " --autopilot" : "",
           s->opts->no_change_split ? " --no-change-split" : "",
           s->opts->no_prevote_copies ? " --no-prevote-copies" : "",
           s->opts->io_faults ? " --io-faults" : "",
           s->opts->no_ack_gate ? " --no-ack-gate" : "", s->opts->no_handoff_grace ? " --no-handoff-grace" : "",
           s->opts->no_install_hold ? " --no-install-hold" : "", s->opts->no_prevote_fix ? " --no-prevote-fix" : "",
           s->opts->no_vote_result_fix ? " --no-vote-result-fix" : "",
           s->opts->no_vote_after_timeout ? " --no-vote-after-timeout" : "",
           s->opts->no_vote_resend ? " --no-vote-resend" : "", s->opts->no_pipeline_keep ? " --no-pipeline-keep" : "",
           s->opts->no_timeout_redraw ? " --no-timeout-redraw" : "", s->opts->tick_arg,
           s->opts->repeat > 1 ? " --repeat (as given: the failure may be in a repeat)" : "");
}

/* ---- one run ---- */

static void configure_engines(struct sim *s)
{
    struct rng *r = &s->rng;
    bool single = rng_permille(r, 80);
    bool query = s->n == 5 || rng_permille(r, 500);
    for (unsigned i = 0; i < s->n; i++) {
        struct srv *v = &s->srv[i];
        const char *mode = rng_permille(r, 300) ? "job" : "all";
        if (query && i == s->n - 1) {
            mode = "query";
        }
        snprintf(v->mode, sizeof v->mode, "%s", mode);
        v->weight = rng_permille(r, 700) ? 1 : rng_range(r, 2, 3);
        v->race_enabled = !(single && i == 0 && strcmp(mode, "query") != 0);
        snprintf(v->identity, sizeof v->identity, "10.0.0.%u:7070|%llu", i + 1,
                 (unsigned long long)(1700000000000ull + s->seed % 100000));
        v->next_hb_ms = 200 + rng_below(r, SIM_HB_INTERVAL_MS);
        sim_event(s, "engine %llu: mode %s weight %u%s", (unsigned long long)v->id, v->mode, v->weight,
                  v->race_enabled ? "" : " (single-engine mode)");
    }
}

/* Runs the fixture to the next tick, checking invariant 2 after every event that changed a
 * store or a lease, then runs one tick of every member. */
static void tick(struct sim *s, uint64_t *next_ms)
{
    if (s->opts->trace_from_ms != 0 && sim_now(s) >= s->opts->trace_from_ms) {
        cluster_trace(s);
    }
    while (sim_now(s) < *next_ms && !s->failed) {
        raft_fixture_step(&s->f);
        if (s->dirty) {
            s->dirty = false;
            check_leases(s);
        }
    }
    *next_ms += SIM_TICK_MS;
    if (s->failed) {
        return;
    }
    /* raftnode stops a member on its first failed log append (raft_fix.h: libraft 0.22.1
     * drops the failure, and the member would never persist again: a follower stays one
     * forever, "persisting N entries -> stay follower"). The fixture cannot restart a member
     * from its log, so it stays stopped; the others must carry on without it. */
    for (unsigned i = 0; i < s->n; i++) {
        struct srv *v = &s->srv[i];
        if (v->disk_failed && !v->stopped) {
            v->stopped = true;
            s->counters[C_DISK_STOPS]++;
            if (raft_fixture_alive(&s->f, i)) {
                raft_fixture_kill(&s->f, i);
            }
            s->dirty = true;
            sim_event(s, "server %llu stops: a log append failed (raftnode exits; it stays down)",
                      (unsigned long long)v->id);
        }
    }
    /* The fixture pins raft's randomized election timeouts to configured values; left alone,
     * two candidates with equal ones split the vote forever. Draw new ones now and then. */
    for (unsigned i = 0; i < s->n; i++) {
        if (rng_permille(&s->rng, 50)) {
            raft_fixture_set_randomized_election_timeout(&s->f, i, rng_range(&s->rng, 1000, 1999));
        }
    }
    nemesis_step(s);
    client_step(s);
    for (unsigned i = 0; i < s->n; i++) {
        engine_tick(&s->srv[i]);
    }
    for (unsigned i = 0; i < s->n; i++) {
        leader_tick(&s->srv[i]);
    }
    if (s->opts->autopilot) {
        ap_tick(s);
    }
    for (unsigned i = 0; i < s->n; i++) {
        if (srv_alive(&s->srv[i])) {
            srv_log_as(&s->srv[i]);
            proposals_flush(&s->srv[i].proposals); /* raftnode: its uv_check, once per loop iteration */
            /* raftnode commits the store's open group raft.apply.group-commit-ms (20) after an
             * apply; here every 20 virtual ms, so groups of several entries are simulated */
            if (sim_now(s) >= s->srv[i].commit_due_ms) {
                (void)fsm_glue_commit(&s->srv[i].glue); /* a failure stops the server (glue_stop) */
                s->srv[i].commit_due_ms = sim_now(s) + 20;
            }
        }
    }
    if (s->dirty) {
        s->dirty = false;
        check_leases(s);
    }
    check_failover(s);
}

/* Healed: one leader with nothing in flight, every member up, every engine registered and
 * alive, maintenance off, placement done on the leader. Otherwise false, with WHY saying
 * what not. */
static bool converged(struct sim *s, char *why, size_t cap)
{
    struct srv *l = sim_leader(s);
    bool maintenance = true;
    char reason[8];
    struct store_engine *e = NULL;
    size_t ne = 0;

    /* The fixture's stable leader: acknowledged by every connected member in its term. A
     * member just revived may still be in leader state from an old term. */
    if (l == NULL || !l->sched.leading || s->f.leader_id != l->id) {
        snprintf(why, cap, "no stable leader");
        return false;
    }
    for (unsigned i = 0; i < s->n; i++) {
        if (!srv_alive(&s->srv[i]) && !s->srv[i].stopped) {
            snprintf(why, cap, "server %llu down", (unsigned long long)s->srv[i].id);
            return false;
        }
    }
    if (l->proposals.open != NULL || l->proposals.n_inflight > 0 ||
        raft_last_applied(srv_raft(l)) != raft_last_index(srv_raft(l))) {
        snprintf(why, cap, "leader %llu: entries in flight (%s%s, applied %llu of %llu)", (unsigned long long)l->id,
                 l->proposals.open != NULL ? "a batch open" : "", l->proposals.n_inflight > 0 ? " a batch proposed" : "",
                 (unsigned long long)raft_last_applied(srv_raft(l)), (unsigned long long)raft_last_index(srv_raft(l)));
        return false;
    }
    if (store_maintenance(&l->store, &maintenance, reason, sizeof reason) != 0 || maintenance) {
        snprintf(why, cap, "maintenance mode on");
        return false;
    }
    if (store_load_engines(&l->store, &e, &ne) != 0) {
        snprintf(why, cap, "reading the engines: %.100s", l->store.errmsg);
        free(e);
        return false;
    }
    /* every running server's engine registered and alive; a stopped one's declared dead */
    for (unsigned i = 0; i < s->n; i++) {
        const struct srv *v = &s->srv[i];
        const struct store_engine *found = NULL;
        for (size_t k = 0; k < ne; k++) {
            if (e[k].id == v->id) {
                found = &e[k];
            }
        }
        if (!v->stopped && (found == NULL || !found->alive)) {
            snprintf(why, cap, "engine %llu %s", (unsigned long long)v->id, found == NULL ? "not registered" : "dead");
            free(e);
            return false;
        }
        if (v->stopped && found != NULL && found->alive && found->race_enabled) {
            snprintf(why, cap, "engine %llu of a stopped server not declared dead yet", (unsigned long long)v->id);
            free(e);
            return false;
        }
    }
    free(e);
    if (sched_core_place_due(&l->sched.core, l->store.ownership_version, 0) || l->sched.core.plan_inflight > 0) {
        snprintf(why, cap, "leader %llu: placement pending (%u moves in flight)", (unsigned long long)l->id,
                 l->sched.core.plan_inflight);
        return false;
    }
    return !s->opts->autopilot || ap_converged(s, why, cap);
}

/* A follower whose own snapshot covers entries the leader believes it lacks (its results
 * were lost) rejects AppendEntries for the compacted prefix ("missing previous entry") and
 * ignores InstallSnapshot of an older image ("have more recent snapshot"): libraft 0.22.1
 * only gets it going again once the leader has a newer snapshot. A live cluster makes one
 * within snapshot-threshold entries; the frozen one of settle() makes none, so after a while
 * the leader is given a threshold of 1 and an entry (a heartbeat batch of no engine). */
static void nudge_snapshot(struct sim *s, struct srv *l)
{
    msgpack_sbuffer sb;
    msgpack_packer pk;
    msgpack_sbuffer_init(&sb);
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    raft_set_snapshot_threshold(srv_raft(l), 1);
    if (command_pack_heartbeat(&pk, NULL, 0) == 0 && proposals_submit_sim(l, sb.data, sb.size, NULL, NULL) == 0) {
        proposals_flush(&l->proposals);
        sim_event(s, "settle: server %llu takes a snapshot to unblock a follower", (unsigned long long)l->id);
    }
    msgpack_sbuffer_destroy(&sb);
}

static bool settle(struct sim *s)
{
    uint64_t start = sim_now(s), until = start + SIM_SETTLE_MS, next_nudge = start + 2000;
    while (!s->failed && sim_now(s) < until) {
        struct srv *l = sim_leader(s);
        bool all = l != NULL;
        raft_index last = l != NULL ? raft_last_index(srv_raft(l)) : 0;
        for (unsigned i = 0; i < s->n && all; i++) {
            /* barriers do not reach the store */
            all = s->srv[i].stopped || raft_last_applied(srv_raft(&s->srv[i])) == last;
        }
        if (all && raft_commit_index(srv_raft(l)) == last) {
            return true;
        }
        if (l != NULL && sim_now(s) >= next_nudge) {
            nudge_snapshot(s, l);
            next_nudge = sim_now(s) + 5000;
        }
        raft_fixture_step(&s->f);
        if (s->dirty) {
            s->dirty = false;
            check_leases(s);
        }
    }
    return false;
}

static unsigned servers_for(const struct sim_opts *o, uint64_t seed)
{
    if (o->servers != 0) {
        return o->servers;
    }
    struct rng r = {.s = seed ^ 0x5eed5eed5eedull};
    if (o->autopilot) {
        return rng_permille(&r, 600) ? SIM_AP_VOTERS + 1 : SIM_AP_VOTERS + 2; /* one or two standbys */
    }
    return rng_permille(&r, 600) ? 3 : 5;
}

/* --repeat: run K of a seed first moves the heap by an amount that depends on K (blocks of
 * assorted small sizes, which also take chunks off malloc's free lists, and one block of
 * K * 1040 bytes), so that every run sees other addresses even in one process or after fork;
 * and libraft's small blocks get addresses of a chosen shape (heap.c). A run whose history
 * depends on an address then differs between runs. NULL for K = 0. */
static void **heap_shift(unsigned k, size_t *n)
{
    *n = (size_t)k * 13 + 1;
    void **pads = k > 0 ? calloc(*n, sizeof *pads) : NULL;
    if (pads == NULL) {
        *n = 0;
        return NULL;
    }
    for (size_t i = 0; i + 1 < *n; i++) {
        pads[i] = malloc(16 + (i * 24) % 512);
    }
    pads[*n - 1] = malloc((size_t)k * 1040 + 8);
    return pads;
}

static void heap_unshift(void **pads, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(pads[i]);
    }
    free(pads);
}

/* Runs SEED (after heap_shift(SHIFT)); adds its counters to TOTALS and sets *DIGEST to the
 * digest of its event history, verdict and counters. */
static bool run_seed(const struct sim_opts *o, uint64_t seed, unsigned shift, uint64_t totals[C_COUNT],
                     uint64_t *digest)
{
    size_t n_pads;
    void **pads = heap_shift(shift, &n_pads);
    struct sim *s = calloc(1, sizeof *s);
    bool ok;
    *digest = 0;
    if (s == NULL) {
        heap_unshift(pads, n_pads);
        return false;
    }
    heap_hostile_set(shift);
    s->digest = DIGEST_INIT;
    s->opts = o;
    s->seed = seed;
    s->rng.s = seed * 0x2545f4914f6cdd1dull + 1;
    s->n = servers_for(o, seed);
    if (cluster_start(s) != 0) {
        sim_fail(s, "the fixture did not start");
    }
    configure_engines(s);
    if (s->opts->autopilot && !s->failed) {
        ap_start(s);
    }
    uint64_t next_ms = SIM_TICK_MS;
    for (s->step = 0; s->step < o->steps && !s->failed; s->step++) {
        tick(s, &next_ms);
    }
    if (!s->failed) {
        s->healing = true;
        nemesis_heal_all(s);
        sim_event(s, "healing: every fault ends");
        uint64_t until = sim_now(s) + SIM_HEAL_MS;
        bool quiet = false;
        char why[160] = "";
        while (!s->failed && sim_now(s) < until && !(quiet = converged(s, why, sizeof why))) {
            tick(s, &next_ms);
        }
        if (!s->failed && !quiet) {
            sim_fail(s, "no convergence within %d ms after healing: %s", SIM_HEAL_MS, why);
        }
        if (quiet) {
            sim_event(s, "converged: leader %llu; settling", (unsigned long long)sim_leader(s)->id);
        }
        /* Freeze the members (no heartbeats, clients or scheduler: entries are proposed
         * every few hundred ms otherwise) and let raft bring everyone to the last index. */
        if (!s->failed && !settle(s)) {
            sim_fail(s, "members did not reach the leader's last index within %d ms", SIM_SETTLE_MS);
        }
        if (!s->failed) {
            check_final(s);
        }
    }
    if (s->failed) {
        report(s);
    } else if (o->verbose) {
        printf("sim: seed %llu passed (%u servers, %llu ms virtual)\n", (unsigned long long)seed, s->n,
               (unsigned long long)sim_now(s));
    }
    ok = !s->failed;
    cluster_close(s); /* adds the raft_fix counters */
    heap_hostile_unset(shift);
    for (unsigned i = 0; i < C_COUNT; i++) {
        totals[i] += s->counters[i];
    }
    uint8_t verdict = ok;
    s->digest = digest_add(s->digest, &verdict, 1);
    *digest = digest_add(s->digest, s->counters, sizeof s->counters);
    nemesis_free(s);
    check_free(s);
    free(s->projects);
    free(s);
    heap_unshift(pads, n_pads);
    return ok;
}

/* ---- command line ---- */

#define SIM_MAX_EXTRA_SEEDS 64

static void usage(FILE *out)
{
    fprintf(out,
            "usage: sim --seeds N [--first S] [--steps K] [--servers 3|4|5] [-v] [--io-faults] [--no-fork]\n"
            "           [--autopilot]\n"
            "           [--minutes M] [--and-seeds A,B,...]\n"
            "           [--no-ack-gate] [--no-handoff-grace] [--as-built] [--no-install-hold]\n"
            "           [--no-prevote-fix] [--no-vote-result-fix] [--no-vote-after-timeout]\n"
            "           [--no-vote-resend] [--no-pipeline-keep] [--no-timeout-redraw] [--tick-ms N] [--repeat N]\n"
            "  runs seeds S..S+N-1 (default S=1), K steps of %d virtual ms each (default 400)\n"
            "  --and-seeds LIST   then also these seeds (up to %d, comma-separated: seeds that\n"
            "                     once failed, replayed in CI)\n"
            "  --servers          cluster size (default: 3 or 5, chosen by the seed)\n"
            "  --minutes M        start no new seed after M minutes of wall-clock time (soaks)\n"
            "  --no-fork          run seeds in this process (default: one child process per seed,\n"
            "                     so a crash fails that seed only)\n"
            "  -v                 print every event\n"
            "  --autopilot        3 voters and 1..2 standbys (--servers 4|5), raftnode/autopilot.c on\n"
            "                     every member, one voter killed for good: it must be replaced, and\n"
            "                     the leader's live voters stay a quorum (tests/sim/autopilot.c)\n"
            "  --io-faults        also make log appends of a minority of servers fail with an I/O\n"
            "                     error; such a server then stops for good, as raftnode stops a\n"
            "                     member on a failed append (the fixture cannot restart it)\n"
            "  --trace-from MS    print libraft's own trace (stderr) from virtual time MS on\n"
            "  --repeat N         run every seed N times, each after moving the heap differently,\n"
            "                     and fail a seed whose runs differ (history, verdict or counters):\n"
            "                     a seed must determine its run, whatever the address layout\n"
            "  The lease (raftnode/lease.c, as raftnode/engine.c runs it) has two rules invariant 2\n"
            "  needs; these options take them out to show why they are needed:\n"
            "  --no-ack-gate      an acknowledged heartbeat extends the lease at once, even when the\n"
            "                     engine's own member has not applied the acknowledging entry\n"
            "  --no-handoff-grace a project moved from a live engine is acted for at once\n"
            "  --as-built         both: the engine as raftnode/engine.c had it before the fix\n"
            "  --no-install-hold  raftnode/raft_fix.c delivers an InstallSnapshot that arrives during\n"
            "                     the member's own snapshot write at once, as libraft 0.22.1 expects\n"
            "                     (it then crashes: finding 11 of docs/reliability.md)\n"
            "  --no-prevote-fix   raftnode/raft_fix.c leaves pre-vote rejections as libraft 0.22.1\n"
            "                     builds them (two survivors can deadlock: finding 13)\n"
            "  --no-change-split  raftnode/raft_fix.c passes an AppendEntries whose configuration change\n"
            "                     is not its first entry to libraft as is (the follower records the\n"
            "                     wrong uncommitted index and, as leader, refuses every change:\n"
            "                     --autopilot seed 349)\n"
            "  --no-prevote-copies raftnode/raft_fix.c sends pre-vote requests to voters only, as\n"
            "                     libraft does (--autopilot: a voter back after its demotion is not\n"
            "                     heard by a leader it did not know as a voter, seed 3000043)\n"
            "  --no-vote-result-fix raftnode/raft_fix.c lets RequestVote results reach a follower,\n"
            "                     whose libraft then adopts their term or not depending on a byte\n"
            "                     of a heap pointer (runs of a seed differ: finding 14)\n"
            "  --no-vote-after-timeout raftnode/raft_fix.c leaves libraft's rule: a follower refuses\n"
            "                     every vote while it knows a leader, until its own election timer\n"
            "                     fires (without it, refused only within T of hearing the leader)\n"
            "  --no-vote-resend   raftnode/raft_fix.c sends each (pre-)vote request once, as libraft\n"
            "                     does (without it, an unanswered one again on the next 3 ticks)\n"
            "  --no-pipeline-keep raftnode/raft_fix.c leaves a leader's pipeline aborts of followers it\n"
            "                     heard from within 3 heartbeats as libraft makes them (twelfth rule)\n"
            "  --no-timeout-redraw raftnode/raft_fix.c leaves a follower's election timeout as libraft\n"
            "                     drew it (without it, drawn again at every new term: thirteenth)\n"
            "  --tick-ms N        raftnode/raft_fix.c's finer tick, as raft.tick-ms=N sets it (1..99):\n"
            "                     followers and candidates check their election timer every N ms,\n"
            "                     the leader still ticks every 100 ms (default: libraft's 100 ms tick)\n",
            SIM_TICK_MS, SIM_MAX_EXTRA_SEEDS);
}

static int parse_u64(const char *s, uint64_t *out)
{
    char *end;
    if (s == NULL || *s == '\0') {
        return -1;
    }
    unsigned long long v = strtoull(s, &end, 10);
    if (*end != '\0') {
        return -1;
    }
    *out = v;
    return 0;
}

/* "A,B,C" -> seeds; -1 on a bad or empty item or more than SIM_MAX_EXTRA_SEEDS. */
static int parse_seed_list(const char *s, uint64_t *seeds, unsigned *n)
{
    char buf[1024];
    if (s == NULL || strlen(s) >= sizeof buf) {
        return -1;
    }
    strcpy(buf, s);
    *n = 0;
    char *save = NULL;
    for (char *tok = strtok_r(buf, ",", &save); tok != NULL; tok = strtok_r(NULL, ",", &save)) {
        if (*n == SIM_MAX_EXTRA_SEEDS || parse_u64(tok, &seeds[*n]) != 0) {
            return -1;
        }
        (*n)++;
    }
    return *n > 0 ? 0 : -1;
}

/* Runs one seed in a child process, so that a crash (a libraft assertion, a segfault in the
 * library or in our code) is one failing seed with its replay command, not the end of the
 * run. The child sends its verdict and counters back through a pipe. */
static bool run_seed_isolated(const struct sim_opts *o, uint64_t seed, unsigned shift, uint64_t totals[C_COUNT],
                              uint64_t *digest)
{
    struct {
        uint8_t ok;
        uint64_t digest;
        uint64_t counters[C_COUNT];
    } msg;
    int fds[2], status = 0;
    pid_t pid;

    fflush(stdout);
    fflush(stderr);
    if (pipe(fds) != 0 || (pid = fork()) < 0) {
        perror("sim: pipe/fork (running the seed in this process instead)");
        return run_seed(o, seed, shift, totals, digest);
    }
    if (pid == 0) {
        close(fds[0]);
        memset(&msg, 0, sizeof msg);
        msg.ok = run_seed(o, seed, shift, msg.counters, &msg.digest);
        fflush(stdout);
        ssize_t w = write(fds[1], &msg, sizeof msg);
        exit(w == (ssize_t)sizeof msg ? 0 : 3); /* exit, not _exit: LeakSanitizer runs at exit */
    }
    close(fds[1]);
    size_t got = 0;
    while (got < sizeof msg) {
        ssize_t r = read(fds[0], (char *)&msg + got, sizeof msg - got);
        if (r <= 0) {
            break;
        }
        got += (size_t)r;
    }
    close(fds[0]);
    while (waitpid(pid, &status, 0) < 0) {
    }
    bool clean_exit = WIFEXITED(status) && WEXITSTATUS(status) == 0;
    *digest = 0;
    if (got == sizeof msg && clean_exit) {
        for (int i = 0; i < C_COUNT; i++) {
            totals[i] += msg.counters[i];
        }
        *digest = msg.digest;
        return msg.ok != 0;
    }
    if (WIFSIGNALED(status)) {
        printf("sim: seed %llu CRASHED (signal %d, %s)\n", (unsigned long long)seed, WTERMSIG(status),
               strsignal(WTERMSIG(status)));
    } else {
        printf("sim: seed %llu CRASHED (exit status %d%s)\n", (unsigned long long)seed,
               WIFEXITED(status) ? WEXITSTATUS(status) : -1,
               got == sizeof msg && msg.ok ? ", after passing: a sanitizer report at exit?" : "");
    }
    printf("replay: gdb --args build/sim/sim --seeds 1 --first %llu --steps %u --servers %u%s%s%s%s%s%s%s%s%s%s%s%s%s%s%s --no-fork -v\n",
           (unsigned long long)seed, o->steps, servers_for(o, seed), o->autopilot ? " --autopilot" : "",
           o->no_change_split ? " --no-change-split" : "", o->no_prevote_copies ? " --no-prevote-copies" : "",
           o->io_faults ? " --io-faults" : "", o->no_ack_gate ? " --no-ack-gate" : "",
           o->no_handoff_grace ? " --no-handoff-grace" : "", o->no_install_hold ? " --no-install-hold" : "",
           o->no_prevote_fix ? " --no-prevote-fix" : "", o->no_vote_result_fix ? " --no-vote-result-fix" : "",
           o->no_vote_after_timeout ? " --no-vote-after-timeout" : "", o->no_vote_resend ? " --no-vote-resend" : "",
           o->no_pipeline_keep ? " --no-pipeline-keep" : "", o->no_timeout_redraw ? " --no-timeout-redraw" : "",
           o->tick_arg,
           o->repeat > 1 ? " --repeat (as given: the crash may be in a repeat)" : "");
    return false;
}

/* Runs SEED once, or o->repeat times (each after a different heap_shift) when --repeat N:
 * every run must print the same history and end with the same verdict and counters (the
 * digest), otherwise the seed fails as not reproducible. TOTALS counts the first run only,
 * so the totals line does not depend on N. */
static bool run_seed_repeated(const struct sim_opts *o, uint64_t seed, uint64_t totals[C_COUNT])
{
    unsigned runs = o->repeat > 1 ? o->repeat : 1;
    uint64_t first = 0;
    bool ok = true;
    for (unsigned k = 0; k < runs; k++) {
        uint64_t scratch[C_COUNT] = {0}, digest;
        bool passed = o->no_fork ? run_seed(o, seed, k, k == 0 ? totals : scratch, &digest)
                                 : run_seed_isolated(o, seed, k, k == 0 ? totals : scratch, &digest);
        if (!passed) {
            return false; /* reported by the run */
        }
        if (k == 0) {
            first = digest;
        } else if (digest != first) {
            printf("sim: seed %llu NOT REPRODUCIBLE: run 1 of %u has digest %016llx, run %u has %016llx (the "
                   "history depends on something besides the seed: an address, uninitialised memory, the "
                   "wall clock); compare `build/sim/sim --seeds 1 --first %llu -v` of several invocations, "
                   "also under `setarch -R`\n",
                   (unsigned long long)seed, runs, (unsigned long long)first, k + 1, (unsigned long long)digest,
                   (unsigned long long)seed);
            ok = false;
            break;
        }
    }
    return ok;
}

int main(int argc, char **argv)
{
    struct sim_opts o = {.seeds = 0, .first = 1, .steps = 400};
    uint64_t v, minutes = 0, extra[SIM_MAX_EXTRA_SEEDS];
    unsigned n_extra = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *next = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--seeds") == 0 && parse_u64(next, &o.seeds) == 0) {
            i++;
        } else if (strcmp(a, "--first") == 0 && parse_u64(next, &o.first) == 0) {
            i++;
        } else if (strcmp(a, "--steps") == 0 && parse_u64(next, &v) == 0 && v > 0 && v < 10000000) {
            o.steps = (unsigned)v;
            i++;
        } else if (strcmp(a, "--servers") == 0 && parse_u64(next, &v) == 0 && v >= 3 && v <= 5) {
            o.servers = (unsigned)v;
            i++;
        } else if (strcmp(a, "-v") == 0) {
            o.verbose = true;
        } else if (strcmp(a, "--no-fork") == 0) {
            o.no_fork = true;
        } else if (strcmp(a, "--minutes") == 0 && parse_u64(next, &minutes) == 0 && minutes > 0) {
            i++;
        } else if (strcmp(a, "--io-faults") == 0) {
            o.io_faults = true;
        } else if (strcmp(a, "--autopilot") == 0) {
            o.autopilot = true;
        } else if (strcmp(a, "--no-change-split") == 0) {
            o.no_change_split = true;
        } else if (strcmp(a, "--no-prevote-copies") == 0) {
            o.no_prevote_copies = true;
        } else if (strcmp(a, "--trace-from") == 0 && parse_u64(next, &o.trace_from_ms) == 0) {
            i++;
        } else if (strcmp(a, "--and-seeds") == 0 && parse_seed_list(next, extra, &n_extra) == 0) {
            i++;
        } else if (strcmp(a, "--no-prevote-fix") == 0) {
            o.no_prevote_fix = true;
        } else if (strcmp(a, "--no-vote-result-fix") == 0) {
            o.no_vote_result_fix = true;
        } else if (strcmp(a, "--no-vote-after-timeout") == 0) {
            o.no_vote_after_timeout = true;
        } else if (strcmp(a, "--no-vote-resend") == 0) {
            o.no_vote_resend = true;
        } else if (strcmp(a, "--no-pipeline-keep") == 0) {
            o.no_pipeline_keep = true;
        } else if (strcmp(a, "--no-timeout-redraw") == 0) {
            o.no_timeout_redraw = true;
        } else if (strcmp(a, "--tick-ms") == 0 && parse_u64(next, &v) == 0 && v >= 1 && v <= 99) {
            o.tick_ms = (unsigned)v;
            snprintf(o.tick_arg, sizeof o.tick_arg, " --tick-ms %u", o.tick_ms);
            i++;
        } else if (strcmp(a, "--repeat") == 0 && parse_u64(next, &v) == 0 && v >= 1 && v <= 1000) {
            o.repeat = (unsigned)v;
            i++;
        } else if (strcmp(a, "--no-install-hold") == 0) {
            o.no_install_hold = true;
        } else if (strcmp(a, "--no-ack-gate") == 0) {
            o.no_ack_gate = true;
        } else if (strcmp(a, "--no-handoff-grace") == 0) {
            o.no_handoff_grace = true;
        } else if (strcmp(a, "--as-built") == 0) {
            o.no_ack_gate = o.no_handoff_grace = true;
        } else if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            usage(stdout);
            return 0;
        } else {
            fprintf(stderr, "sim: bad argument '%s'\n", a);
            usage(stderr);
            return 2;
        }
    }
    if (o.seeds == 0) {
        usage(stderr);
        return 2;
    }
    if (o.autopilot && (o.io_faults || (o.servers != 0 && o.servers <= SIM_AP_VOTERS))) {
        fprintf(stderr, "sim: --autopilot needs --servers 4 or 5 (3 voters and standbys) and no --io-faults "
                        "(its quorum oracle counts the members stopped for good)\n");
        return 2;
    }
    uint64_t passed = 0, failed = 0, totals[C_COUNT] = {0};
    /* --minutes bounds a soak by wall-clock time: no new seed starts after it (each seed's run
     * stays fully determined by the seed; only how many seeds run depends on the machine). */
    time_t stop_at = minutes > 0 ? time(NULL) + (time_t)(minutes * 60) : 0;
    uint64_t last_seed = o.first;
    for (uint64_t seed = o.first; seed < o.first + o.seeds; seed++) {
        if (stop_at != 0 && time(NULL) >= stop_at) {
            printf("sim: --minutes %llu reached after seed %llu\n", (unsigned long long)minutes,
                   (unsigned long long)(seed - 1));
            break;
        }
        last_seed = seed;
        if (run_seed_repeated(&o, seed, totals)) {
            passed++;
        } else {
            failed++;
        }
        fflush(stdout);
    }
    for (unsigned i = 0; i < n_extra; i++) {
        if (run_seed_repeated(&o, extra[i], totals)) {
            passed++;
        } else {
            failed++;
        }
        fflush(stdout);
    }
    printf("sim: totals: %llu entries applied, %llu snapshots, %llu restores, %llu leader changes, "
           "%llu engines declared dead, %llu scheduler moves, %llu client commands, %llu faults, "
           "%llu leases extended (%llu after waiting for the member), %llu hand-over graces, "
           "%llu invariant-2 checks, %llu InstallSnapshot terms corrected (raft_fix), "
           "%llu AppendEntries below a snapshot rewritten, %llu InstallSnapshot held back (raft_fix), "
           "%llu members stopped after a failed append, %llu pre-vote rejections given the higher term "
           "(raft_fix), %llu failover-liveness checks of a silent engine, %llu vote results dropped at a "
           "follower (raft_fix), %llu AppendEntries cut before a configuration change (raft_fix), %llu pre-vote requests copied to non-voters (raft_fix), %llu leaders forgotten for a vote after T of silence (raft_fix), %llu vote requests sent again (raft_fix), %llu InstallSnapshot addressed from the current configuration (raft_fix), %llu pipeline aborts of live followers undone (raft_fix), %llu members whose pipeline rule turned itself off (raft_fix), %llu election timeouts drawn again at a new term (raft_fix), %llu autopilot changes, %llu voters dead for good replaced, %llu voters demoted while away re-admitted (--autopilot)\n",
           (unsigned long long)totals[C_APPLIED], (unsigned long long)totals[C_SNAPSHOTS],
           (unsigned long long)totals[C_RESTORES], (unsigned long long)totals[C_ELECTIONS],
           (unsigned long long)totals[C_FAILOVERS], (unsigned long long)totals[C_MOVES],
           (unsigned long long)totals[C_CLIENT_CMDS], (unsigned long long)totals[C_NEMESES],
           (unsigned long long)totals[C_LEASE_ACKS], (unsigned long long)totals[C_GATED_ACKS],
           (unsigned long long)totals[C_GRACES], (unsigned long long)totals[C_INV2_CHECKS],
           (unsigned long long)totals[C_LIBRAFT_FIXES], (unsigned long long)totals[C_RAFT_FIX_REWRITES],
           (unsigned long long)totals[C_INSTALLS_HELD], (unsigned long long)totals[C_DISK_STOPS],
           (unsigned long long)totals[C_PREVOTE_TERMS], (unsigned long long)totals[C_FAILOVER_CHECKS],
           (unsigned long long)totals[C_VOTE_RESULTS_DROPPED], (unsigned long long)totals[C_CHANGES_SPLIT],
           (unsigned long long)totals[C_PREVOTES_COPIED], (unsigned long long)totals[C_LEADERS_FORGOTTEN],
           (unsigned long long)totals[C_VOTES_RESENT], (unsigned long long)totals[C_SNAPSHOTS_READDRESSED],
           (unsigned long long)totals[C_PIPELINES_KEPT], (unsigned long long)totals[C_PIPELINE_KEEP_OFF],
           (unsigned long long)totals[C_TIMEOUTS_REDRAWN], (unsigned long long)totals[C_AUTOPILOT_ACTIONS],
           (unsigned long long)totals[C_AUTOPILOT_REPLACED], (unsigned long long)totals[C_AUTOPILOT_READMITTED]);
    printf("sim: seeds %llu..%llu", (unsigned long long)o.first, (unsigned long long)last_seed);
    for (unsigned i = 0; i < n_extra; i++) {
        printf("%s%llu", i == 0 ? " and " : ",", (unsigned long long)extra[i]);
    }
    printf("\n");
    printf("sim: %llu passed, %llu failed\n", (unsigned long long)passed, (unsigned long long)failed);
    return failed == 0 ? 0 : 1;
}
