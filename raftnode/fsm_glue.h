/* fsm_glue: fills a struct raft_fsm whose hooks apply entries to the node's store. */
#ifndef RAFTNODE_FSM_GLUE_H
#define RAFTNODE_FSM_GLUE_H

#include <raft.h>

struct node;
void fsm_glue_init(struct raft_fsm *fsm, struct node *n);

#endif
