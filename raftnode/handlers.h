/* handlers: the API method table and the handlers for reads and project writes.
 * Membership handlers live in membership.c. */
#ifndef RAFTNODE_HANDLERS_H
#define RAFTNODE_HANDLERS_H

#include <stdbool.h>

#include "api.h"

struct node;

/* True when this member is the leader; otherwise replies with a redirect and returns false. */
bool handlers_require_leader(struct api_req *req);

/* Context for a write waiting on the proposal pipeline: replies {"index", plus NAME if set}. */
struct write_wait {
    struct api_conn *conn; /* referenced */
    uint64_t id;
    char name[256];
};
struct write_wait *write_wait_new(struct api_req *req, const char *name);
/* proposal_done_cb that replies and frees the write_wait. */
void write_wait_done(void *data, uint64_t index, int status, const char *code, const char *message);
/* Submits the packed command in SBUF for REQ; replies itself on failure. */
void handlers_submit(struct api_req *req, msgpack_sbuffer *sbuf, const char *name);

/* One row of a method table: name and handler. Tables end with a NULL name. */
struct handler_method {
    const char *name;
    void (*fn)(struct api_req *req);
};
extern const struct handler_method handlers_ownership[]; /* handlers_ownership.c */
extern const struct handler_method handlers_metastore[]; /* handlers_metastore.c */

void handle_member_add(struct api_req *req);
void handle_member_join(struct api_req *req);
void handle_member_remove(struct api_req *req);
void handle_member_assign(struct api_req *req);
void handle_member_register(struct api_req *req);
void handle_leader_transfer(struct api_req *req);

#endif
