/* raftctl_cluster: member list plus every member's own status (see raftctl_cluster.h). */
#include "raftctl_cluster.h"

#include <stdlib.h>
#include <string.h>

#include "common/mp.h"
#include "common/proto.h"
#include "raftctl_call.h"
#include "raftctl_output.h"

/* Fills M's own-view fields from a status result. 0, or -1 when it is not a status result. */
static int own_status(const msgpack_object *res, struct raftctl_member *m)
{
    if (mp_get_cstr(res, "state", m->state, sizeof m->state) != 0) {
        return -1;
    }
    /* Numbers a member cannot know yet may be absent; the state is what matters. */
    if (mp_get_u64(res, "applied_index", &m->applied_index) == -2 || mp_get_u64(res, "term", &m->term) == -2 ||
        mp_get_u64(res, "commit_index", &m->commit_index) == -2 ||
        mp_get_u64(res, "leader_id", &m->leader_id) == -2) {
        return -1;
    }
    m->reachable = true;
    return 0;
}

/* Copies the member list of a status result into CL. 0, or -1 with ERR set. */
static int parse_members(const msgpack_object *res, struct raftctl_cluster *cl, char *err, size_t errcap)
{
    const msgpack_object *list = mp_get(res, "members");

    if (list == NULL || list->type != MSGPACK_OBJECT_ARRAY) {
        snprintf(err, errcap, "no \"members\" array");
        return -1;
    }
    cl->members = calloc(list->via.array.size > 0 ? list->via.array.size : 1, sizeof *cl->members);
    if (cl->members == NULL) {
        snprintf(err, errcap, "out of memory for %u members", (unsigned)list->via.array.size);
        return -1;
    }
    for (uint32_t i = 0; i < list->via.array.size; i++) {
        const msgpack_object *o = &list->via.array.ptr[i];
        struct raftctl_member *m = &cl->members[i];
        int rc = mp_get_u64(o, "id", &m->id);
        if (rc == 0) {
            rc = mp_get_cstr(o, "address", m->address, sizeof m->address);
        }
        if (rc == 0) {
            rc = mp_get_cstr(o, "role", m->role, sizeof m->role);
        }
        if (rc == 0) {
            rc = mp_get_cstr(o, "api_address", m->api_address, sizeof m->api_address);
            rc = rc == -1 ? 0 : rc; /* absent = not registered yet */
        }
        if (rc != 0) {
            snprintf(err, errcap, "member entry %u lacks a valid id, address, role or api_address", i);
            return -1;
        }
        snprintf(m->state, sizeof m->state, "unavailable");
        cl->n_members++;
    }
    return 0;
}

static bool is_member_api(const struct raftctl_cluster *cl, const char *endpoint)
{
    for (size_t i = 0; i < cl->n_members; i++) {
        if (strcmp(cl->members[i].api_address, endpoint) == 0) {
            return true;
        }
    }
    return false;
}

static struct raftctl_member *member_by_id(struct raftctl_cluster *cl, uint64_t id)
{
    for (size_t i = 0; i < cl->n_members; i++) {
        if (cl->members[i].id == id) {
            return &cl->members[i];
        }
    }
    return NULL;
}

/* Asks every member but the source for its own status, in parallel. The operator's
 * endpoints that are no member's registered API address are asked too: a member whose
 * address is not registered yet (it registers with the leader after it starts) is still
 * found when the operator named it; its reply's "id" says which member it is. */
static int probe_members(struct raftctl_ctx *ctx, struct raftctl_cluster *cl, uint64_t source_id)
{
    size_t cap = cl->n_members + ctx->args.n_endpoints + 1;
    const char **eps = calloc(cap, sizeof *eps);
    struct client_sync_reply *outs = calloc(cap, sizeof *outs);
    struct raftctl_member **which = calloc(cap, sizeof *which); /* NULL = an extra endpoint */
    size_t n = 0;
    int rc = 0;

    if (eps == NULL || outs == NULL || which == NULL) {
        raftctl_errf("out of memory probing %zu members", cl->n_members);
        rc = RAFTCTL_EXIT_FAILED;
        goto out;
    }
    for (size_t i = 0; i < cl->n_members; i++) {
        struct raftctl_member *m = &cl->members[i];
        if (m->id != source_id && m->api_address[0] != '\0' && !raftctl_failed_before(ctx, m->api_address)) {
            eps[n] = m->api_address;
            which[n++] = m;
        }
    }
    for (size_t e = 0; e < ctx->args.n_endpoints; e++) {
        const char *ep = ctx->args.endpoints[e];
        if (strcmp(ep, cl->source) != 0 && !is_member_api(cl, ep) && !raftctl_failed_before(ctx, ep)) {
            eps[n] = ep;
            which[n++] = NULL;
        }
    }
    /* -1 means no loop could be made: every outs[i] then says so and counts as unreachable. */
    (void)client_call_parallel(n, eps, "status", NULL, NULL, ctx->args.timeout_ms, outs);
    for (size_t k = 0; k < n; k++) {
        struct raftctl_member *m = which[k];
        const msgpack_object *res = outs[k].reply.result;
        uint64_t id;
        if (outs[k].reply.status != PROTO_OK || res == NULL) {
            client_sync_reply_free(&outs[k]);
            continue;
        }
        if (m == NULL && mp_get_u64(res, "id", &id) == 0) {
            m = member_by_id(cl, id);
            m = m != NULL && !m->reachable && id != source_id ? m : NULL;
        }
        if (m != NULL && own_status(res, m) != 0) {
            m->reachable = false;
            snprintf(m->state, sizeof m->state, "unavailable");
        }
        client_sync_reply_free(&outs[k]);
    }
out:
    free(eps);
    free(outs);
    free(which);
    return rc;
}

/* The leader's own view if it answered (the highest term wins should two claim it), else
 * the source's view. */
static void pick_leader(struct raftctl_cluster *cl, const struct raftctl_member *source)
{
    const struct raftctl_member *best = NULL;

    for (size_t i = 0; i < cl->n_members; i++) {
        const struct raftctl_member *m = &cl->members[i];
        if (m->reachable && strcmp(m->state, "leader") == 0 && (best == NULL || m->term > best->term)) {
            best = m;
        }
    }
    if (best != NULL) {
        cl->have_leader = true;
        cl->leader_id = best->id;
        cl->term = best->term;
        cl->commit_index = best->commit_index;
        return;
    }
    cl->have_leader = source->leader_id != 0;
    cl->leader_id = source->leader_id;
    cl->term = source->term;
    cl->commit_index = source->commit_index;
}

int raftctl_cluster_load(struct raftctl_ctx *ctx, struct raftctl_cluster *cl, bool quiet)
{
    struct client_sync_reply src;
    struct raftctl_member self;
    uint64_t source_id = 0;
    char err[256];
    int rc;

    memset(cl, 0, sizeof *cl);
    memset(&self, 0, sizeof self);
    rc = raftctl_request(ctx, RAFTCTL_READ, "status", NULL, NULL, &src);
    if (rc == PROTO_UNAVAILABLE) {
        if (!quiet) {
            raftctl_report_unavailable(ctx, "status", &src);
        }
        client_sync_reply_free(&src);
        return RAFTCTL_EXIT_UNAVAILABLE;
    }
    if (rc != PROTO_OK) {
        if (!quiet) {
            raftctl_report_refused("status", &src.reply);
        }
        client_sync_reply_free(&src);
        return RAFTCTL_EXIT_FAILED;
    }
    snprintf(cl->source, sizeof cl->source, "%s", src.endpoint);
    if (src.reply.result == NULL || mp_get_u64(src.reply.result, "id", &source_id) != 0 ||
        own_status(src.reply.result, &self) != 0) {
        snprintf(err, sizeof err, "no id or state");
        rc = -1;
    } else {
        rc = parse_members(src.reply.result, cl, err, sizeof err);
    }
    if (rc != 0) {
        if (!quiet) {
            raftctl_errf("%s answered status with an unexpected result (%s); is raftctl older or newer than "
                         "raftnode?",
                         cl->source, err);
        }
        client_sync_reply_free(&src);
        return RAFTCTL_EXIT_FAILED;
    }
    client_sync_reply_free(&src);
    for (size_t i = 0; i < cl->n_members; i++) {
        if (cl->members[i].id == source_id) {
            struct raftctl_member *m = &cl->members[i];
            memcpy(m->state, self.state, sizeof m->state);
            m->reachable = true;
            m->applied_index = self.applied_index;
            m->term = self.term;
            m->commit_index = self.commit_index;
            m->leader_id = self.leader_id;
        }
    }
    rc = probe_members(ctx, cl, source_id);
    if (rc != 0) {
        return rc;
    }
    pick_leader(cl, &self);
    return 0;
}

void raftctl_cluster_free(struct raftctl_cluster *cl)
{
    free(cl->members);
    cl->members = NULL;
    cl->n_members = 0;
}
