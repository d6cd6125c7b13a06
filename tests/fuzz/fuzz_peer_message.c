/* fuzz_peer_message: the peer transport's framing checks (raftnode/peer_msg.c).
 *
 * Input: the bytes a peer sends on the raft port. If the first byte is odd, they start with a
 * handshake (libraft's uvTcpEncodeHandshake) and messages follow it; else messages only.
 * Every message the checks accept is copied into a buffer of exactly its length and walked the
 * way libraft 0.22.1's uvDecodeMessage, configurationDecode and uvDecodeEntriesBatch walk it,
 * so ASan reports any read libraft would make past an accepted message. Invariants: OK means
 * 16 <= need <= len and the same answer for exactly need bytes; MORE means need > len. */
#include <stdbool.h>
#include <string.h>

#include "raftnode/peer_msg.h"
#include "tests/fuzz/fuzz.h"

#define MAX_BYTES (1u << 20)

static uint64_t get64(const uint8_t *p)
{
    uint64_t v;
    memcpy(&v, p, 8);
    return v; /* little-endian host, as libraft assumes */
}

/* configurationDecode: format byte, count, then (id, string, role) each. */
static uint64_t walk_conf(const uint8_t *c, size_t len)
{
    const uint8_t *cursor = c + 1;
    uint64_t n = get64(cursor), sum = c[0];
    cursor += 8;
    for (uint64_t i = 0; i < n; i++) {
        sum += get64(cursor);
        cursor += 8;
        size_t k = 0;
        while (k < len - (size_t)(cursor - c) && cursor[k] != 0) {
            k++;
        }
        FUZZ_CHECK(k < len - (size_t)(cursor - c));
        cursor += k + 1;
        sum += *cursor++;
    }
    return sum;
}

/* What libraft reads of an accepted message, byte by byte, with its padding rule. */
static uint64_t walk_message(const uint8_t *m, size_t len)
{
    uint64_t hlen = get64(m + 8), sum = 0, payload = 0;
    const uint8_t *h = m + 16, *p = m + 16 + hlen;
    for (uint64_t i = 0; i + 8 <= hlen; i += 8) {
        sum += get64(h + i);
    }
    if (m[0] == 1) { /* AppendEntries: batch header, then uvDecodeEntriesBatch */
        uint64_t n = get64(h + 32);
        const uint8_t *cursor = p;
        for (uint64_t i = 0; i < n; i++) {
            const uint8_t *e = h + 40 + 16 * i;
            uint32_t elen;
            memcpy(&elen, e + 12, 4);
            payload += elen;
            if (elen > 0) {
                sum += cursor[0] + cursor[elen - 1];
                if (e[8] == 3) {
                    sum += walk_conf(cursor, elen);
                }
            }
            cursor += elen + (elen % 8 ? 8 - elen % 8 : 0);
        }
    } else if (m[0] == 5) { /* InstallSnapshot */
        uint64_t clen = get64(h + 32);
        sum += walk_conf(h + 40, (size_t)clen);
        payload = get64(h + 40 + clen);
        sum += p[0] + p[payload - 1];
    }
    FUZZ_CHECK(16 + hlen + payload == len);
    return sum;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    size_t off = 0, need = 0;
    char why[256];
    volatile uint64_t sink = 0;

    if (size == 0) {
        return 0;
    }
    if (data[0] & 1) {
        uint64_t id = 0;
        const char *address = NULL;
        int rv = peer_hs_check(data + 1, size - 1, &need, &id, &address, why, sizeof why);
        if (rv != PEER_MSG_OK) {
            FUZZ_CHECK(rv == PEER_MSG_BAD || need > size - 1);
            return 0;
        }
        FUZZ_CHECK(id >= 1 && id <= (uint64_t)INT64_MAX);
        FUZZ_CHECK(strlen(address) < need - PEER_HS_PREAMBLE);
        off = 1 + need;
    } else {
        off = 1;
    }
    while (off < size) {
        int rv = peer_msg_check(data + off, size - off, MAX_BYTES, &need, why, sizeof why);
        if (rv == PEER_MSG_MORE) {
            FUZZ_CHECK(need > size - off);
            return 0;
        }
        if (rv == PEER_MSG_BAD) {
            FUZZ_CHECK(why[0] != '\0');
            return 0;
        }
        FUZZ_CHECK(rv == PEER_MSG_OK && need >= PEER_MSG_PREAMBLE && need <= size - off &&
                   need <= MAX_BYTES);
        size_t again = 0;
        FUZZ_CHECK(peer_msg_check(data + off, need, MAX_BYTES, &again, why, sizeof why) == PEER_MSG_OK);
        FUZZ_CHECK(again == need);
        uint8_t *copy = malloc(need);
        FUZZ_CHECK(copy != NULL);
        memcpy(copy, data + off, need);
        sink += walk_message(copy, need);
        free(copy);
        off += need;
    }
    (void)sink;
    return 0;
}
