/* frame: byte stream -> frames -> one checked msgpack map (see frame.h). */
#include "frame.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mp.h"
#include "proto.h"

#define FRAME_READ_MIN_FREE (16u * 1024) /* compact or grow below this much free room */

int frame_reader_init(struct frame_reader *r, size_t initial_cap, size_t max_frame)
{
    if (initial_cap < PROTO_HEADER_BYTES) {
        initial_cap = PROTO_HEADER_BYTES;
    }
    r->buf = malloc(initial_cap);
    if (r->buf == NULL) {
        return -1;
    }
    r->cap = initial_cap;
    r->start = 0;
    r->end = 0;
    r->max_frame = max_frame;
    r->too_large = 0;
    return 0;
}

void frame_reader_free(struct frame_reader *r)
{
    free(r->buf);
    r->buf = NULL;
    r->cap = r->start = r->end = 0;
}

int frame_reader_space(struct frame_reader *r, char **p, size_t *n)
{
    size_t held = r->end - r->start;
    size_t whole = 0; /* bytes of the frame being received, header included, when known */
    size_t want;

    if (held >= PROTO_HEADER_BYTES) {
        uint32_t flen = proto_get_len((const unsigned char *)r->buf + r->start);
        if (flen <= r->max_frame) {
            whole = PROTO_HEADER_BYTES + (size_t)flen;
        }
    }
    if (held == 0) {
        r->start = r->end = 0;
    } else if (r->start > 0 && (r->cap - r->end < FRAME_READ_MIN_FREE || r->start + whole > r->cap)) {
        memmove(r->buf, r->buf + r->start, held);
        r->start = 0;
        r->end = held;
    }
    want = r->end + FRAME_READ_MIN_FREE;
    if (whole > want) {
        want = whole;
    }
    if (want > r->cap) {
        size_t cap = r->cap;
        char *grown;
        while (cap < want) {
            cap *= 2;
        }
        grown = realloc(r->buf, cap);
        if (grown == NULL) {
            return -1;
        }
        r->buf = grown;
        r->cap = cap;
    }
    *p = r->buf + r->end;
    *n = r->cap - r->end;
    return 0;
}

void frame_reader_commit(struct frame_reader *r, size_t n)
{
    r->end += n;
}

int frame_reader_next(struct frame_reader *r, const char **payload, size_t *len, char *err, size_t errcap)
{
    size_t held = r->end - r->start;
    uint32_t flen;

    if (held < PROTO_HEADER_BYTES) {
        return 0;
    }
    flen = proto_get_len((const unsigned char *)r->buf + r->start);
    if (flen > r->max_frame) {
        r->too_large = flen;
        snprintf(err, errcap, "frame length %u exceeds the %zu-byte limit", (unsigned)flen, r->max_frame);
        return -1;
    }
    if (held - PROTO_HEADER_BYTES < flen) {
        return 0;
    }
    *payload = r->buf + r->start + PROTO_HEADER_BYTES;
    *len = flen;
    r->start += PROTO_HEADER_BYTES + (size_t)flen;
    return 1;
}

int frame_reader_ready(const struct frame_reader *r)
{
    size_t held = r->end - r->start;
    uint32_t flen;

    if (held < PROTO_HEADER_BYTES) {
        return 0;
    }
    flen = proto_get_len((const unsigned char *)r->buf + r->start);
    return flen > r->max_frame || held - PROTO_HEADER_BYTES >= flen;
}

enum frame_unpack_status frame_unpack(const char *payload, size_t len, msgpack_unpacked *u, size_t *used)
{
    size_t off = 0;

    *used = 0;
    /* Bound the allocation by the frame size before msgpack-c trusts declared counts. */
    if (mp_check_object(payload, len, used) != 0) {
        return FRAME_UNPACK_INVALID;
    }
    if (*used != len) {
        return FRAME_UNPACK_TRAILING;
    }
    switch (msgpack_unpack_next(u, payload, len, &off)) {
    case MSGPACK_UNPACK_SUCCESS:
        break;
    case MSGPACK_UNPACK_CONTINUE:
        return FRAME_UNPACK_TRUNCATED;
    case MSGPACK_UNPACK_NOMEM_ERROR:
        return FRAME_UNPACK_NOMEM;
    default:
        return FRAME_UNPACK_PARSE;
    }
    if (off != len) {
        *used = off;
        return FRAME_UNPACK_TRAILING;
    }
    return u->data.type == MSGPACK_OBJECT_MAP ? FRAME_UNPACK_OK : FRAME_UNPACK_NOT_MAP;
}
