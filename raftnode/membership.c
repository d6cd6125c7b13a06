/* membership: this member's own registration (its API address in the replicated member
 * table; joining a running cluster via raft.join), and the configuration lookups the API
 * handlers share (handlers_member.c drives the configuration changes themselves). */
#include "membership.h"

#include <stdio.h>
#include <string.h>

#include "common/log.h"
#include "common/mp.h"
#include "node.h"
#include "storage/command.h"

#define MEMBERSHIP_RETRY_MS 1000

static uint64_t now_ms(struct node *n)
{
    return uv_now(n->loop);
}

const struct raft_server *membership_find(const struct raft *raft, uint64_t id)
{
    for (unsigned i = 0; i < raft->configuration.n; i++) {
        if (raft->configuration.servers[i].id == id) {
            return &raft->configuration.servers[i];
        }
    }
    return NULL;
}

const char *membership_role_name(int role)
{
    switch (role) {
        case RAFT_VOTER: return "voter";
        case RAFT_STANDBY: return "standby";
        case RAFT_SPARE: return "spare";
        default: return "unknown";
    }
}

/* ---- self registration and join ---- */

static bool self_register_inflight;

static void self_register_done(void *data, uint64_t index, int status, const char *code, const char *message)
{
    struct node *n = data;
    (void)index;
    (void)code;
    self_register_inflight = false;
    if (status != 0) {
        log_warn("recording this member's API address failed: %s", message);
    } else if (n->phase == NODE_RUNNING) {
        log_info("API address %s recorded in the member table", n->cfg->api_address);
    }
}

static bool joining(struct node *n)
{
    return n->cfg->join[0] != '\0' && membership_find(&n->raft, n->cfg->node_id) == NULL;
}

static void peer_done(struct node *n, int status, const char *code, const char *message)
{
    (void)code;
    if (status != 0 && joining(n)) {
        const struct config *c = n->cfg;
        uint64_t waited = now_ms(n) - n->join_since_ms;
        log_warn("waiting to join the cluster through raft.join=%s (member %llu at %s, %llu ms so far%s): "
                 "%s; retrying", c->join, (unsigned long long)c->node_id, c->node_address,
                 (unsigned long long)waited, c->join_timeout_ms != 0 ? ", raft.join-timeout-ms bounds it" : "",
                 message);
        n->register_backoff_until_ms = now_ms(n) + MEMBERSHIP_RETRY_MS;
    } else if (status != 0) {
        log_info("request to the cluster failed (%s); retrying", message);
        n->register_backoff_until_ms = now_ms(n) + MEMBERSHIP_RETRY_MS;
    } else {
        n->register_backoff_until_ms = now_ms(n) + 200;
    }
}

void membership_tick(struct node *n)
{
    char api[CONFIG_ADDR_MAX], leader_api[CONFIG_ADDR_MAX];
    const struct config *c = n->cfg;
    raft_id leader;
    msgpack_sbuffer sbuf;
    msgpack_packer pk;

    if (now_ms(n) < n->register_backoff_until_ms || n->peer.busy || self_register_inflight) {
        return;
    }
    if (membership_find(&n->raft, c->node_id) == NULL) {
        if (c->join[0] == '\0') {
            return;
        }
        if (n->join_since_ms == 0) {
            n->join_since_ms = now_ms(n);
        } else if (c->join_timeout_ms != 0 && now_ms(n) - n->join_since_ms >= c->join_timeout_ms) {
            log_error("gave up joining the cluster: raft.join=%s did not add member %llu (%s) within "
                      "raft.join-timeout-ms=%u; check that it is the raft.api.address of a running member "
                      "and that this member's raft.node.address is reachable from the leader",
                      c->join, (unsigned long long)c->node_id, c->node_address, c->join_timeout_ms);
            node_stop(n, 1);
            return;
        }
        msgpack_sbuffer_init(&sbuf);
        msgpack_packer_init(&pk, &sbuf, msgpack_sbuffer_write);
        msgpack_pack_map(&pk, 3);
        mp_pack_kv_u64(&pk, "id", c->node_id);
        mp_pack_kv_str(&pk, "address", c->node_address);
        mp_pack_kv_str(&pk, "api_address", c->api_address);
        log_info("asking %s to add this member (id %llu, %s)", c->join, (unsigned long long)c->node_id, c->node_address);
        if (peer_call(&n->peer, c->join, "member.join", sbuf.data, sbuf.size, 5000, peer_done) != 0) {
            n->register_backoff_until_ms = now_ms(n) + MEMBERSHIP_RETRY_MS;
        }
        msgpack_sbuffer_destroy(&sbuf);
        n->register_backoff_until_ms = now_ms(n) + MEMBERSHIP_RETRY_MS;
        return;
    }
    if (store_member_api(&n->store, c->node_id, api, sizeof api) == 1 && strcmp(api, c->api_address) == 0) {
        return;
    }
    leader = node_leader(n, leader_api, sizeof leader_api);
    if (leader == 0) {
        return;
    }
    msgpack_sbuffer_init(&sbuf);
    msgpack_packer_init(&pk, &sbuf, msgpack_sbuffer_write);
    if (leader == c->node_id) {
        command_pack_member_set(&pk, c->node_id, c->api_address);
        if (sbuf.data != NULL && proposals_submit(&n->proposals, sbuf.data, sbuf.size, self_register_done, n) == 0) {
            self_register_inflight = true;
        }
    } else if (leader_api[0] != '\0') {
        msgpack_pack_map(&pk, 2);
        mp_pack_kv_u64(&pk, "id", c->node_id);
        mp_pack_kv_str(&pk, "api_address", c->api_address);
        if (peer_call(&n->peer, leader_api, "member.register", sbuf.data, sbuf.size, 3000, peer_done) != 0) {
            n->register_backoff_until_ms = now_ms(n) + MEMBERSHIP_RETRY_MS;
        }
    }
    msgpack_sbuffer_destroy(&sbuf);
}
