/* raftctl_output: how raftctl prints: aligned tables, one JSON document (jansson), and
 * "raftctl: ..." error lines on stderr. Results go to stdout, errors to stderr.
 * Owns: struct raftctl_table. Calls: jansson, stdio. */
#ifndef TOOLS_RAFTCTL_OUTPUT_H
#define TOOLS_RAFTCTL_OUTPUT_H

#include <jansson.h>
#include <msgpack.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define RAFTCTL_TABLE_MAX_COLS 10

/* A table of strings, printed with every column padded to its widest cell. Cells are
 * copied; an allocation failure is remembered and reported by raftctl_table_print. */
struct raftctl_table {
    size_t n_cols;      /* read-only */
    size_t n_rows;      /* read-only, the header included */
    char **cells;       /* private: n_rows * n_cols strdup'd strings */
    size_t cap_rows;    /* private */
    bool out_of_memory; /* private */
};

/* HEADERS: N_COLS column titles (N_COLS <= RAFTCTL_TABLE_MAX_COLS). */
void raftctl_table_init(struct raftctl_table *t, size_t n_cols, const char *const headers[]);
/* Appends a row of n_cols strings (NULL prints as "-"). */
void raftctl_table_add(struct raftctl_table *t, const char *const cells[]);
/* Prints to stdout; returns 0, or RAFTCTL_EXIT_FAILED after printing why. */
int raftctl_table_print(const struct raftctl_table *t);
void raftctl_table_free(struct raftctl_table *t);

/* Prints DOC compactly on one line to stdout and releases it. DOC NULL means building it
 * failed (jansson returns NULL only when out of memory). 0 or RAFTCTL_EXIT_FAILED. */
int raftctl_json_print(json_t *doc);

/* JSON value of an unsigned integer, or null when !PRESENT (jansson integers are signed
 * 64-bit: values above INT64_MAX are clamped, which no id or index reaches). */
json_t *raftctl_json_u64(uint64_t v, bool present);
/* JSON string of LEN bytes, or null when S is NULL. */
json_t *raftctl_json_strn(const char *s, size_t len);

/* A JSON string of S (LEN bytes); bytes that are not valid UTF-8 become '?' rather than
 * losing the whole document. NULL only when out of memory. */
json_t *raftctl_json_str_lossy(const char *s, size_t len);
/* The JSON form of a decoded msgpack value (maps keep their string keys; other keys, binary
 * and extension values, and nesting deeper than RAFTCTL_JSON_MAX_DEPTH are dropped or null).
 * Call with DEPTH 0. NULL only when out of memory. */
#define RAFTCTL_JSON_MAX_DEPTH 32
json_t *raftctl_mp_to_json(const msgpack_object *o, int depth);

/* "raftctl: " + message + newline, on stderr. */
void raftctl_errf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Formats V into BUF (at least 21 bytes) and returns BUF. */
const char *raftctl_u64_str(uint64_t v, char *buf, size_t cap);

#endif
