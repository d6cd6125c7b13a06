/* Unit tests for kylin/health.c: actuator JSON -> UP / DOWN / INVALID from
 * components.metaStore.status (not the aggregate status). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "kylin/health.h"

static enum kylin_health parse(long status, const char *body, char *reason, size_t size)
{
    return kylin_health_parse(status, body, body == NULL ? 0 : strlen(body), reason, size);
}

static void test_metastore_up_is_up(void **state)
{
    char reason[256];
    (void)state;
    assert_int_equal(parse(200, "{\"status\":\"UP\",\"components\":{\"metaStore\":{\"status\":\"UP\"}}}", reason,
                           sizeof reason),
                     KYLIN_HEALTH_UP);
    assert_string_equal(reason, "");
}

static void test_aggregate_down_with_metastore_up_is_up(void **state)
{
    char reason[256];
    (void)state;
    /* Spark down makes the aggregate DOWN and the answer 503: the engine still runs */
    assert_int_equal(parse(503,
                           "{\"status\":\"DOWN\",\"components\":{\"metaStore\":{\"status\":\"UP\"},"
                           "\"sparkContext\":{\"status\":\"DOWN\"}}}",
                           reason, sizeof reason),
                     KYLIN_HEALTH_UP);
}

static void test_aggregate_up_with_metastore_down_is_down(void **state)
{
    char reason[256];
    (void)state;
    assert_int_equal(parse(200, "{\"status\":\"UP\",\"components\":{\"metaStore\":{\"status\":\"DOWN\"}}}", reason,
                           sizeof reason),
                     KYLIN_HEALTH_DOWN);
    assert_non_null(strstr(reason, "\"DOWN\""));
    assert_int_equal(parse(503, "{\"status\":\"DOWN\",\"components\":{\"metaStore\":{\"status\":\"OUT_OF_SERVICE\"}}}",
                           reason, sizeof reason),
                     KYLIN_HEALTH_DOWN);
    assert_non_null(strstr(reason, "OUT_OF_SERVICE"));
}

static void test_missing_fields_are_down_with_a_reason(void **state)
{
    char reason[256];
    (void)state;
    assert_int_equal(parse(200, "{\"status\":\"UP\"}", reason, sizeof reason), KYLIN_HEALTH_DOWN);
    assert_non_null(strstr(reason, "components"));
    assert_int_equal(parse(200, "{\"status\":\"UP\",\"components\":{\"diskSpace\":{\"status\":\"UP\"}}}", reason,
                           sizeof reason),
                     KYLIN_HEALTH_DOWN);
    assert_non_null(strstr(reason, "metaStore"));
    assert_int_equal(parse(200, "{\"components\":{\"metaStore\":{}}}", reason, sizeof reason), KYLIN_HEALTH_DOWN);
    assert_non_null(strstr(reason, "status"));
    assert_int_equal(parse(200, "{\"components\":{\"metaStore\":{\"status\":true}}}", reason, sizeof reason),
                     KYLIN_HEALTH_DOWN);
    assert_int_equal(parse(200, "{\"components\":[]}", reason, sizeof reason), KYLIN_HEALTH_DOWN);
    /* lower case is not Spring's spelling */
    assert_int_equal(parse(200, "{\"components\":{\"metaStore\":{\"status\":\"up\"}}}", reason, sizeof reason),
                     KYLIN_HEALTH_DOWN);
}

static void test_not_an_actuator_document_is_invalid(void **state)
{
    char reason[256];
    (void)state;
    assert_int_equal(parse(200, "<html>hello</html>", reason, sizeof reason), KYLIN_HEALTH_INVALID);
    assert_non_null(strstr(reason, "not JSON"));
    assert_int_equal(parse(200, "[1,2]", reason, sizeof reason), KYLIN_HEALTH_INVALID);
    assert_int_equal(parse(200, "", reason, sizeof reason), KYLIN_HEALTH_INVALID);
    assert_int_equal(parse(200, NULL, reason, sizeof reason), KYLIN_HEALTH_INVALID);
    assert_int_equal(parse(404, "{\"components\":{\"metaStore\":{\"status\":\"UP\"}}}", reason, sizeof reason),
                     KYLIN_HEALTH_INVALID);
    assert_non_null(strstr(reason, "raft.kylin.url"));
    /* a duplicate key could hide a DOWN behind an UP */
    assert_int_equal(parse(200, "{\"components\":{\"metaStore\":{\"status\":\"DOWN\",\"status\":\"UP\"}}}",
                           reason, sizeof reason),
                     KYLIN_HEALTH_INVALID);
}

static void test_body_need_not_be_terminated_and_reason_may_be_null(void **state)
{
    const char body[] = "{\"components\":{\"metaStore\":{\"status\":\"UP\"}}}garbage";
    char small[8];
    (void)state;
    assert_int_equal(kylin_health_parse(200, body, strlen(body) - 7, NULL, 0), KYLIN_HEALTH_UP);
    assert_int_equal(kylin_health_parse(200, "nope", 4, small, sizeof small), KYLIN_HEALTH_INVALID);
    assert_int_equal(strlen(small), sizeof small - 1); /* truncated, terminated */
    assert_string_equal(kylin_health_name(KYLIN_HEALTH_UP), "UP");
    assert_string_equal(kylin_health_name(KYLIN_HEALTH_DOWN), "DOWN");
    assert_string_equal(kylin_health_name(KYLIN_HEALTH_INVALID), "INVALID");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_metastore_up_is_up),
        cmocka_unit_test(test_aggregate_down_with_metastore_up_is_up),
        cmocka_unit_test(test_aggregate_up_with_metastore_down_is_down),
        cmocka_unit_test(test_missing_fields_are_down_with_a_reason),
        cmocka_unit_test(test_not_an_actuator_document_is_invalid),
        cmocka_unit_test(test_body_need_not_be_terminated_and_reason_may_be_null),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
