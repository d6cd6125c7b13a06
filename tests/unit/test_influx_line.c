/* Unit tests for raftnode/influx_line.c: the line protocol's escaping rules (measurement,
 * tag keys and values, field keys, string field values; InfluxDB 1.x line protocol reference)
 * and the conversion of this member's Prometheus text into points. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "raftnode/influx_line.h"

static char *take(struct metrics_buf *b)
{
    size_t len;
    char *t = metrics_buf_take(b, &len);
    assert_non_null(t);
    assert_int_equal(strlen(t), len);
    return t;
}

/* What FN writes for S into a fresh buffer (caller frees). */
static char *escaped(void (*fn)(struct metrics_buf *, const char *, size_t), const char *s)
{
    struct metrics_buf b;
    metrics_buf_init(&b, 4096);
    fn(&b, s, strlen(s));
    return take(&b);
}

static void test_measurement_escapes_comma_and_space_only(void **state)
{
    (void)state;
    char *t = escaped(influx_write_measurement, "cpu load,total=x\"y\\");
    /* '=' '"' and '\' stay as they are in a measurement */
    assert_string_equal(t, "cpu\\ load\\,total=x\"y\\");
    free(t);
}

static void test_keys_escape_comma_equals_space(void **state)
{
    (void)state;
    char *t = escaped(influx_write_key, "a b,c=d\"e");
    assert_string_equal(t, "a\\ b\\,c\\=d\"e");
    free(t);
}

static void test_string_field_escapes_quote_and_backslash(void **state)
{
    (void)state;
    char *t = escaped(influx_write_string_field, "say \"hi\", a\\b =x");
    assert_string_equal(t, "\"say \\\"hi\\\", a\\\\b =x\"");
    free(t);
}

static void test_newline_never_ends_a_line_early(void **state)
{
    (void)state;
    char *t = escaped(influx_write_key, "a\nb");
    char *u = escaped(influx_write_measurement, "\n");
    assert_string_equal(t, "a\\nb");
    assert_string_equal(u, "\\n");
    free(t);
    free(u);
}

/* The Prometheus text as http_metrics.c writes it, with every escape its label values use. */
static const char prom[] =
    "# HELP raftnode_term Current Raft term.\n"
    "# TYPE raftnode_term gauge\n"
    "raftnode_term 7\n"
    "raftnode_api_requests_total{method=\"project.add\",code=\"ok\"} 12\n"
    "weird{engine=\"a b,c=d\",q=\"x\\\"y\\\\z\\nw\"} 0.25\n"
    "empty_label{engine=\"\",role=\"voter\"} 3\n"
    "hist_bucket{le=\"+Inf\"} 4\n"
    "not_a_number NaN\n"
    "infinite +Inf\n"
    "broken{engine=\"x} 1\n"
    "\n";

static void test_prometheus_text_becomes_points(void **state)
{
    struct metrics_buf b;
    struct metrics_label member = {"member", "2"};
    size_t skipped = 99;
    (void)state;
    metrics_buf_init(&b, 1 << 20);
    size_t n = influx_from_prometheus(&b, prom, sizeof prom - 1, &member, 1, 1700000000123, &skipped);
    char *t = take(&b);
    assert_int_equal(n, 5);
    assert_int_equal(skipped, 3); /* NaN, +Inf, the unterminated label value */
    assert_string_equal(t, "raftnode_term,member=2 value=7 1700000000123\n"
                           "raftnode_api_requests_total,method=project.add,code=ok,member=2 value=12 1700000000123\n"
                           "weird,engine=a\\ b\\,c\\=d,q=x\"y\\z\\nw,member=2 value=0.25 1700000000123\n"
                           "empty_label,role=voter,member=2 value=3 1700000000123\n"
                           "hist_bucket,le=+Inf,member=2 value=4 1700000000123\n");
    free(t);
}

static void test_values_keep_full_precision(void **state)
{
    struct metrics_buf b;
    static const char text[] = "a 0.1\nb 123456789012345678\nc -2.5e-07\n";
    (void)state;
    metrics_buf_init(&b, 4096);
    assert_int_equal(influx_from_prometheus(&b, text, sizeof text - 1, NULL, 0, 5, NULL), 3);
    char *t = take(&b);
    char *line2 = strchr(t, '\n') + 1;
    /* parsing back gives the same doubles */
    assert_true(strtod(strchr(t, '=') + 1, NULL) == 0.1);
    assert_true(strtod(strchr(line2, '=') + 1, NULL) == 123456789012345678.0);
    assert_non_null(strstr(t, "c value=-2.4999999999999999e-07 5\n"));
    free(t);
}

static void test_buffer_limit_is_an_overflow(void **state)
{
    struct metrics_buf b;
    size_t len;
    (void)state;
    metrics_buf_init(&b, 16);
    (void)influx_from_prometheus(&b, prom, sizeof prom - 1, NULL, 0, 1, NULL);
    assert_true(b.overflow);
    assert_null(metrics_buf_take(&b, &len));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_measurement_escapes_comma_and_space_only),
        cmocka_unit_test(test_keys_escape_comma_equals_space),
        cmocka_unit_test(test_string_field_escapes_quote_and_backslash),
        cmocka_unit_test(test_newline_never_ends_a_line_early),
        cmocka_unit_test(test_prometheus_text_becomes_points),
        cmocka_unit_test(test_values_keep_full_precision),
        cmocka_unit_test(test_buffer_limit_is_an_overflow),
    };
    return cmocka_run_group_tests_name("influx_line", tests, NULL, NULL);
}
