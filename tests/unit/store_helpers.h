/* store_helpers: header-only helpers shared by the storage unit tests: build entries from
 * commands and apply them. Static functions, so every test file stays one translation unit
 * that needs only common/ and storage/ sources. */
#ifndef TESTS_UNIT_STORE_HELPERS_H
#define TESTS_UNIT_STORE_HELPERS_H

#include <msgpack.h>
#include <raft.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/mp.h"
#include "storage/command.h"
#include "storage/store.h"

#define HELPER_MAX_CMDS 4096

/* A batch of packed commands, built up then turned into one entry. */
struct batch {
    msgpack_sbuffer bufs[HELPER_MAX_CMDS];
    unsigned n;
};

static inline msgpack_packer *batch_next(struct batch *b, msgpack_packer *pk)
{
    msgpack_sbuffer_init(&b->bufs[b->n]);
    msgpack_packer_init(pk, &b->bufs[b->n], msgpack_sbuffer_write);
    b->n++;
    return pk;
}

static inline void batch_add(struct batch *b, const char *name)
{
    msgpack_packer pk;
    command_pack_project_add(batch_next(b, &pk), name, strlen(name));
}

/* The follow loop's add (project_add "kylin": true): stored kylin_listed. */
static inline void batch_add_kylin(struct batch *b, const char *name)
{
    msgpack_packer pk;
    command_pack_project_add_kylin(batch_next(b, &pk), name, strlen(name));
}

/* A project_add as written before the case rule: no "nocase" field (storage/command.h). */
static inline void batch_add_legacy(struct batch *b, const char *name)
{
    msgpack_packer pk;
    batch_next(b, &pk);
    msgpack_pack_map(&pk, 2);
    mp_pack_kv_str(&pk, "t", "project_add");
    mp_pack_kv_str(&pk, "name", name);
}

static inline void batch_remove(struct batch *b, const char *name)
{
    msgpack_packer pk;
    command_pack_project_remove(batch_next(b, &pk), name, strlen(name));
}

static inline void batch_member_set(struct batch *b, uint64_t id, const char *api)
{
    msgpack_packer pk;
    command_pack_member_set(batch_next(b, &pk), id, api);
}

static inline void batch_member_forget(struct batch *b, uint64_t id)
{
    msgpack_packer pk;
    command_pack_member_forget(batch_next(b, &pk), id);
}

static inline void batch_engine_set(struct batch *b, uint64_t id, const char *mode, unsigned weight,
                                    const char *identity, bool race_enabled)
{
    msgpack_packer pk;
    command_pack_engine_set(batch_next(b, &pk), id, mode, weight, identity, race_enabled);
}

static inline void batch_heartbeat(struct batch *b, const uint64_t *ids, size_t n)
{
    msgpack_packer pk;
    command_pack_heartbeat(batch_next(b, &pk), ids, n);
}

static inline void batch_engine_dead(struct batch *b, uint64_t id)
{
    msgpack_packer pk;
    command_pack_engine_dead(batch_next(b, &pk), id);
}

static inline void batch_assign(struct batch *b, const char *project, uint64_t from, uint64_t to,
                                const char *reason, uint64_t time_ms)
{
    msgpack_packer pk;
    command_pack_assign(batch_next(b, &pk), project, strlen(project), from, to, reason, time_ms);
}

static inline void batch_drain(struct batch *b, uint64_t id, bool on)
{
    msgpack_packer pk;
    command_pack_drain(batch_next(b, &pk), id, on);
}

static inline void batch_pin(struct batch *b, const char *project, uint64_t engine)
{
    msgpack_packer pk;
    command_pack_pin(batch_next(b, &pk), project, strlen(project), engine);
}

static inline void batch_maintenance(struct batch *b, bool on, const char *reason)
{
    msgpack_packer pk;
    command_pack_maintenance(batch_next(b, &pk), on, reason);
}

static inline void batch_kylin_claimed(struct batch *b, const char *project, uint64_t owner, uint64_t epoch,
                                       const char *identity, int64_t epoch_id)
{
    msgpack_packer pk;
    command_pack_kylin_claimed(batch_next(b, &pk), project, strlen(project), owner, epoch, identity, epoch_id);
}

/* Builds the entry (raft_malloc'd, caller raft_free's) and releases the command buffers. */
static inline int batch_build(struct batch *b, uint64_t term, void **buf, size_t *len)
{
    const void **cmds = calloc(b->n + 1, sizeof *cmds);
    size_t *lens = calloc(b->n + 1, sizeof *lens);
    int rc = -1;
    if (cmds != NULL && lens != NULL) {
        for (unsigned i = 0; i < b->n; i++) {
            cmds[i] = b->bufs[i].data;
            lens[i] = b->bufs[i].size;
        }
        rc = command_entry_build(term, (const void *const *)cmds, lens, b->n, buf, len);
    }
    for (unsigned i = 0; i < b->n; i++) {
        msgpack_sbuffer_destroy(&b->bufs[i]);
    }
    b->n = 0;
    free(cmds);
    free(lens);
    return rc;
}

/* Applies batch B as an entry of TERM at INDEX; returns store_apply's result, OUT filled. */
static inline int batch_apply_term(struct store *s, struct batch *b, uint64_t index, uint64_t term,
                                   struct store_results *out)
{
    void *buf = NULL;
    size_t len = 0;
    if (batch_build(b, term, &buf, &len) != 0) {
        return -2;
    }
    int rc = store_apply(s, index, buf, len, out);
    raft_free(buf);
    return rc;
}

/* Applies batch B at INDEX (term 1); returns store_apply's result, OUT filled. */
static inline int batch_apply(struct store *s, struct batch *b, uint64_t index,
                              struct store_results *out)
{
    return batch_apply_term(s, b, index, 1, out);
}

/* Applies batch B at INDEX (term 1) and checks that the entry decoded and every one of its
 * commands was accepted. NULL, or what went wrong (a static buffer, for the test's failure
 * message). */
static inline const char *batch_apply_all_ok(struct store *s, struct batch *b, uint64_t index)
{
    static char why[512];
    struct store_results r;
    unsigned n = b->n;
    int rc = batch_apply(s, b, index, &r);
    if (rc != 0) {
        snprintf(why, sizeof why, "entry %llu: store_apply failed (%d): %s", (unsigned long long)index, rc, s->errmsg);
        return why;
    }
    why[0] = '\0';
    if (r.entry_status != 0 || r.n != n) {
        snprintf(why, sizeof why, "entry %llu: %u of %u commands, entry status %d: %s", (unsigned long long)index, r.n,
                 n, r.entry_status, r.entry_message);
    }
    for (unsigned i = 0; i < r.n && why[0] == '\0'; i++) {
        if (store_result_refused(&r.cmds[i]) != 0) {
            snprintf(why, sizeof why, "entry %llu: command %u refused: %s", (unsigned long long)index, i,
                     r.cmds[i].message);
        }
    }
    store_results_free(&r);
    return why[0] != '\0' ? why : NULL;
}

/* Applies one project_add of each NULL-terminated name, each in its own entry, starting
 * at *INDEX (advanced). Returns 0 when every command was applied with status 0. */
static inline int apply_adds(struct store *s, uint64_t *index, ...)
{
    static struct batch b; /* large: keep it off the stack */
    va_list ap;
    va_start(ap, index);
    int bad = 0;
    for (const char *name = va_arg(ap, const char *); name != NULL;
         name = va_arg(ap, const char *)) {
        struct store_results r;
        batch_add(&b, name);
        if (batch_apply(s, &b, (*index)++, &r) != 0 || r.n != 1 || store_result_refused(&r.cmds[0]) != 0) {
            bad = 1;
        }
        store_results_free(&r);
    }
    va_end(ap);
    return bad ? -1 : 0;
}

#endif
