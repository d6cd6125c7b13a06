/* Unit tests for kylin/follow.c: the add / adopt / remove decision of "projects follow Kylin"
 * (docs/kylin.md), including names that differ only in case. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
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
    const bool listed[] = {false, true};
    struct kylin_follow_plan p;
    assert_int_equal(kylin_follow_diff(kylin, N(kylin), quorum, listed, N(quorum), &p), KYLIN_OK);
    assert_string_equal(joined(p.add, p.n_add), "sales");
    assert_string_equal(joined(p.adopt, p.n_adopt), "");
    assert_string_equal(joined(p.remove, p.n_remove), "");
    assert_int_equal(p.n_clash, 0);
    kylin_follow_plan_free(&p);
}

/* Only projects flagged kylin_listed are removed: raftctl's own never are, nor _global. The
 * decision needs nothing but the two lists, so a new leader makes the same one. */
static void test_dropped_in_kylin_is_removed_only_if_listed(void **state)
{
    (void)state;
    const char *kylin[] = {"a"}, *quorum[] = {"_global", "a", "b", "manual"};
    const bool listed[] = {true, true, true, false};
    struct kylin_follow_plan p;
    assert_int_equal(kylin_follow_diff(kylin, N(kylin), quorum, listed, N(quorum), &p), KYLIN_OK);
    assert_string_equal(joined(p.add, p.n_add), "");
    assert_string_equal(joined(p.adopt, p.n_adopt), "");
    assert_string_equal(joined(p.remove, p.n_remove), "b");
    kylin_follow_plan_free(&p);

    /* no flags at all (a store from before them): nothing is removed */
    assert_int_equal(kylin_follow_diff(kylin, N(kylin), quorum, NULL, N(quorum), &p), KYLIN_OK);
    assert_string_equal(joined(p.remove, p.n_remove), "");
    assert_string_equal(joined(p.adopt, p.n_adopt), "a");
    kylin_follow_plan_free(&p);
}

/* A raftctl project that Kylin lists under the same exact name is adopted (flagged), so that
 * it follows Kylin from then on; a case-twin is not. */
static void test_listed_quorum_project_is_adopted(void **state)
{
    (void)state;
    const char *kylin[] = {"manual", "Other"}, *quorum[] = {"_global", "manual", "other"};
    const bool listed[] = {false, false, false};
    struct kylin_follow_plan p;
    assert_int_equal(kylin_follow_diff(kylin, N(kylin), quorum, listed, N(quorum), &p), KYLIN_OK);
    assert_string_equal(joined(p.add, p.n_add), "");
    assert_string_equal(joined(p.adopt, p.n_adopt), "manual");
    assert_string_equal(joined(p.remove, p.n_remove), "");
    kylin_follow_plan_free(&p);
}

/* Names are unique ignoring case: a case-twin of a quorum project is not added, and two Kylin
 * rows equal ignoring case add neither. */
static void test_case_twins(void **state)
{
    (void)state;
    const char *kylin[] = {"Sales", "ORDERS", "orders", "x", "x"}, *quorum[] = {"_global", "sales"};
    struct kylin_follow_plan p;
    assert_int_equal(kylin_follow_diff(kylin, N(kylin), quorum, NULL, N(quorum), &p), KYLIN_OK);
    assert_string_equal(joined(p.add, p.n_add), "x");
    assert_int_equal(p.n_clash, 2);
    /* the quorum's `sales` was never listed by Kylin (which lists `Sales`): not removed */
    assert_string_equal(joined(p.remove, p.n_remove), "");
    assert_string_equal(joined(p.adopt, p.n_adopt), "");
    kylin_follow_plan_free(&p);
}

/* An empty Kylin list removes every flagged project (Kylin dropped them all), nothing else. */
static void test_empty_lists(void **state)
{
    (void)state;
    const char *quorum[] = {"_global", "a", "m"};
    const bool listed[] = {false, true, false};
    struct kylin_follow_plan p;
    assert_int_equal(kylin_follow_diff(NULL, 0, NULL, NULL, 0, &p), KYLIN_OK);
    assert_int_equal(p.n_add + p.n_adopt + p.n_remove + p.n_clash, 0);
    kylin_follow_plan_free(&p);
    assert_int_equal(kylin_follow_diff(NULL, 0, quorum, listed, N(quorum), &p), KYLIN_OK);
    assert_string_equal(joined(p.remove, p.n_remove), "a");
    kylin_follow_plan_free(&p);
    kylin_follow_plan_free(NULL);
}

static void test_many_projects(void **state)
{
    (void)state;
    enum { COUNT = 10000 };
    static char names[COUNT][16];
    static bool listed[COUNT];
    const char **kylin = malloc(COUNT * sizeof *kylin), **quorum = malloc(COUNT * sizeof *quorum);
    assert_non_null(kylin);
    assert_non_null(quorum);
    for (size_t i = 0; i < COUNT; i++) {
        snprintf(names[i], sizeof names[i], "p%05zu", i);
        kylin[i] = names[i];
        quorum[i] = names[COUNT - 1 - i];
        listed[i] = true;
    }
    struct kylin_follow_plan p;
    /* the quorum lacks p00000; Kylin lacks p09999 (flagged): one add, one remove */
    assert_int_equal(kylin_follow_diff(kylin, COUNT - 1, quorum, listed, COUNT - 1, &p), KYLIN_OK);
    assert_int_equal(p.n_add, 1);
    assert_string_equal(p.add[0], "p00000");
    assert_int_equal(p.n_remove, 1);
    assert_string_equal(p.remove[0], "p09999");
    assert_int_equal(p.n_adopt, 0);
    kylin_follow_plan_free(&p);
    free(kylin);
    free(quorum);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_created_in_kylin_is_added),
        cmocka_unit_test(test_dropped_in_kylin_is_removed_only_if_listed),
        cmocka_unit_test(test_listed_quorum_project_is_adopted),
        cmocka_unit_test(test_case_twins),
        cmocka_unit_test(test_empty_lists),
        cmocka_unit_test(test_many_projects),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
