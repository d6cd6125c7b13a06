/* worker: private to metastore/. The mirror's worker thread (worker.c) and what the loop side
 * (mirror.c) needs of it: the worker's state, its entry point and the clock both use.
 * Everything the two threads share lives in struct mirror_shared (mirror.h), under its lock.
 * Owns: its ms_backend connection, its read-only view of state.db, the image of the tables
 * (image.h), a copy of the raft configuration. Calls: backend.h, sync.h, view.h, image.h. */
#ifndef METASTORE_WORKER_H
#define METASTORE_WORKER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "metastore/backend.h"
#include "metastore/image.h"
#include "metastore/mirror.h"
#include "metastore/view.h"

/* The worker's state: only the worker thread touches it while the thread runs; mirror.c
 * allocates it before the thread starts and frees it after the join. */
struct worker {
    struct mirror *m;
    struct ms_backend b;
    struct view_reader reader;
    bool reader_open;
    bool failing;             /* the last attempt failed (logged once per change) */
    char failing_what[32];    /* "connect" / "batch": logged again when it changes */
    unsigned backoff_ms;
    uint64_t retry_at;        /* mono ms; 0 = now */
    uint64_t last_io;         /* mono ms of the last successful round trip */
    bool prepared;            /* tables checked since the last (re)connect */
    bool verified;            /* a batch ran since the last (re)connect / term change */
    uint64_t done_decision;   /* decision index known to be in the metastore (or fenced) */
    uint64_t done_term;
    uint64_t done_conf;       /* conf_version the last batch used */
    uint64_t peeked_decision; /* the store's decision index read right after a batch */
    bool fenced_logged;
    struct image img;         /* the tables as the last batch left them (sync.h) */
    uint64_t full_at;         /* mono ms of the last full compare of the epoch table */
    /* snapshot of the shared input */
    bool leader;
    uint64_t term;
    uint64_t decision_index;
    uint64_t conf_version;
    struct sync_conf_member *conf;
    size_t n_conf, cap_conf;
};

/* Thread entry (uv_thread_create); ARG is the struct worker. Returns when the shared `stop`
 * is set, after closing its connection and its view. */
void mirror_worker_main(void *arg);

/* CLOCK_MONOTONIC in milliseconds (the worker's deadlines; the loop uses uv_now). */
uint64_t mirror_mono_ms(void);

#endif
