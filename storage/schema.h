/* schema: private to storage/. The one place the database layout is defined: DDL, schema
 * versions and their migrations, the meta table's keys, and which tables are replicated.
 *
 * The schema version lives in meta.schema_version. schema_ensure brings a database at any
 * older version up to SCHEMA_VERSION in one transaction (a fresh file is version 0) and
 * refuses a database written by a newer binary. Calls: SQLite only. */
#ifndef STORAGE_SCHEMA_H
#define STORAGE_SCHEMA_H

#include <sqlite3.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SCHEMA_VERSION 8

/* meta keys that are local bookkeeping rather than replicated state: store_hash skips them. */
#define SCHEMA_META_APPLIED_INDEX "applied_index"
#define SCHEMA_META_VERSION "schema_version"
/* Index of the last entry that changed ownership state (store.h, decision_index). Derived from
 * the applied entries, hence equal on every member at equal applied index; left out of the
 * digest like the applied index, so that two members that reached the same state through
 * different batching still hash equal. */
#define SCHEMA_META_DECISION_INDEX "decision_index"

#define SCHEMA_GLOBAL_PROJECT "_global"

/* settings keys (replicated, hashed). */
#define SCHEMA_SETTING_MAINTENANCE "maintenance"               /* 0 / 1; missing = 0 */
#define SCHEMA_SETTING_MAINTENANCE_REASON "maintenance_reason" /* text; missing = "" */

/* Creates the schema when missing, migrates an older one, ensures `_global` exists; all in
 * one IMMEDIATE transaction (so DB must not be inside one). 0, or -1 with a reason in ERR. */
int schema_ensure(sqlite3 *db, char *err, size_t cap);

/* Reads the integer meta value KEY: 1 found, 0 absent (also when there is no meta table at
 * all), -1 on error (reason in ERR, e.g. "file is not a database" for a garbage image). */
int schema_meta_get(sqlite3 *db, const char *key, int64_t *out, char *err, size_t cap);

/* True when meta key KEY (LEN bytes, not NUL-terminated) is local bookkeeping. */
bool schema_meta_key_is_local(const char *key, size_t len);

/* True when table NAME holds replicated state (store_hash covers exactly these tables).
 * Every table of the schema is replicated today; a future local-only table (a cache, say)
 * is listed in schema.c. */
bool schema_table_is_replicated(const char *name);

#endif
