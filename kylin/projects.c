/* projects: Kylin's project rows decoded (key -> name, plain or "GZIP"+zlib content), the SQL
 * that lists them and the schema detection (projects.h has the Kylin source behind each). */
#include "projects.h"

#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <zlib.h>

#include "api.h"
#include "error.h"

bool kylin_identifier_valid(const char *identifier)
{
    return identifier != NULL &&
           kylin_word_valid(identifier, strnlen(identifier, KYLIN_IDENTIFIER_MAX + 1), KYLIN_IDENTIFIER_MAX);
}

/* Whether one of the N TABLES is IDENTIFIER + SUFFIX, ignoring case. */
static bool has_table(const char *identifier, const char *suffix, const char *const *tables, size_t n)
{
    size_t ilen = strlen(identifier), slen = strlen(suffix), i;

    for (i = 0; i < n; i++) {
        const char *t = tables[i];
        if (t != NULL && strlen(t) == ilen + slen && strncasecmp(t, identifier, ilen) == 0 &&
            strcasecmp(t + ilen, suffix) == 0) {
            return true;
        }
    }
    return false;
}

int kylin_projects_detect(const char *identifier, const char *const *tables, size_t n, enum kylin_schema *schema,
                          char *err, size_t err_size)
{
    static const char *const later_line[] = {"_job_lock", "_job_info"};
    size_t k;

    *schema = KYLIN_SCHEMA_NONE;
    if (!kylin_identifier_valid(identifier)) {
        kylin_errf(err, err_size, "Kylin metadata identifier \"%s\" (kylin.metadata.url before '@') must be 1 to "
                   "%d letters, digits or _", identifier != NULL ? identifier : "(null)", KYLIN_IDENTIFIER_MAX);
        return KYLIN_EINVAL;
    }
    for (k = 0; k < sizeof later_line / sizeof later_line[0]; k++) {
        if (has_table(identifier, later_line[k], tables, n)) {
            kylin_errf(err, err_size,
                       "table %s%s found: this metastore belongs to a later Kylin 5 code line (after commit "
                       "6e6b1a80) that schedules jobs through a JDBC job-lock table, not through project "
                       "epochs; raftnode cannot decide where its jobs run and does not support it yet. Set "
                       "raft.kylin.url=none, or run a Kylin 5 release that uses epochs (kylin5 branch up to "
                       "8118afb4)",
                       identifier, later_line[k]);
            return KYLIN_EREFUSED;
        }
    }
    if (has_table(identifier, "_project", tables, n)) {
        *schema = KYLIN_SCHEMA_PROJECT;
    } else if (has_table(identifier, "", tables, n)) {
        *schema = KYLIN_SCHEMA_KV;
    }
    return KYLIN_OK;
}

int kylin_projects_sql_tables(enum kylin_sql_dialect dialect, char *buf, size_t size)
{
    const char *sql = dialect == KYLIN_SQL_MYSQL
                          ? "SELECT table_name FROM information_schema.tables WHERE table_schema = DATABASE()"
                          : "SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema()";

    if (buf == NULL || strlen(sql) + 1 > size) {
        return KYLIN_ETOOBIG;
    }
    memcpy(buf, sql, strlen(sql) + 1);
    return KYLIN_OK;
}

static bool name_copy(const char *name, size_t len, char *out);

/* The list query of SCHEMA with WITH_CONTENT or only its key column. */
static int sql_list(enum kylin_schema schema, const char *identifier, bool with_content, char *buf, size_t size,
                    char *err, size_t err_size)
{
    int n;

    if (!kylin_identifier_valid(identifier)) {
        kylin_errf(err, err_size, "Kylin metadata identifier \"%s\" must be letters, digits or _",
                   identifier != NULL ? identifier : "(null)");
        return KYLIN_EINVAL;
    }
    if (schema == KYLIN_SCHEMA_KV) {
        /* JdbcMetadataStore.listProjects' selection (L343-354), as SQL */
        n = snprintf(buf, size,
                     "SELECT META_TABLE_KEY%s FROM %s WHERE META_TABLE_KEY LIKE "
                     "'" KYLIN_PROJECT_KEY_PREFIX "%%" KYLIN_PROJECT_KEY_SUFFIX "'",
                     with_content ? ", META_TABLE_CONTENT" : "", identifier);
    } else if (schema == KYLIN_SCHEMA_PROJECT) {
        n = snprintf(buf, size, "SELECT name%s FROM %s_project", with_content ? ", content" : "", identifier);
    } else {
        kylin_errf(err, err_size, "no Kylin metadata table (%s or %s_project) to list projects from", identifier,
                   identifier);
        return KYLIN_EINVAL;
    }
    if (n < 0 || (size_t)n >= size) {
        kylin_errf(err, err_size, "SQL text longer than the %zu-byte buffer", size);
        return KYLIN_ETOOBIG;
    }
    return KYLIN_OK;
}

int kylin_projects_sql_list(enum kylin_schema schema, const char *identifier, char *buf, size_t size, char *err,
                            size_t err_size)
{
    return sql_list(schema, identifier, true, buf, size, err, err_size);
}

int kylin_projects_sql_names(enum kylin_schema schema, const char *identifier, char *buf, size_t size, char *err,
                             size_t err_size)
{
    return sql_list(schema, identifier, false, buf, size, err, err_size);
}

int kylin_project_name_from_row(enum kylin_schema schema, const char *cell, char *name, char *err, size_t err_size)
{
    size_t len = cell != NULL ? strlen(cell) : 0;
    if (schema == KYLIN_SCHEMA_KV) {
        return kylin_project_name_from_key(cell != NULL ? cell : "", len, name, err, err_size);
    }
    name[0] = '\0';
    if (cell == NULL || !name_copy(cell, len, name)) {
        kylin_errf(err, err_size, "project name \"%.80s\" in the _project table is not 1 to %d letters, digits or _ "
                   "(Kylin's rule); row skipped", cell != NULL ? cell : "(null)", KYLIN_PROJECT_NAME_MAX);
        return KYLIN_EFORMAT;
    }
    return KYLIN_OK;
}

/* NAME (LEN bytes) follows Kylin's project name rule; copies it NUL-terminated into OUT. */
static bool name_copy(const char *name, size_t len, char *out)
{
    if (!kylin_word_valid(name, len, KYLIN_PROJECT_NAME_MAX)) {
        return false;
    }
    memcpy(out, name, len);
    out[len] = '\0';
    return true;
}

int kylin_project_name_from_key(const char *key, size_t key_len, char *name, char *err, size_t err_size)
{
    const size_t plen = strlen(KYLIN_PROJECT_KEY_PREFIX), slen = strlen(KYLIN_PROJECT_KEY_SUFFIX);

    name[0] = '\0';
    if (key == NULL || key_len <= plen + slen || memcmp(key, KYLIN_PROJECT_KEY_PREFIX, plen) != 0 ||
        memcmp(key + key_len - slen, KYLIN_PROJECT_KEY_SUFFIX, slen) != 0) {
        kylin_errf(err, err_size, "metadata key \"%.*s\" is not " KYLIN_PROJECT_KEY_PREFIX "NAME"
                   KYLIN_PROJECT_KEY_SUFFIX, (int)(key_len > 300 ? 300 : key_len), key != NULL ? key : "");
        return KYLIN_EFORMAT;
    }
    if (!name_copy(key + plen, key_len - plen - slen, name)) {
        kylin_errf(err, err_size, "metadata key \"%.*s\": the project name is not 1 to %d letters, digits or _ "
                   "(Kylin's rule); row skipped", (int)(key_len > 300 ? 300 : key_len), key, KYLIN_PROJECT_NAME_MAX);
        return KYLIN_EFORMAT;
    }
    return KYLIN_OK;
}

/* Inflates the zlib stream IN (LEN bytes) into a NUL-terminated buffer of at most
 * KYLIN_PROJECT_MAX_JSON bytes. Bytes after the end of the stream are ignored, as Kylin's
 * Inflater loop does. */
static int inflate_bounded(const unsigned char *in, size_t len, char **out, size_t *out_len, const char *name,
                           char *err, size_t err_size)
{
    z_stream zs;
    char *buf = NULL, *grown;
    size_t cap = 0;
    int zrc, rc;

    *out = NULL;
    *out_len = 0;
    if (len > UINT32_MAX) {
        kylin_errf(err, err_size, "project %s: compressed content of %zu bytes is too large", name, len);
        return KYLIN_ETOOBIG;
    }
    memset(&zs, 0, sizeof zs);
    if (inflateInit(&zs) != Z_OK) {
        kylin_errf(err, err_size, "project %s: zlib inflateInit failed (out of memory)", name);
        return KYLIN_ENOMEM;
    }
    zs.next_in = (unsigned char *)(uintptr_t)in; /* zlib does not write through next_in */
    zs.avail_in = (uInt)len;
    for (;;) {
        if (zs.total_out + 1 >= cap) {
            size_t want = cap == 0 ? 4096 : cap * 2;
            if (want > KYLIN_PROJECT_MAX_JSON + 2) {
                want = KYLIN_PROJECT_MAX_JSON + 2; /* one byte past the bound shows it was passed */
            }
            if (want <= cap) {
                kylin_errf(err, err_size, "project %s: content inflates to more than %u bytes; refused", name,
                           KYLIN_PROJECT_MAX_JSON);
                rc = KYLIN_ETOOBIG;
                goto fail;
            }
            grown = realloc(buf, want);
            if (grown == NULL) {
                kylin_errf(err, err_size, "project %s: out of memory inflating the content", name);
                rc = KYLIN_ENOMEM;
                goto fail;
            }
            buf = grown;
            cap = want;
        }
        zs.next_out = (unsigned char *)buf + zs.total_out;
        zs.avail_out = (uInt)(cap - 1 - zs.total_out);
        zrc = inflate(&zs, Z_NO_FLUSH);
        if (zrc == Z_STREAM_END) {
            break;
        }
        if (zrc == Z_OK) {
            continue;
        }
        if (zrc == Z_BUF_ERROR && zs.avail_out != 0) {
            kylin_errf(err, err_size, "project %s: the zlib stream is truncated", name);
        } else if (zrc == Z_MEM_ERROR) {
            kylin_errf(err, err_size, "project %s: out of memory inflating the content", name);
        } else if (zrc != Z_BUF_ERROR) {
            kylin_errf(err, err_size, "project %s: content after \"GZIP\" is not a zlib stream (%s)", name,
                       zs.msg != NULL ? zs.msg : "bad data");
        } else {
            continue; /* output full: grow */
        }
        rc = zrc == Z_MEM_ERROR ? KYLIN_ENOMEM : KYLIN_EFORMAT;
        goto fail;
    }
    if (zs.total_out > KYLIN_PROJECT_MAX_JSON) {
        kylin_errf(err, err_size, "project %s: content inflates to more than %u bytes; refused", name,
                   KYLIN_PROJECT_MAX_JSON);
        rc = KYLIN_ETOOBIG;
        goto fail;
    }
    buf[zs.total_out] = '\0';
    *out = buf;
    *out_len = zs.total_out;
    (void)inflateEnd(&zs);
    return KYLIN_OK;

fail:
    (void)inflateEnd(&zs);
    free(buf);
    return rc;
}

int kylin_project_decode(enum kylin_schema schema, const char *key, size_t key_len, const unsigned char *content,
                         size_t content_len, struct kylin_project *out, char *err, size_t err_size)
{
    json_t *doc, *uuid;
    json_error_t jerr;
    int rc;

    memset(out, 0, sizeof *out);
    if (schema == KYLIN_SCHEMA_KV) {
        rc = kylin_project_name_from_key(key, key_len, out->name, err, err_size);
        if (rc != KYLIN_OK) {
            return rc;
        }
    } else if (schema == KYLIN_SCHEMA_PROJECT) {
        if (key == NULL || !name_copy(key, key_len, out->name)) {
            kylin_errf(err, err_size, "project row \"%.*s\": the name is not 1 to %d letters, digits or _ "
                       "(Kylin's rule); row skipped", (int)(key == NULL || key_len > 300 ? 0 : key_len),
                       key != NULL ? key : "", KYLIN_PROJECT_NAME_MAX);
            return KYLIN_EFORMAT;
        }
    } else {
        kylin_errf(err, err_size, "no metadata schema to decode a project row with");
        return KYLIN_EINVAL;
    }
    if (content == NULL || content_len == 0) {
        kylin_errf(err, err_size, "project %s: the metadata content is empty", out->name);
        return KYLIN_EFORMAT;
    }
    if (content_len >= 4 && memcmp(content, "GZIP", 4) == 0) {
        rc = inflate_bounded(content + 4, content_len - 4, &out->json, &out->json_len, out->name, err, err_size);
        if (rc != KYLIN_OK) {
            return rc;
        }
    } else {
        if (content_len > KYLIN_PROJECT_MAX_JSON) {
            kylin_errf(err, err_size, "project %s: content of %zu bytes is larger than %u; refused", out->name,
                       content_len, KYLIN_PROJECT_MAX_JSON);
            return KYLIN_ETOOBIG;
        }
        out->json = malloc(content_len + 1);
        if (out->json == NULL) {
            kylin_errf(err, err_size, "project %s: out of memory", out->name);
            return KYLIN_ENOMEM;
        }
        memcpy(out->json, content, content_len);
        out->json[content_len] = '\0';
        out->json_len = content_len;
    }
    doc = json_loadb(out->json, out->json_len, 0, &jerr);
    if (doc == NULL || !json_is_object(doc)) {
        kylin_errf(err, err_size, "project %s: the content is not a JSON object (%s); neither plain JSON nor "
                   "\"GZIP\" + zlib as Kylin writes it", out->name, doc == NULL ? jerr.text : "another JSON value");
        json_decref(doc);
        kylin_project_free(out);
        return KYLIN_EFORMAT;
    }
    uuid = json_object_get(doc, "uuid");
    if (json_is_string(uuid) && strlen(json_string_value(uuid)) < sizeof out->uuid) {
        memcpy(out->uuid, json_string_value(uuid), strlen(json_string_value(uuid)) + 1);
    }
    json_decref(doc);
    return KYLIN_OK;
}

void kylin_project_free(struct kylin_project *p)
{
    if (p == NULL) {
        return;
    }
    free(p->json);
    memset(p, 0, sizeof *p);
}

static int clash_cmp(const void *a, const void *b, void *names_arg)
{
    const char *const *names = names_arg;
    size_t ia = *(const size_t *)a, ib = *(const size_t *)b;
    int c = strcasecmp(names[ia], names[ib]);

    if (c != 0) {
        return c;
    }
    return ia < ib ? -1 : ia > ib;
}

int kylin_projects_case_clash(const char *const *names, size_t n, bool *clash, size_t *i, size_t *j)
{
    size_t *order, k;

    *clash = false;
    *i = *j = n;
    if (n < 2) {
        return KYLIN_OK;
    }
    order = malloc(n * sizeof *order);
    if (order == NULL) {
        return KYLIN_ENOMEM;
    }
    for (k = 0; k < n; k++) {
        order[k] = k;
    }
    qsort_r(order, n, sizeof *order, clash_cmp, (void *)(uintptr_t)names);
    for (k = 1; k < n; k++) {
        if (strcasecmp(names[order[k - 1]], names[order[k]]) == 0) {
            *clash = true;
            *i = order[k - 1];
            *j = order[k];
            break;
        }
    }
    free(order);
    return KYLIN_OK;
}
