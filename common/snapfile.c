/* snapfile: building and checking backup image files (layout in snapfile.h). */
#include "common/snapfile.h"

#include <inttypes.h>
#include <msgpack.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/frame.h"
#include "common/mp.h"

static void put32(unsigned char *p, uint32_t v)
{
    p[0] = (unsigned char)(v >> 24);
    p[1] = (unsigned char)(v >> 16);
    p[2] = (unsigned char)(v >> 8);
    p[3] = (unsigned char)v;
}

static uint32_t get32(const unsigned char *p)
{
    return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | (uint32_t)p[3];
}

int snapfile_sha256(const void *buf, size_t len, unsigned char digest[SNAPFILE_DIGEST_BYTES])
{
    unsigned int n = 0;
    if (EVP_Digest(buf, len, digest, &n, EVP_sha256(), NULL) != 1 || n != SNAPFILE_DIGEST_BYTES) {
        return -1;
    }
    return 0;
}

void snapfile_hex(const unsigned char digest[SNAPFILE_DIGEST_BYTES], char *hex)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < SNAPFILE_DIGEST_BYTES; i++) {
        hex[2 * i] = digits[digest[i] >> 4];
        hex[2 * i + 1] = digits[digest[i] & 15];
    }
    hex[2 * SNAPFILE_DIGEST_BYTES] = '\0';
}

static int pack_header(msgpack_packer *pk, const struct snapfile_meta *m)
{
    return msgpack_pack_map(pk, 7) || mp_pack_kv_u64(pk, "index", m->index) || mp_pack_kv_u64(pk, "term", m->term) ||
           mp_pack_kv_u64(pk, "created_ms", m->created_ms) || mp_pack_kv_u64(pk, "node_id", m->node_id) ||
           mp_pack_kv_u64(pk, "projects", m->projects) || mp_pack_kv_u64(pk, "engines", m->engines) ||
           mp_pack_kv_u64(pk, "image_size", m->image_size);
}

int snapfile_build(struct snapfile_meta *meta, const void *image, size_t len, unsigned char **out,
                   size_t *out_len, char *err, size_t cap)
{
    msgpack_sbuffer sb;
    msgpack_packer pk;
    *out = NULL;
    meta->version = SNAPFILE_VERSION;
    meta->image_size = len;
    msgpack_sbuffer_init(&sb);
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    if (pack_header(&pk, meta) != 0 || sb.size > SNAPFILE_HEADER_MAX) {
        snprintf(err, cap, "snapshot file: packing its header failed (out of memory)");
        msgpack_sbuffer_destroy(&sb);
        return -1;
    }
    size_t total = SNAPFILE_PREFIX_BYTES + sb.size + len + SNAPFILE_DIGEST_BYTES;
    unsigned char *buf = malloc(total);
    if (buf == NULL) {
        snprintf(err, cap, "snapshot file: out of memory for %zu bytes", total);
        msgpack_sbuffer_destroy(&sb);
        return -1;
    }
    memcpy(buf, SNAPFILE_MAGIC, 8);
    put32(buf + 8, SNAPFILE_VERSION);
    put32(buf + 12, (uint32_t)sb.size);
    memcpy(buf + SNAPFILE_PREFIX_BYTES, sb.data, sb.size);
    if (len > 0) {
        memcpy(buf + SNAPFILE_PREFIX_BYTES + sb.size, image, len);
    }
    size_t body = total - SNAPFILE_DIGEST_BYTES;
    msgpack_sbuffer_destroy(&sb);
    if (snapfile_sha256(buf, body, meta->sha256) != 0) {
        snprintf(err, cap, "snapshot file: SHA-256 failed (libcrypto)");
        free(buf);
        return -1;
    }
    memcpy(buf + body, meta->sha256, SNAPFILE_DIGEST_BYTES);
    *out = buf;
    *out_len = total;
    return 0;
}

static enum snapfile_err parse_header(const unsigned char *p, size_t len, struct snapfile_meta *m, char *err,
                                      size_t cap)
{
    msgpack_unpacked u;
    size_t used = 0;
    msgpack_unpacked_init(&u);
    enum frame_unpack_status st = frame_unpack((const char *)p, len, &u, &used);
    enum snapfile_err rc = SNAPFILE_OK;
    if (st == FRAME_UNPACK_NOMEM) {
        snprintf(err, cap, "out of memory decoding the header");
        rc = SNAPFILE_NOMEM;
    } else if (st != FRAME_UNPACK_OK || mp_get_u64(&u.data, "index", &m->index) != 0 ||
               mp_get_u64(&u.data, "term", &m->term) != 0 || mp_get_u64(&u.data, "created_ms", &m->created_ms) != 0 ||
               mp_get_u64(&u.data, "node_id", &m->node_id) != 0 ||
               mp_get_u64(&u.data, "projects", &m->projects) != 0 ||
               mp_get_u64(&u.data, "engines", &m->engines) != 0 ||
               mp_get_u64(&u.data, "image_size", &m->image_size) != 0) {
        snprintf(err, cap, "the header is not a map of index, term, created_ms, node_id, projects, engines "
                           "and image_size: the file is corrupt");
        rc = SNAPFILE_CORRUPT;
    }
    msgpack_unpacked_destroy(&u);
    return rc;
}

enum snapfile_err snapfile_parse(const unsigned char *buf, size_t len, struct snapfile_meta *meta,
                                 const unsigned char **image, char *err, size_t cap)
{
    memset(meta, 0, sizeof *meta);
    *image = NULL;
    if (len < 8 || memcmp(buf, SNAPFILE_MAGIC, 8) != 0) {
        snprintf(err, cap, "not a raftnode snapshot file (%zu bytes, no '" SNAPFILE_MAGIC "' at the start); "
                 "make one with 'raftctl snapshot save FILE'", len);
        return len < 8 && memcmp(buf, SNAPFILE_MAGIC, len) == 0 ? SNAPFILE_TRUNCATED : SNAPFILE_NOT_SNAPSHOT;
    }
    if (len < SNAPFILE_PREFIX_BYTES) {
        snprintf(err, cap, "truncated: %zu bytes, not even the %d-byte prefix", len, SNAPFILE_PREFIX_BYTES);
        return SNAPFILE_TRUNCATED;
    }
    meta->version = get32(buf + 8);
    if (meta->version > SNAPFILE_VERSION) {
        snprintf(err, cap, "format version %" PRIu32 " is newer than this binary reads (1..%d): "
                 "use the raftctl/raftnode release that wrote it, or a newer one", meta->version, SNAPFILE_VERSION);
        return SNAPFILE_NEWER;
    }
    if (meta->version == 0) {
        snprintf(err, cap, "format version 0 does not exist: the file is corrupt");
        return SNAPFILE_CORRUPT;
    }
    uint32_t hlen = get32(buf + 12);
    if (hlen == 0 || hlen > SNAPFILE_HEADER_MAX) {
        snprintf(err, cap, "header length %" PRIu32 " is out of range (1..%d): the file is corrupt", hlen,
                 SNAPFILE_HEADER_MAX);
        return SNAPFILE_CORRUPT;
    }
    size_t fixed = SNAPFILE_PREFIX_BYTES + (size_t)hlen + SNAPFILE_DIGEST_BYTES;
    if (len < fixed) {
        snprintf(err, cap, "truncated: %zu bytes, but the header alone needs %zu", len, fixed);
        return SNAPFILE_TRUNCATED;
    }
    enum snapfile_err rc = parse_header(buf + SNAPFILE_PREFIX_BYTES, hlen, meta, err, cap);
    if (rc != SNAPFILE_OK) {
        return rc;
    }
    if (meta->image_size > len - fixed) {
        snprintf(err, cap, "truncated: %zu bytes, but the header announces an image of %" PRIu64
                 " bytes (%" PRIu64 " expected in all); copy the file again", len, meta->image_size,
                 (uint64_t)fixed + meta->image_size);
        return SNAPFILE_TRUNCATED;
    }
    if (meta->image_size < len - fixed) {
        snprintf(err, cap, "%zu bytes after the end the header announces (%" PRIu64 " bytes in all): the file is "
                 "corrupt", len - fixed - (size_t)meta->image_size, (uint64_t)fixed + meta->image_size);
        return SNAPFILE_CORRUPT;
    }
    size_t body = len - SNAPFILE_DIGEST_BYTES;
    if (snapfile_sha256(buf, body, meta->sha256) != 0) {
        snprintf(err, cap, "SHA-256 failed (libcrypto)");
        return SNAPFILE_NOMEM;
    }
    if (memcmp(meta->sha256, buf + body, SNAPFILE_DIGEST_BYTES) != 0) {
        char want[2 * SNAPFILE_DIGEST_BYTES + 1], have[2 * SNAPFILE_DIGEST_BYTES + 1];
        snapfile_hex(buf + body, want);
        snapfile_hex(meta->sha256, have);
        snprintf(err, cap, "checksum mismatch: the file records SHA-256 %.16s..., its content hashes to %.16s...: "
                 "the file is corrupt; use another copy", want, have);
        return SNAPFILE_CORRUPT;
    }
    *image = buf + SNAPFILE_PREFIX_BYTES + hlen;
    return SNAPFILE_OK;
}
