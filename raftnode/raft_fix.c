/* raft_fix: the AppendEntries guard of raft_fix.h. */
#include "raft_fix.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static struct raft_fix *wrapped[RAFT_FIX_MAX];

static struct raft_fix *fix_of(struct raft_io *io)
{
    for (unsigned i = 0; i < RAFT_FIX_MAX; i++) {
        if (wrapped[i] != NULL && wrapped[i]->io == io) {
            return wrapped[i];
        }
    }
    return NULL; /* not reached: every wrapped method belongs to a wrapped io */
}

static void note_snapshot(struct raft_fix *f, const struct raft_snapshot *s)
{
    if (s == NULL) {
        return;
    }
    if (s->index >= f->snap_index) {
        f->snap_index = s->index;
        f->snap_term = s->term;
    }
    f->recent[f->n_recent % RAFT_FIX_RECENT].index = s->index;
    f->recent[f->n_recent % RAFT_FIX_RECENT].term = s->term;
    f->n_recent++;
}

/* Whether the io ticks faster than libraft asked (the finer tick of raft_fix.h). */
static int fine_tick(const struct raft_fix *f)
{
    return f->io_tick_ms != f->base_tick_ms;
}

static void copy_sent(struct raft_io_send *req, int status)
{
    (void)status; /* a lost pre-vote is a lost message: Raft tolerates it */
    free(req);
}

/* The eighth rule: MESSAGE, a pre-vote request to the first voter of this member's
 * configuration, also goes to every non-voter of it (each copy with its own request). */
static void copy_prevote(struct raft_fix *f, struct raft_io *io, const struct raft_message *message)
{
    const struct raft_configuration *c = &f->raft->configuration;
    unsigned i = 0;
    while (i < c->n && (c->servers[i].role != RAFT_VOTER || c->servers[i].id == f->raft->id)) {
        i++;
    }
    if (i == c->n || c->servers[i].id != message->server_id) {
        return; /* not the round's first request: copied already */
    }
    for (i = 0; i < c->n; i++) {
        const struct raft_server *s = &c->servers[i];
        if (s->role == RAFT_VOTER || s->id == f->raft->id) {
            continue;
        }
        struct raft_io_send *copy = malloc(sizeof *copy);
        if (copy == NULL) {
            return; /* out of memory: the copies are a best effort, as the network is */
        }
        struct raft_message m = *message;
        m.server_id = s->id;
        m.server_address = s->address;
        copy->data = NULL;
        if (f->orig_send(io, copy, &m, copy_sent) != 0) {
            free(copy);
            continue;
        }
        f->prevotes_copied++;
    }
}

/* The tenth rule: remembers M, a (pre-)vote request libraft sends, as the one to send again. */
static void note_vote_out(struct raft_fix *f, const struct raft_message *m)
{
    unsigned slot = RAFT_FIX_VOTE_PEERS;
    for (unsigned i = 0; i < RAFT_FIX_VOTE_PEERS; i++) {
        if (f->votes_out[i].id == m->server_id) {
            slot = i;
            break;
        }
        if (f->votes_out[i].id == 0 && slot == RAFT_FIX_VOTE_PEERS) {
            slot = i;
        }
    }
    if (slot == RAFT_FIX_VOTE_PEERS) {
        return; /* more servers than slots: the others get libraft's single request */
    }
    f->votes_out[slot].id = m->server_id;
    f->votes_out[slot].rv = m->request_vote;
    f->votes_out[slot].resends = 0;
    f->votes_out[slot].fresh = 1;
    f->votes_out[slot].sent_at = fine_tick(f) ? f->io->time(f->io) : 0;
}

/* Forgets the request to ID (its result came). */
static void forget_vote_out(struct raft_fix *f, raft_id id)
{
    for (unsigned i = 0; i < RAFT_FIX_VOTE_PEERS; i++) {
        if (f->votes_out[i].id == id) {
            f->votes_out[i].id = 0;
        }
    }
}

/* Whether RV belongs to the election round R is in now: a candidate in the same phase of the
 * same term (a pre-vote asks for the term after the current one). */
static int vote_round_current(const struct raft *r, const struct raft_request_vote *rv)
{
    if (r->state != RAFT_CANDIDATE || rv->candidate_id != r->id) {
        return 0;
    }
    if (rv->pre_vote) {
        return r->candidate_state.in_pre_vote && rv->term == r->current_term + 1;
    }
    return !r->candidate_state.in_pre_vote && rv->term == r->current_term;
}

static void send_vote_copy(struct raft_fix *f, const struct raft_message *m);

void raft_fix_resend_votes(struct raft_fix *f)
{
    int fine = fine_tick(f);
    raft_time now = fine ? f->io->time(f->io) : 0;
    for (unsigned i = 0; i < RAFT_FIX_VOTE_PEERS; i++) {
        if (f->votes_out[i].id == 0) {
            continue;
        }
        if (!vote_round_current(f->raft, &f->votes_out[i].rv) || f->votes_out[i].resends >= RAFT_FIX_VOTE_RESENDS) {
            f->votes_out[i].id = 0; /* a round over, or sent often enough: libraft's next round takes over */
            continue;
        }
        if (fine) {
            /* due once libraft's interval passed since it was sent (a clock step: now) */
            if (now >= f->votes_out[i].sent_at && now - f->votes_out[i].sent_at < f->base_tick_ms) {
                continue;
            }
            f->votes_out[i].sent_at = now;
        } else if (f->votes_out[i].fresh) {
            f->votes_out[i].fresh = 0; /* sent in this tick: due at the next one */
            continue;
        }
        struct raft_message m;
        memset(&m, 0, sizeof m);
        m.type = RAFT_REQUEST_VOTE;
        m.server_id = f->votes_out[i].id;
        m.request_vote = f->votes_out[i].rv;
        f->votes_out[i].resends++;
        send_vote_copy(f, &m);
    }
}

/* Vote requests and results libraft sent whose callback has not come yet (tenth rule): a
 * failed one is sent again from its callback. A few at a time (one per server and round). */
#define VOTE_SENDS_MAX 64
static struct vote_send {
    struct raft_io_send *req; /* NULL = free */
    struct raft_fix *fix;
    raft_io_send_cb cb;
    struct raft_message m; /* its server_address looked up again when sent again */
} vote_sends[VOTE_SENDS_MAX];

/* The address of server ID in C, or NULL. */
static const char *address_of(const struct raft_configuration *c, raft_id id)
{
    for (unsigned k = 0; k < c->n; k++) {
        if (c->servers[k].id == id) {
            return c->servers[k].address;
        }
    }
    return NULL;
}

int raft_fix_readdress(const struct raft_configuration *c, struct raft_message *m)
{
    const char *address = address_of(c, m->server_id);
    if (address == NULL) {
        return RAFT_NOCONNECTION;
    }
    m->server_address = address;
    return 0;
}

/* Sends a copy of M (a vote request or result) through F's io, with the address of M's server
 * in F's configuration; the copy frees itself. */
static void send_vote_copy(struct raft_fix *f, const struct raft_message *m)
{
    const char *address = address_of(&f->raft->configuration, m->server_id);
    struct raft_io_send *copy = address != NULL ? malloc(sizeof *copy) : NULL;
    if (copy == NULL) {
        return; /* no longer in the configuration, or out of memory: a lost message */
    }
    struct raft_message again = *m;
    again.server_address = address;
    copy->data = NULL;
    if (f->orig_send(f->io, copy, &again, copy_sent) != 0) {
        free(copy);
        return;
    }
    f->votes_resent++;
}

static void vote_sent(struct raft_io_send *req, int status)
{
    struct vote_send *v = NULL;
    for (unsigned i = 0; i < VOTE_SENDS_MAX; i++) {
        if (vote_sends[i].req == req) {
            v = &vote_sends[i];
        }
    }
    if (v == NULL) {
        abort(); /* not reached: fix_send recorded every request passing here */
    }
    struct vote_send done = *v;
    v->req = NULL;
    /* A failed write (libraft's connection to a peer that went away): libraft reconnects, and
     * the copy waits for that connection. A request only while its round lasts. */
    if (status != 0 && status != RAFT_CANCELED && done.fix->raft != NULL &&
        (done.m.type == RAFT_REQUEST_VOTE_RESULT || vote_round_current(done.fix->raft, &done.m.request_vote))) {
        send_vote_copy(done.fix, &done.m);
    }
    if (done.cb != NULL) {
        done.cb(req, status);
    }
}

/* Sends a vote request or result of libraft's, recording it so that vote_sent can send it
 * again if the write fails; unrecorded (sent as is) when the table is full. */
static int send_vote_tracked(struct raft_fix *f, struct raft_io_send *req, const struct raft_message *message,
                             raft_io_send_cb cb)
{
    for (unsigned i = 0; i < VOTE_SENDS_MAX; i++) {
        if (vote_sends[i].req == NULL) {
            vote_sends[i] = (struct vote_send){.req = req, .fix = f, .cb = cb, .m = *message};
            int rv = f->orig_send(f->io, req, message, vote_sent);
            if (rv != 0) {
                vote_sends[i].req = NULL; /* no callback will come */
            }
            return rv;
        }
    }
    return f->orig_send(f->io, req, message, cb);
}

static int fix_send(struct raft_io *io, struct raft_io_send *req, const struct raft_message *message,
                    raft_io_send_cb cb)
{
    struct raft_fix *f = fix_of(io);
    if (message->type == RAFT_REQUEST_VOTE && f->raft != NULL && !f->no_vote_resend) {
        note_vote_out(f, message);
    }
    if (message->type == RAFT_REQUEST_VOTE && message->request_vote.pre_vote && f->raft != NULL &&
        !f->no_prevote_copies) {
        copy_prevote(f, io, message);
    }
    if (message->type == RAFT_INSTALL_SNAPSHOT && f->raft != NULL) {
        /* the message belongs to libraft's request, which built it for this call; its address
         * may point into a configuration freed since (eleventh rule) */
        int rv = raft_fix_readdress(&f->raft->configuration, (struct raft_message *)message);
        if (rv != 0) {
            snprintf(io->errmsg, sizeof io->errmsg, "InstallSnapshot to server %llu: no longer in the configuration",
                     (unsigned long long)message->server_id);
            return rv;
        }
        f->snapshots_readdressed++;
    }
    if (message->type == RAFT_INSTALL_SNAPSHOT) {
        unsigned n = f->n_recent < RAFT_FIX_RECENT ? f->n_recent : RAFT_FIX_RECENT;
        for (unsigned k = 0; k < n; k++) {
            if (f->recent[k].index == message->install_snapshot.last_index &&
                f->recent[k].term != message->install_snapshot.last_term) {
                /* the message belongs to libraft's request, which built it for this call */
                ((struct raft_message *)message)->install_snapshot.last_term = f->recent[k].term;
                f->terms_fixed++;
                break;
            }
        }
    }
    if (message->type == RAFT_REQUEST_VOTE_RESULT && f->raft != NULL && !f->no_prevote_fix) {
        /* the message belongs to libraft's request, which built it for this call */
        struct raft_request_vote_result *res = &((struct raft_message *)message)->request_vote_result;
        raft_term term = raft_current_term(f->raft);
        if (res->pre_vote && !res->vote_granted && term > res->term) {
            res->term = term;
            f->prevote_terms++;
        }
    }
    if ((message->type == RAFT_REQUEST_VOTE || message->type == RAFT_REQUEST_VOTE_RESULT) && f->raft != NULL &&
        !f->no_vote_resend) {
        return send_vote_tracked(f, req, message, cb);
    }
    return f->orig_send(io, req, message, cb);
}

unsigned raft_fix_rewrite(struct raft_message *m, raft_index snap_index, raft_term snap_term, int *rewritten)
{
    struct raft_append_entries *ae = &m->append_entries;
    unsigned drop;

    *rewritten = 0;
    if (m->type != RAFT_APPEND_ENTRIES || snap_index == 0 || ae->prev_log_index >= snap_index) {
        return 0;
    }
    /* the message carries prev+1 .. prev+n; everything up to snap_index is committed here */
    drop = ae->prev_log_index + ae->n_entries <= snap_index ? ae->n_entries
                                                            : (unsigned)(snap_index - ae->prev_log_index);
    if (drop > 0 && drop == ae->n_entries) {
        /* libraft frees the batch and the array only when entries remain: do it here */
        raft_free(ae->entries[0].batch);
        raft_free(ae->entries);
        ae->entries = NULL;
        ae->n_entries = 0;
    } else if (drop > 0) {
        /* one batch holds every entry's data (entries[0].batch is what libraft frees) */
        memmove(ae->entries, ae->entries + drop, (ae->n_entries - drop) * sizeof *ae->entries);
        ae->n_entries -= drop;
    }
    ae->prev_log_index = snap_index;
    ae->prev_log_term = snap_term;
    *rewritten = 1;
    return drop;
}

unsigned raft_fix_split_change(struct raft_message *m)
{
    struct raft_append_entries *ae = &m->append_entries;
    if (m->type != RAFT_APPEND_ENTRIES) {
        return 0;
    }
    for (unsigned i = 1; i < ae->n_entries; i++) {
        if (ae->entries[i].type == RAFT_CHANGE) {
            /* entries[0] keeps the batch that libraft frees; the array stays as allocated */
            unsigned cut = ae->n_entries - i;
            ae->n_entries = i;
            return cut;
        }
    }
    return 0;
}

int raft_fix_forget_silent_leader(struct raft *r, const struct raft_message *m, raft_time now)
{
    if (m->type != RAFT_REQUEST_VOTE || r->state != RAFT_FOLLOWER || r->follower_state.current_leader.id == 0) {
        return 0;
    }
    /* a timer start in the future (a clock step) counts as heard just now */
    if (r->election_timer_start >= now || now - r->election_timer_start < r->election_timeout) {
        return 0; /* heard from the leader (or voted) within T: libraft refuses, as it should */
    }
    /* as libraft's convertClearFollower and convertToFollower leave it */
    r->follower_state.current_leader.id = 0;
    if (r->follower_state.current_leader.address != NULL) {
        raft_free(r->follower_state.current_leader.address);
        r->follower_state.current_leader.address = NULL;
    }
    return 1;
}

static void note_append_failure(struct raft_fix *f, int status)
{
    if (f->append_failures++ == 0) {
        snprintf(f->append_error, sizeof f->append_error, "%s (%.255s)", raft_strerror(status),
                 f->io->errmsg[0] != '\0' ? f->io->errmsg : "no detail");
    }
}

/* Appends in flight: libraft owns req->data, so the guard finds a request's io here. A
 * handful at a time (libraft pipelines a few), so a linear scan is enough. */
static struct inflight_append {
    struct raft_io_append *req;
    struct raft_fix *fix;
    uint64_t start_us; /* monotonic clock when the append was handed to the io */
} *inflight;
static size_t n_inflight, cap_inflight;

static uint64_t monotonic_us(void)
{
    struct timespec ts;
    if (clock_gettime(CLOCK_MONOTONIC, &ts) != 0) {
        return 0; /* not reached on Linux; a 0 start only makes one duration wrong */
    }
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static void note_append_duration(struct raft_fix *f, uint64_t start_us)
{
    static const uint64_t bounds[RAFT_FIX_APPEND_BUCKETS - 1] = RAFT_FIX_APPEND_BOUNDS_US;
    uint64_t now = monotonic_us(), d = now > start_us ? now - start_us : 0;
    unsigned i = 0;
    while (i + 1 < RAFT_FIX_APPEND_BUCKETS && d > bounds[i]) {
        i++;
    }
    f->append_us_buckets[i]++;
    f->append_us_sum += d;
}

static int inflight_add(struct raft_io_append *req, struct raft_fix *f)
{
    if (n_inflight == cap_inflight) {
        size_t cap = cap_inflight ? cap_inflight * 2 : 16;
        struct inflight_append *p = realloc(inflight, cap * sizeof *p);
        if (p == NULL) {
            return -1;
        }
        inflight = p;
        cap_inflight = cap;
    }
    inflight[n_inflight].req = req;
    inflight[n_inflight].fix = f;
    inflight[n_inflight].start_us = monotonic_us();
    n_inflight++;
    return 0;
}

/* Removes REQ; *START_US (may be NULL) gets when it was added. */
static struct raft_fix *inflight_take(struct raft_io_append *req, uint64_t *start_us)
{
    for (size_t i = 0; i < n_inflight; i++) {
        if (inflight[i].req == req) {
            struct raft_fix *f = inflight[i].fix;
            if (start_us != NULL) {
                *start_us = inflight[i].start_us;
            }
            inflight[i] = inflight[--n_inflight];
            if (n_inflight == 0) {
                free(inflight);
                inflight = NULL;
                cap_inflight = 0;
            }
            return f;
        }
    }
    return NULL;
}

static void fix_append_cb(struct raft_io_append *req, int status)
{
    uint64_t start_us = 0;
    struct raft_fix *f = inflight_take(req, &start_us);
    if (f == NULL) {
        abort(); /* not reached: every request passing here was added by fix_append */
    }
    note_append_duration(f, start_us);
    if (status != 0 && status != RAFT_CANCELED) {
        note_append_failure(f, status);
    }
    f->orig_append_cb(req, status);
}

static int fix_append(struct raft_io *io, struct raft_io_append *req, const struct raft_entry entries[], unsigned n,
                      raft_io_append_cb cb)
{
    struct raft_fix *f = fix_of(io);
    f->orig_append_cb = cb;
    if (inflight_add(req, f) != 0) {
        return f->orig_append(io, req, entries, n, cb); /* untracked, but written */
    }
    int rv = f->orig_append(io, req, entries, n, fix_append_cb);
    if (rv != 0) {
        inflight_take(req, NULL); /* no callback will come */
        note_append_failure(f, rv);
    }
    return rv;
}

static void drop_held(struct raft_fix *f)
{
    if (f->has_held) {
        raft_configuration_close(&f->held.install_snapshot.conf);
        raft_free(f->held.install_snapshot.data.base);
        f->has_held = 0;
    }
}

static void fix_recv(struct raft_io *io, struct raft_message *m)
{
    struct raft_fix *f = fix_of(io);
    int rewritten;
    if (f->on_recv != NULL) {
        f->on_recv(f->on_recv_data, m->server_id);
    }
    if (m->type == RAFT_APPEND_ENTRIES && f->read_gate != NULL && f->raft != NULL &&
        m->append_entries.term >= raft_current_term(f->raft)) {
        read_gate_leader(f->read_gate, m->append_entries.prev_log_index, m->append_entries.leader_commit);
    }
    if (m->type == RAFT_INSTALL_SNAPSHOT && f->put_req != NULL && !f->no_hold) {
        /* the message's conf and data now belong to us until delivered (see the header) */
        drop_held(f);
        f->held = *m;
        f->has_held = 1;
        f->installs_held++;
        return;
    }
    if (m->type == RAFT_REQUEST_VOTE_RESULT) {
        forget_vote_out(f, m->server_id); /* answered: no need to ask again (tenth rule) */
    }
    if (m->type == RAFT_REQUEST_VOTE_RESULT && f->raft != NULL && !f->no_vote_result_fix &&
        raft_state(f->raft) == RAFT_FOLLOWER) {
        /* Sixth bug (raft_fix.h): libraft would only check its term against it, choosing how
         * by a byte of the leader's address pointer. Dropped as if lost; it owns no memory. */
        f->vote_results_dropped++;
        return;
    }
    if (m->type == RAFT_REQUEST_VOTE && f->raft != NULL && !f->no_vote_after_timeout &&
        raft_fix_forget_silent_leader(f->raft, m, io->time(io))) {
        f->leaders_forgotten++; /* ninth rule (raft_fix.h) */
    }
    unsigned dropped = raft_fix_rewrite(m, f->snap_index, f->snap_term, &rewritten);
    if (rewritten) {
        f->rewritten++;
        f->dropped += dropped;
    }
    if (!f->no_change_split && raft_fix_split_change(m) > 0) {
        f->changes_split++; /* seventh bug (raft_fix.h) */
    }
    f->orig_recv(io, m);
}

static int fix_load(struct raft_io *io, raft_term *term, raft_id *voted_for, struct raft_snapshot **snapshot,
                    raft_index *start_index, struct raft_entry *entries[], size_t *n_entries)
{
    struct raft_fix *f = fix_of(io);
    int rv = f->orig_load(io, term, voted_for, snapshot, start_index, entries, n_entries);
    if (rv == 0) {
        note_snapshot(f, *snapshot);
    }
    return rv;
}

unsigned raft_fix_keep_pipelines(struct raft *r, const struct raft_fix_pipe *before, unsigned n, raft_time now)
{
    struct raft_fix_progress *p = (struct raft_fix_progress *)r->leader_state.progress;
    raft_time window = 3 * (raft_time)r->heartbeat_timeout;
    unsigned kept = 0;
    if (window > r->election_timeout) {
        window = r->election_timeout;
    }
    for (unsigned i = 0; i < n && i < r->configuration.n; i++) {
        if (r->configuration.servers[i].id == r->id || before[i].state != RAFT_FIX_PIPELINE ||
            p[i].state != RAFT_FIX_PROBE) {
            continue; /* not a follower the tick moved from pipeline to probe */
        }
        if (p[i].last_recv == UINT64_MAX || p[i].last_recv > now || now - p[i].last_recv >= window) {
            continue; /* silent for long: libraft's probe stands */
        }
        p[i].state = RAFT_FIX_PIPELINE;
        p[i].next_index = before[i].next_index;
        kept++;
    }
    return kept;
}

/* Whether R's progress array (a leader's, N servers) holds what libraft 0.22.1's layout
 * promises: otherwise the twelfth rule must not touch it. */
static int progress_sane(struct raft *r, const struct raft_fix_progress *p, unsigned n)
{
    raft_index last = raft_last_index(r);
    for (unsigned i = 0; i < n; i++) {
        if (r->configuration.servers[i].id == r->id) {
            continue; /* the leader's own: libraft raises its match index only */
        }
        if (p[i].state > 2 || p[i].next_index == 0 || p[i].match_index >= p[i].next_index ||
            p[i].next_index > last + 1 || (p[i].last_recv != UINT64_MAX && p[i].last_recv > r->now) ||
            (p[i].last_send != UINT64_MAX && p[i].last_send > r->now)) {
            return 0;
        }
    }
    return 1;
}

/* The twelfth rule around libraft's tick: a leader's followers' states before it, or 0 when
 * the rule does not apply (then *PROGRESS is NULL). */
static unsigned pipes_before(struct raft_fix *f, struct raft_fix_pipe *before, void **progress)
{
    struct raft *r = f->raft;
    *progress = NULL;
    if (r == NULL || f->no_pipeline_keep || f->pipeline_keep_off || raft_state(r) != RAFT_LEADER ||
        r->leader_state.progress == NULL || r->configuration.n > RAFT_FIX_PIPE_MAX) {
        return 0;
    }
    const struct raft_fix_progress *p = (const struct raft_fix_progress *)r->leader_state.progress;
    if (!progress_sane(r, p, r->configuration.n)) {
        f->pipeline_keep_off = 1; /* not libraft 0.22.1's layout (or a state it never has) */
        return 0;
    }
    for (unsigned i = 0; i < r->configuration.n; i++) {
        before[i].state = p[i].state;
        before[i].next_index = p[i].next_index;
    }
    *progress = r->leader_state.progress;
    return r->configuration.n;
}

/* The thirteenth rule: a follower in a term it has not drawn its election timeout in draws
 * again (raft_fix.h). */
static void redraw_timeout(struct raft_fix *f)
{
    struct raft *r = f->raft;
    if (r == NULL || f->no_timeout_redraw || raft_state(r) != RAFT_FOLLOWER || r->current_term == f->drawn_term) {
        return;
    }
    if (f->drawn_term != 0) { /* the first term seen: libraft drew at its start */
        raft_set_election_timeout(r, r->election_timeout);
        f->timeouts_redrawn++;
    }
    f->drawn_term = r->current_term;
}

static void fix_tick(struct raft_io *io)
{
    struct raft_fix *f = fix_of(io);
    redraw_timeout(f);
    int base = 1; /* libraft's interval passed since its last tick (always, with its own tick) */
    if (fine_tick(f)) {
        raft_time now = io->time(io);
        base = now < f->last_base_tick || now - f->last_base_tick >= f->base_tick_ms;
        if (base) {
            f->last_base_tick = now;
        }
    }
    if (base || raft_state(f->raft) != RAFT_LEADER) {
        struct raft_fix_pipe before[RAFT_FIX_PIPE_MAX];
        void *progress;
        unsigned n = pipes_before(f, before, &progress);
        f->orig_tick(io); /* may start a new round first: its requests replace the old ones */
        /* still the same leader's array (a step down frees it, a configuration change rebuilds it) */
        if (n > 0 && raft_state(f->raft) == RAFT_LEADER && f->raft->leader_state.progress == progress &&
            f->raft->configuration.n == n) {
            f->pipelines_kept += raft_fix_keep_pipelines(f->raft, before, n, f->raft->now); /* twelfth rule */
        }
    } else {
        f->leader_ticks_held++; /* a leader's rules count ticks: libraft's interval only */
    }
    if (f->raft != NULL && !f->no_vote_resend) {
        raft_fix_resend_votes(f);
    }
}

static int fix_start(struct raft_io *io, unsigned msecs, raft_io_tick_cb tick, raft_io_recv_cb recv)
{
    struct raft_fix *f = fix_of(io);
    f->orig_recv = recv;
    f->orig_tick = tick;
    f->base_tick_ms = msecs;
    f->io_tick_ms = msecs;
    if (f->tick_ms != 0 && f->tick_ms < msecs && f->raft != NULL) {
        f->io_tick_ms = f->tick_ms; /* the finer tick (raft_fix.h) */
        f->last_base_tick = io->time(io);
    }
    return f->orig_start(io, f->io_tick_ms, fix_tick, fix_recv);
}

/* From the request on, libraft's in-memory log already reflects the snapshot (an installed
 * one replaces the whole log), so its index is what AppendEntries is checked against. */
static void fix_put_cb(struct raft_io_snapshot_put *req, int status)
{
    struct raft_fix *f = NULL;
    for (unsigned i = 0; i < RAFT_FIX_MAX; i++) {
        if (wrapped[i] != NULL && wrapped[i]->put_req == req) {
            f = wrapped[i];
        }
    }
    if (f == NULL) {
        abort(); /* not reached: fix_snapshot_put recorded every request passing here */
    }
    raft_io_snapshot_put_cb cb = f->orig_put_cb;
    f->put_req = NULL;
    cb(req, status);
    if (f->has_held && f->put_req == NULL) {
        struct raft_message m = f->held;
        f->has_held = 0;
        f->orig_recv(f->io, &m);
    }
}

static int fix_snapshot_put(struct raft_io *io, unsigned trailing, struct raft_io_snapshot_put *req,
                            const struct raft_snapshot *snapshot, raft_io_snapshot_put_cb cb)
{
    struct raft_fix *f = fix_of(io);
    if (f->put_req != NULL) {
        return f->orig_snapshot_put(io, trailing, req, snapshot, cb); /* not expected: untracked */
    }
    f->orig_put_cb = cb;
    f->put_req = req;
    int rv = f->orig_snapshot_put(io, trailing, req, snapshot, fix_put_cb);
    if (rv == 0) {
        note_snapshot(f, snapshot);
    } else {
        f->put_req = NULL;
    }
    return rv;
}

int raft_fix_wrap(struct raft_fix *f, struct raft_io *io)
{
    unsigned slot = RAFT_FIX_MAX;
    for (unsigned i = 0; i < RAFT_FIX_MAX; i++) {
        if (wrapped[i] == NULL) {
            slot = i;
            break;
        }
    }
    if (slot == RAFT_FIX_MAX) {
        return -1;
    }
    memset(f, 0, sizeof *f);
    f->io = io;
    f->orig_load = io->load;
    f->orig_start = io->start;
    f->orig_snapshot_put = io->snapshot_put;
    f->orig_send = io->send;
    f->orig_append = io->append;
    io->send = fix_send;
    io->append = fix_append;
    io->load = fix_load;
    io->start = fix_start;
    io->snapshot_put = fix_snapshot_put;
    wrapped[slot] = f;
    return 0;
}

void raft_fix_unwrap(struct raft_fix *f)
{
    drop_held(f);
    for (unsigned i = 0; i < RAFT_FIX_MAX; i++) {
        if (wrapped[i] == f) {
            wrapped[i] = NULL;
        }
    }
}
