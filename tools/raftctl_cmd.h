/* raftctl_cmd: the handlers the command table (raftctl_args.c) points at. Each returns an
 * enum raftctl_exit, prints results on stdout and errors on stderr ("raftctl: ...").
 *   raftctl_cmd_cluster.c  status, member list, hash
 *   raftctl_cmd_member.c   member add|remove|promote|demote, leader transfer
 *   raftctl_cmd_project.c  project list|add|remove|show|move|pin|unpin
 *   raftctl_cmd_engine.c   engine list, drain, undrain
 *   raftctl_cmd_ownership.c rebalance, maintenance on|off, history, audit
 *   raftctl_cmd_metastore.c metastore status
 *   raftctl_cmd_kylin.c    kylin status
 *   raftctl_cmd_snapshot.c snapshot save|status
 *   raftctl_cmd_autopilot.c autopilot status
 * (the server's side of each family: raftnode/handlers_<family>.c; what they share in
 * decoding and reporting: raftctl_reply.h).
 *
 * Owns: nothing. Calls: raftctl_call.h (requests), raftctl_reply.h, raftctl_output.h. */
#ifndef TOOLS_RAFTCTL_CMD_H
#define TOOLS_RAFTCTL_CMD_H

struct raftctl_ctx;

int raftctl_cmd_status(struct raftctl_ctx *ctx);
int raftctl_cmd_member_list(struct raftctl_ctx *ctx);
int raftctl_cmd_hash(struct raftctl_ctx *ctx);

int raftctl_cmd_member_add(struct raftctl_ctx *ctx);
int raftctl_cmd_member_remove(struct raftctl_ctx *ctx);
int raftctl_cmd_member_promote(struct raftctl_ctx *ctx);
int raftctl_cmd_member_demote(struct raftctl_ctx *ctx);
int raftctl_cmd_leader_transfer(struct raftctl_ctx *ctx);

int raftctl_cmd_project_list(struct raftctl_ctx *ctx);
int raftctl_cmd_project_add(struct raftctl_ctx *ctx);
int raftctl_cmd_project_remove(struct raftctl_ctx *ctx);
int raftctl_cmd_project_show(struct raftctl_ctx *ctx);
int raftctl_cmd_project_move(struct raftctl_ctx *ctx);
int raftctl_cmd_project_pin(struct raftctl_ctx *ctx);
int raftctl_cmd_project_unpin(struct raftctl_ctx *ctx);

int raftctl_cmd_engine_list(struct raftctl_ctx *ctx);
int raftctl_cmd_drain(struct raftctl_ctx *ctx);
int raftctl_cmd_undrain(struct raftctl_ctx *ctx);

int raftctl_cmd_rebalance(struct raftctl_ctx *ctx);
int raftctl_cmd_maintenance_on(struct raftctl_ctx *ctx);
int raftctl_cmd_maintenance_off(struct raftctl_ctx *ctx);
int raftctl_cmd_history(struct raftctl_ctx *ctx);
int raftctl_cmd_audit(struct raftctl_ctx *ctx);

int raftctl_cmd_metastore_status(struct raftctl_ctx *ctx); /* raftctl_cmd_metastore.c */
int raftctl_cmd_kylin_status(struct raftctl_ctx *ctx);     /* raftctl_cmd_kylin.c */
int raftctl_cmd_snapshot_save(struct raftctl_ctx *ctx);    /* raftctl_cmd_snapshot.c */
int raftctl_cmd_snapshot_status(struct raftctl_ctx *ctx);
int raftctl_cmd_autopilot_status(struct raftctl_ctx *ctx); /* raftctl_cmd_autopilot.c */

#endif
