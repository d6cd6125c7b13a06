/* snapfile: the backup image file of `raftctl snapshot save` and `raftnode --restore`
 * (docs/operations.md, "Back up and restore"). Pure functions over memory buffers: no I/O.
 *
 * Layout (all integers big-endian):
 *   0   8 bytes  magic "RAFTSNAP"
 *   8   4 bytes  format version (SNAPFILE_VERSION)
 *   12  4 bytes  header length H
 *   16  H bytes  header: one msgpack map {"index", "term", "created_ms", "node_id",
 *                "projects", "engines", "image_size"} (unknown keys are ignored)
 *   16+H         image_size bytes: the state machine's SQLite image (store_snapshot)
 *   end-32       SHA-256 of every byte before it
 * The checksum covers the header too, so a flipped bit anywhere is found; a file cut short
 * is named truncated before the checksum is even looked at.
 *
 * Owns: nothing. Calls: msgpack-c, OpenSSL's SHA-256 (libcrypto). */
#ifndef COMMON_SNAPFILE_H
#define COMMON_SNAPFILE_H

#include <stddef.h>
#include <stdint.h>

#define SNAPFILE_VERSION 1
#define SNAPFILE_MAGIC "RAFTSNAP"
#define SNAPFILE_PREFIX_BYTES 16
#define SNAPFILE_DIGEST_BYTES 32
#define SNAPFILE_HEADER_MAX 4096
#define SNAPFILE_ERR_MAX 256

/* What the header says, plus the checksum (filled by snapfile_parse / snapfile_build). */
struct snapfile_meta {
    uint64_t index;      /* applied (committed) raft index of the image */
    uint64_t term;       /* the serving leader's term when it took the image */
    uint64_t created_ms; /* the serving leader's wall clock, for people (and restore's history rows) */
    uint64_t node_id;    /* member that served it */
    uint64_t projects;   /* project rows in the image (with _global) */
    uint64_t engines;    /* engine rows in the image */
    uint64_t image_size; /* bytes of the SQLite image */
    uint32_t version;    /* format version of the file */
    unsigned char sha256[SNAPFILE_DIGEST_BYTES]; /* of everything before the trailer */
};

/* Why a file was refused (the message in ERR says the rest). */
enum snapfile_err {
    SNAPFILE_OK = 0,
    SNAPFILE_NOT_SNAPSHOT, /* no magic: not one of our files */
    SNAPFILE_NEWER,        /* a format version this binary does not read */
    SNAPFILE_TRUNCATED,    /* shorter than its header says */
    SNAPFILE_CORRUPT,      /* checksum mismatch, bad header, trailing bytes */
    SNAPFILE_NOMEM,
};

/* Builds a whole file from META (version, image_size and sha256 are set here) and the
 * IMAGE of LEN bytes: *OUT is malloc'd (caller frees), *OUT_LEN its size. 0 or -1 (ERR). */
int snapfile_build(struct snapfile_meta *meta, const void *image, size_t len, unsigned char **out,
                   size_t *out_len, char *err, size_t cap);

/* Checks the file BUF/LEN: magic, version, sizes, header, checksum, in that order. On
 * SNAPFILE_OK, META is filled and *IMAGE points at the image inside BUF (META->image_size
 * bytes). Otherwise ERR says what is wrong and what to do. */
enum snapfile_err snapfile_parse(const unsigned char *buf, size_t len, struct snapfile_meta *meta,
                                 const unsigned char **image, char *err, size_t cap);

/* Lower-case hex of a digest into HEX (2 * SNAPFILE_DIGEST_BYTES + 1 bytes). */
void snapfile_hex(const unsigned char digest[SNAPFILE_DIGEST_BYTES], char *hex);

/* SHA-256 of BUF/LEN into DIGEST. 0 or -1 (libcrypto failed). */
int snapfile_sha256(const void *buf, size_t len, unsigned char digest[SNAPFILE_DIGEST_BYTES]);

#endif
