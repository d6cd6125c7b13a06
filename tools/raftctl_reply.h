/* raftctl_reply: what every command family does with a reply: optional result fields
 * (absent or nil = not present), the outcome of a read or a write reported on stderr (and as
 * one JSON document with -w json), the "index" a write was committed at.
 *
 * Owns: nothing. Calls: raftctl_call.h (reports), raftctl_output.h, common/mp.h. */
#ifndef TOOLS_RAFTCTL_REPLY_H
#define TOOLS_RAFTCTL_REPLY_H

#include <jansson.h>
#include <msgpack.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "raftctl_call.h"

/* An unsigned field that may be absent or nil (= not present). 0, or -1 when it has another
 * type (a negative integer counts as not present: the server never sends one). */
int raftctl_opt_u64(const msgpack_object *o, const char *key, uint64_t *v, bool *present);
/* A string field that may be absent or nil: *S NULL then. 0, or -1 on another type. */
int raftctl_opt_str(const msgpack_object *o, const char *key, const char **s, size_t *len);
/* A bool that may be nil (the server does not know it): 0 (false when nil or absent), -1. */
int raftctl_opt_bool(const msgpack_object *o, const char *key, bool *v);

/* Reports that OUT's result lacks EXPECTED; returns RAFTCTL_EXIT_FAILED. */
int raftctl_bad_reply(const char *what, const struct client_sync_reply *out, const char *expected);
/* Reports a failed read (status != 0) and returns its exit status. Kylin's own failure
 * states ("KE-..." codes) are printed as the server words them. */
int raftctl_read_failed(struct raftctl_ctx *ctx, const char *what, struct client_sync_reply *out);
/* True when OUT succeeded with an array result. */
bool raftctl_is_array_result(const struct client_sync_reply *o);

/* Sends one request of KIND (RAFTCTL_WRITE, or RAFTCTL_READ_LEADER for a dry run). On
 * failure prints why on stderr (and, with -w json, {"ok": false, "status", "code", "error"}
 * on stdout) and returns the exit status; on success returns 0 and the caller prints. OUT is
 * always to be freed. WHAT names the request in full ("project move 'p1' 2") for the
 * unavailability report; a refusal is prefixed with the command's words only, because the
 * server's message already names the project and the engine. */
int raftctl_write(struct raftctl_ctx *ctx, enum raftctl_request_kind kind, const char *what, const char *method,
                  client_pack_fn pack, void *arg, struct client_sync_reply *out);
/* The "index" of a write's result (0 when absent). */
uint64_t raftctl_result_index(const struct client_sync_reply *out);
/* Prints a write's success: TEXT plus " (index N)", or {"ok": true, DOC's fields, "index"}
 * (DOC NULL = out of memory). Releases DOC. */
int raftctl_write_done(struct raftctl_ctx *ctx, const char *text, json_t *doc, uint64_t index);

#endif
