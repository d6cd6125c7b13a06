/* Unit tests for kylin/projects.c: Kylin's project rows (key -> name, plain JSON or "GZIP" +
 * zlib content built here with zlib's compress2, as Kylin's Deflater writes it), the schema
 * detection and the SQL texts. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <zlib.h>

#include "kylin/error.h"
#include "kylin/projects.h"

#define SALES_JSON "{\"uuid\":\"2a7b0f5e-1c1d-4c4e-9a1b-0c7f3c1d2e3f\",\"name\":\"sales\",\"status\":\"ENABLED\"}"

/* "GZIP" + zlib stream of TEXT (LEN bytes) at level 1 (Kylin: new Deflater(1)). */
static unsigned char *gzip_content(const char *text, size_t len, size_t *out_len)
{
    uLongf zlen = compressBound((uLong)len);
    unsigned char *buf = malloc(4 + zlen);
    assert_non_null(buf);
    memcpy(buf, "GZIP", 4);
    assert_int_equal(compress2(buf + 4, &zlen, (const Bytef *)text, (uLong)len, 1), Z_OK);
    *out_len = 4 + zlen;
    return buf;
}

static int decode_kv(const char *key, const unsigned char *content, size_t len, struct kylin_project *p, char *err,
                     size_t size)
{
    return kylin_project_decode(KYLIN_SCHEMA_KV, key, strlen(key), content, len, p, err, size);
}

static void test_plain_json_row(void **state)
{
    struct kylin_project p;
    char err[256];
    (void)state;
    assert_int_equal(decode_kv("/_global/project/Sales_2.json", (const unsigned char *)SALES_JSON, strlen(SALES_JSON),
                               &p, err, sizeof err),
                     KYLIN_OK);
    /* the key is authoritative, not the document's "name" */
    assert_string_equal(p.name, "Sales_2");
    assert_string_equal(p.uuid, "2a7b0f5e-1c1d-4c4e-9a1b-0c7f3c1d2e3f");
    assert_string_equal(p.json, SALES_JSON);
    assert_int_equal(p.json_len, strlen(SALES_JSON));
    kylin_project_free(&p);
    assert_null(p.json);
}

static void test_gzip_zlib_row(void **state)
{
    struct kylin_project p;
    size_t len;
    unsigned char *content = gzip_content(SALES_JSON, strlen(SALES_JSON), &len);
    char err[256];
    (void)state;
    assert_int_equal(content[4], 0x78); /* a zlib header, not gzip's 1f 8b */
    assert_int_equal(decode_kv("/_global/project/sales.json", content, len, &p, err, sizeof err), KYLIN_OK);
    assert_string_equal(p.name, "sales");
    assert_string_equal(p.json, SALES_JSON);
    kylin_project_free(&p);
    /* bytes after the end of the stream are ignored, as Kylin's Inflater loop does */
    content = realloc(content, len + 3);
    assert_non_null(content);
    memcpy(content + len, "xyz", 3);
    assert_int_equal(decode_kv("/_global/project/sales.json", content, len + 3, &p, err, sizeof err), KYLIN_OK);
    kylin_project_free(&p);
    free(content);
}

static void test_large_document_inflates_and_bound_is_kept(void **state)
{
    struct kylin_project p;
    size_t len, n;
    unsigned char *content;
    char *doc, err[256];
    (void)state;
    /* a document of exactly the bound: accepted (grows the buffer several times) */
    n = KYLIN_PROJECT_MAX_JSON;
    doc = malloc(n + 1);
    assert_non_null(doc);
    memset(doc, ' ', n);
    memcpy(doc, "{\"description\":\"", 16);
    memset(doc + 16, 'a', n - 16 - 2);
    memcpy(doc + n - 2, "\"}", 2);
    doc[n] = '\0';
    content = gzip_content(doc, n, &len);
    assert_true(len < 20000); /* compresses well: the bound is on the inflated size */
    assert_int_equal(decode_kv("/_global/project/big.json", content, len, &p, err, sizeof err), KYLIN_OK);
    assert_int_equal(p.json_len, n);
    kylin_project_free(&p);
    free(content);
    /* one byte more: refused (a zlib bomb cannot make us allocate more) */
    doc = realloc(doc, n + 2);
    assert_non_null(doc);
    memcpy(doc + n - 2, "a\"}", 3);
    content = gzip_content(doc, n + 1, &len);
    assert_int_equal(decode_kv("/_global/project/big.json", content, len, &p, err, sizeof err), KYLIN_ETOOBIG);
    assert_non_null(strstr(err, "project big"));
    assert_non_null(strstr(err, "1048576"));
    assert_null(p.json);
    free(content);
    /* plain content over the bound: refused too */
    assert_int_equal(decode_kv("/_global/project/big.json", (const unsigned char *)doc, n + 1, &p, err, sizeof err),
                     KYLIN_ETOOBIG);
    free(doc);
}

static void test_bad_content(void **state)
{
    struct kylin_project p;
    size_t len;
    unsigned char *content = gzip_content(SALES_JSON, strlen(SALES_JSON), &len);
    char err[256];
    (void)state;
    /* truncated stream */
    assert_int_equal(decode_kv("/_global/project/s.json", content, len - 5, &p, err, sizeof err), KYLIN_EFORMAT);
    assert_non_null(strstr(err, "truncated"));
    /* not zlib after the marker */
    assert_int_equal(decode_kv("/_global/project/s.json", (const unsigned char *)"GZIP{\"a\":1}", 11, &p, err,
                               sizeof err),
                     KYLIN_EFORMAT);
    assert_non_null(strstr(err, "not a zlib stream"));
    /* a real gzip stream (1f 8b) is not what Kylin writes */
    {
        static const unsigned char gz[] = {'G', 'Z', 'I', 'P', 0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3};
        assert_int_equal(decode_kv("/_global/project/s.json", gz, sizeof gz, &p, err, sizeof err), KYLIN_EFORMAT);
    }
    /* plain content that is not a JSON object */
    assert_int_equal(decode_kv("/_global/project/s.json", (const unsigned char *)"[1]", 3, &p, err, sizeof err),
                     KYLIN_EFORMAT);
    assert_non_null(strstr(err, "not a JSON object"));
    assert_int_equal(decode_kv("/_global/project/s.json", (const unsigned char *)"{oops", 5, &p, err, sizeof err),
                     KYLIN_EFORMAT);
    assert_int_equal(decode_kv("/_global/project/s.json", NULL, 0, &p, err, sizeof err), KYLIN_EFORMAT);
    assert_non_null(strstr(err, "empty"));
    /* compressed, but not JSON inside */
    free(content);
    content = gzip_content("hello", 5, &len);
    assert_int_equal(decode_kv("/_global/project/s.json", content, len, &p, err, sizeof err), KYLIN_EFORMAT);
    assert_null(p.json);
    free(content);
}

static void test_keys(void **state)
{
    char name[KYLIN_PROJECT_NAME_MAX + 1], err[512], key[400];
    (void)state;
    assert_int_equal(kylin_project_name_from_key("/_global/project/a.json", 23, name, err, sizeof err), KYLIN_OK);
    assert_string_equal(name, "a");
    /* not NUL-terminated at key_len */
    assert_int_equal(kylin_project_name_from_key("/_global/project/abc.jsonXYZ", 25, name, err, sizeof err),
                     KYLIN_OK);
    assert_string_equal(name, "abc");
    assert_int_equal(kylin_project_name_from_key("/_global/project/.json", 22, name, err, sizeof err), KYLIN_EFORMAT);
    assert_int_equal(kylin_project_name_from_key("/_global/project/a-b.json", 25, name, err, sizeof err),
                     KYLIN_EFORMAT);
    assert_non_null(strstr(err, "Kylin's rule"));
    assert_int_equal(kylin_project_name_from_key("/_global/project/a/b.json", 25, name, err, sizeof err),
                     KYLIN_EFORMAT);
    /* LIKE's '_' matched another character */
    assert_int_equal(kylin_project_name_from_key("/Xglobal/project/a.json", 23, name, err, sizeof err),
                     KYLIN_EFORMAT);
    assert_int_equal(kylin_project_name_from_key("/_global/project/a.jso", 22, name, err, sizeof err), KYLIN_EFORMAT);
    assert_int_equal(kylin_project_name_from_key("/_global/project/a.json.bak", 27, name, err, sizeof err),
                     KYLIN_EFORMAT);
    /* 255 characters pass, 256 do not */
    memcpy(key, "/_global/project/", 17);
    memset(key + 17, 'n', 255);
    memcpy(key + 17 + 255, ".json", 6);
    assert_int_equal(kylin_project_name_from_key(key, strlen(key), name, err, sizeof err), KYLIN_OK);
    assert_int_equal(strlen(name), 255);
    memset(key + 17, 'n', 256);
    memcpy(key + 17 + 256, ".json", 6);
    assert_int_equal(kylin_project_name_from_key(key, strlen(key), name, err, sizeof err), KYLIN_EFORMAT);
}

static void test_project_table_row(void **state)
{
    struct kylin_project p;
    size_t len;
    unsigned char *content = gzip_content(SALES_JSON, strlen(SALES_JSON), &len);
    char err[256];
    (void)state;
    assert_int_equal(kylin_project_decode(KYLIN_SCHEMA_PROJECT, "Sales", 5, content, len, &p, err, sizeof err),
                     KYLIN_OK);
    assert_string_equal(p.name, "Sales");
    kylin_project_free(&p);
    assert_int_equal(kylin_project_decode(KYLIN_SCHEMA_PROJECT, "/_global/project/Sales.json", 27, content, len, &p,
                                          err, sizeof err),
                     KYLIN_EFORMAT);
    assert_int_equal(kylin_project_decode(KYLIN_SCHEMA_NONE, "Sales", 5, content, len, &p, err, sizeof err),
                     KYLIN_EINVAL);
    free(content);
}

static void test_detect(void **state)
{
    const char *kv[] = {"kylin_metadata_epoch", "kylin_metadata", "kylin_metadata_audit_log"};
    const char *upper[] = {"KYLIN_METADATA", "KYLIN_METADATA_EPOCH"};
    const char *per_type[] = {"kylin_metadata", "kylin_metadata_project", "kylin_metadata_model"};
    const char *later[] = {"kylin_metadata_project", "kylin_metadata_job_lock"};
    const char *later2[] = {"kylin_metadata", "kylin_metadata_job_info"};
    const char *other[] = {"other_metadata", "other_metadata_job_lock", "kylin_metadata_epoch"};
    enum kylin_schema schema;
    char err[512];
    (void)state;
    assert_int_equal(kylin_projects_detect("kylin_metadata", kv, 3, &schema, err, sizeof err), KYLIN_OK);
    assert_int_equal(schema, KYLIN_SCHEMA_KV);
    assert_int_equal(kylin_projects_detect("kylin_metadata", upper, 2, &schema, err, sizeof err), KYLIN_OK);
    assert_int_equal(schema, KYLIN_SCHEMA_KV);
    assert_int_equal(kylin_projects_detect("kylin_metadata", per_type, 3, &schema, err, sizeof err), KYLIN_OK);
    assert_int_equal(schema, KYLIN_SCHEMA_PROJECT);
    assert_int_equal(kylin_projects_detect("kylin_metadata", later, 2, &schema, err, sizeof err), KYLIN_EREFUSED);
    assert_non_null(strstr(err, "kylin_metadata_job_lock"));
    assert_non_null(strstr(err, "does not support"));
    assert_int_equal(kylin_projects_detect("kylin_metadata", later2, 2, &schema, err, sizeof err), KYLIN_EREFUSED);
    assert_non_null(strstr(err, "_job_info"));
    /* another identifier's tables do not count; only the epoch table: no metadata */
    assert_int_equal(kylin_projects_detect("kylin_metadata", other, 3, &schema, err, sizeof err), KYLIN_OK);
    assert_int_equal(schema, KYLIN_SCHEMA_NONE);
    assert_int_equal(kylin_projects_detect("kylin;drop", kv, 3, &schema, err, sizeof err), KYLIN_EINVAL);
    assert_int_equal(kylin_projects_detect("kylin_metadata", NULL, 0, &schema, err, sizeof err), KYLIN_OK);
    assert_int_equal(schema, KYLIN_SCHEMA_NONE);
}

static void test_sql(void **state)
{
    char sql[256], err[256];
    (void)state;
    assert_int_equal(kylin_projects_sql_list(KYLIN_SCHEMA_KV, "kylin_metadata", sql, sizeof sql, err, sizeof err),
                     KYLIN_OK);
    assert_string_equal(sql, "SELECT META_TABLE_KEY, META_TABLE_CONTENT FROM kylin_metadata WHERE META_TABLE_KEY "
                             "LIKE '/_global/project/%.json'");
    assert_int_equal(kylin_projects_sql_list(KYLIN_SCHEMA_PROJECT, "km", sql, sizeof sql, err, sizeof err), KYLIN_OK);
    assert_string_equal(sql, "SELECT name, content FROM km_project");
    assert_int_equal(kylin_projects_sql_list(KYLIN_SCHEMA_NONE, "km", sql, sizeof sql, err, sizeof err), KYLIN_EINVAL);
    assert_int_equal(kylin_projects_sql_list(KYLIN_SCHEMA_KV, "k m", sql, sizeof sql, err, sizeof err), KYLIN_EINVAL);
    assert_int_equal(kylin_projects_sql_list(KYLIN_SCHEMA_KV, "km", sql, 10, err, sizeof err), KYLIN_ETOOBIG);
    assert_int_equal(kylin_projects_sql_tables(KYLIN_SQL_POSTGRES, sql, sizeof sql), KYLIN_OK);
    assert_non_null(strstr(sql, "current_schema()"));
    assert_int_equal(kylin_projects_sql_tables(KYLIN_SQL_MYSQL, sql, sizeof sql), KYLIN_OK);
    assert_non_null(strstr(sql, "DATABASE()"));
    assert_int_equal(kylin_projects_sql_tables(KYLIN_SQL_MYSQL, sql, 8), KYLIN_ETOOBIG);
}

/* The follower's key-only query and its row names. */
static void test_names_sql_and_rows(void **state)
{
    char sql[256], err[256], name[KYLIN_PROJECT_NAME_MAX + 1];
    (void)state;
    assert_int_equal(kylin_projects_sql_names(KYLIN_SCHEMA_KV, "kylin_metadata", sql, sizeof sql, err, sizeof err),
                     KYLIN_OK);
    assert_string_equal(sql, "SELECT META_TABLE_KEY FROM kylin_metadata WHERE META_TABLE_KEY LIKE "
                             "'/_global/project/%.json'");
    assert_int_equal(kylin_projects_sql_names(KYLIN_SCHEMA_PROJECT, "km", sql, sizeof sql, err, sizeof err), KYLIN_OK);
    assert_string_equal(sql, "SELECT name FROM km_project");
    assert_int_equal(kylin_projects_sql_names(KYLIN_SCHEMA_NONE, "km", sql, sizeof sql, err, sizeof err),
                     KYLIN_EINVAL);
    assert_int_equal(kylin_project_name_from_row(KYLIN_SCHEMA_KV, "/_global/project/Sales.json", name, err,
                                                 sizeof err), KYLIN_OK);
    assert_string_equal(name, "Sales");
    /* LIKE's '_' matched a key that is not a project's */
    assert_int_equal(kylin_project_name_from_row(KYLIN_SCHEMA_KV, "/_global/project/a/b.json", name, err, sizeof err),
                     KYLIN_EFORMAT);
    assert_int_equal(kylin_project_name_from_row(KYLIN_SCHEMA_PROJECT, "ops_1", name, err, sizeof err), KYLIN_OK);
    assert_string_equal(name, "ops_1");
    assert_int_equal(kylin_project_name_from_row(KYLIN_SCHEMA_PROJECT, "a-b", name, err, sizeof err), KYLIN_EFORMAT);
    assert_non_null(strstr(err, "row skipped"));
    assert_int_equal(kylin_project_name_from_row(KYLIN_SCHEMA_PROJECT, NULL, name, err, sizeof err), KYLIN_EFORMAT);
    assert_int_equal(kylin_project_name_from_row(KYLIN_SCHEMA_PROJECT, "", name, err, sizeof err), KYLIN_EFORMAT);
}

static void test_case_clash(void **state)
{
    const char *distinct[] = {"b", "a", "c_1"};
    const char *clash[] = {"sales", "Ops", "x", "SALES"};
    bool found;
    size_t i, j;
    (void)state;
    assert_int_equal(kylin_projects_case_clash(distinct, 3, &found, &i, &j), KYLIN_OK);
    assert_false(found);
    assert_int_equal(kylin_projects_case_clash(clash, 4, &found, &i, &j), KYLIN_OK);
    assert_true(found);
    assert_int_equal(i, 0);
    assert_int_equal(j, 3);
    assert_int_equal(kylin_projects_case_clash(clash, 1, &found, &i, &j), KYLIN_OK);
    assert_false(found);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_plain_json_row),
        cmocka_unit_test(test_gzip_zlib_row),
        cmocka_unit_test(test_large_document_inflates_and_bound_is_kept),
        cmocka_unit_test(test_bad_content),
        cmocka_unit_test(test_keys),
        cmocka_unit_test(test_project_table_row),
        cmocka_unit_test(test_detect),
        cmocka_unit_test(test_sql),
        cmocka_unit_test(test_names_sql_and_rows),
        cmocka_unit_test(test_case_clash),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
