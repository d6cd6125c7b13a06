/* image: the mirror's memory of what the metastore tables hold — the last state its worker
 * wrote or verified — so that a batch compares the few projects that changed with this image
 * instead of reading every row of <prefix>_epoch back from the database (sync.h).
 *
 * Epoch rows are kept in compressed form: per epoch_target the project's owner and epoch
 * (as the store had them) and the row's mvcc, plus ONE context shared by all rows (the
 * engines' identities and modes, the maintenance flag, reason and owner). A row's values
 * in the table are a pure function of (owner, epoch, context) (sync_int.h, epoch_values),
 * so this is the table row for row without 10,000 copies of the same identity strings.
 * Member rows are kept as they were written (a handful).
 *
 * An image is only as good as the claim that nobody else wrote the tables since: it records
 * the sync row (watermark, term, leader) it matches, and sync.c uses it only while the
 * database's sync row still says exactly that (any other mirror's write changes it). Stray
 * writes by non-mirrors (Kylin itself) are found by the periodic full compare (worker.c).
 *
 * Used by the mirror's worker thread only (one image per worker). Owns every string in it.
 * Calls: libc only. */
#ifndef METASTORE_IMAGE_H
#define METASTORE_IMAGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "metastore/sql.h"
#include "metastore/view.h"

/* One epoch row. Slots with name == NULL are free. */
struct image_row {
    char *name;       /* epoch_target (NUL-terminated; project names hold no NUL) */
    size_t len;
    uint64_t hash;
    uint64_t owner;   /* the store's owner engine id, 0 = none */
    uint64_t epoch;   /* the store's epoch */
    int64_t mvcc;     /* the row's mvcc in the table (-1 = NULL) */
    uint32_t seen;    /* = image.gen once the current batch dealt with the row */
};

/* One member row, values in SQL_MEMBER_COLS order (NULL = SQL NULL). */
struct image_member {
    uint64_t id;
    char *vals[SQL_MEMBER_COLS];
};

struct image {
    bool valid;                 /* every field below matches the tables */
    uint64_t index, term, leader; /* the sync row the image matches */
    /* epoch rows: open addressing, linear probing, capacity a power of two */
    struct image_row *slots;
    size_t cap, n;
    uint32_t gen;               /* generation of the current batch's seen marks */
    /* the context every row's values derive from */
    struct view_engine *engines; /* by id; identity owned */
    size_t n_engines;
    bool maintenance;
    char *reason;               /* maintenance reason ("" when none) */
    char *maint_owner;          /* owner written in maintenance mode ("" when off) */
    /* member rows, by id */
    struct image_member *members;
    size_t n_members;
};

/* Frees everything and marks the image invalid (also the initial state: zeroed memory). */
void image_reset(struct image *img);
/* Drops the epoch rows only (the table is about to be rebuilt). */
void image_clear_rows(struct image *img);
/* Starts a new generation of `seen` marks. */
void image_next_gen(struct image *img);

/* The row of NAME (LEN bytes) or NULL. */
struct image_row *image_find(const struct image *img, const char *name, size_t len);
/* Inserts or updates NAME's row; returns it, or NULL when out of memory (the image is then
 * unchanged). Pointers to rows stay valid until the next put or remove. */
struct image_row *image_put(struct image *img, const char *name, size_t len, uint64_t owner, uint64_t epoch,
                            int64_t mvcc);
/* Removes NAME's row, if any. */
void image_remove(struct image *img, const char *name, size_t len);

/* Replaces the context with copies. 0, or -1 when out of memory (the context is then
 * empty: the caller resets the image). */
int image_set_context(struct image *img, const struct view_engine *engines, size_t n_engines, bool maintenance,
                      const char *reason, const char *maint_owner);
/* Replaces the member rows with copies of N rows. 0 or -1 (out of memory, as above). */
int image_set_members(struct image *img, const struct image_member *rows, size_t n);

#endif
