/* named: records keyed by an owned name (see named.h). */
#include "common/named.h"

#include <stdlib.h>
#include <string.h>

static char *field(const void *rec, size_t off)
{
    char *s;
    memcpy(&s, (const char *)rec + off, sizeof s);
    return s;
}

static void set_field(void *rec, size_t off, char *s)
{
    memcpy((char *)rec + off, &s, sizeof s);
}

void *named_find(const void *array, size_t n, size_t size, size_t name_off, const char *name)
{
    char *recs;
    memcpy(&recs, array, sizeof recs);
    for (size_t i = 0; i < n; i++) {
        const char *s = field(recs + i * size, name_off);
        if (s != NULL && strcmp(s, name) == 0) {
            return recs + i * size;
        }
    }
    return NULL;
}

void *named_set(void *array, size_t *n, size_t size, size_t name_off, const char *name, size_t value_off,
                const char *value)
{
    char *rec = named_find(array, *n, size, name_off, name);
    char *copy = strdup(value);
    if (copy == NULL) {
        return NULL;
    }
    if (rec == NULL) {
        char *recs;
        memcpy(&recs, array, sizeof recs);
        char *grown = realloc(recs, (*n + 1) * size);
        char *key = strdup(name);
        if (grown != NULL) {
            memcpy(array, &grown, sizeof grown); /* the old block is gone either way */
        }
        if (grown == NULL || key == NULL) {
            free(key);
            free(copy);
            return NULL;
        }
        rec = grown + (*n)++ * size;
        memset(rec, 0, size);
        set_field(rec, name_off, key);
    } else {
        free(field(rec, value_off));
    }
    set_field(rec, value_off, copy);
    return rec;
}

void named_drop(void *array, size_t *n, size_t size, size_t name_off, size_t value_off, const char *name)
{
    char *rec = named_find(array, *n, size, name_off, name);
    if (rec == NULL) {
        return;
    }
    char *recs;
    memcpy(&recs, array, sizeof recs);
    free(field(rec, name_off));
    free(field(rec, value_off));
    char *last = recs + --*n * size;
    if (rec != last) {
        memcpy(rec, last, size);
    }
}
