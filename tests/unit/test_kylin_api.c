/* Unit tests for kylin/api.c: the exact claim, poke and health requests. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "kylin/api.h"
#include "kylin/error.h"

static void test_claim_is_kylins_exact_request(void **state)
{
    const char *names[] = {"Sales", "ops_2"};
    struct kylin_api_request r;
    size_t taken;
    char err[256];
    (void)state;
    assert_int_equal(kylin_api_claim("http://127.0.0.1:7070/kylin", names, 2, 0, &taken, &r, err, sizeof err),
                     KYLIN_OK);
    assert_int_equal(taken, 2);
    assert_string_equal(r.method, "POST");
    assert_string_equal(r.url, "http://127.0.0.1:7070/kylin/api/epoch");
    assert_string_equal(r.headers[0], "Accept: application/vnd.apache.kylin-v4-public+json");
    assert_string_equal(r.headers[1], "Content-Type: application/json");
    assert_null(r.headers[2]);
    assert_string_equal(r.body, "{\"projects\":[\"Sales\",\"ops_2\"],\"force\":true,\"client\":true}");
    assert_int_equal(r.body_len, strlen(r.body));
    kylin_api_request_free(&r);
    assert_null(r.url);
}

static void test_claim_batches(void **state)
{
    const char *names[] = {"a", "b", "c", "d", "e"};
    struct kylin_api_request r;
    size_t taken, done = 0, calls = 0;
    (void)state;
    while (done < 5) {
        assert_int_equal(kylin_api_claim("http://h:1/kylin/", names + done, 5 - done, 2, &taken, &r, NULL, 0),
                         KYLIN_OK);
        assert_true(taken >= 1 && taken <= 2);
        assert_string_equal(r.url, "http://h:1/kylin/api/epoch"); /* trailing '/' dropped */
        if (calls == 2) {
            assert_string_equal(r.body, "{\"projects\":[\"e\"],\"force\":true,\"client\":true}");
        }
        kylin_api_request_free(&r);
        done += taken;
        calls++;
    }
    assert_int_equal(calls, 3);
}

static void test_claim_default_batch_is_bounded(void **state)
{
    const char *names[KYLIN_API_CLAIM_BATCH + 5];
    struct kylin_api_request r;
    size_t taken, i;
    (void)state;
    for (i = 0; i < KYLIN_API_CLAIM_BATCH + 5; i++) {
        names[i] = "p";
    }
    assert_int_equal(kylin_api_claim("http://h:1/kylin", names, KYLIN_API_CLAIM_BATCH + 5, 0, &taken, &r, NULL, 0),
                     KYLIN_OK);
    assert_int_equal(taken, KYLIN_API_CLAIM_BATCH);
    kylin_api_request_free(&r);
}

static void test_claim_refusals(void **state)
{
    const char *global[] = {"ok", "_global"};
    const char *bad[] = {"a\"b"};
    const char *empty[] = {""};
    char longname[300];
    const char *toolong[] = {longname};
    struct kylin_api_request r;
    size_t taken = 7;
    char err[256];
    (void)state;
    memset(longname, 'x', 256);
    longname[256] = '\0';
    assert_int_equal(kylin_api_claim("http://h:1/kylin", global, 2, 0, &taken, &r, err, sizeof err), KYLIN_EINVAL);
    assert_non_null(strstr(err, "_global"));
    assert_int_equal(taken, 0);
    assert_null(r.url);
    assert_int_equal(kylin_api_claim("http://h:1/kylin", bad, 1, 0, &taken, &r, err, sizeof err), KYLIN_EINVAL);
    assert_non_null(strstr(err, "not a Kylin project name"));
    assert_int_equal(kylin_api_claim("http://h:1/kylin", empty, 1, 0, &taken, &r, err, sizeof err), KYLIN_EINVAL);
    assert_int_equal(kylin_api_claim("http://h:1/kylin", toolong, 1, 0, &taken, &r, err, sizeof err), KYLIN_EINVAL);
    longname[255] = '\0';
    assert_int_equal(kylin_api_claim("http://h:1/kylin", toolong, 1, 0, &taken, &r, err, sizeof err), KYLIN_OK);
    kylin_api_request_free(&r);
    assert_int_equal(kylin_api_claim("http://h:1/kylin", global, 0, 0, &taken, &r, err, sizeof err), KYLIN_EINVAL);
    assert_int_equal(kylin_api_claim("ftp://h/kylin", global, 1, 0, &taken, &r, err, sizeof err), KYLIN_EINVAL);
    assert_non_null(strstr(err, "http://"));
}

/* A claim answered with Kylin's error envelope naming the project (PROJECT_NOT_EXIST: HTTP
 * 500 from NBasicController's KylinException handler) is a refusal of that project; other
 * failures, or a message naming another project or a longer name, are not. */
static void test_claim_refused(void **state)
{
    (void)state;
    static const char env[] = "{\"code\":\"999\",\"data\":null,\"msg\":\"Can't find project \\\"manual\\\". Please "
                              "check and try again.\",\"error_code\":\"KE-010001201\"}";
    char msg[128] = "";
    assert_true(kylin_api_claim_refused(500, env, strlen(env), "manual", msg, sizeof msg));
    assert_string_equal(msg, "Can't find project \"manual\". Please check and try again.");
    assert_true(kylin_api_claim_refused(400, env, strlen(env), "manual", NULL, 0));
    assert_false(kylin_api_claim_refused(200, env, strlen(env), "manual", NULL, 0));
    assert_false(kylin_api_claim_refused(500, env, strlen(env), "manua", NULL, 0));
    assert_false(kylin_api_claim_refused(500, env, strlen(env), "Sales", NULL, 0));
    static const char other[] = "{\"code\":\"999\",\"msg\":\"metastore unavailable\"}";
    assert_false(kylin_api_claim_refused(500, other, strlen(other), "manual", NULL, 0));
    assert_false(kylin_api_claim_refused(500, "<html>", 6, "manual", NULL, 0));
    assert_false(kylin_api_claim_refused(500, "", 0, "manual", NULL, 0));
}

static void test_poke_and_health(void **state)
{
    struct kylin_api_request r;
    (void)state;
    assert_int_equal(kylin_api_poke("https://10.0.0.5:7070/kylin", &r, NULL, 0), KYLIN_OK);
    assert_string_equal(r.method, "POST");
    assert_string_equal(r.url, "https://10.0.0.5:7070/kylin/api/broadcast");
    assert_string_equal(r.headers[0], "routed: true");
    assert_string_equal(r.headers[1], "Content-Type: application/json");
    assert_null(r.headers[2]);
    assert_string_equal(r.body,
                        "{\"@class\":\"org.apache.kylin.common.persistence.transaction.EpochCheckBroadcastNotifier\"}");
    kylin_api_request_free(&r);
    assert_int_equal(kylin_api_health("http://127.0.0.1:7070/kylin", &r, NULL, 0), KYLIN_OK);
    assert_string_equal(r.method, "GET");
    assert_string_equal(r.url, "http://127.0.0.1:7070/kylin/api/health");
    assert_null(r.body);
    assert_int_equal(r.body_len, 0);
    kylin_api_request_free(&r);
}

static void test_base_check(void **state)
{
    char err[256];
    (void)state;
    assert_int_equal(kylin_api_base_check("http://127.0.0.1:7070/kylin", err, sizeof err), KYLIN_OK);
    assert_int_equal(kylin_api_base_check("", err, sizeof err), KYLIN_EINVAL);
    assert_int_equal(kylin_api_base_check(NULL, err, sizeof err), KYLIN_EINVAL);
    assert_int_equal(kylin_api_base_check("http://", err, sizeof err), KYLIN_EINVAL);
    assert_non_null(strstr(err, "no host"));
    assert_int_equal(kylin_api_base_check("http://h/kylin?x=1", err, sizeof err), KYLIN_EINVAL);
    assert_int_equal(kylin_api_base_check("http://h/ky lin", err, sizeof err), KYLIN_EINVAL);
    assert_int_equal(kylin_api_base_check("127.0.0.1:7070", err, sizeof err), KYLIN_EINVAL);
}

static void test_error_texts(void **state)
{
    char small[8];
    (void)state;
    assert_string_equal(kylin_strerror(KYLIN_OK), "success");
    assert_string_equal(kylin_strerror(KYLIN_EREFUSED), "refused");
    assert_string_equal(kylin_strerror(-1), "unknown error");
    assert_string_equal(kylin_strerror(1000), "unknown error");
    kylin_errf(small, sizeof small, "%s", "abcdefghij");
    assert_string_equal(small, "abcd..."); /* truncation is marked */
    kylin_errf(small, sizeof small, "%d", 42);
    assert_string_equal(small, "42");
    kylin_errf(NULL, 10, "%d", 1); /* no buffer: nothing written */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_claim_is_kylins_exact_request),
        cmocka_unit_test(test_claim_batches),
        cmocka_unit_test(test_claim_default_batch_is_bounded),
        cmocka_unit_test(test_claim_refusals),
        cmocka_unit_test(test_claim_refused),
        cmocka_unit_test(test_poke_and_health),
        cmocka_unit_test(test_base_check),
        cmocka_unit_test(test_error_texts),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
