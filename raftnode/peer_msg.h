/* peer_msg: checks the framing of libraft 0.22.1's peer protocol before libraft decodes it.
 *
 * libraft 0.22.1 trusts the sizes and counts on the wire (issue 12): a 1-byte RequestVote
 * header is read past, an AppendEntries claiming 50,000,000 entries makes it allocate and walk
 * them, a configuration length larger than the header makes it read past that too. The peer
 * transport (peer_transport.c) runs every byte a peer sends through these checks and hands
 * libraft only whole messages that passed; anything else closes that connection.
 *
 * Wire format (libraft src/uv_tcp_connect.c, uv_encoding.c, uv_recv.c at v0.22.1; all
 * integers little endian):
 *   handshake: u64 protocol (1), u64 server id, u64 address length L (padded to 8 by
 *              libraft), L bytes of NUL-terminated address (zero padding after the NUL).
 *   message:   preamble u8 type, u8 0, u8 version, u8 0, u32 0, u64 header length H;
 *              H bytes of header; then a payload whose length the header gives:
 *     1 AppendEntries        H = 48 + 16 n: term, prev index, prev term, commit, u64 n,
 *                            n x (u64 term, u8 type, 3 unused, u32 length), u64 unused;
 *                            payload = the entries' data, sum of lengths (each a multiple
 *                            of 8: libraft steps over padding when it slices the payload)
 *     2 AppendEntriesResult  H = 32     3 RequestVote  H = 40     4 RequestVoteResult H = 24
 *     5 InstallSnapshot      H = 56 + C: term, last index, last term, conf index, u64 C,
 *                            C bytes of configuration (u8 format 1, u64 n, n x (u64 id,
 *                            NUL-terminated address, u8 role), zero padding to 8), u64 data
 *                            length D, u64 unused; payload = D bytes of snapshot
 *     6 TimeoutNow           H = 24
 *   Every term field is at most PEER_MSG_MAX_TERM, every entry's term is not 0.
 *   The header lengths are exactly what 0.22.1 sends (older encodings are not accepted: every
 *   member runs the same libraft).
 * Pure: no I/O, no heap, no clock. Owns nothing. Calls: libc only. */
#ifndef RAFTNODE_PEER_MSG_H
#define RAFTNODE_PEER_MSG_H

#include <stddef.h>
#include <stdint.h>

#define PEER_HS_PROTOCOL 1
#define PEER_HS_PREAMBLE 24
#define PEER_HS_ADDRESS_MAX 256 /* bytes of the padded address, NUL included */
#define PEER_MSG_PREAMBLE 16
/* Most entries one AppendEntries may carry (libraft sends at most a few thousand). */
#define PEER_MSG_MAX_ENTRIES 1000000u
/* Most servers one configuration may list. */
#define PEER_MSG_MAX_SERVERS 4096u
/* Largest term accepted in any term field. Terms grow by one an election: at one election a
 * millisecond 2^40 lasts 35 years. A forged term near 2^64 would wedge the cluster for good
 * (issue 12: terms overflow); one below this bound only costs an election. */
#define PEER_MSG_MAX_TERM ((uint64_t)1 << 40)
#define PEER_MSG_DEFAULT_MAX_BYTES (64u * 1024 * 1024)

enum peer_msg_status {
    PEER_MSG_OK = 0,     /* a whole, well-formed message (or handshake) */
    PEER_MSG_MORE = 1,   /* well-formed so far; *need bytes are needed in all */
    PEER_MSG_BAD = -1,   /* malformed: why says what */
};

/* Checks a handshake at BUF (LEN bytes so far). OK: *need is its length, *id the server id
 * and *address points at the NUL-terminated address inside BUF. */
int peer_hs_check(const uint8_t *buf, size_t len, size_t *need, uint64_t *id, const char **address,
                  char *why, size_t why_len);

/* Checks the message at the start of BUF (LEN bytes so far), with at most MAX_BYTES in all.
 * OK: *need is the message's length (it may be followed by the next message in BUF). MORE:
 * *need is the total length needed so far (preamble, header, or the whole message once the
 * header passed). BAD: why names the type and what was wrong. The check is O(header size):
 * the payload is only looked into for configuration entries (RAFT_CHANGE). */
int peer_msg_check(const uint8_t *buf, size_t len, uint64_t max_bytes, size_t *need, char *why,
                   size_t why_len);

/* The message type's name for logs ("RequestVote"), or "unknown". */
const char *peer_msg_type_name(unsigned type);

#endif
