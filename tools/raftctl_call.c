/* raftctl_call: endpoint selection, redirects, cluster view and the unavailability report
 * (see raftctl_call.h).
 *
 * Retry rule for writes (invariant 4 in DESIGN.md is about acknowledged writes; this is about
 * not applying one twice): a write moves on to the next endpoint only when it certainly was
 * not applied: the connection never opened, or the member refused before proposing
 * (no_leader, not_leader without a reachable leader, not_joined, shutting_down). After
 * leadership_lost, a timeout or a lost connection the outcome is unknown: raftctl stops and
 * says so instead of resending. */
#include "raftctl_call.h"

#include <stdlib.h>
#include <string.h>

#include "common/mp.h"
#include "common/proto.h"
#include "raftctl_cluster.h"
#include "raftctl_output.h"

static bool code_is(const struct client_reply *r, const char *code)
{
    return strcmp(r->code, code) == 0;
}

/* True when a failed write certainly did not reach the state machine. */
static bool write_not_applied(const struct client_sync_reply *o)
{
    const struct client_reply *r = &o->reply;

    if (r->local) {
        return !r->connected;
    }
    return code_is(r, PROTO_CODE_NO_LEADER) || code_is(r, PROTO_CODE_NOT_LEADER) ||
           code_is(r, PROTO_CODE_NOT_JOINED) || code_is(r, PROTO_CODE_SHUTTING_DOWN);
}

/* Why O did not serve the request, in a few words, without the endpoint the caller prints
 * next to it: "connection refused", "no reply within 5000 ms", "redirected to
 * 127.0.0.1:7202: connection refused", or the member's own message and code. */
static void describe_failure(const struct client_sync_reply *o, unsigned timeout_ms, char *buf, size_t cap)
{
    const struct client_reply *r = &o->reply;
    const char *detail = r->error;
    size_t eplen = strlen(o->endpoint);
    char via[CLIENT_ENDPOINT_MAX + 16] = "";

    if (!r->local) {
        snprintf(buf, cap, "%s (%s)", r->error, r->code);
        return;
    }
    if (o->hops > 0) {
        snprintf(via, sizeof via, "redirected to %s: ", o->endpoint);
    }
    if (strncmp(detail, o->endpoint, eplen) == 0) { /* "EP: x", "EP sent ..." -> "x", "sent ..." */
        detail += eplen;
        detail += detail[0] == ':';
        detail += detail[0] == ' ';
    }
    if (strcmp(r->code, CLIENT_CODE_TIMEOUT) == 0) {
        snprintf(buf, cap, "%s%s within %u ms", via, r->connected ? "no reply" : "no connection", timeout_ms);
    } else if (r->sys_error == UV_EOF) {
        snprintf(buf, cap, "%sthe member closed the connection%s", via,
                 client_tls_enabled() ? "" : " (a member whose API speaks TLS does that to a client "
                                             "without --cacert, --cert and --key)");
    } else if (r->sys_error != 0 && strcmp(r->code, CLIENT_CODE_UNREACHABLE) == 0) {
        snprintf(buf, cap, "%s%s", via, uv_strerror(r->sys_error));
    } else {
        snprintf(buf, cap, "%s%s", via, detail);
    }
}

bool raftctl_failed_before(const struct raftctl_ctx *ctx, const char *endpoint)
{
    for (size_t i = 0; i < ctx->n_failed; i++) {
        if (strcmp(ctx->failed[i], endpoint) == 0) {
            return true;
        }
    }
    return false;
}

/* Sends the request to ENDPOINT the way KIND wants. */
static void request_one(struct raftctl_ctx *ctx, enum raftctl_request_kind kind, const char *endpoint,
                        const char *method, client_pack_fn pack, void *arg, struct client_sync_reply *out)
{
    if (kind == RAFTCTL_READ) {
        client_call_sync(endpoint, method, pack, arg, ctx->args.timeout_ms, out);
    } else {
        client_call_leader(endpoint, method, pack, arg, ctx->args.timeout_ms, CLIENT_MAX_HOPS, out);
    }
}

int raftctl_request(struct raftctl_ctx *ctx, enum raftctl_request_kind kind, const char *method,
                    client_pack_fn pack, void *arg, struct client_sync_reply *out)
{
    const char *order[RAFTCTL_MAX_ENDPOINTS + 1];
    size_t n = 0;
    bool have_best = false;

    memset(out, 0, sizeof *out);
    if (kind != RAFTCTL_READ && ctx->leader_hint[0] != '\0') {
        order[n++] = ctx->leader_hint;
    }
    /* Endpoints that just failed to answer go last: a paused member costs a full timeout. */
    for (int pass = 0; pass < 2; pass++) {
        for (size_t i = 0; i < ctx->args.n_endpoints; i++) {
            const char *ep = ctx->args.endpoints[i];
            bool failed = raftctl_failed_before(ctx, ep);
            bool hinted = kind != RAFTCTL_READ && strcmp(ctx->leader_hint, ep) == 0; /* already first */
            if (failed == (pass == 1) && !hinted) {
                order[n++] = ep;
            }
        }
    }
    ctx->n_attempts = 0;
    ctx->last_kind = kind;
    for (size_t i = 0; i < n; i++) {
        struct client_sync_reply cur;
        struct raftctl_attempt *at = &ctx->attempts[ctx->n_attempts++];

        request_one(ctx, kind, order[i], method, pack, arg, &cur);
        snprintf(at->endpoint, sizeof at->endpoint, "%s", order[i]);
        at->answered = !cur.reply.local || cur.hops > 0;
        if (!at->answered && !raftctl_failed_before(ctx, order[i]) && ctx->n_failed < RAFTCTL_MAX_ENDPOINTS) {
            snprintf(ctx->failed[ctx->n_failed++], CLIENT_ENDPOINT_MAX, "%s", order[i]);
        }
        if (cur.reply.status != PROTO_UNAVAILABLE) {
            if (have_best) {
                client_sync_reply_free(out);
            }
            *out = cur;
            if (kind != RAFTCTL_READ) {
                snprintf(ctx->leader_hint, sizeof ctx->leader_hint, "%s", cur.endpoint);
            }
            at->reason[0] = '\0';
            return out->reply.status;
        }
        describe_failure(&cur, ctx->args.timeout_ms, at->reason, sizeof at->reason);
        /* Keep the most telling failure: a server's answer beats a local error, and a write
         * whose outcome is unknown beats everything (the operator must hear about it). */
        bool stop = kind == RAFTCTL_WRITE && !write_not_applied(&cur);
        if (stop || !have_best || (out->reply.local && !cur.reply.local)) {
            if (have_best) {
                client_sync_reply_free(out);
            }
            *out = cur;
            have_best = true;
        } else {
            client_sync_reply_free(&cur);
        }
        if (stop) {
            break;
        }
    }
    if (!have_best) { /* no endpoint at all: the parser refuses that, but never report success */
        client_reply_set_local(&out->reply, PROTO_UNAVAILABLE, CLIENT_CODE_UNREACHABLE, 0, false,
                               "no endpoints to send %s to; use --endpoints or RAFTCTL_ENDPOINTS", method);
    }
    return out->reply.status;
}

int raftctl_report_refused(const char *what, const struct client_reply *r)
{
    if (r->status == PROTO_BAD_REQUEST) {
        raftctl_errf("%s: the member refused the request as malformed: %s (%s); is raftctl older or newer "
                     "than raftnode?",
                     what, r->error, r->code);
    } else {
        raftctl_errf("%s: %s (%s)", what, r->error, r->code);
    }
    return RAFTCTL_EXIT_FAILED;
}

/* Appends ", " (unless first) and TEXT to BUF of size CAP holding USED bytes. */
static size_t append(char *buf, size_t cap, size_t used, const char *text)
{
    int n;

    if (used >= cap - 1) {
        return used;
    }
    n = snprintf(buf + used, cap - used, "%s%s", used > 0 ? ", " : "", text);
    if (n < 0) {
        return used;
    }
    return (size_t)n < cap - used ? used + (size_t)n : cap - 1;
}

static void report_none_reachable(const struct raftctl_ctx *ctx)
{
    char list[2048];
    size_t used = 0;
    bool same = true;

    for (size_t i = 1; i < ctx->n_attempts; i++) {
        same = same && strcmp(ctx->attempts[i].reason, ctx->attempts[0].reason) == 0;
    }
    list[0] = '\0';
    for (size_t i = 0; i < ctx->n_attempts; i++) {
        char one[CLIENT_ENDPOINT_MAX + RAFTCTL_REASON_MAX + 4];
        if (same) {
            snprintf(one, sizeof one, "%s", ctx->attempts[i].endpoint);
            used = append(list, sizeof list, used, one);
        } else {
            snprintf(one, sizeof one, "%s%s: %s", i > 0 ? "; " : "", ctx->attempts[i].endpoint,
                     ctx->attempts[i].reason);
            if (used < sizeof list - 1) {
                int n = snprintf(list + used, sizeof list - used, "%s", one);
                used = n > 0 && (size_t)n < sizeof list - used ? used + (size_t)n : sizeof list - 1;
            }
        }
    }
    if (ctx->n_attempts == 0) {
        raftctl_errf("no member reachable: no endpoints given; use --endpoints or RAFTCTL_ENDPOINTS");
    } else if (same) {
        raftctl_errf("no member reachable at %s: %s; check that raftnode runs there and that the "
                     "addresses are its raft.api.address",
                     list, ctx->attempts[0].reason);
    } else {
        raftctl_errf("no member reachable: %s", list);
    }
}

int raftctl_report_unavailable(struct raftctl_ctx *ctx, const char *what, const struct client_sync_reply *last)
{
    const struct client_reply *r = &last->reply;
    struct raftctl_ctx probe_ctx;
    struct raftctl_cluster cl;
    char reason[RAFTCTL_REASON_MAX + 256];
    char down[2048];
    const char *prefix = "no quorum"; /* or WHAT, when the write's outcome is unknown */
    size_t used = 0, n_down = 0;
    bool answered = false;

    for (size_t i = 0; i < ctx->n_attempts; i++) {
        answered = answered || ctx->attempts[i].answered;
    }
    /* A write that reached a member and then timed out or lost its connection is not a
     * reachability problem: its outcome is unknown, and that is what to report. */
    answered = answered || (ctx->last_kind == RAFTCTL_WRITE && r->local && r->connected);
    if (!answered) {
        report_none_reachable(ctx);
        return RAFTCTL_EXIT_UNAVAILABLE;
    }
    if (!r->local && code_is(r, PROTO_CODE_NO_LEADER) && r->leader_id == 0) {
        snprintf(reason, sizeof reason, "no leader elected");
    } else if (!r->local && code_is(r, PROTO_CODE_NOT_LEADER)) {
        snprintf(reason, sizeof reason, "no leader reachable: %s", r->error);
    } else if (!r->local && code_is(r, PROTO_CODE_LEADERSHIP_LOST)) {
        snprintf(reason, sizeof reason, "the leader lost its leadership before the change committed; it may "
                 "or may not have been applied (check before retrying)");
        prefix = what;
    } else if (ctx->last_kind == RAFTCTL_WRITE && r->local && r->connected && code_is(r, CLIENT_CODE_TIMEOUT)) {
        snprintf(reason, sizeof reason, "no reply from %s within %u ms; it may or may not have been applied "
                 "(check before retrying, or raise --timeout)", last->endpoint, ctx->args.timeout_ms);
        prefix = what;
    } else if (ctx->last_kind == RAFTCTL_WRITE && r->local && r->connected) {
        snprintf(reason, sizeof reason, "%s; it may or may not have been applied (check before retrying)",
                 r->error);
        prefix = what;
    } else if (r->local) { /* some member answered, but the leader it named did not */
        char why[RAFTCTL_REASON_MAX];
        describe_failure(last, ctx->args.timeout_ms, why, sizeof why);
        snprintf(reason, sizeof reason, "no leader reachable: %s", why);
    } else {
        snprintf(reason, sizeof reason, "%s (%s)", r->error, r->code);
    }

    /* Probe with a copy of the context so the caller's attempts stay intact. */
    memcpy(&probe_ctx, ctx, sizeof probe_ctx);
    down[0] = '\0';
    if (raftctl_cluster_load(&probe_ctx, &cl, true) == 0) {
        for (size_t i = 0; i < cl.n_members; i++) {
            char one[RAFTCTL_ADDR_MAX + 32];
            if (cl.members[i].reachable) {
                continue;
            }
            snprintf(one, sizeof one, "%llu (%s)", (unsigned long long)cl.members[i].id,
                     cl.members[i].api_address[0] != '\0' ? cl.members[i].api_address : "no API address");
            used = append(down, sizeof down, used, one);
            n_down++;
        }
    } else {
        for (size_t i = 0; i < probe_ctx.n_attempts; i++) {
            if (!probe_ctx.attempts[i].answered) {
                used = append(down, sizeof down, used, probe_ctx.attempts[i].endpoint);
                n_down++;
            }
        }
    }
    raftctl_cluster_free(&cl);
    if (n_down > 0) {
        raftctl_errf("%s: %s; unreachable members: %s", prefix, reason, down);
    } else {
        raftctl_errf("%s: %s; every member answered its status", prefix, reason);
    }
    return RAFTCTL_EXIT_UNAVAILABLE;
}

int raftctl_pack_id(msgpack_packer *pk, void *arg)
{
    const uint64_t *id = arg;
    int rc = msgpack_pack_map(pk, 1);
    return rc != 0 ? rc : mp_pack_kv_u64(pk, "id", *id);
}

int raftctl_pack_consistent(msgpack_packer *pk, void *arg)
{
    const bool *consistent = arg;
    if (!*consistent) {
        return msgpack_pack_map(pk, 0);
    }
    int rc = msgpack_pack_map(pk, 1);
    return rc != 0 ? rc : mp_pack_kv_bool(pk, "consistent", true);
}
