/* raftctl_cmd_autopilot: `autopilot status` (docs/operations-autopilot.md, method
 * autopilot.status), like `consul operator autopilot state`: the leader's view of the
 * cluster's health, its failure tolerance, and per member the role, health, last contact,
 * match index and lag, and how long it has been stable. Only the leader answers (others
 * redirect). JSON: the reply as the leader sent it. */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "common/mp.h"
#include "common/proto.h"
#include "raftctl_call.h"
#include "raftctl_cmd.h"
#include "raftctl_output.h"

/* "-" for a missing or nil number, else V (with SUFFIX). */
static const char *opt_u64(const msgpack_object *o, const char *key, const char *suffix, char *buf, size_t cap)
{
    uint64_t v;
    if (mp_get_u64(o, key, &v) != 0) {
        return NULL;
    }
    snprintf(buf, cap, "%" PRIu64 "%s", v, suffix);
    return buf;
}

static int str_field(const msgpack_object *o, const char *key, char *buf, size_t cap)
{
    const char *s;
    size_t len;
    if (mp_get_str(o, key, &s, &len) != 0) {
        return -1;
    }
    snprintf(buf, cap, "%.*s", (int)len, s);
    return 0;
}

static int print_members(const msgpack_object *members)
{
    static const char *const headers[] = {"ID", "ADDRESS", "ROLE", "HEALTH", "LAST CONTACT", "MATCH INDEX", "LAG",
                                          "STABLE FOR"};
    struct raftctl_table t;
    raftctl_table_init(&t, 8, headers);
    for (uint32_t i = 0; i < members->via.array.size; i++) {
        const msgpack_object *m = &members->via.array.ptr[i];
        char id[24], addr[300], role[16], health[16], contact[32], match[24], lag[24], stable[32];
        if (m->type != MSGPACK_OBJECT_MAP || opt_u64(m, "id", "", id, sizeof id) == NULL ||
            str_field(m, "address", addr, sizeof addr) != 0 || str_field(m, "role", role, sizeof role) != 0 ||
            str_field(m, "health", health, sizeof health) != 0) {
            raftctl_table_free(&t);
            return -1;
        }
        const char *cells[] = {id,
                               addr,
                               role,
                               health,
                               opt_u64(m, "last_contact_ms", " ms ago", contact, sizeof contact),
                               opt_u64(m, "match_index", "", match, sizeof match),
                               opt_u64(m, "lag", "", lag, sizeof lag),
                               opt_u64(m, "stable_ms", " ms", stable, sizeof stable)};
        raftctl_table_add(&t, cells);
    }
    int rc = raftctl_table_print(&t);
    raftctl_table_free(&t);
    return rc;
}

static int print_text(const msgpack_object *res)
{
    const msgpack_object *members = mp_get(res, "members"), *last = mp_get(res, "last_action");
    uint64_t leader, tolerance, voters, healthy_voters, target, dead_ms;
    bool healthy, cleanup;
    char buf[320];

    if (members == NULL || members->type != MSGPACK_OBJECT_ARRAY || mp_get_bool(res, "healthy", &healthy) != 0 ||
        mp_get_u64(res, "leader_id", &leader) != 0 || mp_get_u64(res, "failure_tolerance", &tolerance) != 0 ||
        mp_get_u64(res, "voters", &voters) != 0 || mp_get_u64(res, "healthy_voters", &healthy_voters) != 0 ||
        mp_get_u64(res, "target_voters", &target) != 0 || mp_get_u64(res, "dead_member_timeout_ms", &dead_ms) != 0 ||
        mp_get_bool(res, "cleanup_dead_members", &cleanup) != 0) {
        return -1;
    }
    printf("Healthy:            %s\n", healthy ? "true" : "false");
    printf("Failure tolerance:  %" PRIu64 "\n", tolerance);
    printf("Leader:             %" PRIu64 "\n", leader);
    printf("Voters:             %" PRIu64 " (%" PRIu64 " healthy; autopilot keeps %" PRIu64 ")\n", voters,
           healthy_voters, target);
    printf("Dead after:         %" PRIu64 " ms without contact (cleanup of dead members: %s)\n", dead_ms,
           cleanup ? "on" : "off");
    if (last != NULL && last->type == MSGPACK_OBJECT_MAP) {
        char action[16] = "?", reason[160] = "", result[64] = "";
        uint64_t id = 0, ago = 0;
        (void)str_field(last, "action", action, sizeof action);
        (void)str_field(last, "reason", reason, sizeof reason);
        (void)str_field(last, "result", result, sizeof result);
        (void)mp_get_u64(last, "id", &id);
        (void)mp_get_u64(last, "ago_ms", &ago);
        snprintf(buf, sizeof buf, "%s member %" PRIu64 " (%s), %" PRIu64 " ms ago: %s", action, id, reason, ago,
                 result);
    } else {
        snprintf(buf, sizeof buf, "none by this leader");
    }
    printf("Last action:        %s\n", buf);
    return print_members(members);
}

int raftctl_cmd_autopilot_status(struct raftctl_ctx *ctx)
{
    struct client_sync_reply out;
    int rc = raftctl_request(ctx, RAFTCTL_READ_LEADER, "autopilot.status", NULL, NULL, &out);

    if (rc != PROTO_OK) {
        rc = out.reply.status == PROTO_UNAVAILABLE ? raftctl_report_unavailable(ctx, "autopilot status", &out)
                                                   : raftctl_report_refused("autopilot status", &out.reply);
        client_sync_reply_free(&out);
        return rc;
    }
    const msgpack_object *res = out.reply.result;
    if (res == NULL || res->type != MSGPACK_OBJECT_MAP) {
        rc = -1;
    } else if (ctx->args.format == RAFTCTL_FORMAT_JSON) {
        rc = raftctl_json_print(raftctl_mp_to_json(res, 0));
    } else {
        rc = print_text(res);
    }
    if (rc == -1) {
        raftctl_errf("autopilot status: the reply from %s is not the expected map; is raftctl older or newer than "
                     "raftnode?", out.endpoint);
        rc = RAFTCTL_EXIT_FAILED;
    }
    client_sync_reply_free(&out);
    return rc;
}
