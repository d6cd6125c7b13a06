/* frame: the API's framing (docs/protocol.md), shared by the server and the client: a byte
 * stream cut into frames (a 4-byte big-endian payload length, then the payload), and a payload
 * decoded as exactly one msgpack map whose declared sizes were checked first.
 *
 * Owns: the receive buffer of one stream (struct frame_reader). Calls: msgpack-c, common/mp.h.
 * Used by raftnode/api.c and raftnode/api_frame.c (requests) and common/client.c (replies); no
 * sockets here, so the unit tests and the fuzz targets drive it with plain bytes. */
#ifndef COMMON_FRAME_H
#define COMMON_FRAME_H

#include <msgpack.h>
#include <stddef.h>
#include <stdint.h>

/* Cuts a byte stream into frames. Usage: frame_reader_space -> write up to *N bytes at *P ->
 * frame_reader_commit(n) -> frame_reader_next until it returns 0. Payload pointers returned
 * by next stay valid until the following space() call. */
struct frame_reader {
    char *buf;          /* private */
    size_t cap;         /* private: bytes allocated */
    size_t start;       /* private: first unconsumed byte */
    size_t end;         /* private: one past the last received byte */
    size_t max_frame;   /* read-only: largest accepted payload */
    uint32_t too_large; /* read-only: the declared length next() refused (0 until then) */
};

/* 0, or -1 when the first INITIAL_CAP bytes cannot be allocated. */
int frame_reader_init(struct frame_reader *r, size_t initial_cap, size_t max_frame);
void frame_reader_free(struct frame_reader *r);
/* Room for the next read (compacts, and grows to fit the frame being received). -1 when
 * out of memory. */
int frame_reader_space(struct frame_reader *r, char **p, size_t *n);
void frame_reader_commit(struct frame_reader *r, size_t n);
/* 1: *PAYLOAD and *LEN are the next complete frame's payload; 0: need more bytes; -1: the
 * stream is broken (a length over max_frame, kept in too_large), message in ERR; the reader
 * is then unusable. */
int frame_reader_next(struct frame_reader *r, const char **payload, size_t *len, char *err,
                      size_t errcap);

/* 1 when next() would not answer 0: a complete frame (or a broken length) is buffered. */
int frame_reader_ready(const struct frame_reader *r);

/* What frame_unpack found in a payload. */
enum frame_unpack_status {
    FRAME_UNPACK_OK = 0,     /* U->data is a map */
    FRAME_UNPACK_INVALID,    /* not msgpack, truncated, or declares more elements than it holds */
    FRAME_UNPACK_TRAILING,   /* bytes after the object (*USED says where it ended) */
    FRAME_UNPACK_TRUNCATED,  /* msgpack-c wants more bytes */
    FRAME_UNPACK_NOMEM,      /* msgpack-c could not allocate */
    FRAME_UNPACK_PARSE,      /* msgpack-c refused it after the size check passed */
    FRAME_UNPACK_NOT_MAP,    /* one object, but not a map (U->data says what) */
};

/* Decodes PAYLOAD/LEN into U (the caller's msgpack_unpacked, initialised with
 * msgpack_unpacked_init and destroyed by the caller) as exactly one msgpack map. The declared
 * sizes are checked (mp_check_object) before msgpack-c allocates for them: a 6-byte payload
 * can claim 2^32 elements. *USED: bytes the object took, for FRAME_UNPACK_TRAILING. */
enum frame_unpack_status frame_unpack(const char *payload, size_t len, msgpack_unpacked *u,
                                      size_t *used);

#endif
