/* raftctl_cmd_ownership: placement and its record (docs/protocol.md, methods rebalance,
 * maintenance, history).
 *
 * maintenance on|off and rebalance go to the leader through raftctl_write (redirects
 * followed, never resent once the outcome is unknown); rebalance --dry-run changes nothing,
 * so it is resent freely (RAFTCTL_READ_LEADER). history reads any member (--consistent: the
 * leader). Output: a table or lines, or one JSON document (writes: {"ok": true, ...,
 * "index"}; on failure {"ok": false, "status", "code", "error"}, the message on stderr too). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/mp.h"
#include "common/proto.h"
#include "raftctl_call.h"
#include "raftctl_cmd.h"
#include "raftctl_output.h"
#include "raftctl_progress.h"
#include "raftctl_reply.h"

struct owner_args {
    const char *name;    /* history --project */
    bool on;             /* maintenance */
    const char *reason;  /* maintenance on */
    bool dry_run;        /* rebalance */
    bool has_limit;      /* history */
    uint64_t limit;
    bool consistent;     /* history --consistent */
};

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
    rc = raftctl_write(ctx, RAFTCTL_WRITE, on ? "maintenance on" : "maintenance off", "maintenance", pack_maintenance,
                     &a, &out);
    if (rc == 0) {
        doc = json_pack("{s:b}", "maintenance", on);
        if (doc != NULL && on && json_object_set_new(doc, "reason", raftctl_json_str_lossy(a.reason, strlen(a.reason))) != 0) {
            json_decref(doc);
            doc = NULL;
        }
        rc = raftctl_write_done(ctx,
                        on ? "maintenance mode on: ownership is frozen, no failover, placement or moves"
                           : "maintenance mode off: ownership changes resume",
                        doc, raftctl_result_index(&out));
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
        if (mp_get_str(o, "project", &s, &len) != 0 || raftctl_opt_u64(o, "from", &m->from, &m->has_from) != 0 ||
            raftctl_opt_u64(o, "to", &m->to, &m->has_to) != 0 || raftctl_opt_str(o, "reason", &r, &rlen) != 0) {
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
    bool applied = false, has_lb, want_progress;
    struct raftctl_poller poller = {0};
    uint64_t lb;
    int rc;

    a.dry_run = raftctl_args_opt(&ctx->args, "dry-run") != NULL;
    /* the progress line (raftctl_progress.h): stderr only, on a terminal or when asked */
    want_progress = !a.dry_run && (raftctl_args_opt(&ctx->args, "progress") != NULL || isatty(STDERR_FILENO) == 1);
    if (want_progress &&
        raftctl_poller_start(&poller, (const char(*)[CLIENT_ENDPOINT_MAX])ctx->args.endpoints, ctx->args.n_endpoints,
                             ctx->args.timeout_ms) != 0) {
        raftctl_errf("rebalance: cannot start the progress thread; going on without progress lines");
    }
    /* A dry run changes nothing: it may be resent wherever the outcome is unknown. */
    rc = raftctl_write(ctx, a.dry_run ? RAFTCTL_READ_LEADER : RAFTCTL_WRITE, a.dry_run ? "rebalance --dry-run" : "rebalance",
                     "rebalance", pack_rebalance, &a, &out);
    raftctl_poller_stop(&poller);
    if (rc != 0) {
        client_sync_reply_free(&out);
        return rc;
    }
    res = out.reply.result;
    list = res != NULL ? mp_get(res, "moves") : NULL;
    if (list == NULL || list->type != MSGPACK_OBJECT_ARRAY || mp_get_bool(res, "applied", &applied) != 0 ||
        raftctl_opt_u64(res, "lower_bound", &lb, &has_lb) != 0) {
        rc = raftctl_bad_reply("rebalance", &out, "a valid \"moves\" array and \"applied\"");
    } else if ((rc = moves_parse(list, &rows)) != 0) {
        if (rc == -2) {
            raftctl_errf("rebalance: out of memory reading %u moves", (unsigned)list->via.array.size);
            rc = RAFTCTL_EXIT_FAILED;
        } else {
            rc = raftctl_bad_reply("rebalance", &out, "a project, from and to in every move");
        }
    } else {
        size_t n = list->via.array.size;
        if (want_progress && applied && n > 0 && poller.last_applied != (uint64_t)n + 1) {
            struct rebalance_progress done = {false, n, n, 0};
            char line[160];
            raftctl_progress_format(&done, line, sizeof line);
            fprintf(stderr, "raftctl: %s\n", line);
        }
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
    static const char *const head[] = {"INDEX", "TERM", "TIME", "PROJECT", "FROM", "TO", "EPOCH", "REASON", "BY"};
    const msgpack_object *list = out->reply.result;
    struct raftctl_table t;
    int rc = 0;

    raftctl_table_init(&t, 9, head);
    for (uint32_t i = 0; i < list->via.array.size; i++) {
        const msgpack_object *o = &list->via.array.ptr[i];
        uint64_t index, term, time_ms, epoch, from, to;
        bool has_from, has_to;
        const char *p, *r, *b = NULL;
        size_t plen, rlen, blen = 0;
        char sindex[24], sterm[24], stime[40], sfrom[24], sto[24], sepoch[24];
        char *project, *reason, *by;

        if (mp_get_u64(o, "index", &index) != 0 || mp_get_u64(o, "term", &term) != 0 ||
            mp_get_u64(o, "time_ms", &time_ms) != 0 || mp_get_str(o, "project", &p, &plen) != 0 ||
            raftctl_opt_u64(o, "from", &from, &has_from) != 0 || raftctl_opt_u64(o, "to", &to, &has_to) != 0 ||
            mp_get_u64(o, "epoch", &epoch) != 0 || raftctl_opt_str(o, "reason", &r, &rlen) != 0) {
            raftctl_errf("history: entry %u from %s lacks a valid index, term, time_ms, project, from, to, epoch or "
                         "reason; is raftctl older or newer than raftnode?",
                         i, out->endpoint);
            rc = RAFTCTL_EXIT_FAILED;
            break;
        }
        (void)raftctl_opt_str(o, "by", &b, &blen); /* absent (older raftnode) or nil: automatic/unknown */
        project = strndup(p, plen);
        reason = r != NULL ? strndup(r, rlen) : NULL;
        by = b != NULL ? strndup(b, blen) : NULL;
        const char *row[] = {raftctl_u64_str(index, sindex, sizeof sindex), raftctl_u64_str(term, sterm, sizeof sterm),
                             iso_time(time_ms, stime, sizeof stime), project,
                             has_from && from != 0 ? raftctl_u64_str(from, sfrom, sizeof sfrom) : NULL,
                             has_to && to != 0 ? raftctl_u64_str(to, sto, sizeof sto) : NULL,
                             raftctl_u64_str(epoch, sepoch, sizeof sepoch), reason, by};
        if (project == NULL || (r != NULL && reason == NULL) || (b != NULL && by == NULL)) {
            raftctl_errf("history: out of memory formatting the table");
            rc = RAFTCTL_EXIT_FAILED;
        } else {
            raftctl_table_add(&t, row);
        }
        free(project);
        free(reason);
        free(by);
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

/* audit: INDEX TIME BY METHOD DETAIL, one row per admin write request. */
static int audit_table(const struct client_sync_reply *out)
{
    static const char *const head[] = {"INDEX", "TIME", "BY", "METHOD", "DETAIL"};
    static const char *const keys[] = {"by", "method", "detail"};
    const msgpack_object *list = out->reply.result;
    struct raftctl_table t;
    int rc = 0;

    raftctl_table_init(&t, 5, head);
    for (uint32_t i = 0; i < list->via.array.size && rc == 0; i++) {
        const msgpack_object *o = &list->via.array.ptr[i];
        uint64_t index, time_ms;
        char sindex[24], stime[40], *text[3] = {NULL, NULL, NULL};

        rc = mp_get_u64(o, "index", &index) != 0 || mp_get_u64(o, "time_ms", &time_ms) != 0;
        for (size_t k = 0; k < 3 && rc == 0; k++) {
            const char *v;
            size_t n;
            rc = mp_get_str(o, keys[k], &v, &n) != 0 || (text[k] = strndup(v, n)) == NULL;
        }
        if (rc == 0) {
            const char *row[] = {raftctl_u64_str(index, sindex, sizeof sindex), iso_time(time_ms, stime, sizeof stime),
                                 text[0], text[1], text[2]};
            raftctl_table_add(&t, row);
        } else {
            raftctl_errf("audit: entry %u from %s lacks a valid index, time_ms, by, method or detail (or out of "
                         "memory); is raftctl older or newer than raftnode?", i, out->endpoint);
            rc = RAFTCTL_EXIT_FAILED;
        }
        for (size_t k = 0; k < 3; k++) {
            free(text[k]);
        }
    }
    if (rc == 0) {
        rc = raftctl_table_print(&t);
    }
    raftctl_table_free(&t);
    return rc;
}

/* history and audit: the newest --limit rows, as JSON or through TABLE. */
static int read_rows(struct raftctl_ctx *ctx, const char *method, int (*table)(const struct client_sync_reply *))
{
    struct owner_args a = {0};
    struct client_sync_reply out;
    const char *limit = raftctl_args_opt(&ctx->args, "limit");
    int rc;

    a.name = raftctl_args_opt(&ctx->args, "project");
    a.consistent = ctx->args.consistent;
    if (limit != NULL) {
        if (raftctl_parse_count(limit, &a.limit) != 0) { /* validated by the parser already */
            raftctl_errf("%s: --limit '%s' is not a number", method, limit);
            return RAFTCTL_EXIT_USAGE;
        }
        a.has_limit = true;
    }
    rc = raftctl_request(ctx, a.consistent ? RAFTCTL_READ_LEADER : RAFTCTL_READ, method, pack_history, &a, &out);
    if (rc != PROTO_OK) {
        rc = raftctl_read_failed(ctx, method, &out);
    } else if (!raftctl_is_array_result(&out)) {
        rc = raftctl_bad_reply(method, &out, "an array");
    } else if (ctx->args.format == RAFTCTL_FORMAT_JSON) {
        rc = raftctl_json_print(raftctl_mp_to_json(out.reply.result, 0)); /* the rows as the server gives them */
    } else {
        rc = table(&out);
    }
    client_sync_reply_free(&out);
    return rc;
}

int raftctl_cmd_history(struct raftctl_ctx *ctx)
{
    return read_rows(ctx, "history", history_table);
}

int raftctl_cmd_audit(struct raftctl_ctx *ctx)
{
    return read_rows(ctx, "audit", audit_table);
}
