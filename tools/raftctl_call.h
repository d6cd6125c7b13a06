/* raftctl_call: how raftctl reaches the cluster: try the endpoints in turn, follow not_leader
 * redirects for writes, load every member's own status in parallel, and explain a failure
 * (which members are unreachable) when the cluster is unavailable (exit status 3).
 * Owns: struct raftctl_ctx, struct raftctl_cluster. Calls: common/client.h. */
#ifndef TOOLS_RAFTCTL_CALL_H
#define TOOLS_RAFTCTL_CALL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/client.h"
#include "raftctl_args.h"

#define RAFTCTL_REASON_MAX (CLIENT_ERROR_MAX + 128)

/* One endpoint tried by raftctl_request, for the failure report. */
struct raftctl_attempt {
    char endpoint[CLIENT_ENDPOINT_MAX];
    bool answered;                   /* some server replied (maybe only with a redirect) */
    char reason[RAFTCTL_REASON_MAX]; /* why it did not do: "connection refused", ... */
};

/* Kinds of request: how endpoints are tried. */
enum raftctl_request_kind {
    RAFTCTL_READ,            /* any member; status 3 from one -> the next */
    RAFTCTL_READ_LEADER,     /* reads with --consistent: as READ, following redirects */
    RAFTCTL_WRITE,           /* follows redirects; moves to the next endpoint only when the
                              * request certainly was not applied (not connected, no_leader,
                              * not_joined, shutting_down, not_leader without a leader) */
};

struct raftctl_ctx {
    struct raftctl_args args;                           /* read-only after parsing */
    char leader_hint[CLIENT_ENDPOINT_MAX];              /* who answered the last write */
    struct raftctl_attempt attempts[RAFTCTL_MAX_ENDPOINTS + 1]; /* of the last request */
    size_t n_attempts;
    enum raftctl_request_kind last_kind;                /* of the last request */
    char failed[RAFTCTL_MAX_ENDPOINTS][CLIENT_ENDPOINT_MAX]; /* endpoints that did not answer
                                                         * at all during this run */
    size_t n_failed;
};

/* True when ENDPOINT did not answer at all earlier in this run: it is tried last, and not
 * probed again (a paused member would cost another full timeout). */
bool raftctl_failed_before(const struct raftctl_ctx *ctx, const char *endpoint);

/* Sends METHOD until an endpoint gives an answer other than status 3 (see the kinds).
 * Returns OUT->reply.status; OUT holds the most telling reply (free it with
 * client_sync_reply_free). ctx->attempts records the endpoints tried. */
int raftctl_request(struct raftctl_ctx *ctx, enum raftctl_request_kind kind, const char *method,
                    client_pack_fn pack, void *arg, struct client_sync_reply *out);

/* Prints why the cluster could not serve WHAT ("project add 'p1'") after raftctl_request
 * returned 3 with LAST, probing every member's status to list the unreachable ones:
 *   raftctl: no member reachable at 127.0.0.1:7201, 127.0.0.1:7202: connection refused
 *   raftctl: no quorum: no leader elected; unreachable members: 3 (127.0.0.1:7203)
 *   raftctl: member promote 4: no reply from 127.0.0.1:7202 within 5000 ms; it may or may
 *            not have been applied (check before retrying, ...); unreachable members: ...
 * Returns RAFTCTL_EXIT_UNAVAILABLE. */
int raftctl_report_unavailable(struct raftctl_ctx *ctx, const char *what, const struct client_sync_reply *last);

/* Prints "raftctl: WHAT: <server error> (<code>)" for a reply with status 1 or 2 and
 * returns RAFTCTL_EXIT_FAILED (server status 2 means raftctl sent something this server
 * does not accept: also a failure, not a usage error). */
int raftctl_report_refused(const char *what, const struct client_reply *r);

/* Packs {"id": ID}, {"consistent": true}... used by several commands (ARG: uint64_t *). */
int raftctl_pack_id(msgpack_packer *pk, void *arg);
int raftctl_pack_consistent(msgpack_packer *pk, void *arg); /* ARG: bool * */

/* Runs the parsed command; the whole program after argument parsing. */
int raftctl_main(int argc, char **argv, const char *env_endpoints);

/* --watch (raftctl_watch.c): runs ctx->args.cmd every ctx->args.watch_s seconds until Ctrl-C
 * or ctx->args.watch_rounds rounds; returns the last round's exit status. */
int raftctl_watch(struct raftctl_ctx *ctx);

#endif
