/* Unit tests for raftnode/metrics.c: the Prometheus text writer (label and HELP escaping,
 * histogram buckets, number formatting, the size limit) and the API request counting that
 * api.c, handlers.c and api_pending.c drive. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "raftnode/metrics.h"

/* The text written by FN into a fresh buffer (caller frees). */
static char *render(void (*fn)(struct metrics_buf *b, void *arg), void *arg)
{
    struct metrics_buf b;
    size_t len;
    metrics_buf_init(&b, 1 << 20);
    fn(&b, arg);
    char *text = metrics_buf_take(&b, &len);
    assert_non_null(text);
    assert_int_equal(strlen(text), len);
    return text;
}

static void write_escaped_sample(struct metrics_buf *b, void *arg)
{
    (void)arg;
    struct metrics_label l[2] = {{"method", "a\\b\"c\nd"}, {"code", "ok"}};
    metrics_write_sample(b, "x_total", l, 2, 3);
}

static void test_label_values_are_escaped(void **state)
{
    (void)state;
    char *t = render(write_escaped_sample, NULL);
    assert_string_equal(t, "x_total{method=\"a\\\\b\\\"c\\nd\",code=\"ok\"} 3\n");
    free(t);
}

static void write_header(struct metrics_buf *b, void *arg)
{
    (void)arg;
    metrics_write_header(b, "x", "gauge", "back\\slash \"quotes\" stay\nnext line");
    metrics_write_sample(b, "x", NULL, 0, 0.25);
    metrics_write_sample(b, "y", NULL, 0, 1234567890123.0);
    metrics_write_sample(b, "z", NULL, 0, -2);
}

static void test_help_escaping_and_numbers(void **state)
{
    (void)state;
    char *t = render(write_header, NULL);
    assert_string_equal(t, "# HELP x back\\\\slash \"quotes\" stay\\nnext line\n# TYPE x gauge\n"
                           "x 0.25\ny 1234567890123\nz -2\n");
    free(t);
}

static const double bounds[] = {0.1, 1, 10};

static void write_hist(struct metrics_buf *b, void *arg)
{
    struct metrics_label l = {"path", "/x"};
    metrics_write_hist(b, "h", &l, 1, arg);
}

static void test_histogram_buckets_are_cumulative_and_end_at_count(void **state)
{
    (void)state;
    struct metrics_hist h;
    metrics_hist_init(&h, bounds, 3);
    metrics_hist_observe(&h, 0.05);
    metrics_hist_observe(&h, 0.1); /* le is inclusive */
    metrics_hist_observe(&h, 5);
    metrics_hist_observe(&h, 50); /* only in +Inf */
    char *t = render(write_hist, &h);
    assert_string_equal(t, "h_bucket{path=\"/x\",le=\"0.1\"} 2\n"
                           "h_bucket{path=\"/x\",le=\"1\"} 2\n"
                           "h_bucket{path=\"/x\",le=\"10\"} 3\n"
                           "h_bucket{path=\"/x\",le=\"+Inf\"} 4\n"
                           "h_sum{path=\"/x\"} 55.15\n"
                           "h_count{path=\"/x\"} 4\n");
    free(t);
}

static void write_empty_hist(struct metrics_buf *b, void *arg)
{
    metrics_write_hist(b, "e", NULL, 0, arg);
}

static void test_empty_histogram_without_labels(void **state)
{
    (void)state;
    struct metrics_hist h;
    metrics_hist_init(&h, bounds, 1);
    char *t = render(write_empty_hist, &h);
    assert_string_equal(t, "e_bucket{le=\"0.1\"} 0\ne_bucket{le=\"+Inf\"} 0\ne_sum 0\ne_count 0\n");
    free(t);
}

static void test_buffer_limit_overflows_instead_of_growing(void **state)
{
    (void)state;
    struct metrics_buf b;
    size_t len;
    metrics_buf_init(&b, 10);
    metrics_buf_put(&b, "12345", 5);
    metrics_buf_printf(&b, "%s", "6789");
    assert_false(b.overflow);
    metrics_buf_put(&b, "ab", 2);
    assert_true(b.overflow);
    assert_null(metrics_buf_take(&b, &len));
    metrics_buf_init(&b, 10);
    char *empty = metrics_buf_take(&b, &len);
    assert_non_null(empty);
    assert_int_equal(len, 0);
    free(empty);
}

static uint64_t api_count(const char *method, const char *code)
{
    for (unsigned i = 0; i < metrics_global.n_api; i++) {
        if (strcmp(metrics_global.api[i].a, method) == 0 && strcmp(metrics_global.api[i].b, code) == 0) {
            return metrics_global.api[i].count;
        }
    }
    return 0;
}

static void test_api_requests_counted_once_with_their_reply_code(void **state)
{
    (void)state;
    metrics_init();
    /* a synchronous reply */
    metrics_api_dispatch_begin();
    metrics_api_reply_code("ok");
    assert_true(metrics_api_dispatch_end("status", 1));
    /* a parked write: nothing at dispatch, counted when its wait is freed after the reply */
    metrics_api_dispatch_begin();
    assert_false(metrics_api_dispatch_end("project.add", 1));
    metrics_api_reply_code("leadership_lost");
    metrics_api_parked_done("project.add", 1);
    /* a wait freed by its own handler, which then replies: counted once, by dispatch */
    metrics_api_dispatch_begin();
    metrics_api_parked_done("engine.heartbeat", 1);
    metrics_api_reply_code("failed");
    assert_true(metrics_api_dispatch_end("engine.heartbeat", 1));
    /* a parked request whose client went away */
    metrics_api_parked_done("project.add", 1);
    assert_int_equal(api_count("status", "ok"), 1);
    assert_int_equal(api_count("project.add", "leadership_lost"), 1);
    assert_int_equal(api_count("engine.heartbeat", "failed"), 1);
    assert_int_equal(api_count("project.add", "dropped"), 1);
    assert_int_equal(metrics_global.api_duration.count, 4);
}

static void test_api_series_past_the_table_count_as_other(void **state)
{
    (void)state;
    char code[16];
    metrics_init();
    for (unsigned i = 0; i < METRICS_API_SERIES + 5; i++) {
        snprintf(code, sizeof code, "c%u", i);
        metrics_api_dispatch_begin();
        metrics_api_reply_code(code); /* copied: CODE is reused */
        assert_true(metrics_api_dispatch_end("m", 0));
    }
    assert_int_equal(metrics_global.n_api, METRICS_API_SERIES);
    assert_int_equal(metrics_global.api_other, 5);
    assert_int_equal(api_count("m", "c0"), 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_label_values_are_escaped),
        cmocka_unit_test(test_help_escaping_and_numbers),
        cmocka_unit_test(test_histogram_buckets_are_cumulative_and_end_at_count),
        cmocka_unit_test(test_empty_histogram_without_labels),
        cmocka_unit_test(test_buffer_limit_overflows_instead_of_growing),
        cmocka_unit_test(test_api_requests_counted_once_with_their_reply_code),
        cmocka_unit_test(test_api_series_past_the_table_count_as_other),
    };
    return cmocka_run_group_tests_name("metrics", tests, NULL, NULL);
}
