/* fuzz_client_reply: what a client makes of a server's bytes (common/client.c).
 *
 * The input is parsed whole as one reply payload (client_reply_parse), then fed as a
 * connection's byte stream through struct frame_reader in small chunks (so frames
 * arrive split and the buffer compacts and grows), each complete frame parsed with one
 * msgpack_unpacked reused across frames, as on_read does. A redirect's leader_api is then
 * parsed as an endpoint, as client_call_leader would. */
#include <string.h>

#include "common/client.h"
#include "common/proto.h"
#include "tests/fuzz/fuzz.h"

#define CHUNK 7          /* bytes per simulated read: frames straddle reads */
#define INITIAL_CAP 16   /* a tiny buffer, so that it has to grow */
#define MAX_REPLY (64u * 1024)

static int terminated(const char *buf, size_t cap)
{
    return memchr(buf, '\0', cap) != NULL;
}

static void parse_one(const char *payload, size_t len, msgpack_unpacked *unpacked)
{
    struct client_reply r;
    char err[256];

    memset(&r, 0, sizeof r);
    err[0] = '\0';
    if (client_reply_parse(payload, len, unpacked, &r, err, sizeof err) != 0) {
        FUZZ_CHECK(err[0] != '\0' && terminated(err, sizeof err));
        return;
    }
    FUZZ_CHECK(r.status >= PROTO_OK && r.status <= PROTO_UNAVAILABLE);
    FUZZ_CHECK(terminated(r.code, sizeof r.code) && terminated(r.error, sizeof r.error));
    FUZZ_CHECK(terminated(r.leader_api, sizeof r.leader_api));
    FUZZ_CHECK(r.status == PROTO_OK || r.result == NULL);
    FUZZ_CHECK(r.payload == payload && r.payload_len == len && !r.local);
    if (r.leader_api[0] != '\0') {
        struct sockaddr_in sin;
        if (client_endpoint_parse(r.leader_api, &sin, err, sizeof err) != 0) {
            FUZZ_CHECK(terminated(err, sizeof err));
        }
    }
}

static void parse_stream(const uint8_t *data, size_t size)
{
    struct frame_reader rd;
    msgpack_unpacked unpacked;
    size_t fed = 0;
    char err[256];
    int broken = 0;

    FUZZ_CHECK(frame_reader_init(&rd, INITIAL_CAP, MAX_REPLY) == 0);
    msgpack_unpacked_init(&unpacked);
    while (fed < size && !broken) {
        char *p;
        size_t room, n;
        const char *payload;
        size_t len;
        int rc;

        FUZZ_CHECK(frame_reader_space(&rd, &p, &room) == 0);
        FUZZ_CHECK(room > 0);
        n = size - fed < CHUNK ? size - fed : CHUNK;
        n = n < room ? n : room;
        memcpy(p, data + fed, n);
        fed += n;
        frame_reader_commit(&rd, n);
        while ((rc = frame_reader_next(&rd, &payload, &len, err, sizeof err)) == 1) {
            FUZZ_CHECK(len <= MAX_REPLY);
            parse_one(payload, len, &unpacked);
        }
        if (rc < 0) {
            FUZZ_CHECK(terminated(err, sizeof err));
            broken = 1; /* the client fails the connection */
        }
    }
    msgpack_unpacked_destroy(&unpacked);
    frame_reader_free(&rd);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    msgpack_unpacked unpacked;

    msgpack_unpacked_init(&unpacked);
    parse_one((const char *)data, size, &unpacked);
    msgpack_unpacked_destroy(&unpacked);
    parse_stream(data, size);
    return 0;
}
