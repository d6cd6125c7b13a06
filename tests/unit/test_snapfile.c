/* Unit tests of common/snapfile.c, the backup image format of `raftctl snapshot save` and
 * `raftnode --restore`: round trip, truncation at every length, a flipped bit anywhere,
 * a newer format refused before anything else, trailing bytes, and not-a-snapshot. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/snapfile.h"

struct fixture {
    struct snapfile_meta meta;
    unsigned char image[3000];
    unsigned char *file;
    size_t len;
};

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof *f);
    char err[SNAPFILE_ERR_MAX];
    if (f == NULL) {
        return -1;
    }
    for (size_t i = 0; i < sizeof f->image; i++) {
        f->image[i] = (unsigned char)(i * 7 + 3);
    }
    f->meta.index = 1234;
    f->meta.term = 7;
    f->meta.created_ms = 1700000000000ull;
    f->meta.node_id = 2;
    f->meta.projects = 11;
    f->meta.engines = 3;
    if (snapfile_build(&f->meta, f->image, sizeof f->image, &f->file, &f->len, err, sizeof err) != 0) {
        free(f);
        return -1;
    }
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    free(f->file);
    free(f);
    return 0;
}

static void test_round_trip(void **state)
{
    struct fixture *f = *state;
    struct snapfile_meta m;
    const unsigned char *image = NULL;
    char err[SNAPFILE_ERR_MAX];

    assert_int_equal(snapfile_parse(f->file, f->len, &m, &image, err, sizeof err), SNAPFILE_OK);
    assert_int_equal(m.index, 1234);
    assert_int_equal(m.term, 7);
    assert_int_equal(m.created_ms, 1700000000000ull);
    assert_int_equal(m.node_id, 2);
    assert_int_equal(m.projects, 11);
    assert_int_equal(m.engines, 3);
    assert_int_equal(m.version, SNAPFILE_VERSION);
    assert_int_equal(m.image_size, sizeof f->image);
    assert_memory_equal(m.sha256, f->meta.sha256, SNAPFILE_DIGEST_BYTES);
    assert_non_null(image);
    assert_memory_equal(image, f->image, sizeof f->image);
    /* the checksum is the file's last 32 bytes, over all the others */
    unsigned char digest[SNAPFILE_DIGEST_BYTES];
    assert_int_equal(snapfile_sha256(f->file, f->len - SNAPFILE_DIGEST_BYTES, digest), 0);
    assert_memory_equal(digest, f->file + f->len - SNAPFILE_DIGEST_BYTES, SNAPFILE_DIGEST_BYTES);
}

static void test_empty_image_round_trip(void **state)
{
    (void)state;
    struct snapfile_meta m = {.index = 1}, back;
    unsigned char *file = NULL;
    size_t len = 0;
    const unsigned char *image = NULL;
    char err[SNAPFILE_ERR_MAX];
    assert_int_equal(snapfile_build(&m, NULL, 0, &file, &len, err, sizeof err), 0);
    assert_int_equal(snapfile_parse(file, len, &back, &image, err, sizeof err), SNAPFILE_OK);
    assert_int_equal(back.image_size, 0);
    free(file);
}

/* Every shorter prefix of the file is refused, never read past its end (ASan build). */
static void test_truncated_at_every_length(void **state)
{
    struct fixture *f = *state;
    struct snapfile_meta m;
    const unsigned char *image;
    char err[SNAPFILE_ERR_MAX];

    for (size_t cut = 0; cut < f->len; cut++) {
        unsigned char *copy = malloc(cut > 0 ? cut : 1);
        assert_non_null(copy);
        memcpy(copy, f->file, cut);
        enum snapfile_err rc = snapfile_parse(copy, cut, &m, &image, err, sizeof err);
        assert_int_not_equal(rc, SNAPFILE_OK);
        assert_null(image);
        if (cut >= 8) {
            assert_int_equal(rc, SNAPFILE_TRUNCATED);
            assert_non_null(strstr(err, "truncated"));
        }
        free(copy);
    }
}

/* One flipped bit anywhere after the version (header, image, checksum) is found. */
static void test_bit_flip_anywhere(void **state)
{
    struct fixture *f = *state;
    struct snapfile_meta m;
    const unsigned char *image;
    char err[SNAPFILE_ERR_MAX];

    for (size_t pos = 16; pos < f->len; pos += 1 + pos / 64) {
        for (int bit = 0; bit < 8; bit += 3) {
            f->file[pos] ^= (unsigned char)(1u << bit);
            enum snapfile_err rc = snapfile_parse(f->file, f->len, &m, &image, err, sizeof err);
            f->file[pos] ^= (unsigned char)(1u << bit);
            /* a flip in the header's sizes may read as truncated or trailing bytes */
            assert_true(rc == SNAPFILE_CORRUPT || rc == SNAPFILE_TRUNCATED);
            assert_null(image);
        }
    }
    /* a flip in the image itself is a checksum mismatch, named as such */
    f->file[f->len - SNAPFILE_DIGEST_BYTES - 100] ^= 0x10;
    assert_int_equal(snapfile_parse(f->file, f->len, &m, &image, err, sizeof err), SNAPFILE_CORRUPT);
    assert_non_null(strstr(err, "checksum mismatch"));
}

static void test_newer_version_refused(void **state)
{
    struct fixture *f = *state;
    struct snapfile_meta m;
    const unsigned char *image;
    char err[SNAPFILE_ERR_MAX];

    f->file[11] = SNAPFILE_VERSION + 1; /* big-endian: the low byte */
    assert_int_equal(snapfile_parse(f->file, f->len, &m, &image, err, sizeof err), SNAPFILE_NEWER);
    assert_non_null(strstr(err, "newer"));
    assert_null(image);
    f->file[11] = 0;
    assert_int_equal(snapfile_parse(f->file, f->len, &m, &image, err, sizeof err), SNAPFILE_CORRUPT);
}

static void test_trailing_bytes_and_foreign_files(void **state)
{
    struct fixture *f = *state;
    struct snapfile_meta m;
    const unsigned char *image;
    char err[SNAPFILE_ERR_MAX];
    unsigned char *longer = malloc(f->len + 5);
    assert_non_null(longer);
    memcpy(longer, f->file, f->len);
    memset(longer + f->len, 0, 5);
    assert_int_equal(snapfile_parse(longer, f->len + 5, &m, &image, err, sizeof err), SNAPFILE_CORRUPT);
    free(longer);

    static const unsigned char sqlite[] = "SQLite format 3\0 and more bytes";
    assert_int_equal(snapfile_parse(sqlite, sizeof sqlite, &m, &image, err, sizeof err), SNAPFILE_NOT_SNAPSHOT);
    assert_non_null(strstr(err, "not a raftnode snapshot"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_round_trip, setup, teardown),
        cmocka_unit_test(test_empty_image_round_trip),
        cmocka_unit_test_setup_teardown(test_truncated_at_every_length, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bit_flip_anywhere, setup, teardown),
        cmocka_unit_test_setup_teardown(test_newer_version_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_trailing_bytes_and_foreign_files, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
