/* Unit tests of common/named.c, the name-keyed records with an owned string of the Kylin
 * link (claims recorded, projects Kylin does not know): insert, replace, find, drop
 * (last moved into the hole), and drops of names not held. Leaks show under test-unit-san. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/named.h"

struct rec {
    int before;
    char *name;
    long extra;
    char *value;
};

#define FIELDS sizeof(struct rec), offsetof(struct rec, name)
#define VALUE offsetof(struct rec, value)

static void free_all(struct rec **recs, size_t *n)
{
    while (*n > 0) {
        named_drop(recs, n, FIELDS, VALUE, (*recs)[0].name);
    }
    free(*recs);
    *recs = NULL;
}

static void test_set_find_replace(void **state)
{
    (void)state;
    struct rec *recs = NULL;
    size_t n = 0;
    assert_null(named_find(&recs, n, FIELDS, "a"));
    struct rec *a = named_set(&recs, &n, FIELDS, "a", VALUE, "one");
    assert_non_null(a);
    assert_int_equal(n, 1);
    assert_string_equal(a->name, "a");
    assert_string_equal(a->value, "one");
    assert_int_equal(a->before, 0); /* a new record is zeroed */
    assert_int_equal(a->extra, 0);
    a->extra = 7;
    struct rec *b = named_set(&recs, &n, FIELDS, "b", VALUE, "two");
    assert_non_null(b);
    assert_int_equal(n, 2);
    /* replacing keeps the record (and its other fields), frees the old string */
    a = named_set(&recs, &n, FIELDS, "a", VALUE, "uno");
    assert_int_equal(n, 2);
    assert_ptr_equal(a, &recs[0]);
    assert_string_equal(a->value, "uno");
    assert_int_equal(a->extra, 7);
    assert_ptr_equal(named_find(&recs, n, FIELDS, "b"), &recs[1]);
    assert_null(named_find(&recs, n, FIELDS, "B")); /* exact names */
    /* the copies are the records' own */
    char key[] = "c", val[] = "three";
    named_set(&recs, &n, FIELDS, key, VALUE, val);
    key[0] = 'x';
    val[0] = 'X';
    struct rec *c = named_find(&recs, n, FIELDS, "c");
    assert_non_null(c);
    assert_string_equal(c->value, "three");
    free_all(&recs, &n);
}

static void test_drop(void **state)
{
    (void)state;
    struct rec *recs = NULL;
    size_t n = 0;
    const char *names[] = {"p0", "p1", "p2", "p3"};
    for (size_t i = 0; i < 4; i++) {
        assert_non_null(named_set(&recs, &n, FIELDS, names[i], VALUE, names[i]));
    }
    named_drop(&recs, &n, FIELDS, VALUE, "nope"); /* not held: nothing happens */
    assert_int_equal(n, 4);
    named_drop(&recs, &n, FIELDS, VALUE, "p1"); /* the last moves into its place */
    assert_int_equal(n, 3);
    assert_string_equal(recs[1].name, "p3");
    assert_string_equal(recs[1].value, "p3");
    assert_null(named_find(&recs, n, FIELDS, "p1"));
    named_drop(&recs, &n, FIELDS, VALUE, "p3"); /* now in the middle */
    named_drop(&recs, &n, FIELDS, VALUE, "p2"); /* the last one itself */
    assert_int_equal(n, 1);
    assert_string_equal(recs[0].name, "p0");
    named_drop(&recs, &n, FIELDS, VALUE, "p0");
    assert_int_equal(n, 0);
    assert_null(named_find(&recs, n, FIELDS, "p0"));
    /* set again after everything was dropped */
    assert_non_null(named_set(&recs, &n, FIELDS, "p0", VALUE, "back"));
    assert_string_equal(recs[0].value, "back");
    free_all(&recs, &n);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_set_find_replace),
        cmocka_unit_test(test_drop),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
