/* raftctl_cmd_snapshot: `snapshot save FILE` and `snapshot status FILE` (docs/operations.md,
 * "Back up and restore"). save asks the leader for an image of its state (snapshot.begin),
 * fetches it chunk by chunk from that member (snapshot.chunk), checks the image against the
 * SHA-256 the leader announced, and writes the file atomically (common/file.h); status
 * checks a file (common/snapfile.h) and prints what its header says. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/file.h"
#include "common/mp.h"
#include "common/proto.h"
#include "common/snapfile.h"
#include "raftctl_call.h"
#include "raftctl_cmd.h"
#include "raftctl_output.h"

#define SNAPSHOT_FILE_MAX ((size_t)4 << 30)     /* what status and restore read: 4 GiB */
#define PROGRESS_MIN_BYTES ((uint64_t)1 << 20) /* smaller images get no progress lines */

struct chunk_args {
    uint64_t session;
    uint64_t offset;
};

static int pack_chunk(msgpack_packer *pk, void *arg)
{
    const struct chunk_args *a = arg;
    return msgpack_pack_map(pk, 2) || mp_pack_kv_u64(pk, "session", a->session) ||
           mp_pack_kv_u64(pk, "offset", a->offset);
}

/* The begin reply: META, session and announced digest. 0 or -1. */
static int parse_begin(const struct client_reply *r, struct snapfile_meta *m, uint64_t *session, char *sha, size_t cap)
{
    const msgpack_object *o = r->result;
    memset(m, 0, sizeof *m);
    if (o == NULL || o->type != MSGPACK_OBJECT_MAP || mp_get_u64(o, "session", session) != 0 ||
        mp_get_u64(o, "index", &m->index) != 0 || mp_get_u64(o, "term", &m->term) != 0 ||
        mp_get_u64(o, "created_ms", &m->created_ms) != 0 || mp_get_u64(o, "node_id", &m->node_id) != 0 ||
        mp_get_u64(o, "projects", &m->projects) != 0 || mp_get_u64(o, "engines", &m->engines) != 0 ||
        mp_get_u64(o, "size", &m->image_size) != 0 || mp_get_cstr(o, "sha256", sha, cap) != 0) {
        return -1;
    }
    return m->image_size <= SNAPSHOT_FILE_MAX ? 0 : -1;
}

static void progress(uint64_t done, uint64_t total, unsigned *last_tenth)
{
    unsigned tenth = total > 0 ? (unsigned)(done * 10 / total) : 10;
    if (total >= PROGRESS_MIN_BYTES && tenth > *last_tenth) {
        fprintf(stderr, "raftctl: snapshot save: %" PRIu64 " of %" PRIu64 " bytes (%u%%)\n", done, total, tenth * 10);
        *last_tenth = tenth;
    }
}

/* Fetches the image of SESSION from ENDPOINT into IMAGE (SIZE bytes). 0 or an exit status. */
static int fetch_image(struct raftctl_ctx *ctx, const char *endpoint, uint64_t session, unsigned char *image,
                       uint64_t size)
{
    struct chunk_args a = {session, 0};
    unsigned last_tenth = 0;
    /* every chunk but the last carries at least one byte: at most SIZE + 1 calls */
    for (uint64_t calls = 0; calls <= size; calls++) {
        struct client_sync_reply out;
        int rc = client_call_sync(endpoint, "snapshot.chunk", pack_chunk, &a, ctx->args.timeout_ms, &out);
        if (rc != PROTO_OK) {
            rc = raftctl_report_refused("snapshot save: fetching a chunk", &out.reply);
            client_sync_reply_free(&out);
            return rc;
        }
        const msgpack_object *o = out.reply.result, *data = o != NULL ? mp_get(o, "data") : NULL;
        bool last = false;
        uint64_t offset = 0;
        if (data == NULL || data->type != MSGPACK_OBJECT_BIN || mp_get_u64(o, "offset", &offset) != 0 ||
            offset != a.offset || mp_get_bool(o, "last", &last) != 0 || data->via.bin.size > size - a.offset ||
            (data->via.bin.size == 0 && !last)) {
            raftctl_errf("snapshot save: %s sent a chunk that does not fit the image at offset %" PRIu64
                         "; is raftctl older or newer than raftnode?", endpoint, a.offset);
            client_sync_reply_free(&out);
            return RAFTCTL_EXIT_FAILED;
        }
        memcpy(image + a.offset, data->via.bin.ptr, data->via.bin.size);
        a.offset += data->via.bin.size;
        client_sync_reply_free(&out);
        progress(a.offset, size, &last_tenth);
        if (last) {
            if (a.offset == size) {
                return 0;
            }
            break;
        }
    }
    raftctl_errf("snapshot save: %s ended the image at %" PRIu64 " of %" PRIu64 " bytes", endpoint, a.offset, size);
    return RAFTCTL_EXIT_FAILED;
}

static int print_saved(struct raftctl_ctx *ctx, const char *path, const struct snapfile_meta *m, size_t file_len)
{
    char hex[2 * SNAPFILE_DIGEST_BYTES + 1];
    snapfile_hex(m->sha256, hex);
    if (ctx->args.format == RAFTCTL_FORMAT_JSON) {
        return raftctl_json_print(json_pack("{s:s, s:o, s:o, s:o, s:s, s:o}", "file", path, "index",
                                            raftctl_json_u64(m->index, true), "term", raftctl_json_u64(m->term, true),
                                            "size", raftctl_json_u64(file_len, true), "sha256", hex, "node_id",
                                            raftctl_json_u64(m->node_id, true)));
    }
    printf("Snapshot saved to %s: index %" PRIu64 ", term %" PRIu64 ", %zu bytes, sha256 %s (from member %" PRIu64
           ")\n",
           path, m->index, m->term, file_len, hex, m->node_id);
    return RAFTCTL_EXIT_OK;
}

int raftctl_cmd_snapshot_save(struct raftctl_ctx *ctx)
{
    const char *path = ctx->args.pos[0];
    struct client_sync_reply out;
    struct snapfile_meta m;
    uint64_t session = 0;
    char sha[2 * SNAPFILE_DIGEST_BYTES + 1], err[512];

    int rc = raftctl_request(ctx, RAFTCTL_READ_LEADER, "snapshot.begin", NULL, NULL, &out);
    if (rc != PROTO_OK) {
        rc = out.reply.status == PROTO_UNAVAILABLE ? raftctl_report_unavailable(ctx, "snapshot save", &out)
                                                   : raftctl_report_refused("snapshot save", &out.reply);
        client_sync_reply_free(&out);
        return rc;
    }
    if (parse_begin(&out.reply, &m, &session, sha, sizeof sha) != 0) {
        raftctl_errf("snapshot save: the reply from %s is not the expected map; is raftctl older or newer than "
                     "raftnode?", out.endpoint);
        client_sync_reply_free(&out);
        return RAFTCTL_EXIT_FAILED;
    }
    char endpoint[CLIENT_ENDPOINT_MAX];
    snprintf(endpoint, sizeof endpoint, "%s", out.endpoint);
    client_sync_reply_free(&out);

    unsigned char *image = malloc(m.image_size > 0 ? (size_t)m.image_size : 1), *file = NULL;
    size_t file_len = 0;
    if (image == NULL) {
        raftctl_errf("snapshot save: out of memory for an image of %" PRIu64 " bytes", m.image_size);
        return RAFTCTL_EXIT_FAILED;
    }
    rc = fetch_image(ctx, endpoint, session, image, m.image_size);
    if (rc != 0) {
        free(image);
        return rc;
    }
    unsigned char digest[SNAPFILE_DIGEST_BYTES];
    char have[2 * SNAPFILE_DIGEST_BYTES + 1];
    if (snapfile_sha256(image, (size_t)m.image_size, digest) != 0) {
        raftctl_errf("snapshot save: SHA-256 failed (libcrypto)");
        free(image);
        return RAFTCTL_EXIT_FAILED;
    }
    snapfile_hex(digest, have);
    if (strcmp(have, sha) != 0) {
        raftctl_errf("snapshot save: the image received from %s hashes to %s, the member announced %s; nothing "
                     "written, run the save again", endpoint, have, sha);
        free(image);
        return RAFTCTL_EXIT_FAILED;
    }
    if (snapfile_build(&m, image, (size_t)m.image_size, &file, &file_len, err, sizeof err) != 0 ||
        file_write_atomic(path, file, file_len, 0600, err, sizeof err) != 0) {
        raftctl_errf("snapshot save: %s; nothing written", err);
        free(image);
        free(file);
        return RAFTCTL_EXIT_FAILED;
    }
    free(image);
    free(file);
    return print_saved(ctx, path, &m, file_len);
}

int raftctl_cmd_snapshot_status(struct raftctl_ctx *ctx)
{
    const char *path = ctx->args.pos[0];
    unsigned char *buf = NULL;
    const unsigned char *image = NULL;
    size_t len = 0;
    struct snapfile_meta m;
    char err[512], hex[2 * SNAPFILE_DIGEST_BYTES + 1];

    if (file_read_all(path, SNAPSHOT_FILE_MAX, &buf, &len, err, sizeof err) != 0) {
        raftctl_errf("snapshot status: %s", err);
        return RAFTCTL_EXIT_FAILED;
    }
    if (snapfile_parse(buf, len, &m, &image, err, sizeof err) != SNAPFILE_OK) {
        raftctl_errf("snapshot status: %s: %s", path, err);
        free(buf);
        return RAFTCTL_EXIT_FAILED;
    }
    free(buf);
    snapfile_hex(m.sha256, hex);
    if (ctx->args.format == RAFTCTL_FORMAT_JSON) {
        return raftctl_json_print(json_pack(
            "{s:s, s:o, s:o, s:o, s:s, s:o, s:o, s:o, s:o, s:o, s:b}", "file", path, "index",
            raftctl_json_u64(m.index, true), "term", raftctl_json_u64(m.term, true), "size",
            raftctl_json_u64(len, true), "sha256", hex, "projects", raftctl_json_u64(m.projects, true), "engines",
            raftctl_json_u64(m.engines, true), "format_version", raftctl_json_u64(m.version, true), "created_ms",
            raftctl_json_u64(m.created_ms, true), "node_id", raftctl_json_u64(m.node_id, true), "valid", 1));
    }
    static const char *const headers[] = {"INDEX", "TERM", "SIZE", "SHA256", "PROJECTS", "ENGINES", "FORMAT"};
    char c[6][24];
    const char *cells[7] = {raftctl_u64_str(m.index, c[0], sizeof c[0]), raftctl_u64_str(m.term, c[1], sizeof c[1]),
                            raftctl_u64_str(len, c[2], sizeof c[2]), hex,
                            raftctl_u64_str(m.projects, c[3], sizeof c[3]),
                            raftctl_u64_str(m.engines, c[4], sizeof c[4]),
                            raftctl_u64_str(m.version, c[5], sizeof c[5])};
    struct raftctl_table t;
    raftctl_table_init(&t, 7, headers);
    raftctl_table_add(&t, cells);
    int rc = raftctl_table_print(&t);
    raftctl_table_free(&t);
    return rc;
}
