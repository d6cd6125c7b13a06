/* peer: requests this node itself sends over the API protocol to another member (join
 * a running cluster, register its API address with the leader). At most one in flight;
 * callers retry from node's tick timer. Built on common/client.h.
 *
 * Owns: the one in-flight request and its connection. Calls: libuv, common/client.h. */
#ifndef RAFTNODE_PEER_H
#define RAFTNODE_PEER_H

#include <stdbool.h>
#include <stddef.h>
#include <uv.h>

struct node;

typedef void (*peer_cb)(struct node *n, int status, const char *code, const char *message);

struct peer {
    struct node *node;   /* read-only */
    bool busy;           /* read-only: a request is in flight */
    void *impl;          /* private */
};

int peer_init(struct peer *p, struct node *n);
void peer_close(struct peer *p);

/* Sends METHOD with ARGS (ARGS_LEN bytes: one packed msgpack map) to ENDPOINT, following
 * not_leader redirects; CB runs once with the outcome (status 3 code "unreachable" when no
 * connection could be made). Returns -1 when busy or closing (CB will not run). */
int peer_call(struct peer *p, const char *endpoint, const char *method, const void *args,
              size_t args_len, unsigned timeout_ms, peer_cb cb);

#endif
