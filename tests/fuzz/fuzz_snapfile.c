/* fuzz_snapfile: what `raftctl snapshot status` and `raftnode --restore` make of a file
 * (common/snapfile.c, snapfile_parse). Whatever the bytes, the parser stays inside them and
 * answers a reason; when it accepts a file, the image it points at lies inside the buffer,
 * the sizes add up, and building a file again from what it read gives a file that parses to
 * the same header and image. */
#include <stdlib.h>
#include <string.h>

#include "common/snapfile.h"
#include "tests/fuzz/fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct snapfile_meta m, again;
    const unsigned char *image = NULL, *image2 = NULL;
    char err[SNAPFILE_ERR_MAX];
    /* a private copy, so that a read past the end is ASan's to see */
    unsigned char *buf = malloc(size > 0 ? size : 1);
    FUZZ_CHECK(buf != NULL);
    if (size > 0) {
        memcpy(buf, data, size);
    }
    err[0] = '\0';
    enum snapfile_err rc = snapfile_parse(buf, size, &m, &image, err, sizeof err);
    if (rc != SNAPFILE_OK) {
        FUZZ_CHECK(image == NULL && err[0] != '\0' && memchr(err, '\0', sizeof err) != NULL);
        free(buf);
        return 0;
    }
    FUZZ_CHECK(m.version >= 1 && m.version <= SNAPFILE_VERSION);
    FUZZ_CHECK(image >= buf + SNAPFILE_PREFIX_BYTES && image + m.image_size + SNAPFILE_DIGEST_BYTES == buf + size);
    FUZZ_CHECK(memcmp(m.sha256, buf + size - SNAPFILE_DIGEST_BYTES, SNAPFILE_DIGEST_BYTES) == 0);
    unsigned char *rebuilt = NULL;
    size_t len = 0;
    struct snapfile_meta copy = m;
    FUZZ_CHECK(snapfile_build(&copy, image, (size_t)m.image_size, &rebuilt, &len, err, sizeof err) == 0);
    FUZZ_CHECK(snapfile_parse(rebuilt, len, &again, &image2, err, sizeof err) == SNAPFILE_OK);
    FUZZ_CHECK(again.index == m.index && again.term == m.term && again.created_ms == m.created_ms &&
               again.node_id == m.node_id && again.projects == m.projects && again.engines == m.engines &&
               again.image_size == m.image_size);
    FUZZ_CHECK(m.image_size == 0 || memcmp(image2, image, (size_t)m.image_size) == 0);
    free(rebuilt);
    free(buf);
    return 0;
}
