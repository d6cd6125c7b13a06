/* removal: a member that learns it was removed stops itself (see removal.h for how it learns
 * and what it cannot learn). */
#include "removal.h"

#include <stdio.h>
#include <string.h>

#include "common/log.h"
#include "common/mp.h"
#include "common/proto.h"
#include "marker.h"
#include "membership.h"
#include "node.h"

#define REMOVAL_CHECK_EVERY_MS 2000
#define REMOVAL_TIMEOUTS_BEFORE_ASKING 3

int removal_refuse_start(uint64_t id, const char *data_dir)
{
    char text[1024], err[256];
    int rv = marker_read(data_dir, REMOVAL_MARKER, text, sizeof text, err, sizeof err);

    if (rv == 0) {
        return 0;
    }
    if (rv < 0) {
        log_error("%s; cannot tell whether member %llu was removed from the cluster: fix the file's "
                  "permissions", err, (unsigned long long)id);
        return -1;
    }
    text[strcspn(text, "\n")] = '\0';
    log_error("REMOVED: member %llu was removed from the cluster and does not start again on its old data "
              "(%s/%s: %s). To bring this host back: wipe %s, then start it with raft.join=<API address of "
              "a member> (or have it added with raftctl member add)", (unsigned long long)id, data_dir,
              REMOVAL_MARKER, text, data_dir);
    return 1;
}

static void stop_removed(struct node *n, const char *why)
{
    char text[1024], err[256];
    const struct config *c = n->cfg;

    log_error("REMOVED: member %llu was removed from the cluster (%s); stopping with exit status %d. Its data "
              "directory %s is stale: wipe it before this host joins again with raft.join",
              (unsigned long long)c->node_id, why, REMOVAL_EXIT_STATUS, c->data_dir);
    snprintf(text, sizeof text, "%s\n", why);
    if (marker_write(c->data_dir, REMOVAL_MARKER, text, err, sizeof err) != 0) {
        log_warn("could not record the removal: %s", err);
    }
    node_stop(n, REMOVAL_EXIT_STATUS);
}

static void check_done(struct node *n, int status, const char *code, const char *message)
{
    if (status != 0 && code != NULL && strcmp(code, PROTO_CODE_REMOVED) == 0) {
        if (n->phase == NODE_RUNNING) {
            stop_removed(n, message);
        }
        return;
    }
    log_debug("member.check: %s", status == 0 ? "still a member" : message);
}

/* The API address of the NEXT-th place to ask (the configuration's other members, then
 * raft.join) into API. false when that place has no known address. */
static bool endpoint(struct node *n, unsigned next, char *api, size_t cap)
{
    const struct raft_configuration *conf = &n->raft.configuration;
    if (next < conf->n) {
        uint64_t id = conf->servers[next].id;
        return id != n->cfg->node_id && store_member_api(&n->store, id, api, cap) == 1;
    }
    snprintf(api, cap, "%s", n->cfg->join);
    return api[0] != '\0';
}

static void ask_leader(struct node *n, const struct removal *m)
{
    char api[CONFIG_ADDR_MAX];
    unsigned places = n->raft.configuration.n + 1;
    msgpack_sbuffer sbuf;
    msgpack_packer pk;

    for (unsigned tries = 0; tries < places; tries++) {
        unsigned next = n->removal.next_endpoint++ % places;
        if (!endpoint(n, next, api, sizeof api)) {
            continue;
        }
        msgpack_sbuffer_init(&sbuf);
        msgpack_packer_init(&pk, &sbuf, msgpack_sbuffer_write);
        msgpack_pack_map(&pk, 3);
        mp_pack_kv_u64(&pk, "id", n->cfg->node_id);
        mp_pack_kv_u64(&pk, "term", raft_current_term(&n->raft));
        mp_pack_kv_u64(&pk, "listed_index", m->seen_index);
        log_debug("no leader heard from for %llu ms: asking %s whether this member is still in the cluster",
                  (unsigned long long)(uv_now(n->loop) - m->leaderless_since_ms), api);
        (void)peer_call(&n->peer, api, "member.check", sbuf.data, sbuf.size, REMOVAL_CHECK_EVERY_MS, check_done);
        msgpack_sbuffer_destroy(&sbuf);
        return;
    }
}

void removal_tick(struct node *n)
{
    struct removal *m = &n->removal;
    struct raft *r = &n->raft;
    raft_index latest = r->configuration_uncommitted_index != 0 ? r->configuration_uncommitted_index
                                                                  : r->configuration_committed_index;
    bool listed = membership_find(r, n->cfg->node_id) != NULL;
    uint64_t now = uv_now(n->loop);
    uint64_t patience = REMOVAL_TIMEOUTS_BEFORE_ASKING * (uint64_t)n->cfg->election_timeout_ms;
    raft_id leader;
    const char *addr;
    char why[256];

    if (listed && latest > m->seen_index) {
        m->seen_index = latest;
    }
    if (!listed && m->seen_index != 0 && r->configuration_uncommitted_index == 0 &&
        r->configuration_committed_index > m->seen_index) {
        snprintf(why, sizeof why, "the committed configuration at index %llu no longer lists it",
                 (unsigned long long)r->configuration_committed_index);
        stop_removed(n, why);
        return;
    }
    raft_leader(r, &leader, &addr);
    /* A non-voter keeps the last leader's id for ever: it goes by when it last heard from it. */
    bool heard = raft_state(r) == RAFT_LEADER ||
                 (leader != 0 && (r->election_timer_start >= now || now - r->election_timer_start < patience));
    if (heard || (!listed && n->cfg->join[0] != '\0')) { /* joining: membership.c's job */
        m->leaderless_since_ms = 0;
        return;
    }
    if (m->leaderless_since_ms == 0) {
        m->leaderless_since_ms = now;
    }
    if (now - m->leaderless_since_ms < patience || now < m->next_check_ms || n->peer.busy) {
        return;
    }
    m->next_check_ms = now + REMOVAL_CHECK_EVERY_MS;
    ask_leader(n, m);
}
