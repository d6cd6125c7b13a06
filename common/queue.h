/* queue: an intrusive circular doubly-linked list, in the style of libuv's and raft's
 * QUEUE macros. A queue is `void *q[2]`; an element embeds one and is recovered with
 * QUEUE_DATA (container-of).
 *
 * Owns: nothing (elements are embedded in their owners). Calls: nothing. */
#ifndef COMMON_QUEUE_H
#define COMMON_QUEUE_H

#include <stddef.h>

typedef void *queue[2];

#define QUEUE_NEXT(q) (*(queue **)&((*(q))[0]))
#define QUEUE_PREV(q) (*(queue **)&((*(q))[1]))
#define QUEUE_PREV_NEXT(q) (QUEUE_NEXT(QUEUE_PREV(q)))
#define QUEUE_NEXT_PREV(q) (QUEUE_PREV(QUEUE_NEXT(q)))
#define QUEUE_DATA(ptr, type, field) ((type *)((char *)(ptr) - offsetof(type, field)))
#define QUEUE_INIT(q) do { QUEUE_NEXT(q) = (q); QUEUE_PREV(q) = (q); } while (0)
#define QUEUE_IS_EMPTY(q) ((const queue *)(q) == (const queue *)QUEUE_NEXT(q))
#define QUEUE_HEAD(q) (QUEUE_NEXT(q))
#define QUEUE_FOREACH(q, h) for ((q) = QUEUE_NEXT(h); (q) != (h); (q) = QUEUE_NEXT(q))
#define QUEUE_PUSH(h, q) do { QUEUE_NEXT(q) = (h); QUEUE_PREV(q) = QUEUE_PREV(h); \
        QUEUE_PREV_NEXT(q) = (q); QUEUE_PREV(h) = (q); } while (0)
#define QUEUE_REMOVE(q) do { QUEUE_PREV_NEXT(q) = QUEUE_NEXT(q); \
        QUEUE_NEXT_PREV(q) = QUEUE_PREV(q); } while (0)

#endif
