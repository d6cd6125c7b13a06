/* image: the mirror's memory of the metastore tables (see image.h). */
#include "metastore/image.h"

#include <stdlib.h>
#include <string.h>

#define IMAGE_MIN_CAP 64

static uint64_t hash_name(const char *name, size_t len)
{
    uint64_t h = 0xcbf29ce484222325ULL; /* FNV-1a */
    for (size_t i = 0; i < len; i++) {
        h = (h ^ (unsigned char)name[i]) * 0x100000001b3ULL;
    }
    return h;
}

static void free_engines(struct view_engine *e, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(e[i].identity);
    }
    free(e);
}

static void free_members(struct image_member *m, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        for (size_t c = 0; c < SQL_MEMBER_COLS; c++) {
            free(m[i].vals[c]);
        }
    }
    free(m);
}

void image_clear_rows(struct image *img)
{
    for (size_t i = 0; i < img->cap; i++) {
        free(img->slots[i].name);
    }
    free(img->slots);
    img->slots = NULL;
    img->cap = 0;
    img->n = 0;
}

void image_next_gen(struct image *img)
{
    if (++img->gen == 0) { /* wrapped (after 2^32 batches): no old mark may look current */
        for (size_t i = 0; i < img->cap; i++) {
            img->slots[i].seen = 0;
        }
        img->gen = 1;
    }
}

void image_reset(struct image *img)
{
    image_clear_rows(img);
    free_engines(img->engines, img->n_engines);
    free(img->reason);
    free(img->maint_owner);
    free_members(img->members, img->n_members);
    memset(img, 0, sizeof *img);
}

/* The slot holding NAME, or the free slot where it would go. CAP > N always. */
static size_t probe(const struct image *img, const char *name, size_t len, uint64_t h)
{
    size_t mask = img->cap - 1;
    size_t i = (size_t)h & mask;
    while (img->slots[i].name != NULL &&
           !(img->slots[i].hash == h && img->slots[i].len == len && memcmp(img->slots[i].name, name, len) == 0)) {
        i = (i + 1) & mask;
    }
    return i;
}

struct image_row *image_find(const struct image *img, const char *name, size_t len)
{
    if (img->cap == 0) {
        return NULL;
    }
    size_t i = probe(img, name, len, hash_name(name, len));
    return img->slots[i].name != NULL ? &img->slots[i] : NULL;
}

/* Doubles the table (load factor kept at or below 1/2). 0 or -1. */
static int grow(struct image *img)
{
    size_t cap = img->cap == 0 ? IMAGE_MIN_CAP : img->cap * 2;
    struct image_row *slots = calloc(cap, sizeof *slots);
    if (slots == NULL) {
        return -1;
    }
    struct image old = {.slots = img->slots, .cap = img->cap};
    img->slots = slots;
    img->cap = cap;
    for (size_t i = 0; i < old.cap; i++) {
        if (old.slots[i].name != NULL) {
            img->slots[probe(img, old.slots[i].name, old.slots[i].len, old.slots[i].hash)] = old.slots[i];
        }
    }
    free(old.slots);
    return 0;
}

struct image_row *image_put(struct image *img, const char *name, size_t len, uint64_t owner, uint64_t epoch,
                            int64_t mvcc)
{
    uint64_t h = hash_name(name, len);
    if ((img->n + 1) * 2 > img->cap && grow(img) != 0) {
        return NULL;
    }
    struct image_row *r = &img->slots[probe(img, name, len, h)];
    if (r->name == NULL) {
        char *copy = malloc(len + 1);
        if (copy == NULL) {
            return NULL;
        }
        memcpy(copy, name, len);
        copy[len] = '\0';
        memset(r, 0, sizeof *r);
        r->name = copy;
        r->len = len;
        r->hash = h;
        img->n++;
    }
    r->owner = owner;
    r->epoch = epoch;
    r->mvcc = mvcc;
    return r;
}

void image_remove(struct image *img, const char *name, size_t len)
{
    if (img->cap == 0) {
        return;
    }
    size_t mask = img->cap - 1;
    size_t i = probe(img, name, len, hash_name(name, len));
    if (img->slots[i].name == NULL) {
        return;
    }
    free(img->slots[i].name);
    img->slots[i].name = NULL;
    img->n--;
    /* Backward-shift deletion: move later rows of the probe run into the hole when their
     * home slot is not between the hole and them (no tombstones to clean up later). */
    size_t hole = i;
    for (size_t j = (i + 1) & mask; img->slots[j].name != NULL; j = (j + 1) & mask) {
        size_t home = (size_t)img->slots[j].hash & mask;
        bool stays = hole <= j ? (hole < home && home <= j) : (hole < home || home <= j);
        if (!stays) {
            img->slots[hole] = img->slots[j];
            img->slots[j].name = NULL;
            hole = j;
        }
    }
}

static char *dup_or_empty(const char *s)
{
    return strdup(s != NULL ? s : "");
}

int image_set_context(struct image *img, const struct view_engine *engines, size_t n_engines, bool maintenance,
                      const char *reason, const char *maint_owner)
{
    free_engines(img->engines, img->n_engines);
    free(img->reason);
    free(img->maint_owner);
    img->engines = NULL;
    img->n_engines = 0;
    img->maintenance = maintenance;
    img->reason = dup_or_empty(reason);
    img->maint_owner = dup_or_empty(maint_owner);
    struct view_engine *e = calloc(n_engines > 0 ? n_engines : 1, sizeof *e);
    if (img->reason == NULL || img->maint_owner == NULL || e == NULL) {
        free(e);
        return -1;
    }
    for (size_t i = 0; i < n_engines; i++) {
        e[i] = engines[i];
        e[i].identity = dup_or_empty(engines[i].identity);
        if (e[i].identity == NULL) {
            free_engines(e, i);
            return -1;
        }
    }
    img->engines = e;
    img->n_engines = n_engines;
    return 0;
}

int image_set_members(struct image *img, const struct image_member *rows, size_t n)
{
    free_members(img->members, img->n_members);
    img->members = NULL;
    img->n_members = 0;
    struct image_member *m = calloc(n > 0 ? n : 1, sizeof *m);
    if (m == NULL) {
        return -1;
    }
    for (size_t i = 0; i < n; i++) {
        m[i].id = rows[i].id;
        for (size_t c = 0; c < SQL_MEMBER_COLS; c++) {
            if (rows[i].vals[c] != NULL && (m[i].vals[c] = strdup(rows[i].vals[c])) == NULL) {
                free_members(m, i + 1);
                return -1;
            }
        }
    }
    img->members = m;
    img->n_members = n;
    return 0;
}
