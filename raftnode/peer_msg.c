/* peer_msg: the framing checks of peer_msg.h (libraft 0.22.1's peer wire format). */
#include "peer_msg.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

/* libraft's message types (raft.h: RAFT_APPEND_ENTRIES = 1 .. RAFT_TIMEOUT_NOW) and entry types
 * (RAFT_COMMAND = 1, RAFT_BARRIER, RAFT_CHANGE); spelled out so this file needs no libraft. */
enum { T_APPEND = 1, T_APPEND_RESULT, T_VOTE, T_VOTE_RESULT, T_SNAPSHOT, T_TIMEOUT_NOW };
enum { E_COMMAND = 1, E_BARRIER, E_CHANGE };

#define AE_FIXED 48u  /* 4 x u64 before the batch, u64 count, u64 unused after it */
#define IS_FIXED 56u  /* 5 x u64 before the configuration, 2 x u64 after it */
#define ENTRY_HDR 16u /* u64 term, u8 type, 3 unused, u32 length */

static const char *const type_names[] = {"unknown", "AppendEntries", "AppendEntriesResult",
                                         "RequestVote", "RequestVoteResult", "InstallSnapshot",
                                         "TimeoutNow"};

const char *peer_msg_type_name(unsigned type)
{
    return type >= 1 && type <= T_TIMEOUT_NOW ? type_names[type] : type_names[0];
}

static uint64_t get64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--) {
        v = (v << 8) | p[i];
    }
    return v;
}

static uint32_t get32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static int bad(char *why, size_t why_len, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int bad(char *why, size_t why_len, const char *fmt, ...)
{
    va_list ap;
    if (why != NULL && why_len > 0) {
        va_start(ap, fmt);
        (void)vsnprintf(why, why_len, fmt, ap);
        va_end(ap);
    }
    return PEER_MSG_BAD;
}

int peer_hs_check(const uint8_t *buf, size_t len, size_t *need, uint64_t *id, const char **address,
                  char *why, size_t why_len)
{
    uint64_t protocol, addr_len;
    const uint8_t *nul;

    *need = PEER_HS_PREAMBLE;
    if (len < PEER_HS_PREAMBLE) {
        return PEER_MSG_MORE;
    }
    protocol = get64(buf);
    *id = get64(buf + 8);
    addr_len = get64(buf + 16);
    if (protocol != PEER_HS_PROTOCOL) {
        return bad(why, why_len, "handshake: protocol %" PRIu64 ", expected %d", protocol,
                   PEER_HS_PROTOCOL);
    }
    if (*id == 0 || *id > (uint64_t)INT64_MAX) {
        return bad(why, why_len, "handshake: server id %" PRIu64 " outside 1..2^63-1", *id);
    }
    if (addr_len == 0 || addr_len > PEER_HS_ADDRESS_MAX || addr_len % 8 != 0) {
        return bad(why, why_len, "handshake: address length %" PRIu64 " (1..%d, a multiple of 8)",
                   addr_len, PEER_HS_ADDRESS_MAX);
    }
    *need = PEER_HS_PREAMBLE + (size_t)addr_len;
    if (len < *need) {
        return PEER_MSG_MORE;
    }
    nul = memchr(buf + PEER_HS_PREAMBLE, '\0', (size_t)addr_len);
    if (nul == NULL || nul == buf + PEER_HS_PREAMBLE) {
        return bad(why, why_len, "handshake: address %s", nul == NULL ? "not NUL-terminated" : "empty");
    }
    *address = (const char *)(buf + PEER_HS_PREAMBLE);
    return PEER_MSG_OK;
}

/* A configuration as configurationDecode reads it: every server inside C bytes, a known role.
 * Trailing bytes (libraft pads to 8) must be zero. */
static int check_conf(const uint8_t *c, size_t len, const char *what, char *why, size_t why_len)
{
    size_t pos = 9;
    uint64_t n;

    if (len < 9 || c[0] != 1) {
        return bad(why, why_len, "%s: configuration of %zu bytes, format %d", what, len,
                   len > 0 ? c[0] : -1);
    }
    n = get64(c + 1);
    if (n == 0 || n > PEER_MSG_MAX_SERVERS) {
        return bad(why, why_len, "%s: configuration lists %" PRIu64 " servers", what, n);
    }
    for (uint64_t i = 0; i < n; i++) {
        const uint8_t *nul;
        uint64_t id;
        if (len - pos < 8 + 2) {
            return bad(why, why_len, "%s: configuration server %" PRIu64 " past its end", what, i);
        }
        id = get64(c + pos);
        if (id == 0 || id > (uint64_t)INT64_MAX) {
            return bad(why, why_len, "%s: configuration server id %" PRIu64, what, id);
        }
        pos += 8;
        nul = memchr(c + pos, '\0', len - pos);
        if (nul == NULL || nul == c + pos || (size_t)(nul - c) + 1 >= len) {
            return bad(why, why_len, "%s: configuration address %" PRIu64 " unterminated or empty",
                       what, i);
        }
        pos = (size_t)(nul - c) + 1;
        if (c[pos] > 2) { /* RAFT_STANDBY, RAFT_VOTER, RAFT_SPARE */
            return bad(why, why_len, "%s: configuration role %d", what, c[pos]);
        }
        pos++;
    }
    for (; pos < len; pos++) {
        if (c[pos] != 0 || len - pos >= 8) {
            return bad(why, why_len, "%s: %zu bytes after the configuration", what, len - pos);
        }
    }
    return PEER_MSG_OK;
}

/* AppendEntries header: the count agrees with the header length, every entry has a known type
 * and a length that is a multiple of 8, the payload fits MAX. */
static int check_append(const uint8_t *h, uint64_t hlen, uint64_t max, uint64_t *payload, char *why,
                        size_t why_len)
{
    uint64_t n, sum = 0;

    if (hlen < AE_FIXED || (hlen - AE_FIXED) % ENTRY_HDR != 0) {
        return bad(why, why_len, "AppendEntries: header of %" PRIu64 " bytes (48 + 16 per entry)", hlen);
    }
    n = get64(h + 32);
    if (n != (hlen - AE_FIXED) / ENTRY_HDR) {
        return bad(why, why_len, "AppendEntries: %" PRIu64 " entries claimed, header has room for %" PRIu64,
                   n, (hlen - AE_FIXED) / ENTRY_HDR);
    }
    for (uint64_t i = 0; i < n; i++) {
        const uint8_t *e = h + 40 + i * ENTRY_HDR;
        uint32_t elen = get32(e + 12);
        if (e[8] < E_COMMAND || e[8] > E_CHANGE) {
            return bad(why, why_len, "AppendEntries: entry %" PRIu64 " of type %d", i, e[8]);
        }
        if (get64(e) == 0 || get64(e) > PEER_MSG_MAX_TERM) {
            return bad(why, why_len, "AppendEntries: entry %" PRIu64 " of term %" PRIu64, i, get64(e));
        }
        /* a zero-length entry leaves libraft's batch pointer unset when it is the whole payload */
        if (elen % 8 != 0 || elen == 0) {
            return bad(why, why_len, "AppendEntries: entry %" PRIu64 " of %" PRIu32 " bytes", i, elen);
        }
        sum += elen;
        if (sum > max) {
            return bad(why, why_len, "AppendEntries: entries of more than %" PRIu64 " bytes", max);
        }
    }
    *payload = sum;
    return PEER_MSG_OK;
}

static int check_snapshot(const uint8_t *h, uint64_t hlen, uint64_t *payload, char *why, size_t why_len)
{
    uint64_t clen;
    int rv;

    if (hlen < IS_FIXED + 16) {
        return bad(why, why_len, "InstallSnapshot: header of %" PRIu64 " bytes", hlen);
    }
    clen = get64(h + 32);
    if (clen != hlen - IS_FIXED) {
        return bad(why, why_len, "InstallSnapshot: configuration of %" PRIu64 " bytes in a header of %" PRIu64,
                   clen, hlen);
    }
    rv = check_conf(h + 40, (size_t)clen, "InstallSnapshot", why, why_len);
    if (rv != PEER_MSG_OK) {
        return rv;
    }
    *payload = get64(h + 40 + clen);
    if (*payload == 0) {
        return bad(why, why_len, "InstallSnapshot: empty snapshot");
    }
    return PEER_MSG_OK;
}

/* Configuration entries carried by an AppendEntries (the payload is all there). */
static int check_change_entries(const uint8_t *h, const uint8_t *payload, char *why, size_t why_len)
{
    uint64_t n = get64(h + 32);
    size_t off = 0;
    for (uint64_t i = 0; i < n; i++) {
        const uint8_t *e = h + 40 + i * ENTRY_HDR;
        uint32_t elen = get32(e + 12);
        if (e[8] == E_CHANGE) {
            int rv = check_conf(payload + off, elen, "AppendEntries", why, why_len);
            if (rv != PEER_MSG_OK) {
                return rv;
            }
        }
        off += elen;
    }
    return PEER_MSG_OK;
}

int peer_msg_check(const uint8_t *buf, size_t len, uint64_t max_bytes, size_t *need, char *why,
                   size_t why_len)
{
    uint64_t hlen, payload = 0, want;
    unsigned type;
    const char *name;
    int rv = PEER_MSG_OK;

    *need = PEER_MSG_PREAMBLE;
    if (len < PEER_MSG_PREAMBLE) {
        return PEER_MSG_MORE;
    }
    type = buf[0];
    name = peer_msg_type_name(type);
    if (type < T_APPEND || type > T_TIMEOUT_NOW) {
        return bad(why, why_len, "message type %u unknown", type);
    }
    if (buf[1] != 0 || buf[2] > 2 || buf[3] != 0 || get32(buf + 4) != 0) {
        return bad(why, why_len, "%s: preamble flags %02x %02x %02x %08x", name, buf[1], buf[2], buf[3],
                   get32(buf + 4));
    }
    hlen = get64(buf + 8);
    switch (type) {
    case T_APPEND_RESULT: want = 32; break;
    case T_VOTE: want = 40; break;
    case T_VOTE_RESULT: want = 24; break;
    case T_TIMEOUT_NOW: want = 24; break;
    default: want = 0; break; /* variable: checked below */
    }
    if (want != 0 && hlen != want) {
        return bad(why, why_len, "%s: header of %" PRIu64 " bytes, expected %" PRIu64, name, hlen, want);
    }
    if (hlen == 0 || max_bytes < PEER_MSG_PREAMBLE || hlen > max_bytes - PEER_MSG_PREAMBLE ||
        (type == T_APPEND && hlen > AE_FIXED + (uint64_t)PEER_MSG_MAX_ENTRIES * ENTRY_HDR)) {
        return bad(why, why_len, "%s: header of %" PRIu64 " bytes", name, hlen);
    }
    if ((type == T_APPEND && (hlen < AE_FIXED || (hlen - AE_FIXED) % ENTRY_HDR != 0)) ||
        (type == T_SNAPSHOT && (hlen < IS_FIXED + 16 || hlen % 8 != 0))) {
        return bad(why, why_len, "%s: header of %" PRIu64 " bytes", name, hlen);
    }
    *need = PEER_MSG_PREAMBLE + (size_t)hlen;
    if (len < *need) {
        return PEER_MSG_MORE;
    }
    /* every header starts with a term; the ones that carry a log term have it at 16 or 24 */
    if (get64(buf + PEER_MSG_PREAMBLE) > PEER_MSG_MAX_TERM) {
        return bad(why, why_len, "%s: term %" PRIu64 " beyond 2^40", name, get64(buf + PEER_MSG_PREAMBLE));
    }
    if ((type == T_VOTE && get64(buf + PEER_MSG_PREAMBLE + 24) > PEER_MSG_MAX_TERM) ||
        ((type == T_APPEND || type == T_SNAPSHOT || type == T_TIMEOUT_NOW) &&
         get64(buf + PEER_MSG_PREAMBLE + 16) > PEER_MSG_MAX_TERM)) {
        return bad(why, why_len, "%s: log term beyond 2^40", name);
    }
    if (type == T_APPEND) {
        rv = check_append(buf + PEER_MSG_PREAMBLE, hlen, max_bytes, &payload, why, why_len);
    } else if (type == T_SNAPSHOT) {
        rv = check_snapshot(buf + PEER_MSG_PREAMBLE, hlen, &payload, why, why_len);
    }
    if (rv != PEER_MSG_OK) {
        return rv;
    }
    if (payload > max_bytes - *need) {
        return bad(why, why_len, "%s: %" PRIu64 " bytes of payload, at most %" PRIu64 " in all", name,
                   payload, max_bytes);
    }
    *need += (size_t)payload;
    if (len < *need) {
        return PEER_MSG_MORE;
    }
    if (type == T_APPEND && payload > 0) {
        return check_change_entries(buf + PEER_MSG_PREAMBLE, buf + PEER_MSG_PREAMBLE + hlen, why, why_len);
    }
    return PEER_MSG_OK;
}
