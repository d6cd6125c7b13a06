/* api_frame: decodes one request frame payload (docs/protocol.md) into a validated request,
 * without sockets, so api.c's read path and the fuzz target share it.
 *
 * Ownership: struct api_frame owns the decoded msgpack objects; args points into them and
 * stays valid until api_frame_free.
 *
 * Owns: the decoded frame (struct api_frame). Calls: common/frame.h, common/mp.h. */
#ifndef RAFTNODE_API_FRAME_H
#define RAFTNODE_API_FRAME_H

#include <msgpack.h>
#include <stddef.h>
#include <stdint.h>

#define API_FRAME_METHOD_MAX 64 /* method names are shorter; longer ones are unknown */

enum api_frame_status {
    API_FRAME_OK = 0,      /* id, method and args are set */
    API_FRAME_MALFORMED,   /* not one msgpack map with "id" (uint) and "method" (str): reply
                            * bad_request with id (0 unless "id" was valid), close */
    API_FRAME_BAD_METHOD,  /* method name too long or holding a NUL: reply unknown_method to
                            * id, keep the connection */
    API_FRAME_BAD_ARGS,    /* "args" present, not nil and not a map: reply bad_request to id
                            * naming method, keep the connection */
};

struct api_frame {
    msgpack_unpacked msg;              /* private */
    uint64_t id;                       /* 0 unless "id" decoded */
    char method[API_FRAME_METHOD_MAX]; /* NUL-terminated; "" unless OK or BAD_ARGS */
    const msgpack_object *args;        /* OK only: a map ({} when omitted or nil) */
};

/* Decodes the payload DATA/LEN (the bytes after the 4-byte length). F is always initialised:
 * call api_frame_free afterwards whatever the result. */
enum api_frame_status api_frame_decode(struct api_frame *f, const char *data, size_t len);
void api_frame_free(struct api_frame *f);

#endif
