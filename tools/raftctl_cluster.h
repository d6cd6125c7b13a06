/* raftctl_cluster: the cluster as raftctl shows it: the member list of the first member that
 * answers, completed with every member's own status, fetched in parallel on one loop.
 * Used by status, member list, hash and the unavailability report.
 * Owns: struct raftctl_cluster. Calls: common/client.h, raftctl_call.h. */
#ifndef TOOLS_RAFTCTL_CLUSTER_H
#define TOOLS_RAFTCTL_CLUSTER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/client.h"

#define RAFTCTL_ADDR_MAX 256

struct raftctl_ctx;

/* One member as seen by the member that listed it plus its own status. */
struct raftctl_member {
    uint64_t id;
    char address[RAFTCTL_ADDR_MAX];     /* raft address */
    char api_address[RAFTCTL_ADDR_MAX]; /* "" = not registered yet */
    char role[16];
    bool reachable;                     /* it answered its own status */
    char state[16];                     /* its own state, or "unavailable" */
    uint64_t applied_index, term, commit_index, leader_id; /* from its own status */
};

struct raftctl_cluster {
    struct raftctl_member *members; /* malloc'd */
    size_t n_members;
    char source[CLIENT_ENDPOINT_MAX]; /* the endpoint whose member list this is */
    bool have_leader;                 /* leader_id is known */
    uint64_t leader_id, term, commit_index; /* the leader's own view if it answered, else the
                                             * source's */
};

/* Asks the first endpoint that answers for its status (member list), then every member for
 * its own status, in parallel. Returns 0, RAFTCTL_EXIT_FAILED (unexpected answer, message
 * printed) or RAFTCTL_EXIT_UNAVAILABLE (no endpoint answered; message printed unless
 * QUIET). Free with raftctl_cluster_free in every case. */
int raftctl_cluster_load(struct raftctl_ctx *ctx, struct raftctl_cluster *cl, bool quiet);
void raftctl_cluster_free(struct raftctl_cluster *cl);

#endif
