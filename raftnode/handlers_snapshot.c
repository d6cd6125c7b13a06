/* handlers_snapshot: snapshot.begin and snapshot.chunk (docs/protocol.md), the server's side
 * of `raftctl snapshot save`. The leader takes one consistent image of its state machine at
 * its applied index (every applied entry is committed) and streams it in chunks well inside
 * the API's frame limits; the client assembles the file (common/snapfile.h).
 *
 * Sessions: the image of a begin is kept in a small table until its last chunk is served, or
 * until it was left idle for SESSION_IDLE_MS (an abandoned save; reclaimed by the next begin).
 * At most SESSIONS_MAX images are held at once: memory stays bounded whatever clients do.
 * A session is not tied to a connection, so a client may fetch each chunk on a new one, but
 * it must ask the member that began it (another member answers not_found).
 * Owns: the session table and its images. Calls: storage (store_snapshot, loads), api.h. */
#include <inttypes.h>
#include <raft.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/mp.h"
#include "common/proto.h"
#include "common/snapfile.h"
#include "config.h"
#include "handlers.h"
#include "storage/store.h"

#define SESSIONS_MAX 2
#define SESSION_IDLE_MS 60000
#define CHUNK_BYTES (256 * 1024) /* a quarter of the default raft.api.max-frame-bytes */

struct session {
    uint64_t id;      /* 0 = free slot */
    unsigned char *image; /* sqlite3_malloc'd by store_snapshot */
    size_t len;
    uint64_t used_ms; /* loop time of the last begin/chunk */
};

static struct session sessions[SESSIONS_MAX];
static uint64_t next_session_id = 1;

static void session_free(struct session *s)
{
    sqlite3_free(s->image);
    memset(s, 0, sizeof *s);
}

static struct session *session_slot(uint64_t now_ms)
{
    for (size_t i = 0; i < SESSIONS_MAX; i++) {
        if (sessions[i].id != 0 && now_ms - sessions[i].used_ms > SESSION_IDLE_MS) {
            session_free(&sessions[i]);
        }
    }
    for (size_t i = 0; i < SESSIONS_MAX; i++) {
        if (sessions[i].id == 0) {
            return &sessions[i];
        }
    }
    return NULL;
}

static int count_rows(struct store *st, uint64_t *projects, uint64_t *engines)
{
    struct store_project_row *p = NULL;
    struct store_engine *e = NULL;
    size_t np = 0, ne = 0;
    if (store_load_projects(st, &p, &np) != 0) {
        return -1;
    }
    store_free_projects(p, np);
    if (store_load_engines(st, &e, &ne) != 0) {
        return -1;
    }
    free(e);
    *projects = np;
    *engines = ne;
    return 0;
}

void handle_snapshot_begin(struct api_req *req)
{
    const struct api_ctx *ctx = req->ctx;
    uint64_t now = uv_now(ctx->loop);
    if (!handlers_require_leader(req)) {
        return;
    }
    struct session *s = session_slot(now);
    if (s == NULL) {
        api_reply_error(req->conn, req->id, PROTO_REFUSED, PROTO_CODE_BUSY,
                        "snapshot: %d saves are streaming from member %llu already; retry when one ended "
                        "(an abandoned one is dropped after %d s)",
                        SESSIONS_MAX, (unsigned long long)ctx->cfg->node_id, SESSION_IDLE_MS / 1000);
        return;
    }
    struct snapfile_meta m;
    memset(&m, 0, sizeof m);
    void *image = NULL;
    size_t len = 0;
    /* One loop turn: the image, the index and the counts describe the same applied state. */
    m.index = ctx->store->applied_index;
    m.term = raft_current_term(ctx->raft);
    m.node_id = ctx->cfg->node_id;
    struct timespec ts;
    if (clock_gettime(CLOCK_REALTIME, &ts) == 0) {
        m.created_ms = (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
    }
    if (count_rows(ctx->store, &m.projects, &m.engines) != 0 || store_snapshot(ctx->store, &image, &len) != 0) {
        api_reply_error(req->conn, req->id, PROTO_REFUSED, PROTO_CODE_FAILED, "snapshot: %s", ctx->store->errmsg);
        return;
    }
    unsigned char digest[SNAPFILE_DIGEST_BYTES];
    char hex[2 * SNAPFILE_DIGEST_BYTES + 1];
    if (snapfile_sha256(image, len, digest) != 0) {
        sqlite3_free(image);
        api_reply_error(req->conn, req->id, PROTO_REFUSED, PROTO_CODE_FAILED, "snapshot: SHA-256 failed (libcrypto)");
        return;
    }
    snapfile_hex(digest, hex);
    s->id = next_session_id++;
    s->image = image;
    s->len = len;
    s->used_ms = now;

    struct api_reply r;
    api_reply_begin(&r, ctx, req->id, 0, PROTO_CODE_OK, NULL);
    msgpack_pack_map(&r.pk, 10);
    mp_pack_kv_u64(&r.pk, "session", s->id);
    mp_pack_kv_u64(&r.pk, "index", m.index);
    mp_pack_kv_u64(&r.pk, "term", m.term);
    mp_pack_kv_u64(&r.pk, "created_ms", m.created_ms);
    mp_pack_kv_u64(&r.pk, "node_id", m.node_id);
    mp_pack_kv_u64(&r.pk, "projects", m.projects);
    mp_pack_kv_u64(&r.pk, "engines", m.engines);
    mp_pack_kv_u64(&r.pk, "size", len);
    mp_pack_kv_u64(&r.pk, "chunk_bytes", CHUNK_BYTES);
    mp_pack_kv_str(&r.pk, "sha256", hex);
    api_reply_send(req->conn, &r);
}

void handle_snapshot_chunk(struct api_req *req)
{
    const struct api_ctx *ctx = req->ctx;
    uint64_t id = 0, offset = 0;
    if (mp_get_u64(req->args, "session", &id) != 0 || mp_get_u64(req->args, "offset", &offset) != 0) {
        api_reply_error(req->conn, req->id, PROTO_BAD_REQUEST, PROTO_CODE_BAD_REQUEST,
                        "snapshot.chunk takes \"session\" and \"offset\" (uint)");
        return;
    }
    struct session *s = NULL;
    for (size_t i = 0; i < SESSIONS_MAX; i++) {
        s = sessions[i].id == id && id != 0 ? &sessions[i] : s;
    }
    if (s == NULL) {
        api_reply_error(req->conn, req->id, PROTO_REFUSED, PROTO_CODE_NOT_FOUND,
                        "snapshot: member %llu holds no session %llu (finished, idle for %d s, or begun on "
                        "another member); run the save again",
                        (unsigned long long)ctx->cfg->node_id, (unsigned long long)id, SESSION_IDLE_MS / 1000);
        return;
    }
    if (offset > s->len) {
        api_reply_error(req->conn, req->id, PROTO_REFUSED, PROTO_CODE_INVALID,
                        "snapshot: offset %llu is past the image's %zu bytes", (unsigned long long)offset, s->len);
        return;
    }
    size_t n = s->len - (size_t)offset < CHUNK_BYTES ? s->len - (size_t)offset : CHUNK_BYTES;
    struct api_reply r;
    api_reply_begin(&r, ctx, req->id, 0, PROTO_CODE_OK, NULL);
    msgpack_pack_map(&r.pk, 3);
    mp_pack_kv_u64(&r.pk, "offset", offset);
    mp_pack_cstr(&r.pk, "data");
    msgpack_pack_bin(&r.pk, n);
    msgpack_pack_bin_body(&r.pk, s->image + offset, n);
    mp_pack_kv_bool(&r.pk, "last", offset + n == s->len);
    api_reply_send(req->conn, &r);
    s->used_ms = uv_now(ctx->loop);
    if (offset + n == s->len) {
        session_free(s); /* the client has every byte; a retry of the last chunk begins again */
    }
}
