/* handlers: the server's API methods (docs/protocol.md): ONE table (handlers.c) naming every
 * method, its handler and how it touches the state, and one file per method family:
 *   handlers_cluster.c    status, hash
 *   handlers_project.c    project.list|add|remove|show|move|pin
 *   handlers_engine.c     engine.heartbeat|list|drain
 *   handlers_ownership.c  rebalance, rebalance.status, maintenance, history
 *   handlers_member.c     member.add|join|remove|assign|register, leader.transfer
 *   handlers_check.c      member.check (a member asking whether it was removed, removal.h)
 *   handlers_metastore.c  metastore.status
 *   handlers_snapshot.c   snapshot.begin|chunk (raftctl snapshot save)
 *   handlers_autopilot.c  autopilot.status (the leader's autopilot view)
 *   handlers_kylin.c      kylin.status
 *   handlers_claims.c     kylin.claimed
 * A handler gets the request (req->ctx is the narrow struct api_ctx of api.h; handlers never
 * see struct node), validates its arguments first (so a malformed request is answered
 * bad_request by any member), then checks leadership when it needs it, and replies exactly
 * once: at once, or later from a parked request (api_pending.h).
 *
 * Owns: nothing. Calls: api.h, api_pending.h, storage (reads, command packing), libraft
 * through req->ctx->raft, scheduler.h, engine.h, metastore/mirror.h. */
#ifndef RAFTNODE_HANDLERS_H
#define RAFTNODE_HANDLERS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "api.h"

/* How a method touches the replicated state (documentation in the table; each handler does
 * its own leadership check, after validating its arguments). */
enum handler_access {
    HANDLER_READ,       /* any member answers from its own state */
    HANDLER_READ_LEADER, /* as READ; with "consistent": true, the leader after a barrier */
    HANDLER_WRITE,      /* the leader proposes it through the log */
    HANDLER_CHANGE,     /* the leader changes the raft configuration or leadership */
};

/* Who may call a method when the API speaks TLS (docs/security.md; without TLS anyone who
 * reaches the port may call anything). */
enum handler_perm {
    PERM_READ,  /* any certificate signed by the CA */
    PERM_ADMIN, /* a CN listed in raft.api.admins */
    PERM_SELF,  /* only member N's certificate (CN member-N) for args "id" N: the calls a member
                 * makes about itself (its engine's heartbeat) */
    PERM_ADMIN_OR_SELF, /* an admin, or member N for args "id" N (joining, registering) */
};

/* One row of the method table. */
struct handler_method {
    const char *name;
    void (*fn)(struct api_req *req);
    enum handler_access access;
    enum handler_perm perm;
};

/* 0 when a connection of ROLE (member MEMBER_ID for API_ROLE_MEMBER) may call M with ARGS;
 * TLS false: always 0. Otherwise -1 with the reason in WHY, starting "permission denied". */
int handlers_permit(const struct handler_method *m, bool tls, enum api_role role, uint64_t member_id,
                    const char *who, const msgpack_object *args, char *why, size_t why_len);

/* The table (ends with a NULL name) and its dispatcher: unknown methods get unknown_method. */
extern const struct handler_method handler_methods[];
void handlers_dispatch(struct api_req *req);

/* True when this member is running and the leader; otherwise replies (shutting_down, or a
 * redirect) and returns false. */
bool handlers_require_leader(const struct api_req *req);

/* False while this member holds plain reads after its start (read_gate.h), with the reason in
 * WHY (cap WHY_LEN); true otherwise. */
bool handlers_reads_open(const struct api_ctx *ctx, char *why, size_t why_len);

/* For a plain read of the replicated state: true when it may be answered; otherwise answers
 * REQ status 3 code catching_up (retryable) and returns false. */
bool handlers_read_gate(const struct api_req *req);

/* The results of three reads, packed into PK from this member's state without a reply, for
 * the API handlers and the HTTP endpoints (http.c) alike. */
void handlers_pack_status(const struct api_ctx *ctx, msgpack_packer *pk);
/* 0, or -1 with ctx->store->errmsg. */
int handlers_pack_engines(const struct api_ctx *ctx, msgpack_packer *pk);
/* 0 after packing project NAME (LEN bytes); otherwise nothing packed, *CODE is the reply code
 * (PROTO_CODE_NOT_FOUND, PROTO_CODE_FAILED or one of Kylin's KE-* codes) and ERR the text. */
int handlers_pack_project_show(const struct api_ctx *ctx, const char *name, size_t len, msgpack_packer *pk,
                               const char **code, char *err, size_t cap);

/* The API address member ID registered ("" when unknown; this member's own from its config). */
void handlers_member_api(const struct api_ctx *ctx, uint64_t id, char *api, size_t cap);

/* handlers_cluster.c */
void handle_status(struct api_req *req);
void handle_hash(struct api_req *req);
/* handlers_project.c */
void handle_project_list(struct api_req *req);
void handle_project_add(struct api_req *req);
void handle_project_remove(struct api_req *req);
void handle_project_show(struct api_req *req);
void handle_project_move(struct api_req *req);
void handle_project_pin(struct api_req *req);
/* handlers_engine.c */
void handle_engine_heartbeat(struct api_req *req);
void handle_engine_list(struct api_req *req);
void handle_engine_drain(struct api_req *req);
/* handlers_ownership.c */
void handle_rebalance(struct api_req *req);
void handle_rebalance_status(struct api_req *req);
void handle_maintenance(struct api_req *req);
void handle_history(struct api_req *req);
void handle_audit(struct api_req *req);
/* handlers_member.c */
void handle_member_add(struct api_req *req);
void handle_member_join(struct api_req *req);
void handle_member_remove(struct api_req *req);
void handle_member_assign(struct api_req *req);
void handle_member_register(struct api_req *req);
void handle_leader_transfer(struct api_req *req);
void handle_member_check(struct api_req *req); /* handlers_check.c (removal.h) */
/* handlers_metastore.c */
void handle_metastore_status(struct api_req *req);
void handle_kylin_status(struct api_req *req); /* handlers_kylin.c */
/* handlers_snapshot.c */
void handle_snapshot_begin(struct api_req *req);
void handle_snapshot_chunk(struct api_req *req);
void handle_autopilot_status(struct api_req *req); /* handlers_autopilot.c */
void handle_kylin_claimed(struct api_req *req); /* handlers_claims.c */

#endif
