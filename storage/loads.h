/* loads: what the leader's placement reads from the store without visiting every project
 * (raftnode/scheduler_core.c, DESIGN.md "Placement"):
 *   - per-engine project counts, kept exact by TEMP triggers on this connection's projects
 *     table, so reading them costs O(engines) instead of a count over every project;
 *   - the projects that need an owner (none, or an owner that cannot keep them), found through
 *     the projects_by_owner index, so reading them costs O(k log P) for k such projects, or
 *     only the first few of them when no project is pinned (a count the triggers also keep).
 *
 * The counts live in the connection's TEMP schema: never in the database file, the snapshot
 * image (sqlite3_serialize of "main") or the state digest (hash.c reads main's sqlite_schema),
 * so members with and without them stay byte-identical. The triggers run inside each apply's
 * transaction and in the statement or savepoint a refused command's change is undone with, so
 * it is undone in the counts too. A restore (snapshot install) replaces main's pages without
 * running triggers; a trigger on meta.applied_index notices that the index it last saw is not
 * the one the next apply starts from, and the counts are then recounted (O(P), once) before
 * they are used. The tracking is installed on first use (on the leader), and then maintained
 * on every apply.
 *
 * Same thread rules as store.h: the loop thread only, between applies. Every function returns
 * 0 or -1 (s->errmsg says why). */
#ifndef STORAGE_LOADS_H
#define STORAGE_LOADS_H

#include <stddef.h>
#include <stdint.h>

#include "storage/store.h"

/* Projects owned by one engine id (which may have no engines row). */
struct store_load {
    uint64_t engine;
    uint64_t projects;
};

/* Every owner id with at least one project, ordered by id; malloc'd array (free()). */
int store_loads(struct store *s, struct store_load **out, size_t *n);

/* As store_load_engines (engines ordered by id, malloc'd, free()), with each engine's
 * `projects` from the tracked counts. */
int store_loads_engines(struct store *s, struct store_engine **out, size_t *n);

/* The projects without an owner (when UNOWNED) and those owned by one of OWNERS[0..N_OWNERS),
 * ordered by name like store_load_projects; free with store_free_projects.
 * LIMIT > 0 and no project pinned (the triggers count pins): only the first LIMIT by name of
 * each group (the unowned ones, each owner's), so a backlog of k projects costs O(LIMIT log P)
 * per call, not O(k). Their union holds the first LIMIT of all of them by name, which is all a
 * PLACE plan cut to LIMIT moves needs when nothing is pinned (raftnode/scheduler_core.c). With
 * any project pinned, or LIMIT 0, every one: a pinned project's place counts in the loads
 * every other project is placed by, wherever it sorts. */
int store_load_projects_needing(struct store *s, bool unowned, const uint64_t *owners, size_t n_owners, size_t limit,
                                struct store_project_row **out, size_t *n);

/* Recounts now (O(projects)); for tests and the first use. */
int store_loads_recount(struct store *s);

#endif
