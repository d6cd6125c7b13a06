/* image: a store's state copied off the loop thread through a second connection (image.h). */
#include "storage/image.h"

#include <inttypes.h>
#include <sqlite3.h>
#include <stdio.h>
#include <string.h>

#include "storage/schema.h"

int store_image_open(struct store_image *im, const char *path)
{
    memset(im, 0, sizeof *im);
    if (strcmp(path, ":memory:") == 0) {
        return 1;
    }
    /* READONLY: nothing here writes. NOMUTEX: one user at a time (image.h). No busy handler:
     * a WAL reader does not wait for the writer, and pin runs on the loop thread. */
    int rc = sqlite3_open_v2(path, &im->db, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX, NULL);
    if (rc != SQLITE_OK) {
        snprintf(im->errmsg, sizeof im->errmsg, "snapshot image connection to %s: %s", path,
                 im->db != NULL ? sqlite3_errmsg(im->db) : sqlite3_errstr(rc));
        sqlite3_close(im->db);
        im->db = NULL;
        return -1;
    }
    return 0;
}

static void end_read(struct store_image *im)
{
    if (im->pinned && !sqlite3_get_autocommit(im->db)) {
        /* A read transaction ends without writing anything; its outcome changes nothing. */
        (void)sqlite3_exec(im->db, "COMMIT", NULL, NULL, NULL);
    }
    im->pinned = false;
}

int store_image_pin(struct store_image *im, struct store *s)
{
    if (im->db == NULL || im->pinned) {
        snprintf(im->errmsg, sizeof im->errmsg, "snapshot image at index %" PRIu64 ": %.200s",
                 s->applied_index, im->db == NULL ? "no connection" : "a copy is still pinned");
        return -1;
    }
    /* The image must hold every applied entry: libraft compacts the log behind it. */
    if (store_commit(s) != 0) {
        snprintf(im->errmsg, sizeof im->errmsg, "snapshot image at index %" PRIu64 ": %.200s",
                 s->applied_index, s->errmsg);
        return -1;
    }
    char err[STORE_ERRMSG_MAX];
    int64_t applied = -1;
    /* BEGIN defers the read lock to the first read: the meta read below takes it, and from
     * then on this connection sees the state the store's last commit left. */
    if (sqlite3_exec(im->db, "BEGIN", NULL, NULL, NULL) != SQLITE_OK) {
        snprintf(err, sizeof err, "BEGIN: %s", sqlite3_errmsg(im->db));
        goto fail;
    }
    im->pinned = true;
    int found = schema_meta_get(im->db, SCHEMA_META_APPLIED_INDEX, &applied, err, sizeof err);
    if (found < 0) {
        goto fail;
    }
    if (found == 0 || applied < 0 || (uint64_t)applied != s->applied_index) {
        snprintf(err, sizeof err, "the second connection sees applied index %" PRId64, applied);
        goto fail;
    }
    im->index = s->applied_index;
    return 0;

fail:
    snprintf(im->errmsg, sizeof im->errmsg, "snapshot image at index %" PRIu64 ": %.200s", s->applied_index, err);
    end_read(im);
    return -1;
}

int store_image_copy(struct store_image *im, void **buf, size_t *len)
{
    if (!im->pinned) {
        snprintf(im->errmsg, sizeof im->errmsg, "snapshot image: copy without a pinned state");
        return -1;
    }
    sqlite3_int64 size = 0;
    unsigned char *image = im->fail_copy ? NULL : sqlite3_serialize(im->db, "main", &size, 0);
    im->fail_copy = false;
    if (image == NULL || size <= 0) {
        snprintf(im->errmsg, sizeof im->errmsg,
                 "snapshot image at index %" PRIu64 ": sqlite3_serialize failed: %s", im->index,
                 image == NULL && sqlite3_errcode(im->db) != SQLITE_OK ? sqlite3_errmsg(im->db)
                                                                       : "out of memory");
        sqlite3_free(image);
        end_read(im);
        return -1;
    }
    end_read(im);
    *buf = image;
    *len = (size_t)size;
    return 0;
}

void store_image_unpin(struct store_image *im)
{
    if (im->db != NULL) {
        end_read(im);
    }
}

void store_image_close(struct store_image *im)
{
    store_image_unpin(im);
    /* Fails only with unfinalized statements; schema_meta_get finalizes its own. */
    sqlite3_close(im->db);
    im->db = NULL;
}
