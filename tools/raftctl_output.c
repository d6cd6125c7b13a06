/* raftctl_output: tables, JSON documents and error lines (see raftctl_output.h). */
#include "raftctl_output.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "raftctl_args.h"

void raftctl_errf(const char *fmt, ...)
{
    va_list ap;

    fputs("raftctl: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

const char *raftctl_u64_str(uint64_t v, char *buf, size_t cap)
{
    snprintf(buf, cap, "%llu", (unsigned long long)v);
    return buf;
}

void raftctl_table_init(struct raftctl_table *t, size_t n_cols, const char *const headers[])
{
    memset(t, 0, sizeof *t);
    t->n_cols = n_cols <= RAFTCTL_TABLE_MAX_COLS ? n_cols : RAFTCTL_TABLE_MAX_COLS;
    raftctl_table_add(t, headers);
}

void raftctl_table_add(struct raftctl_table *t, const char *const cells[])
{
    if (t->out_of_memory) {
        return;
    }
    if (t->n_rows == t->cap_rows) {
        size_t cap = t->cap_rows == 0 ? 16 : t->cap_rows * 2;
        char **grown = realloc(t->cells, cap * t->n_cols * sizeof *grown);
        if (grown == NULL) {
            t->out_of_memory = true;
            return;
        }
        t->cells = grown;
        t->cap_rows = cap;
    }
    for (size_t c = 0; c < t->n_cols; c++) {
        char *copy = strdup(cells[c] != NULL ? cells[c] : "-");
        if (copy == NULL) {
            for (size_t k = 0; k < c; k++) {
                free(t->cells[t->n_rows * t->n_cols + k]);
            }
            t->out_of_memory = true;
            return;
        }
        t->cells[t->n_rows * t->n_cols + c] = copy;
    }
    t->n_rows++;
}

int raftctl_table_print(const struct raftctl_table *t)
{
    size_t width[RAFTCTL_TABLE_MAX_COLS] = {0};

    if (t->out_of_memory) {
        raftctl_errf("out of memory building the output table");
        return RAFTCTL_EXIT_FAILED;
    }
    for (size_t r = 0; r < t->n_rows; r++) {
        for (size_t c = 0; c < t->n_cols; c++) {
            size_t len = strlen(t->cells[r * t->n_cols + c]);
            width[c] = len > width[c] ? len : width[c];
        }
    }
    for (size_t r = 0; r < t->n_rows; r++) {
        for (size_t c = 0; c < t->n_cols; c++) {
            const char *cell = t->cells[r * t->n_cols + c];
            if (c + 1 == t->n_cols) {
                printf("%s\n", cell); /* no trailing blanks */
            } else {
                printf("%-*s  ", (int)width[c], cell);
            }
        }
    }
    return 0;
}

void raftctl_table_free(struct raftctl_table *t)
{
    for (size_t i = 0; i < t->n_rows * t->n_cols; i++) {
        free(t->cells[i]);
    }
    free(t->cells);
    memset(t, 0, sizeof *t);
}

int raftctl_json_print(json_t *doc)
{
    int rc;

    if (doc == NULL) {
        raftctl_errf("out of memory building the JSON output");
        return RAFTCTL_EXIT_FAILED;
    }
    rc = json_dumpf(doc, stdout, JSON_COMPACT | JSON_ENCODE_ANY);
    json_decref(doc);
    if (rc != 0 || fputc('\n', stdout) == EOF) {
        raftctl_errf("cannot write the JSON output to standard output: %s", strerror(errno));
        return RAFTCTL_EXIT_FAILED;
    }
    return 0;
}

json_t *raftctl_json_u64(uint64_t v, bool present)
{
    if (!present) {
        return json_null();
    }
    return json_integer(v > (uint64_t)INT64_MAX ? (json_int_t)INT64_MAX : (json_int_t)v);
}

json_t *raftctl_json_strn(const char *s, size_t len)
{
    return s == NULL ? json_null() : json_stringn(s, len);
}

/* A JSON string of S (LEN bytes); bytes that are not valid UTF-8 become '?' rather than
 * losing the whole document. NULL only when out of memory. */
json_t *raftctl_json_str_lossy(const char *s, size_t len)
{
    json_t *j = json_stringn(s, len);
    char *copy;

    if (j != NULL || len == 0) {
        return j != NULL ? j : json_string("");
    }
    copy = malloc(len);
    if (copy == NULL) {
        return NULL;
    }
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        copy[i] = c >= 0x80 || c == 0 ? '?' : (char)c;
    }
    j = json_stringn(copy, len);
    free(copy);
    return j;
}

/* The JSON form of a decoded msgpack value (maps keep their string keys; other keys, binary
 * and extension values, and nesting deeper than RAFTCTL_JSON_MAX_DEPTH are dropped or null). NULL
 * only when out of memory. */
json_t *raftctl_mp_to_json(const msgpack_object *o, int depth)
{
    json_t *j;

    if (depth > RAFTCTL_JSON_MAX_DEPTH) {
        return json_null();
    }
    switch (o->type) {
    case MSGPACK_OBJECT_NIL:
        return json_null();
    case MSGPACK_OBJECT_BOOLEAN:
        return json_boolean(o->via.boolean);
    case MSGPACK_OBJECT_POSITIVE_INTEGER:
        return raftctl_json_u64(o->via.u64, true);
    case MSGPACK_OBJECT_NEGATIVE_INTEGER:
        return json_integer((json_int_t)o->via.i64);
    case MSGPACK_OBJECT_FLOAT32:
    case MSGPACK_OBJECT_FLOAT64:
        return json_real(o->via.f64);
    case MSGPACK_OBJECT_STR:
        return raftctl_json_str_lossy(o->via.str.ptr, o->via.str.size);
    case MSGPACK_OBJECT_ARRAY:
        j = json_array();
        for (uint32_t i = 0; j != NULL && i < o->via.array.size; i++) {
            if (json_array_append_new(j, raftctl_mp_to_json(&o->via.array.ptr[i], depth + 1)) != 0) {
                json_decref(j);
                j = NULL;
            }
        }
        return j;
    case MSGPACK_OBJECT_MAP:
        j = json_object();
        for (uint32_t i = 0; j != NULL && i < o->via.map.size; i++) {
            const msgpack_object_kv *kv = &o->via.map.ptr[i];
            if (kv->key.type != MSGPACK_OBJECT_STR) {
                continue;
            }
            if (json_object_setn_new(j, kv->key.via.str.ptr, kv->key.via.str.size, raftctl_mp_to_json(&kv->val, depth + 1)) !=
                0) {
                json_decref(j);
                j = NULL;
            }
        }
        return j;
    default:
        return json_null();
    }
}
