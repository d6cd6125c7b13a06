/* hash: digest of the replicated state (store_hash), like etcd's hashkv: equal digests at
 * equal applied indexes prove two members agree (invariant 5).
 *
 * Canonical encoding fed to 64-bit FNV-1a: for every replicated table in name order, its
 * name, then every row in primary-key order, each value as a type tag and its bytes
 * (integers as 8 bytes little-endian, floats as their IEEE bits, text and blobs with a length
 * prefix). Tables are found in sqlite_schema rather than listed here, so a table added by a
 * later schema is covered without touching this file; the local meta keys (applied index,
 * decision index, schema version) are left out. Not a hot path: statements are prepared per call. */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "storage/db.h"
#include "storage/schema.h"
#include "storage/store.h"

#define FNV_OFFSET 0xcbf29ce484222325ULL
#define FNV_PRIME 0x100000001b3ULL

enum { TAG_TABLE = 1, TAG_ROW, TAG_NULL, TAG_INT, TAG_FLOAT, TAG_TEXT, TAG_BLOB };

static void fnv(uint64_t *h, const void *data, size_t n)
{
    const unsigned char *p = data;
    for (size_t i = 0; i < n; i++) {
        *h ^= p[i];
        *h *= FNV_PRIME;
    }
}

static void fnv_u64(uint64_t *h, uint64_t v)
{
    unsigned char b[8];
    for (int i = 0; i < 8; i++) {
        b[i] = (unsigned char)(v >> (8 * i));
    }
    fnv(h, b, sizeof b);
}

static void fnv_tag(uint64_t *h, unsigned char tag)
{
    fnv(h, &tag, 1);
}

static void fnv_bytes(uint64_t *h, unsigned char tag, const void *p, size_t n)
{
    fnv_tag(h, tag);
    fnv_u64(h, n);
    fnv(h, p, n);
}

/* Appends a double-quoted SQL identifier to SQL (size CAP at *LEN). 0 or -1 if too long. */
static int append_ident(char *sql, size_t cap, size_t *len, const char *ident)
{
    if (*len + 1 >= cap) {
        return -1;
    }
    sql[(*len)++] = '"';
    for (const char *p = ident; *p != '\0'; p++) {
        if (*len + 3 >= cap) {
            return -1;
        }
        if (*p == '"') {
            sql[(*len)++] = '"';
        }
        sql[(*len)++] = *p;
    }
    sql[(*len)++] = '"';
    sql[*len] = '\0';
    return 0;
}

static int append_text(char *sql, size_t cap, size_t *len, const char *text)
{
    size_t n = strlen(text);
    if (*len + n >= cap) {
        return -1;
    }
    memcpy(sql + *len, text, n + 1);
    *len += n;
    return 0;
}

/* Builds "SELECT * FROM t ORDER BY pk1, pk2" for TABLE (every table has a primary key: a
 * table without one has no canonical order and is refused). */
static int build_select(struct store *s, const char *table, char *sql, size_t cap)
{
    sqlite3_stmt *stmt = NULL;
    size_t len = 0;
    int rc = sqlite3_prepare_v2(s->db, "SELECT name FROM pragma_table_info(?1) WHERE pk > 0 ORDER BY pk",
                                -1, &stmt, NULL);
    if (rc == SQLITE_OK) {
        rc = sqlite3_bind_text(stmt, 1, table, -1, SQLITE_STATIC);
    }
    if (rc != SQLITE_OK) {
        db_error(s, "store: hash: columns of %s: %s", table, sqlite3_errmsg(s->db));
        sqlite3_finalize(stmt);
        return -1;
    }
    int too_long = append_text(sql, cap, &len, "SELECT * FROM ") != 0 ||
                   append_ident(sql, cap, &len, table) != 0;
    if (!too_long && strcmp(table, "meta") == 0) {
        too_long = append_text(sql, cap, &len,
                               " WHERE key NOT IN ('" SCHEMA_META_APPLIED_INDEX
                               "', '" SCHEMA_META_VERSION "', '" SCHEMA_META_DECISION_INDEX
                               "')") != 0;
    }
    unsigned pk = 0;
    while (!too_long && (rc = sqlite3_step(stmt)) == SQLITE_ROW) {
        const char *col = (const char *)sqlite3_column_text(stmt, 0);
        too_long = col == NULL ||
                   append_text(sql, cap, &len, pk == 0 ? " ORDER BY " : ", ") != 0 ||
                   append_ident(sql, cap, &len, col) != 0;
        pk++;
    }
    if (too_long || (rc != SQLITE_DONE && rc != SQLITE_ROW)) {
        db_error(s, "store: hash: ordering %s: %s", table,
                 too_long ? "query too long" : sqlite3_errmsg(s->db));
        sqlite3_finalize(stmt);
        return -1;
    }
    sqlite3_finalize(stmt);
    if (pk == 0) {
        db_error(s, "store: hash: table %s has no primary key, so no canonical row order", table);
        return -1;
    }
    return 0;
}

static int hash_table(struct store *s, const char *table, uint64_t *h)
{
    char sql[1024];
    if (build_select(s, table, sql, sizeof sql) != 0) {
        return -1;
    }
    sqlite3_stmt *stmt = NULL;
    int rc = sqlite3_prepare_v2(s->db, sql, -1, &stmt, NULL);
    if (rc != SQLITE_OK) {
        db_error(s, "store: hash: %s: %s", sql, sqlite3_errmsg(s->db));
        return -1;
    }
    fnv_bytes(h, TAG_TABLE, table, strlen(table));
    int ncol = sqlite3_column_count(stmt);
    while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
        fnv_tag(h, TAG_ROW);
        for (int i = 0; i < ncol; i++) {
            switch (sqlite3_column_type(stmt, i)) {
            case SQLITE_INTEGER:
                fnv_tag(h, TAG_INT);
                fnv_u64(h, (uint64_t)sqlite3_column_int64(stmt, i));
                break;
            case SQLITE_FLOAT: {
                double d = sqlite3_column_double(stmt, i);
                uint64_t bits;
                memcpy(&bits, &d, sizeof bits);
                fnv_tag(h, TAG_FLOAT);
                fnv_u64(h, bits);
                break;
            }
            case SQLITE_TEXT: {
                const unsigned char *t = sqlite3_column_text(stmt, i);
                fnv_bytes(h, TAG_TEXT, t, (size_t)sqlite3_column_bytes(stmt, i));
                break;
            }
            case SQLITE_BLOB: {
                const void *b = sqlite3_column_blob(stmt, i);
                fnv_bytes(h, TAG_BLOB, b, (size_t)sqlite3_column_bytes(stmt, i));
                break;
            }
            default:
                fnv_tag(h, TAG_NULL);
                break;
            }
        }
    }
    if (rc != SQLITE_DONE) {
        db_error(s, "store: hash: reading %s: %s", table, sqlite3_errmsg(s->db));
        sqlite3_finalize(stmt);
        return -1;
    }
    sqlite3_finalize(stmt);
    return 0;
}

int store_hash(struct store *s, uint64_t *hash)
{
    uint64_t h = FNV_OFFSET;
    sqlite3_stmt *tables = NULL;
    if (store_commit(s) != 0) { /* its own read transaction follows */
        return -1;
    }
    /* One read transaction, so every table is read at the same state. */
    int rc = sqlite3_exec(s->db, "BEGIN", NULL, NULL, NULL);
    if (rc == SQLITE_OK) {
        rc = sqlite3_prepare_v2(s->db,
                                "SELECT name FROM sqlite_schema WHERE type = 'table' ORDER BY name",
                                -1, &tables, NULL);
    }
    if (rc != SQLITE_OK) {
        db_error(s, "store: hash: listing tables: %s", sqlite3_errmsg(s->db));
        goto fail;
    }
    while ((rc = sqlite3_step(tables)) == SQLITE_ROW) {
        const char *name = (const char *)sqlite3_column_text(tables, 0);
        if (name == NULL) {
            db_error(s, "store: hash: listing tables: out of memory");
            goto fail;
        }
        if (schema_table_is_replicated(name) && hash_table(s, name, &h) != 0) {
            goto fail;
        }
    }
    if (rc != SQLITE_DONE) {
        db_error(s, "store: hash: listing tables: %s", sqlite3_errmsg(s->db));
        goto fail;
    }
    sqlite3_finalize(tables);
    if (sqlite3_exec(s->db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK) {
        db_error(s, "store: hash: ending read: %s", sqlite3_errmsg(s->db));
        db_rollback(s);
        return -1;
    }
    *hash = h;
    return 0;

fail:
    sqlite3_finalize(tables);
    db_rollback(s);
    return -1;
}
