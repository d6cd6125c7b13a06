/* command: encoding of log entries (docs/protocol.md, "Log entries") with msgpack-c.
 *
 * An entry is {"v": 1, "term": T, "cmds": [cmd...]}. Proposers pack each command into its own
 * msgpack_sbuffer with command_pack_*; command_entry_build concatenates them behind the entry
 * header into one raft_malloc'd buffer for raft_apply. */
#ifndef STORAGE_COMMAND_H
#define STORAGE_COMMAND_H

#include <msgpack.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define COMMAND_FORMAT_VERSION 1
#define COMMAND_WHO_MAX 128     /* who made a change: printable ASCII bytes */
#define COMMAND_METHOD_MAX 64   /* audit: API method name */
#define COMMAND_DETAIL_MAX 1024 /* audit: the request's arguments as UTF-8 text */

/* project_add carries "nocase": true: the state machine refuses a name equal ignoring ASCII
 * case to a stored one (`Sales` while `sales` exists). Entries written before that rule have
 * no such field and are applied as they were then (only an exact duplicate is refused), so
 * replaying an old log that holds both `Sales` and `sales` gives the same state everywhere. */
int command_pack_project_add(msgpack_packer *pk, const char *name, size_t len);
/* The follow loop's add (docs/kylin.md, "Projects follow Kylin"): project_add with
 * "kylin": true as well. The state machine adds the project marked kylin_listed, or marks
 * an existing project of that exact name; a marked project is removed by whichever member
 * leads once Kylin no longer lists it. Entries without the field mark nothing. */
int command_pack_project_add_kylin(msgpack_packer *pk, const char *name, size_t len);
int command_pack_project_remove(msgpack_packer *pk, const char *name, size_t len);
int command_pack_member_set(msgpack_packer *pk, uint64_t id, const char *api_address);
int command_pack_member_forget(msgpack_packer *pk, uint64_t id);

/* Engines and ownership (docs/protocol.md, "Log entries"). MODE is "all", "job" or "query";
 * REASON one of "new", "failover", "rebalance", "move", "drain", "restore"; engine and
 * owner ids 0 mean "none". TIME_MS is the proposing leader's wall clock, for display only. */
int command_pack_engine_set(msgpack_packer *pk, uint64_t id, const char *mode, unsigned weight,
                            const char *identity, bool race_enabled);
int command_pack_heartbeat(msgpack_packer *pk, const uint64_t *ids, size_t n);
int command_pack_engine_dead(msgpack_packer *pk, uint64_t id);
int command_pack_assign(msgpack_packer *pk, const char *project, size_t len, uint64_t from,
                        uint64_t to, const char *reason, uint64_t time_ms);
int command_pack_drain(msgpack_packer *pk, uint64_t id, bool on);
int command_pack_pin(msgpack_packer *pk, const char *project, size_t len, uint64_t engine);
int command_pack_maintenance(msgpack_packer *pk, bool on, const char *reason);

/* Who asked (docs/security.md, "Audit"): BY is the client certificate's CN, or "peer IP:PORT"
 * without API TLS; NULL or "" leaves the field out (an automatic change; old entries decode
 * the same way, as unknown). At most COMMAND_WHO_MAX printable ASCII bytes. */
int command_pack_assign_by(msgpack_packer *pk, const char *project, size_t len, uint64_t from,
                           uint64_t to, const char *reason, uint64_t time_ms, const char *by);
/* One admin write request as the leader accepted it: BY, the API METHOD and DETAIL (its
 * arguments as text, cut to COMMAND_DETAIL_MAX bytes), at the leader's wall clock TIME_MS. */
int command_pack_audit(msgpack_packer *pk, const char *by, const char *method, const char *detail,
                       uint64_t time_ms);
/* The claim OWNER's Kylin wrote for PROJECT while the quorum's epoch was EPOCH: its epoch
 * row read back as IDENTITY (current_epoch_owner) and EPOCH_ID (docs/kylin.md, "Recorded
 * claims"). Applied only while PROJECT's owner and epoch are still OWNER and EPOCH.
 * In command_kylin.c. */
int command_pack_kylin_claimed(msgpack_packer *pk, const char *project, size_t len, uint64_t owner,
                               uint64_t epoch, const char *identity, int64_t epoch_id);

/* Builds the entry for TERM from N packed commands (cmds[i], lens[i]). On success *BUF is
 * allocated with raft_malloc (ownership passes to raft_apply on its success; otherwise the
 * caller raft_free's it) and 0 is returned; -1 on allocation failure. */
int command_entry_build(uint64_t term, const void *const cmds[], const size_t lens[], unsigned n,
                        void **buf, size_t *len);

/* Same, for commands already concatenated into N_BUFS buffers (bufs[i], lens[i]) that hold
 * N_CMDS packed commands in total (a proposer may append each command to one growing
 * buffer). The entry is only well-formed when the buffers really hold N_CMDS complete
 * commands; the state machine reports it malformed otherwise. Same ownership and results. */
int command_entry_build_n(uint64_t term, const void *const bufs[], const size_t lens[],
                          unsigned n_bufs, unsigned n_cmds, void **buf, size_t *len);

#endif
