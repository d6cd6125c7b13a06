/* projects: Kylin's own project list, read from its metadata tables (kylin5-epoch-protocol.md
 * §5), so that the quorum's projects follow Kylin's.
 *
 * Two schemas are read; a third is refused:
 *   KV       kylin5 @ 8118afb4: one key/value table <identifier> (JdbcMetadataStore L110);
 *            a project is the row META_TABLE_KEY = '/_global/project/NAME.json'
 *            (ResourceStore L77, ProjectInstance.concatResourcePath L121-123); the key is
 *            authoritative for the name (NProjectManager.initEntityAfterReload L70-76).
 *   PROJECT  per-type tables: <identifier>_project with columns name, content (one row per
 *            project; name is the project name).
 *   refused  the later code line (commit 6e6b1a80) whose jobs are scheduled through
 *            <identifier>_job_lock / <identifier>_job_info, not through epochs (§8): moving
 *            epochs would not move jobs there, so the service must not pretend it does.
 * Content is plain JSON, or "GZIP" (4 ASCII bytes) followed by a zlib stream
 * (CompressionUtils.compress L36-62, kylin.metadata.compress.enabled, default true); it is
 * inflated up to KYLIN_PROJECT_MAX_JSON bytes and must be a JSON object.
 *
 * Names: Kylin's rule, 1..255 bytes of [A-Za-z0-9_] (kylin/api.h); Kylin keeps them unique
 * ignoring case (NProjectManager.getProject L92-98, createProject L109-118) but the database
 * does not: kylin_projects_case_clash finds two rows that Kylin would take for one project.
 *
 * Ownership: a decoded project owns its json (malloc); kylin_project_free frees it. On
 * failure nothing is left to free. SQL texts are written into the caller's buffer.
 *
 * Owns: nothing between calls. Calls: zlib, jansson, libc. */
#ifndef KYLIN_PROJECTS_H
#define KYLIN_PROJECTS_H

#include <stdbool.h>
#include <stddef.h>

#define KYLIN_PROJECT_NAME_MAX 255
#define KYLIN_PROJECT_MAX_JSON (1024u * 1024u) /* a decoded project document larger than this is refused */
#define KYLIN_PROJECT_KEY_PREFIX "/_global/project/"
#define KYLIN_PROJECT_KEY_SUFFIX ".json"
#define KYLIN_IDENTIFIER_MAX 128

enum kylin_schema {
    KYLIN_SCHEMA_NONE = 0, /* no Kylin metadata table found */
    KYLIN_SCHEMA_KV,       /* <identifier> key/value table */
    KYLIN_SCHEMA_PROJECT,  /* <identifier>_project table */
};

enum kylin_sql_dialect { KYLIN_SQL_POSTGRES = 0, KYLIN_SQL_MYSQL };

struct kylin_project {
    char name[KYLIN_PROJECT_NAME_MAX + 1]; /* read-only: the exact stored name */
    char uuid[64];                         /* read-only: "uuid" of the document, "" if none */
    char *json;                            /* read-only: owned, NUL-terminated, a JSON object */
    size_t json_len;                       /* read-only */
};

/* Kylin's metadata identifier (the part of kylin.metadata.url before '@'): 1..
 * KYLIN_IDENTIFIER_MAX bytes of [A-Za-z0-9_]; it names tables in SQL text, so nothing else
 * is accepted. */
bool kylin_identifier_valid(const char *identifier);

/* Decides the schema from the N table names of the metastore's schema/database (compared
 * ignoring case: PostgreSQL folds unquoted names to lower case, MySQL may keep them).
 * KYLIN_OK with *SCHEMA (KV, PROJECT, or NONE when neither table exists); KYLIN_EREFUSED with
 * ERR for the later line (a job-lock or job-info table); KYLIN_EINVAL for a bad identifier. */
int kylin_projects_detect(const char *identifier, const char *const *tables, size_t n, enum kylin_schema *schema,
                          char *err, size_t err_size);

/* SQL that lists the table names detect needs: the current schema on PostgreSQL, the current
 * database on MySQL/MariaDB. KYLIN_OK, or KYLIN_ETOOBIG when SIZE is too small. */
int kylin_projects_sql_tables(enum kylin_sql_dialect dialect, char *buf, size_t size);

/* SQL that lists the projects of SCHEMA: two columns, key (KV: META_TABLE_KEY; PROJECT: name)
 * and content. KV rows that are not exactly /_global/project/NAME.json (LIKE's '_' matches
 * any character) are rejected by the decoder. KYLIN_OK, KYLIN_EINVAL (bad identifier or
 * schema NONE), KYLIN_ETOOBIG (buffer). */
int kylin_projects_sql_list(enum kylin_schema schema, const char *identifier, char *buf, size_t size, char *err,
                            size_t err_size);

/* The same query with the key column only (KV: META_TABLE_KEY; PROJECT: name): what the
 * follower reads every repair period. Kylin's own listProjects goes by the key alone
 * (JdbcMetadataStore L343-354), and 10,000 documents every period would be a waste.
 * Codes as kylin_projects_sql_list. */
int kylin_projects_sql_names(enum kylin_schema schema, const char *identifier, char *buf, size_t size, char *err,
                             size_t err_size);

/* The project name of one row of kylin_projects_sql_names' query (CELL, NUL-terminated text)
 * into NAME (KYLIN_PROJECT_NAME_MAX + 1 bytes): KV through kylin_project_name_from_key,
 * PROJECT checked against Kylin's name rule. KYLIN_OK, or KYLIN_EFORMAT with ERR. */
int kylin_project_name_from_row(enum kylin_schema schema, const char *cell, char *name, char *err, size_t err_size);

/* Name of a KV key '/_global/project/NAME.json' (KEY_LEN bytes, need not be NUL-terminated)
 * into NAME (KYLIN_PROJECT_NAME_MAX + 1 bytes). KYLIN_OK, or KYLIN_EFORMAT with ERR. */
int kylin_project_name_from_key(const char *key, size_t key_len, char *name, char *err, size_t err_size);

/* Decodes one row of SCHEMA: KEY is the first column of kylin_projects_sql_list's query,
 * CONTENT (CONTENT_LEN bytes) the second, raw bytes (bytea/longblob unescaped). KYLIN_OK with
 * *OUT; KYLIN_EFORMAT, KYLIN_ETOOBIG, KYLIN_ENOMEM, KYLIN_EINVAL with ERR naming the key. */
int kylin_project_decode(enum kylin_schema schema, const char *key, size_t key_len, const unsigned char *content,
                         size_t content_len, struct kylin_project *out, char *err, size_t err_size);

void kylin_project_free(struct kylin_project *p);

/* Whether two of the N NAMES are equal ignoring ASCII case: *CLASH, and then *I < *J their
 * indexes (the first such pair in case-folded order). KYLIN_OK, or KYLIN_ENOMEM (a temporary
 * index is allocated). */
int kylin_projects_case_clash(const char *const *names, size_t n, bool *clash, size_t *i, size_t *j);

#endif
