/* raftctl_cmd_owner: engines and project ownership (docs/protocol.md, methods engine.list,
 * engine.drain, project.show, project.move, project.pin, rebalance, maintenance, history).
 *
 * Reads go to any member, with two exceptions that need one member's own clock:
 *   engine list   the silence since an engine's last heartbeat is measured by the leader
 *                 only: when the member that answered is not the leader, the same call goes
 *                 to the leader it names; if that fails the first answer is shown (silence
 *                 "-").
 *   project show  the owner's lease is known only on the owner's own member: when the
 *                 project's owner is not the member that answered, the call is repeated on
 *                 the owner's API address (from the member list); if that fails the rest is
 *                 shown.
 * Writes (move, pin, unpin, drain, undrain, maintenance, rebalance) go to the leader through
 * raftctl_request(RAFTCTL_WRITE): redirects followed, never resent once the outcome is
 * unknown. rebalance --dry-run changes nothing, so it is resent freely (RAFTCTL_READ_LEADER).
 * Output: a table or lines, or one JSON document (writes: {"ok": true, ..., "index"}; on
 * failure {"ok": false, "status", "code", "error"}, the message on stderr too). */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/mp.h"
#include "common/proto.h"
#include "raftctl_call.h"
#include "raftctl_cmd.h"
#include "raftctl_output.h"

#define KYLIN_CODE_PREFIX "KE-" /* project.show's Kylin failure states: KE-010021002, KE-010021004 */
#define JSON_MAX_DEPTH 32

/* ---------------------------------------------------------------------------------------- */
/* Decoding helpers                                                                          */

/* An unsigned field that may be absent or nil (= not present). 0, or -1 when it has another
 * type (a negative integer counts as not present: the server never sends one). */
static int opt_u64(const msgpack_object *o, const char *key, uint64_t *v, bool *present)
{
    const msgpack_object *f = mp_get(o, key);

    *v = 0;
    *present = false;
    if (f == NULL || f->type == MSGPACK_OBJECT_NIL || f->type == MSGPACK_OBJECT_NEGATIVE_INTEGER) {
        return 0;
    }
    if (f->type != MSGPACK_OBJECT_POSITIVE_INTEGER) {
        return -1;
    }
    *v = f->via.u64;
    *present = true;
    return 0;
}

/* A string field that may be absent or nil: *S NULL then. 0, or -1 on another type. */
static int opt_str(const msgpack_object *o, const char *key, const char **s, size_t *len)
{
    const msgpack_object *f = mp_get(o, key);

    *s = NULL;
    *len = 0;
    if (f == NULL || f->type == MSGPACK_OBJECT_NIL) {
        return 0;
    }
    if (f->type != MSGPACK_OBJECT_STR) {
        return -1;
    }
    *s = f->via.str.ptr;
    *len = f->via.str.size;
    return 0;
}

/* A JSON string of S (LEN bytes); bytes that are not valid UTF-8 become '?' rather than
 * losing the whole document. NULL only when out of memory. */
static json_t *json_str_lossy(const char *s, size_t len)
{
    json_t *j = json_stringn(s, len);
    char *copy;

    if (j != NULL || len == 0) {
        return j != NULL ? j : json_string("");
    }
    copy = malloc(len);
    if (copy == NULL) {
        return NULL;
    }
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        copy[i] = c >= 0x80 || c == 0 ? '?' : (char)c;
    }
    j = json_stringn(copy, len);
    free(copy);
    return j;
}

/* The JSON form of a decoded msgpack value (maps keep their string keys; other keys, binary
 * and extension values, and nesting deeper than JSON_MAX_DEPTH are dropped or null). NULL
 * only when out of memory. */
static json_t *mp_to_json(const msgpack_object *o, int depth)
{
    json_t *j;

    if (depth > JSON_MAX_DEPTH) {
        return json_null();
    }
    switch (o->type) {
    case MSGPACK_OBJECT_NIL:
        return json_null();
    case MSGPACK_OBJECT_BOOLEAN:
        return json_boolean(o->via.boolean);
    case MSGPACK_OBJECT_POSITIVE_INTEGER:
        return raftctl_json_u64(o->via.u64, true);
    case MSGPACK_OBJECT_NEGATIVE_INTEGER:
        return json_integer((json_int_t)o->via.i64);
    case MSGPACK_OBJECT_FLOAT32:
    case MSGPACK_OBJECT_FLOAT64:
        return json_real(o->via.f64);
    case MSGPACK_OBJECT_STR:
        return json_str_lossy(o->via.str.ptr, o->via.str.size);
    case MSGPACK_OBJECT_ARRAY:
        j = json_array();
        for (uint32_t i = 0; j != NULL && i < o->via.array.size; i++) {
            if (json_array_append_new(j, mp_to_json(&o->via.array.ptr[i], depth + 1)) != 0) {
                json_decref(j);
                j = NULL;
            }
        }
        return j;
    case MSGPACK_OBJECT_MAP:
        j = json_object();
        for (uint32_t i = 0; j != NULL && i < o->via.map.size; i++) {
            const msgpack_object_kv *kv = &o->via.map.ptr[i];
            if (kv->key.type != MSGPACK_OBJECT_STR) {
                continue;
            }
            if (json_object_setn_new(j, kv->key.via.str.ptr, kv->key.via.str.size, mp_to_json(&kv->val, depth + 1)) !=
                0) {
                json_decref(j);
                j = NULL;
            }
        }
        return j;
    default:
        return json_null();
    }
}

/* "KE-..." codes are Kylin's own failure states: the server's message already carries the
 * code and Kylin's text, and is printed as it is. */
static bool kylin_code(const struct client_reply *r)
{
    return r->status == PROTO_REFUSED && strncmp(r->code, KYLIN_CODE_PREFIX, strlen(KYLIN_CODE_PREFIX)) == 0;
}

static int bad_reply(const char *what, const struct client_sync_reply *out, const char *expected)
{
    raftctl_errf("%s: %s answered without %s; is raftctl older or newer than raftnode?", what, out->endpoint,
                 expected);
    return RAFTCTL_EXIT_FAILED;
}

/* Reports a failed read (status != 0) and returns its exit status. */
static int read_failed(struct raftctl_ctx *ctx, const char *what, struct client_sync_reply *out)
{
    if (out->reply.status == PROTO_UNAVAILABLE) {
        return raftctl_report_unavailable(ctx, what, out);
    }
    if (kylin_code(&out->reply)) {
        raftctl_errf("%s", out->reply.error);
        return RAFTCTL_EXIT_FAILED;
    }
    return raftctl_report_refused(what, &out->reply);
}

/* ---------------------------------------------------------------------------------------- */
/* Packers                                                                                   */

struct owner_args {
    const char *name;    /* project */
    uint64_t engine;     /* project.move / project.pin (0 = unpin) */
    uint64_t id;         /* engine.drain */
    bool on;             /* engine.drain, maintenance */
    const char *reason;  /* maintenance on */
    bool dry_run;        /* rebalance */
    bool has_limit;      /* history */
    uint64_t limit;
    bool consistent;     /* reads with --consistent */
};

static int pack_show(msgpack_packer *pk, void *arg)
{
    const struct owner_args *a = arg;
    int rc = msgpack_pack_map(pk, 1 + a->consistent);

    rc = rc != 0 ? rc : mp_pack_kv_str(pk, "name", a->name);
    if (a->consistent) {
        rc = rc != 0 ? rc : mp_pack_kv_bool(pk, "consistent", true);
    }
    return rc;
}

static int pack_name_engine(msgpack_packer *pk, void *arg)
{
    const struct owner_args *a = arg;
    int rc = msgpack_pack_map(pk, 2);

    rc = rc != 0 ? rc : mp_pack_kv_str(pk, "name", a->name);
    return rc != 0 ? rc : mp_pack_kv_u64(pk, "engine", a->engine);
}

static int pack_drain(msgpack_packer *pk, void *arg)
{
    const struct owner_args *a = arg;
    int rc = msgpack_pack_map(pk, 2);

    rc = rc != 0 ? rc : mp_pack_kv_u64(pk, "id", a->id);
    return rc != 0 ? rc : mp_pack_kv_bool(pk, "on", a->on);
}

static int pack_maintenance(msgpack_packer *pk, void *arg)
{
    const struct owner_args *a = arg;
    int rc = msgpack_pack_map(pk, 1 + (a->reason != NULL));

    rc = rc != 0 ? rc : mp_pack_kv_bool(pk, "on", a->on);
    if (a->reason != NULL) {
        rc = rc != 0 ? rc : mp_pack_kv_str(pk, "reason", a->reason);
    }
    return rc;
}

static int pack_rebalance(msgpack_packer *pk, void *arg)
{
    const struct owner_args *a = arg;
    int rc = msgpack_pack_map(pk, 1);

    return rc != 0 ? rc : mp_pack_kv_bool(pk, "dry_run", a->dry_run);
}

static int pack_history(msgpack_packer *pk, void *arg)
{
    const struct owner_args *a = arg;
    int rc = msgpack_pack_map(pk, (a->name != NULL) + a->has_limit + a->consistent);

    if (a->name != NULL) {
        rc = rc != 0 ? rc : mp_pack_kv_str(pk, "project", a->name);
    }
    if (a->has_limit) {
        rc = rc != 0 ? rc : mp_pack_kv_u64(pk, "limit", a->limit);
    }
    if (a->consistent) {
        rc = rc != 0 ? rc : mp_pack_kv_bool(pk, "consistent", true);
    }
    return rc;
}

/* ---------------------------------------------------------------------------------------- */
/* Writes                                                                                    */

/* Sends one request of KIND (RAFTCTL_WRITE, or RAFTCTL_READ_LEADER for a dry run). On
 * failure prints why on stderr (and, with -w json, {"ok": false, "status", "code", "error"}
 * on stdout) and returns the exit status; on success returns 0 and the caller prints. OUT is
 * always to be freed. WHAT names the request in full ("project move 'p1' 2") for the
 * unavailability report; a refusal is prefixed with the command's words only, because the
 * server's message already names the project and the engine. */
static int owner_write(struct raftctl_ctx *ctx, enum raftctl_request_kind kind, const char *what, const char *method,
                       client_pack_fn pack, void *arg, struct client_sync_reply *out)
{
    int rc = raftctl_request(ctx, kind, method, pack, arg, out);

    if (rc == PROTO_UNAVAILABLE) {
        rc = raftctl_report_unavailable(ctx, what, out);
    } else if (rc != PROTO_OK) {
        rc = raftctl_report_refused(ctx->args.cmd->words, &out->reply);
    }
    if (rc != 0 && ctx->args.format == RAFTCTL_FORMAT_JSON) {
        int prc = raftctl_json_print(json_pack("{s:b, s:i, s:s, s:s}", "ok", 0, "status", out->reply.status, "code",
                                               out->reply.code, "error", out->reply.error));
        rc = prc != 0 && rc < prc ? prc : rc;
    }
    return rc;
}

/* The "index" of a write's result (0 when absent). */
static uint64_t result_index(const struct client_sync_reply *out)
{
    uint64_t index = 0;

    if (out->reply.result != NULL) {
        (void)mp_get_u64(out->reply.result, "index", &index);
    }
    return index;
}

/* Prints a write's success: TEXT plus " (index N)", or {"ok": true, DOC's fields, "index"}
 * (DOC NULL = out of memory). Releases DOC. */
static int write_done(struct raftctl_ctx *ctx, const char *text, json_t *doc, uint64_t index)
{
    if (ctx->args.format != RAFTCTL_FORMAT_JSON) {
        json_decref(doc);
        printf("%s (index %llu)\n", text, (unsigned long long)index);
        return 0;
    }
    /* "ok" first, as in every other write's document */
    json_t *all = doc != NULL ? json_pack("{s:b}", "ok", 1) : NULL;
    if (all != NULL && (json_object_update(all, doc) != 0 ||
                        json_object_set_new(all, "index", raftctl_json_u64(index, true)) != 0)) {
        json_decref(all);
        all = NULL;
    }
    json_decref(doc);
    return raftctl_json_print(all);
}

int raftctl_cmd_project_move(struct raftctl_ctx *ctx)
{
    struct owner_args a = {0};
    struct client_sync_reply out;
    char what[320], text[320];
    int rc;

    a.name = ctx->args.pos[0];
    if (raftctl_parse_id(ctx->args.pos[1], &a.engine) != 0) { /* validated by the parser already */
        raftctl_errf("project move: ENGINE '%s' is not an engine id", ctx->args.pos[1]);
        return RAFTCTL_EXIT_USAGE;
    }
    snprintf(what, sizeof what, "project move '%s' %llu", a.name, (unsigned long long)a.engine);
    rc = owner_write(ctx, RAFTCTL_WRITE, what, "project.move", pack_name_engine, &a, &out);
    if (rc == 0) {
        snprintf(text, sizeof text, "project '%s' moved to engine %llu", a.name, (unsigned long long)a.engine);
        rc = write_done(ctx, text, json_pack("{s:o, s:o}", "name", json_str_lossy(a.name, strlen(a.name)), "engine",
                                          raftctl_json_u64(a.engine, true)),
                        result_index(&out));
    }
    client_sync_reply_free(&out);
    return rc;
}

/* project pin NAME ENGINE, or unpin (ENGINE 0). */
static int project_pin(struct raftctl_ctx *ctx, uint64_t engine)
{
    struct owner_args a = {0};
    struct client_sync_reply out;
    char what[320], text[320];
    int rc;

    a.name = ctx->args.pos[0];
    a.engine = engine;
    if (engine != 0) {
        snprintf(what, sizeof what, "project pin '%s' %llu", a.name, (unsigned long long)engine);
        snprintf(text, sizeof text, "project '%s' pinned to engine %llu", a.name, (unsigned long long)engine);
    } else {
        snprintf(what, sizeof what, "project unpin '%s'", a.name);
        snprintf(text, sizeof text, "project '%s' unpinned", a.name);
    }
    rc = owner_write(ctx, RAFTCTL_WRITE, what, "project.pin", pack_name_engine, &a, &out);
    if (rc == 0) {
        rc = write_done(ctx, text, json_pack("{s:o, s:o}", "name", json_str_lossy(a.name, strlen(a.name)), "pinned",
                                          raftctl_json_u64(engine, engine != 0)),
                        result_index(&out));
    }
    client_sync_reply_free(&out);
    return rc;
}

int raftctl_cmd_project_pin(struct raftctl_ctx *ctx)
{
    uint64_t engine;

    if (raftctl_parse_id(ctx->args.pos[1], &engine) != 0) {
        raftctl_errf("project pin: ENGINE '%s' is not an engine id", ctx->args.pos[1]);
        return RAFTCTL_EXIT_USAGE;
    }
    return project_pin(ctx, engine);
}

int raftctl_cmd_project_unpin(struct raftctl_ctx *ctx)
{
    return project_pin(ctx, 0);
}

static int engine_drain(struct raftctl_ctx *ctx, bool on)
{
    struct owner_args a = {0};
    struct client_sync_reply out;
    const char *verb = on ? "drain" : "undrain";
    char what[64], text[160];
    int rc;

    if (raftctl_parse_id(ctx->args.pos[0], &a.id) != 0) {
        raftctl_errf("%s: ID '%s' is not a positive integer", verb, ctx->args.pos[0]);
        return RAFTCTL_EXIT_USAGE;
    }
    a.on = on;
    snprintf(what, sizeof what, "%s %llu", verb, (unsigned long long)a.id);
    rc = owner_write(ctx, RAFTCTL_WRITE, what, "engine.drain", pack_drain, &a, &out);
    if (rc == 0) {
        if (on) {
            snprintf(text, sizeof text, "engine %llu is draining: its projects move to other engines",
                     (unsigned long long)a.id);
        } else {
            snprintf(text, sizeof text, "engine %llu is no longer draining", (unsigned long long)a.id);
        }
        rc = write_done(ctx, text, json_pack("{s:o, s:b}", "id", raftctl_json_u64(a.id, true), "draining", on),
                        result_index(&out));
    }
    client_sync_reply_free(&out);
    return rc;
}

int raftctl_cmd_drain(struct raftctl_ctx *ctx)
{
    return engine_drain(ctx, true);
}

int raftctl_cmd_undrain(struct raftctl_ctx *ctx)
{
    return engine_drain(ctx, false);
}

static int maintenance(struct raftctl_ctx *ctx, bool on)
{
    struct owner_args a = {0};
    struct client_sync_reply out;
    json_t *doc;
    int rc;

    a.on = on;
    a.reason = on ? raftctl_args_opt(&ctx->args, "reason") : NULL;
    if (on && (a.reason == NULL || a.reason[0] == '\0')) { /* the parser requires it already */
        raftctl_errf("maintenance on: --reason TEXT is required");
        return RAFTCTL_EXIT_USAGE;
    }
    rc = owner_write(ctx, RAFTCTL_WRITE, on ? "maintenance on" : "maintenance off", "maintenance", pack_maintenance,
                     &a, &out);
    if (rc == 0) {
        doc = json_pack("{s:b}", "maintenance", on);
        if (doc != NULL && on && json_object_set_new(doc, "reason", json_str_lossy(a.reason, strlen(a.reason))) != 0) {
            json_decref(doc);
            doc = NULL;
        }
        rc = write_done(ctx,
                        on ? "maintenance mode on: ownership is frozen, no failover, placement or moves"
                           : "maintenance mode off: ownership changes resume",
                        doc, result_index(&out));
    }
    client_sync_reply_free(&out);
    return rc;
}

int raftctl_cmd_maintenance_on(struct raftctl_ctx *ctx)
{
    return maintenance(ctx, true);
}

int raftctl_cmd_maintenance_off(struct raftctl_ctx *ctx)
{
    return maintenance(ctx, false);
}

/* ---------------------------------------------------------------------------------------- */
/* rebalance                                                                                 */

struct move_row {
    char *project;
    bool has_from, has_to;
    uint64_t from, to;
    char *reason; /* NULL when absent */
};

static void moves_free(struct move_row *rows, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(rows[i].project);
        free(rows[i].reason);
    }
    free(rows);
}

/* Parses the "moves" array of a rebalance result. 0, -1 malformed, -2 out of memory. */
static int moves_parse(const msgpack_object *list, struct move_row **out)
{
    struct move_row *rows = calloc(list->via.array.size > 0 ? list->via.array.size : 1, sizeof *rows);
    int rc = 0;

    if (rows == NULL) {
        return -2;
    }
    for (uint32_t i = 0; i < list->via.array.size && rc == 0; i++) {
        const msgpack_object *o = &list->via.array.ptr[i];
        struct move_row *m = &rows[i];
        const char *s, *r;
        size_t len, rlen;
        if (mp_get_str(o, "project", &s, &len) != 0 || opt_u64(o, "from", &m->from, &m->has_from) != 0 ||
            opt_u64(o, "to", &m->to, &m->has_to) != 0 || opt_str(o, "reason", &r, &rlen) != 0) {
            rc = -1;
            break;
        }
        m->has_from = m->has_from && m->from != 0; /* 0 = none */
        m->has_to = m->has_to && m->to != 0;
        m->project = strndup(s, len);
        m->reason = r != NULL ? strndup(r, rlen) : NULL;
        if (m->project == NULL || (r != NULL && m->reason == NULL)) {
            rc = -2;
        }
    }
    if (rc != 0) {
        moves_free(rows, list->via.array.size);
        return rc;
    }
    *out = rows;
    return 0;
}

static int rebalance_print_json(const struct move_row *rows, size_t n, bool applied, bool has_lb, uint64_t lb)
{
    json_t *moves = json_array();
    json_t *doc;

    for (size_t i = 0; moves != NULL && i < n; i++) {
        json_t *o = json_pack("{s:s, s:o, s:o}", "project", rows[i].project, "from",
                              raftctl_json_u64(rows[i].from, rows[i].has_from), "to",
                              raftctl_json_u64(rows[i].to, rows[i].has_to));
        if (o != NULL && rows[i].reason != NULL && json_object_set_new(o, "reason", json_string(rows[i].reason)) != 0) {
            json_decref(o);
            o = NULL;
        }
        if (json_array_append_new(moves, o) != 0) {
            json_decref(moves);
            moves = NULL;
        }
    }
    doc = json_pack("{s:o, s:b}", "moves", moves, "applied", applied);
    if (doc != NULL && has_lb && json_object_set_new(doc, "lower_bound", raftctl_json_u64(lb, true)) != 0) {
        json_decref(doc);
        doc = NULL;
    }
    return raftctl_json_print(doc);
}

/*   p1   1 -> 3  (rebalance)
 *   p10  2 -> 3  (rebalance)
 *   2 moves (minimum 2), applied */
static void rebalance_print_table(const struct move_row *rows, size_t n, bool applied, bool dry_run, bool has_lb,
                                  uint64_t lb)
{
    int wp = 0, wf = 0;
    char from[24], to[24];

    for (size_t i = 0; i < n; i++) {
        int lp = (int)strlen(rows[i].project);
        int lf = rows[i].has_from ? (int)strlen(raftctl_u64_str(rows[i].from, from, sizeof from)) : 1;
        wp = lp > wp ? lp : wp;
        wf = lf > wf ? lf : wf;
    }
    for (size_t i = 0; i < n; i++) {
        printf("%-*s  %*s -> %s", wp, rows[i].project, wf,
               rows[i].has_from ? raftctl_u64_str(rows[i].from, from, sizeof from) : "-",
               rows[i].has_to ? raftctl_u64_str(rows[i].to, to, sizeof to) : "-");
        if (rows[i].reason != NULL) {
            printf("  (%s)", rows[i].reason);
        }
        putchar('\n');
    }
    printf("%zu moves", n);
    if (has_lb) {
        printf(" (minimum %llu)", (unsigned long long)lb);
    }
    if (applied) {
        printf(", applied\n");
    } else {
        printf(", not applied%s\n", dry_run ? " (dry run)" : "");
    }
}

int raftctl_cmd_rebalance(struct raftctl_ctx *ctx)
{
    struct owner_args a = {0};
    struct client_sync_reply out;
    const msgpack_object *res, *list;
    struct move_row *rows = NULL;
    bool applied = false, has_lb;
    uint64_t lb;
    int rc;

    a.dry_run = raftctl_args_opt(&ctx->args, "dry-run") != NULL;
    /* A dry run changes nothing: it may be resent wherever the outcome is unknown. */
    rc = owner_write(ctx, a.dry_run ? RAFTCTL_READ_LEADER : RAFTCTL_WRITE, a.dry_run ? "rebalance --dry-run" : "rebalance",
                     "rebalance", pack_rebalance, &a, &out);
    if (rc != 0) {
        client_sync_reply_free(&out);
        return rc;
    }
    res = out.reply.result;
    list = res != NULL ? mp_get(res, "moves") : NULL;
    if (list == NULL || list->type != MSGPACK_OBJECT_ARRAY || mp_get_bool(res, "applied", &applied) != 0 ||
        opt_u64(res, "lower_bound", &lb, &has_lb) != 0) {
        rc = bad_reply("rebalance", &out, "a valid \"moves\" array and \"applied\"");
    } else if ((rc = moves_parse(list, &rows)) != 0) {
        if (rc == -2) {
            raftctl_errf("rebalance: out of memory reading %u moves", (unsigned)list->via.array.size);
            rc = RAFTCTL_EXIT_FAILED;
        } else {
            rc = bad_reply("rebalance", &out, "a project, from and to in every move");
        }
    } else {
        size_t n = list->via.array.size;
        if (ctx->args.format == RAFTCTL_FORMAT_JSON) {
            rc = rebalance_print_json(rows, n, applied, has_lb, lb);
        } else {
            rebalance_print_table(rows, n, applied, a.dry_run, has_lb, lb);
        }
        moves_free(rows, n);
    }
    client_sync_reply_free(&out);
    return rc;
}

/* ---------------------------------------------------------------------------------------- */
/* engine list                                                                               */

struct engine_row {
    uint64_t id, projects, weight, ms_ago;
    bool alive, draining, has_ms_ago;
    const char *mode, *identity; /* into the reply; identity NULL when absent */
    size_t mode_len, identity_len;
};

static int engine_row_parse(const msgpack_object *o, struct engine_row *e)
{
    memset(e, 0, sizeof *e);
    if (mp_get_u64(o, "id", &e->id) != 0 || mp_get_str(o, "mode", &e->mode, &e->mode_len) != 0 ||
        mp_get_bool(o, "alive", &e->alive) != 0 || mp_get_bool(o, "draining", &e->draining) != 0 ||
        mp_get_u64(o, "projects", &e->projects) != 0 || mp_get_u64(o, "weight", &e->weight) != 0 ||
        opt_str(o, "identity", &e->identity, &e->identity_len) != 0 ||
        opt_u64(o, "last_heartbeat_ms_ago", &e->ms_ago, &e->has_ms_ago) != 0) {
        return -1;
    }
    return 0;
}

static json_t *engine_json(const struct engine_row *e)
{
    return json_pack("{s:o, s:o, s:b, s:b, s:o, s:o, s:o, s:o}", "id", raftctl_json_u64(e->id, true), "mode",
                     json_str_lossy(e->mode, e->mode_len), "alive", e->alive, "draining", e->draining, "projects",
                     raftctl_json_u64(e->projects, true), "weight", raftctl_json_u64(e->weight, true), "identity",
                     e->identity != NULL ? json_str_lossy(e->identity, e->identity_len) : json_null(),
                     "last_heartbeat_ms_ago", raftctl_json_u64(e->ms_ago, e->has_ms_ago));
}

static int engines_print(struct raftctl_ctx *ctx, const struct client_sync_reply *out)
{
    static const char *const head[] = {"ID", "MODE", "ALIVE", "DRAINING", "WEIGHT", "PROJECTS", "LAST_HEARTBEAT",
                                       "IDENTITY"};
    const msgpack_object *list = out->reply.result;
    bool json = ctx->args.format == RAFTCTL_FORMAT_JSON;
    json_t *arr = json ? json_array() : NULL;
    struct raftctl_table t;
    struct engine_row e;
    int rc = 0;

    if (!json) {
        raftctl_table_init(&t, 8, head);
    }
    for (uint32_t i = 0; i < list->via.array.size; i++) {
        if (engine_row_parse(&list->via.array.ptr[i], &e) != 0) {
            raftctl_errf("engine list: entry %u from %s lacks a valid id, mode, alive, draining, projects or weight; "
                         "is raftctl older or newer than raftnode?",
                         i, out->endpoint);
            rc = RAFTCTL_EXIT_FAILED;
            break;
        }
        if (json) {
            if (arr != NULL && json_array_append_new(arr, engine_json(&e)) != 0) {
                json_decref(arr);
                arr = NULL;
            }
            continue;
        }
        char id[24], weight[24], projects[24], ago[32];
        char *mode = strndup(e.mode, e.mode_len);
        char *ident = e.identity != NULL ? strndup(e.identity, e.identity_len) : NULL;
        if (e.has_ms_ago) {
            snprintf(ago, sizeof ago, "%.1fs", (double)e.ms_ago / 1000.0);
        }
        const char *row[] = {raftctl_u64_str(e.id, id, sizeof id), mode, e.alive ? "yes" : "no",
                             e.draining ? "yes" : "no", raftctl_u64_str(e.weight, weight, sizeof weight),
                             raftctl_u64_str(e.projects, projects, sizeof projects), e.has_ms_ago ? ago : NULL,
                             ident != NULL && ident[0] != '\0' ? ident : NULL};
        if (mode == NULL || (e.identity != NULL && ident == NULL)) {
            raftctl_errf("engine list: out of memory formatting the table");
            rc = RAFTCTL_EXIT_FAILED;
        } else {
            raftctl_table_add(&t, row);
        }
        free(mode);
        free(ident);
        if (rc != 0) {
            break;
        }
    }
    if (json) {
        if (rc == 0) {
            return raftctl_json_print(arr);
        }
        json_decref(arr);
        return rc;
    }
    if (rc == 0) {
        rc = raftctl_table_print(&t);
    }
    raftctl_table_free(&t);
    return rc;
}

static bool is_array_result(const struct client_sync_reply *o)
{
    return o->reply.status == PROTO_OK && o->reply.result != NULL && o->reply.result->type == MSGPACK_OBJECT_ARRAY;
}

int raftctl_cmd_engine_list(struct raftctl_ctx *ctx)
{
    struct client_sync_reply out, lead;
    bool consistent = ctx->args.consistent;
    const struct client_reply *r;
    int rc = raftctl_request(ctx, consistent ? RAFTCTL_READ_LEADER : RAFTCTL_READ, "engine.list",
                             raftctl_pack_consistent, &consistent, &out);

    if (rc != PROTO_OK) {
        rc = read_failed(ctx, "engine list", &out);
        client_sync_reply_free(&out);
        return rc;
    }
    /* Only the leader measures the silence since each engine's last heartbeat: ask it when a
     * follower answered. If it cannot answer (no leader, unreachable), the follower's list
     * stands, without the silence. */
    r = &out.reply;
    if (r->leader_id != 0 && r->node_id != r->leader_id && r->leader_api[0] != '\0' &&
        !raftctl_failed_before(ctx, r->leader_api)) {
        client_call_sync(r->leader_api, "engine.list", raftctl_pack_consistent, &consistent, ctx->args.timeout_ms,
                         &lead);
        if (is_array_result(&lead)) {
            client_sync_reply_free(&out);
            out = lead;
        } else {
            client_sync_reply_free(&lead);
        }
    }
    if (!is_array_result(&out)) {
        rc = bad_reply("engine list", &out, "an array");
    } else {
        rc = engines_print(ctx, &out);
    }
    client_sync_reply_free(&out);
    return rc;
}

/* ---------------------------------------------------------------------------------------- */
/* project show                                                                              */

struct show_row {
    const char *name, *identity;
    size_t name_len, identity_len;
    uint64_t owner, epoch, pinned, lease_ms_left, grace_ms_left;
    bool has_owner, has_pinned, has_lease, lease_valid, has_grace, acting;
};

/* A bool that may be nil (the server does not know it): 0 (false when nil or absent), -1. */
static int opt_bool(const msgpack_object *o, const char *key, bool *v)
{
    const msgpack_object *f = mp_get(o, key);
    *v = false;
    if (f == NULL || f->type == MSGPACK_OBJECT_NIL) {
        return 0;
    }
    return mp_get_bool(o, key, v) == 0 ? 0 : -1;
}

static int show_parse(const msgpack_object *o, struct show_row *s)
{
    memset(s, 0, sizeof *s);
    if (o == NULL || o->type != MSGPACK_OBJECT_MAP || mp_get_str(o, "name", &s->name, &s->name_len) != 0 ||
        opt_u64(o, "owner", &s->owner, &s->has_owner) != 0 || mp_get_u64(o, "epoch", &s->epoch) != 0 ||
        opt_str(o, "owner_identity", &s->identity, &s->identity_len) != 0 ||
        opt_u64(o, "pinned", &s->pinned, &s->has_pinned) != 0 ||
        opt_u64(o, "lease_ms_left", &s->lease_ms_left, &s->has_lease) != 0 ||
        opt_bool(o, "lease_valid", &s->lease_valid) != 0 ||
        opt_u64(o, "grace_ms_left", &s->grace_ms_left, &s->has_grace) != 0 ||
        opt_bool(o, "acting", &s->acting) != 0) {
        return -1;
    }
    s->has_owner = s->has_owner && s->owner != 0; /* 0 = none */
    s->has_pinned = s->has_pinned && s->pinned != 0;
    return 0;
}

/* The API address of member ID from any member's member list, into BUF ("" = unknown). */
static void member_api_address(struct raftctl_ctx *ctx, uint64_t id, char *buf, size_t cap)
{
    struct client_sync_reply st;
    const msgpack_object *list;

    buf[0] = '\0';
    if (raftctl_request(ctx, RAFTCTL_READ, "status", NULL, NULL, &st) == PROTO_OK && st.reply.result != NULL &&
        (list = mp_get(st.reply.result, "members")) != NULL && list->type == MSGPACK_OBJECT_ARRAY) {
        for (uint32_t i = 0; i < list->via.array.size; i++) {
            uint64_t mid;
            if (mp_get_u64(&list->via.array.ptr[i], "id", &mid) == 0 && mid == id &&
                mp_get_cstr(&list->via.array.ptr[i], "api_address", buf, cap) != 0) {
                buf[0] = '\0';
            }
        }
    }
    client_sync_reply_free(&st);
}

static int show_print(struct raftctl_ctx *ctx, const struct show_row *s, bool from_owner, uint64_t owner_missed)
{
    char *name = strndup(s->name, s->name_len);
    char *ident = s->identity != NULL ? strndup(s->identity, s->identity_len) : NULL;
    int rc = 0;

    if (name == NULL || (s->identity != NULL && ident == NULL)) {
        free(name);
        free(ident);
        raftctl_errf("project show: out of memory");
        return RAFTCTL_EXIT_FAILED;
    }
    if (ctx->args.format == RAFTCTL_FORMAT_JSON) {
        rc = raftctl_json_print(json_pack(
            "{s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o}", "name", json_str_lossy(s->name, s->name_len), "owner",
            raftctl_json_u64(s->owner, s->has_owner), "owner_identity",
            ident != NULL ? json_str_lossy(s->identity, s->identity_len) : json_null(), "epoch",
            raftctl_json_u64(s->epoch, true), "pinned", raftctl_json_u64(s->pinned, s->has_pinned), "lease_valid",
            from_owner && s->has_lease ? json_boolean(s->lease_valid) : json_null(), "lease_ms_left",
            raftctl_json_u64(s->lease_ms_left, s->has_lease), "acting",
            from_owner && s->has_grace ? json_boolean(s->acting) : json_null(), "grace_ms_left",
            raftctl_json_u64(s->grace_ms_left, s->has_grace)));
    } else {
        printf("name: %s\n", name);
        if (s->has_owner) {
            printf("owner: %llu\n", (unsigned long long)s->owner);
        } else {
            printf("owner: -\n");
        }
        printf("owner identity: %s\n", ident != NULL && ident[0] != '\0' ? ident : "-");
        printf("epoch: %llu\n", (unsigned long long)s->epoch);
        if (s->has_pinned) {
            printf("pinned: %llu\n", (unsigned long long)s->pinned);
        } else {
            printf("pinned: no\n");
        }
        if (s->has_lease) {
            printf("lease ms left: %llu%s\n", (unsigned long long)s->lease_ms_left,
                   s->lease_valid ? "" : " (lease not valid)");
            if (s->has_grace) {
                printf("acting: %s", s->acting ? "yes" : "no");
                if (s->grace_ms_left > 0) {
                    printf(" (hand-over grace: %llu ms left)", (unsigned long long)s->grace_ms_left);
                }
                printf("\n");
            }
        } else if (owner_missed != 0) {
            printf("lease ms left: unknown (member %llu, the owner, did not answer)\n",
                   (unsigned long long)owner_missed);
        }
    }
    free(name);
    free(ident);
    return rc;
}

int raftctl_cmd_project_show(struct raftctl_ctx *ctx)
{
    struct owner_args a = {0};
    struct client_sync_reply out, own;
    struct show_row s, so;
    char what[300], api[CLIENT_ENDPOINT_MAX];
    bool from_owner;
    uint64_t missed = 0;
    int rc;

    a.name = ctx->args.pos[0];
    a.consistent = ctx->args.consistent;
    snprintf(what, sizeof what, "project show '%s'", a.name);
    rc = raftctl_request(ctx, a.consistent ? RAFTCTL_READ_LEADER : RAFTCTL_READ, "project.show", pack_show, &a, &out);
    if (rc != PROTO_OK) {
        if (rc == PROTO_REFUSED && strcmp(out.reply.code, PROTO_CODE_NOT_FOUND) == 0) {
            raftctl_errf("project '%s' does not exist", a.name);
            rc = RAFTCTL_EXIT_FAILED;
        } else {
            rc = read_failed(ctx, what, &out);
        }
        client_sync_reply_free(&out);
        return rc;
    }
    if (show_parse(out.reply.result, &s) != 0) {
        rc = bad_reply("project show", &out, "a valid name, owner, owner_identity, epoch, pinned and lease");
        client_sync_reply_free(&out);
        return rc;
    }
    from_owner = s.has_owner && s.owner == out.reply.node_id;
    if (s.has_owner && !from_owner) {
        /* The lease lives on the owner's own member (its monotonic clock): ask it there. */
        member_api_address(ctx, s.owner, api, sizeof api);
        missed = s.owner;
        if (api[0] != '\0' && !raftctl_failed_before(ctx, api)) {
            struct owner_args plain = a;
            plain.consistent = false; /* the owner need not be the leader */
            client_call_sync(api, "project.show", pack_show, &plain, ctx->args.timeout_ms, &own);
            /* Only an answer at least as new as the first one replaces it: the owner's member
             * may lag behind (the first answer may be a --consistent one from the leader). */
            if (own.reply.status == PROTO_OK && show_parse(own.reply.result, &so) == 0 && so.epoch >= s.epoch) {
                client_sync_reply_free(&out);
                out = own; /* s's pointers move with it: parse again below */
                s = so;
                from_owner = s.has_owner && s.owner == out.reply.node_id;
                missed = from_owner ? 0 : missed;
            } else {
                client_sync_reply_free(&own);
            }
        }
    }
    rc = show_print(ctx, &s, from_owner, missed);
    client_sync_reply_free(&out);
    return rc;
}

/* ---------------------------------------------------------------------------------------- */
/* history                                                                                   */

/* time_ms as ISO-8601 UTC ("2024-05-01T12:00:00Z") into BUF. */
static const char *iso_time(uint64_t ms, char *buf, size_t cap)
{
    time_t secs = (time_t)(ms / 1000);
    struct tm tm;

    if (gmtime_r(&secs, &tm) == NULL || strftime(buf, cap, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0) {
        snprintf(buf, cap, "%llu ms", (unsigned long long)ms);
    }
    return buf;
}

static int history_table(const struct client_sync_reply *out)
{
    static const char *const head[] = {"INDEX", "TERM", "TIME", "PROJECT", "FROM", "TO", "EPOCH", "REASON"};
    const msgpack_object *list = out->reply.result;
    struct raftctl_table t;
    int rc = 0;

    raftctl_table_init(&t, 8, head);
    for (uint32_t i = 0; i < list->via.array.size; i++) {
        const msgpack_object *o = &list->via.array.ptr[i];
        uint64_t index, term, time_ms, epoch, from, to;
        bool has_from, has_to;
        const char *p, *r;
        size_t plen, rlen;
        char sindex[24], sterm[24], stime[40], sfrom[24], sto[24], sepoch[24];
        char *project, *reason;

        if (mp_get_u64(o, "index", &index) != 0 || mp_get_u64(o, "term", &term) != 0 ||
            mp_get_u64(o, "time_ms", &time_ms) != 0 || mp_get_str(o, "project", &p, &plen) != 0 ||
            opt_u64(o, "from", &from, &has_from) != 0 || opt_u64(o, "to", &to, &has_to) != 0 ||
            mp_get_u64(o, "epoch", &epoch) != 0 || opt_str(o, "reason", &r, &rlen) != 0) {
            raftctl_errf("history: entry %u from %s lacks a valid index, term, time_ms, project, from, to, epoch or "
                         "reason; is raftctl older or newer than raftnode?",
                         i, out->endpoint);
            rc = RAFTCTL_EXIT_FAILED;
            break;
        }
        project = strndup(p, plen);
        reason = r != NULL ? strndup(r, rlen) : NULL;
        const char *row[] = {raftctl_u64_str(index, sindex, sizeof sindex), raftctl_u64_str(term, sterm, sizeof sterm),
                             iso_time(time_ms, stime, sizeof stime), project,
                             has_from && from != 0 ? raftctl_u64_str(from, sfrom, sizeof sfrom) : NULL,
                             has_to && to != 0 ? raftctl_u64_str(to, sto, sizeof sto) : NULL,
                             raftctl_u64_str(epoch, sepoch, sizeof sepoch), reason};
        if (project == NULL || (r != NULL && reason == NULL)) {
            raftctl_errf("history: out of memory formatting the table");
            rc = RAFTCTL_EXIT_FAILED;
        } else {
            raftctl_table_add(&t, row);
        }
        free(project);
        free(reason);
        if (rc != 0) {
            break;
        }
    }
    if (rc == 0) {
        rc = raftctl_table_print(&t);
    }
    raftctl_table_free(&t);
    return rc;
}

int raftctl_cmd_history(struct raftctl_ctx *ctx)
{
    struct owner_args a = {0};
    struct client_sync_reply out;
    const char *limit = raftctl_args_opt(&ctx->args, "limit");
    int rc;

    a.name = raftctl_args_opt(&ctx->args, "project");
    a.consistent = ctx->args.consistent;
    if (limit != NULL) {
        if (raftctl_parse_count(limit, &a.limit) != 0) { /* validated by the parser already */
            raftctl_errf("history: --limit '%s' is not a number", limit);
            return RAFTCTL_EXIT_USAGE;
        }
        a.has_limit = true;
    }
    rc = raftctl_request(ctx, a.consistent ? RAFTCTL_READ_LEADER : RAFTCTL_READ, "history", pack_history, &a, &out);
    if (rc != PROTO_OK) {
        rc = read_failed(ctx, "history", &out);
    } else if (!is_array_result(&out)) {
        rc = bad_reply("history", &out, "an array");
    } else if (ctx->args.format == RAFTCTL_FORMAT_JSON) {
        rc = raftctl_json_print(mp_to_json(out.reply.result, 0)); /* the rows as the server gives them */
    } else {
        rc = history_table(&out);
    }
    client_sync_reply_free(&out);
    return rc;
}
