/* fuzz_api_frame: the server's request decoding (raftnode/api_frame.c over common/frame.c).
 *
 * The input is decoded twice: whole, as one frame payload; then as the byte stream of a
 * connection, cut into 4-byte big-endian length frames the way api.c's read_cb does (stop at
 * a frame over the limit, an incomplete frame, or a malformed one, which closes the
 * connection). A request that decodes must survive a round trip through the client's
 * encoder (client_request_pack) with the same id, method and args. */
#include <string.h>

#include "common/client.h"
#include "common/proto.h"
#include "raftnode/api_frame.h"
#include "tests/fuzz/fuzz.h"

#define MAX_FRAME PROTO_DEFAULT_MAX_FRAME

static int pack_args(msgpack_packer *pk, void *arg)
{
    return msgpack_pack_object(pk, *(const msgpack_object *)arg);
}

/* Packs OBJ into SB (initialised by the caller). */
static void pack_object(msgpack_sbuffer *sb, const msgpack_object *obj)
{
    msgpack_packer pk;
    msgpack_packer_init(&pk, sb, msgpack_sbuffer_write);
    FUZZ_CHECK(msgpack_pack_object(&pk, *obj) == 0);
}

static void check_round_trip(const struct api_frame *f)
{
    msgpack_sbuffer req, a, b;
    struct api_frame again;
    char err[256];

    msgpack_sbuffer_init(&req);
    msgpack_sbuffer_init(&a);
    msgpack_sbuffer_init(&b);
    /* The args packed once more can only be as long as the frame they came from (or a few
     * bytes longer for an omitted args), so the limit is never the reason to fail. */
    FUZZ_CHECK(client_request_pack(&req, f->id, f->method, pack_args, (void *)f->args, SIZE_MAX,
                                   err, sizeof err) == 0);
    FUZZ_CHECK(req.size >= PROTO_HEADER_BYTES);
    FUZZ_CHECK(proto_get_len((const unsigned char *)req.data) == req.size - PROTO_HEADER_BYTES);
    FUZZ_CHECK(api_frame_decode(&again, req.data + PROTO_HEADER_BYTES,
                                req.size - PROTO_HEADER_BYTES) == API_FRAME_OK);
    FUZZ_CHECK(again.id == f->id && strcmp(again.method, f->method) == 0);
    /* Compare encodings, not objects: a NaN float is not equal to itself. */
    pack_object(&a, f->args);
    pack_object(&b, again.args);
    FUZZ_CHECK(a.size == b.size && (a.size == 0 || memcmp(a.data, b.data, a.size) == 0));
    api_frame_free(&again);
    msgpack_sbuffer_destroy(&b);
    msgpack_sbuffer_destroy(&a);
    msgpack_sbuffer_destroy(&req);
}

/* Decodes one payload; returns what api.c would do with the connection (-1 = close). */
static int handle_payload(const char *data, size_t len)
{
    struct api_frame f;
    enum api_frame_status st = api_frame_decode(&f, data, len);
    int rc = 0;

    FUZZ_CHECK(memchr(f.method, '\0', sizeof f.method) != NULL);
    switch (st) {
    case API_FRAME_OK:
        FUZZ_CHECK(f.args != NULL && f.args->type == MSGPACK_OBJECT_MAP);
        check_round_trip(&f);
        break;
    case API_FRAME_BAD_ARGS:
        FUZZ_CHECK(f.args == NULL);
        break;
    case API_FRAME_BAD_METHOD:
        FUZZ_CHECK(f.method[0] == '\0' && f.args == NULL);
        break;
    case API_FRAME_MALFORMED:
        FUZZ_CHECK(f.method[0] == '\0' && f.args == NULL);
        rc = -1;
        break;
    default:
        FUZZ_CHECK(!"unknown api_frame_status");
    }
    api_frame_free(&f);
    return rc;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *p = (const char *)data;
    size_t off = 0;

    (void)handle_payload(p, size);
    while (size - off >= PROTO_HEADER_BYTES) {
        uint32_t flen = proto_get_len(data + off);
        if (flen > MAX_FRAME || size - off - PROTO_HEADER_BYTES < flen) {
            break; /* frame_too_large, or the rest of the frame never arrives */
        }
        if (handle_payload(p + off + PROTO_HEADER_BYTES, flen) != 0) {
            break;
        }
        off += PROTO_HEADER_BYTES + flen;
    }
    return 0;
}
