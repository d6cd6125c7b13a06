/* proto: the API wire format shared by raftnode (server) and raftctl / bench (clients).
 *
 * A frame is a 4-byte big-endian payload length followed by one msgpack map.
 *   request:  {"id": uint, "method": str, "args": map}
 *   reply:    {"id": uint, "status": int, "code": str, "error": str, "result": any,
 *              "node_id": uint, "applied_index": uint, "leader_id": uint, "leader_api": str}
 * "status" is one of enum proto_status (it doubles as raftctl's exit status); "code" is a
 * stable machine word (table in docs/protocol.md); "error" is the human message. The
 * method list and every method's args and result are documented in docs/protocol.md.
 *
 * Owns: the wire constants. Calls: nothing; the framing itself is common/frame.h. */
#ifndef COMMON_PROTO_H
#define COMMON_PROTO_H

#include <stddef.h>
#include <stdint.h>

#define PROTO_HEADER_BYTES 4
#define PROTO_DEFAULT_MAX_FRAME (1024 * 1024)

enum proto_status {
    PROTO_OK = 0,          /* done */
    PROTO_REFUSED = 1,     /* refused or failed; "error" says why */
    PROTO_BAD_REQUEST = 2, /* malformed request, unknown method, bad arguments */
    PROTO_UNAVAILABLE = 3, /* no leader / no quorum / not joined / leadership lost */
};

/* Stable reply codes ("code" field). */
#define PROTO_CODE_OK "ok"
#define PROTO_CODE_NOT_LEADER "not_leader"         /* status 3; leader_id/leader_api set if known */
#define PROTO_CODE_NO_LEADER "no_leader"           /* status 3 */
#define PROTO_CODE_LEADERSHIP_LOST "leadership_lost" /* status 3: outcome unknown */
#define PROTO_CODE_NOT_JOINED "not_joined"         /* status 3 */
#define PROTO_CODE_SHUTTING_DOWN "shutting_down"   /* status 3 */
#define PROTO_CODE_TIMEOUT "timeout"               /* status 3 */
#define PROTO_CODE_CATCHING_UP "catching_up"       /* status 3: plain reads held after a restart */
#define PROTO_CODE_BAD_REQUEST "bad_request"       /* status 2 */
#define PROTO_CODE_UNKNOWN_METHOD "unknown_method" /* status 2 */
#define PROTO_CODE_FRAME_TOO_LARGE "frame_too_large" /* status 2, then the connection closes */
#define PROTO_CODE_EXISTS "exists"                 /* status 1 */
#define PROTO_CODE_NOT_FOUND "not_found"           /* status 1 */
#define PROTO_CODE_INVALID "invalid"               /* status 1: argument fails validation */
#define PROTO_CODE_BUSY "busy"                     /* status 1: a change is already in progress */
#define PROTO_CODE_FAILED "failed"                 /* status 1: anything else */
#define PROTO_CODE_REMOVED "removed"               /* status 1: member.check: the asker is no member */
#define PROTO_CODE_PERMISSION_DENIED "permission_denied" /* status 1: the client's certificate may not */

static inline uint32_t proto_get_len(const unsigned char *p)
{
    return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | (uint32_t)p[3];
}

static inline void proto_put_len(unsigned char *p, uint32_t n)
{
    p[0] = (unsigned char)(n >> 24);
    p[1] = (unsigned char)(n >> 16);
    p[2] = (unsigned char)(n >> 8);
    p[3] = (unsigned char)n;
}

#endif
