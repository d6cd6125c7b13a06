/* raftctl_progress: the progress line of `raftctl rebalance` on stderr,
 *   raftctl: rebalance: 1,024 of 5,000 moves applied
 * The leader applies a rebalance in slices (docs/protocol.md, rebalance) and answers only
 * when every move has its result; while the main thread waits for that reply, a second thread
 * asks the leader for "rebalance.status" every RAFTCTL_PROGRESS_INTERVAL_MS on its own
 * connection (its own private loop: client_call_leader) and prints a line when the applied
 * count changed. Shown when stderr is a terminal or with --progress; never on stdout, so
 * -w json output is unchanged.
 *
 * Owns: the poller thread (started and joined here). Calls: common/client.h, libc, pthreads. */
#ifndef TOOLS_RAFTCTL_PROGRESS_H
#define TOOLS_RAFTCTL_PROGRESS_H

#include <msgpack.h>
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/client.h"

#define RAFTCTL_PROGRESS_INTERVAL_MS 500
#define RAFTCTL_PROGRESS_MAX_POLLS 172800UL /* a day: the loop's bound */

/* A "rebalance.status" result. */
struct rebalance_progress {
    bool running;
    uint64_t planned, applied, failed;
};

/* Parses RESULT ({"running", "planned", "applied", "failed"}). 0, or -1 when a field is
 * missing or of another type, or applied + failed exceeds planned. */
int raftctl_progress_parse(const msgpack_object *result, struct rebalance_progress *out);

/* V with a comma every three digits ("5,000") in BUF (CAP >= 27 holds any uint64). BUF. */
const char *raftctl_thousands(uint64_t v, char *buf, size_t cap);

/* "rebalance: 1,024 of 5,000 moves applied" (", 3 refused" appended when P->failed > 0),
 * without a newline, in BUF. */
void raftctl_progress_format(const struct rebalance_progress *p, char *buf, size_t cap);

struct raftctl_poller {
    pthread_t thread;            /* private */
    pthread_mutex_t lock;        /* private: guards stop */
    pthread_cond_t wake;         /* private */
    bool stop;                   /* private */
    bool started;                /* read-only */
    char endpoints[8][CLIENT_ENDPOINT_MAX]; /* private: tried in turn, a failed one skipped */
    size_t n_endpoints;
    unsigned timeout_ms;         /* private: per poll */
    uint64_t last_applied;       /* private: the count last printed (+1; 0 = none yet) */
    uint64_t polls, lines;       /* read-only after stop: polls answered, lines printed */
};

/* Starts polling ENDPOINTS (N of them; the first 8 are used) every RAFTCTL_PROGRESS_INTERVAL_MS.
 * 0, or -1 when the thread could not start (nothing to stop then; the caller goes on
 * without progress). */
int raftctl_poller_start(struct raftctl_poller *p, const char (*endpoints)[CLIENT_ENDPOINT_MAX], size_t n,
                         unsigned timeout_ms);
/* Stops and joins the thread (a poll in flight ends within its timeout). Idempotent. */
void raftctl_poller_stop(struct raftctl_poller *p);

#endif
