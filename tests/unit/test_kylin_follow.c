/* Unit tests for kylin/follow.c: the add / remove / seen decision of "projects follow Kylin"
 * (docs/kylin.md), including names that differ only in case. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "kylin/error.h"
#include "kylin/follow.h"

#define N(a) (sizeof(a) / sizeof(a)[0])

/* "a,b,c" of the N names V ("" for none). */
static const char *joined(const char **v, size_t n)
{
    static char buf[512];
    buf[0] = '\0';
    for (size_t i = 0; i < n; i++) {
        strcat(buf, i > 0 ? "," : "");
        strcat(buf, v[i]);
    }
    return buf;
}

static void test_created_in_kylin_is_added(void **state)
{
    (void)state;
    const char *kylin[] = {"sales", "learn_kylin"}, *quorum[] = {"_global", "learn_kylin"};
    struct kylin_follow_plan p;
    assert_int_equal(kylin_follow_diff(kylin, N(kylin), quorum, N(quorum), NULL, 0, &p), KYLIN_OK);
    assert_string_equal(joined(p.add, p.n_add), "sales");
    assert_string_equal(joined(p.remove, p.n_remove), "");
    assert_string_equal(joined(p.seen, p.n_seen), "learn_kylin,sales");
    assert_int_equal(p.n_clash, 0);
    kylin_follow_plan_free(&p);
}

/* Only projects Kylin once listed are removed: raftctl's own never are, nor _global. */
static void test_dropped_in_kylin_is_removed_only_if_seen(void **state)
{
    (void)state;
    const char *kylin[] = {"a"}, *quorum[] = {"_global", "a", "b", "manual"}, *seen[] = {"a", "b", "_global"};
    struct kylin_follow_plan p;
    assert_int_equal(kylin_follow_diff(kylin, N(kylin), quorum, N(quorum), seen, N(seen), &p), KYLIN_OK);
    assert_string_equal(joined(p.add, p.n_add), "");
    assert_string_equal(joined(p.remove, p.n_remove), "b");
    /* b stays seen while the quorum holds it (a failed remove is proposed again) */
    assert_string_equal(joined(p.seen, p.n_seen), "_global,a,b");
    kylin_follow_plan_free(&p);

    const char *quorum2[] = {"_global", "a", "manual"};
    assert_int_equal(kylin_follow_diff(kylin, N(kylin), quorum2, N(quorum2), seen, N(seen), &p), KYLIN_OK);
    assert_string_equal(joined(p.remove, p.n_remove), "");
    assert_string_equal(joined(p.seen, p.n_seen), "_global,a");
    kylin_follow_plan_free(&p);
}

/* Names are unique ignoring case: a case-twin of a quorum project is not added, and two Kylin
 * rows equal ignoring case add neither. */
static void test_case_twins(void **state)
{
    (void)state;
    const char *kylin[] = {"Sales", "ORDERS", "orders", "x", "x"}, *quorum[] = {"_global", "sales"};
    struct kylin_follow_plan p;
    assert_int_equal(kylin_follow_diff(kylin, N(kylin), quorum, N(quorum), NULL, 0, &p), KYLIN_OK);
    assert_string_equal(joined(p.add, p.n_add), "x");
    assert_int_equal(p.n_clash, 2);
    /* the quorum's `sales` was never listed by Kylin (which lists `Sales`): not removed */
    assert_string_equal(joined(p.remove, p.n_remove), "");
    assert_string_equal(joined(p.seen, p.n_seen), "ORDERS,Sales,orders,x");
    kylin_follow_plan_free(&p);
}

/* An empty Kylin list removes every seen project (Kylin dropped them all), nothing else. */
static void test_empty_lists(void **state)
{
    (void)state;
    const char *quorum[] = {"_global", "a"}, *seen[] = {"a"};
    struct kylin_follow_plan p;
    assert_int_equal(kylin_follow_diff(NULL, 0, NULL, 0, NULL, 0, &p), KYLIN_OK);
    assert_int_equal(p.n_add + p.n_remove + p.n_seen + p.n_clash, 0);
    kylin_follow_plan_free(&p);
    assert_int_equal(kylin_follow_diff(NULL, 0, quorum, N(quorum), seen, N(seen), &p), KYLIN_OK);
    assert_string_equal(joined(p.remove, p.n_remove), "a");
    kylin_follow_plan_free(&p);
    kylin_follow_plan_free(NULL);
}

static void test_many_projects(void **state)
{
    (void)state;
    enum { COUNT = 10000 };
    static char names[COUNT][16];
    const char **kylin = malloc(COUNT * sizeof *kylin), **quorum = malloc(COUNT * sizeof *quorum);
    assert_non_null(kylin);
    assert_non_null(quorum);
    for (size_t i = 0; i < COUNT; i++) {
        snprintf(names[i], sizeof names[i], "p%05zu", i);
        kylin[i] = names[i];
        quorum[i] = names[COUNT - 1 - i];
    }
    struct kylin_follow_plan p;
    assert_int_equal(kylin_follow_diff(kylin, COUNT, quorum, COUNT - 1, kylin, COUNT, &p), KYLIN_OK);
    assert_int_equal(p.n_add, 1);
    assert_string_equal(p.add[0], "p00000");
    assert_int_equal(p.n_remove, 0);
    assert_int_equal(p.n_seen, COUNT);
    kylin_follow_plan_free(&p);
    free(kylin);
    free(quorum);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_created_in_kylin_is_added),
        cmocka_unit_test(test_dropped_in_kylin_is_removed_only_if_seen),
        cmocka_unit_test(test_case_twins),
        cmocka_unit_test(test_empty_lists),
        cmocka_unit_test(test_many_projects),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
