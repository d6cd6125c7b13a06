/* view: one consistent read of a member's replicated state (state.db) for the metastore
 * mirror, through the worker's OWN read-only SQLite connection: every table is read inside
 * one read transaction, so the projects, engines, maintenance flag and history rows all
 * belong to the same applied index (WAL lets this reader run beside the loop's writer).
 *
 * A read gets every project (view_read), or only those that may have changed since a
 * watermark W (view_read_delta), which relies on how the store writes the projects table
 * (storage/fsm.c, storage/ownership.c): a project is inserted without owner, deleted, or
 * given a new owner and epoch together with a history row naming it at that entry's index;
 * nothing else changes owner or epoch (the pin does not enter the mirror). So a project that
 * changed after W is named in a history row after W, or is new (then it has no owner, or
 * got one: history), or was removed — and the count of projects tells whether any owned
 * project was removed without a trace (the mirror then reads every project after all).
 * tests/unit/test_metastore_image.c holds the store to this.
 *
 * The reads themselves are storage's (storage/reader.h: one function per read, the only
 * place that knows the tables); the schema version is checked at every read so that a
 * layout change fails loudly. This file turns their rows into a view.
 * Used by the mirror's worker thread only. Owns: its store_reader and the view's arrays
 * (view_free). */
#ifndef METASTORE_VIEW_H
#define METASTORE_VIEW_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "storage/reader.h"

struct view_project {
    char *name;
    uint64_t owner; /* engine id, 0 = none */
    uint64_t epoch;
};

struct view_engine {
    uint64_t id;
    char mode[8];
    unsigned weight;
    char *identity; /* Kylin's host:port|startMillis */
    bool alive;
    bool draining;
};

struct view_history {
    uint64_t raft_index, term, time_ms, from, to, epoch; /* from/to 0 = none */
    char *project;
    char reason[16];
};

struct view_member {
    uint64_t id;
    char *api_address; /* "" when not registered */
};

struct view {
    uint64_t applied_index;
    uint64_t decision_index;
    bool maintenance;
    char *maintenance_reason;
    bool complete;                 /* projects holds every project (view_read) */
    struct view_project *projects; /* complete: every project; delta: see view_read_delta;
                                    * by name (byte order) either way */
    size_t n_projects;
    char **gone;                   /* delta: projects named in history after AFTER that no
                                    * longer exist, by name */
    size_t n_gone;
    uint64_t n_all;                /* how many projects the store holds */
    struct view_engine *engines;   /* by id */
    size_t n_engines;
    struct view_history *history;  /* raft_index > the caller's AFTER, in log order */
    size_t n_history;
    struct view_member *members;   /* by id */
    size_t n_members;
    uint64_t history_after;        /* the AFTER history was read with */
};

struct view_reader {
    struct store_reader store; /* private */
    char errmsg[512];          /* read-only */
};

/* Opens PATH read-only. 0 or -1 (errmsg). */
int view_open(struct view_reader *r, const char *path);
void view_close(struct view_reader *r);

/* Reads everything, with the history rows of raft_index > AFTER. 0 or -1 (errmsg; OUT is
 * left empty). */
int view_read(struct view_reader *r, uint64_t after, struct view *out);
/* The same, except for the projects: only those named in the history rows after AFTER
 * (their current row; those that no longer exist in out->gone) and those without an owner,
 * plus out->n_all. Every project not among them has the owner and epoch it had at AFTER,
 * or was removed since (it then had an owner at AFTER, and n_all is smaller than the
 * caller's count expects). Reads O(changes + unowned projects) rows. */
int view_read_delta(struct view_reader *r, uint64_t after, struct view *out);
/* Only meta.decision_index and meta.applied_index (cheap). 0 or -1. */
int view_read_indexes(struct view_reader *r, uint64_t *applied, uint64_t *decision);
void view_free(struct view *v);

/* The engine with id ID in V, or NULL. */
const struct view_engine *view_engine(const struct view *v, uint64_t id);

#endif
