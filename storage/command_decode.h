/* command_decode: private to storage/. Decodes a committed log entry (docs/protocol.md,
 * "Log entries") into typed commands for fsm.c, validating everything a remote or buggy
 * proposer could get wrong.
 *
 * Determinism: whatever a decode reports depends only on the entry's bytes, never on the
 * machine, so every member refuses the same commands. The one exception, running out of
 * memory, is returned as -1 and must stop the state machine rather than refuse the entry.
 * Before msgpack-c sees the buffer, a structural scan checks it is exactly one well-formed
 * object whose declared container sizes fit in the bytes that remain: a 6-byte entry cannot
 * make msgpack-c allocate gigabytes for an array it claims to hold.
 *
 * Keys a map does not need are ignored (a later minor addition need not bump "v"); with a
 * duplicated key the first one counts.
 *
 * Ownership: struct command_entry owns the decoded objects (its msgpack_unpacked); the
 * strings in struct command point into them and live until command_entry_free. */
#ifndef STORAGE_COMMAND_DECODE_H
#define STORAGE_COMMAND_DECODE_H

#include <msgpack.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "storage/command.h"

#define COMMAND_ADDRESS_MAX 255          /* api_address, bytes ("host:port") */
#define COMMAND_IDENTITY_MAX 255         /* engine identity, bytes ("host:port|startMillis") */
#define COMMAND_WEIGHT_MAX 1000000       /* engine weight */
#define COMMAND_HEARTBEAT_IDS_MAX 100000 /* ids in one heartbeat command */
#define COMMAND_REASON_MAX 5000          /* maintenance reason, bytes (Kylin's
                                          * maintenance_mode_reason varchar(5000)) */

enum command_type {
    COMMAND_PROJECT_ADD,
    COMMAND_PROJECT_REMOVE,
    COMMAND_MEMBER_SET,
    COMMAND_MEMBER_FORGET,
    COMMAND_ENGINE_SET,
    COMMAND_HEARTBEAT,
    COMMAND_ENGINE_DEAD,
    COMMAND_ASSIGN,
    COMMAND_DRAIN,
    COMMAND_PIN,
    COMMAND_MAINTENANCE,
    COMMAND_AUDIT,
    COMMAND_KYLIN_CLAIMED,
};

struct command {
    enum command_type type;
    union {
        struct {
            const char *name; /* not NUL-terminated; may break Kylin's rule (fsm checks) */
            size_t len;
            bool nocase;      /* PROJECT_ADD only: field "nocase" (absent = false, the rule of
                               * entries written before it: only exact duplicates refused) */
            bool kylin;       /* PROJECT_ADD only: field "kylin" (absent = false): listed by
                               * Kylin's metadata, the project is stored kylin_listed */
        } project;
        struct {
            uint64_t id;             /* 1..INT64_MAX */
            const char *api_address; /* MEMBER_SET only: 1..COMMAND_ADDRESS_MAX printable
                                      * ASCII bytes, not NUL-terminated */
            size_t api_len;
        } member;
        struct {                  /* ENGINE_SET; ENGINE_DEAD uses id only */
            uint64_t id;          /* 1..INT64_MAX */
            const char *mode;     /* static "all" | "job" | "query" (NUL-terminated) */
            unsigned weight;      /* 1..COMMAND_WEIGHT_MAX */
            const char *identity; /* 1..COMMAND_IDENTITY_MAX printable ASCII bytes (space
                                   * allowed), not NUL-terminated */
            size_t identity_len;
            bool race_enabled;
        } engine;
        struct {
            const msgpack_object *ids; /* n unsigned integers, each checked 1..INT64_MAX:
                                        * read them with command_heartbeat_id */
            uint32_t n;                /* 0..COMMAND_HEARTBEAT_IDS_MAX */
        } heartbeat;
        struct {
            const char *project; /* not NUL-terminated, not checked against Kylin's rule */
            size_t len;
            uint64_t from;       /* 0 (none) .. INT64_MAX */
            uint64_t to;         /* 0 (none) .. INT64_MAX */
            const char *reason;  /* static "new" | "failover" | "rebalance" | "move" |
                                  * "drain" | "restore" */
            uint64_t time_ms;    /* 0..INT64_MAX */
            const char *by;      /* who asked: 1..COMMAND_WHO_MAX printable ASCII bytes, not
                                  * NUL-terminated; NULL when absent (automatic, or an entry
                                  * from before the field existed: unknown) */
            size_t by_len;
        } assign;
        struct {
            uint64_t id; /* 1..INT64_MAX */
            bool on;
        } drain;
        struct {
            const char *project; /* not NUL-terminated */
            size_t len;
            uint64_t engine;     /* 0 (unpin) .. INT64_MAX */
        } pin;
        struct {
            bool on;
            const char *reason; /* 0..COMMAND_REASON_MAX bytes of UTF-8 without NUL, not
                                 * NUL-terminated */
            size_t reason_len;
        } maintenance;
        struct {
            const char *by;     /* 1..COMMAND_WHO_MAX printable ASCII bytes */
            size_t by_len;
            const char *method; /* 1..COMMAND_METHOD_MAX printable ASCII bytes */
            size_t method_len;
            const char *detail; /* 0..COMMAND_DETAIL_MAX bytes of UTF-8 text without NUL */
            size_t detail_len;
            uint64_t time_ms;   /* 0..INT64_MAX */
        } audit;
        struct {                  /* KYLIN_CLAIMED (claims.c) */
            const char *project;  /* not NUL-terminated */
            size_t len;
            uint64_t owner;       /* 1..INT64_MAX: the engine whose Kylin claimed */
            uint64_t epoch;       /* 0..INT64_MAX: the quorum epoch the claim answers */
            const char *identity; /* 1..COMMAND_IDENTITY_MAX printable ASCII bytes, not
                                   * NUL-terminated: the row's current_epoch_owner */
            size_t identity_len;
            int64_t epoch_id;     /* the row's epoch_id */
        } claimed;
    } u;
};

/* Engine id I (< c->u.heartbeat.n) of a decoded heartbeat command. */
static inline uint64_t command_heartbeat_id(const struct command *c, uint32_t i)
{
    return c->u.heartbeat.ids[i].via.u64;
}

struct command_entry {
    msgpack_unpacked unpacked;   /* private: owns the decoded objects */
    uint64_t term;               /* read-only */
    uint32_t n;                  /* read-only: number of commands */
    const msgpack_object *cmds;  /* private: the "cmds" array items */
};

/* Decodes the entry header of BUF/LEN. Returns 0 when the entry is well-formed (individual
 * commands may still be invalid: see command_decode), 1 when it is malformed as a whole (the
 * reason is written to ERR), -1 when out of memory. E must be released with
 * command_entry_free whatever the result. */
int command_entry_decode(struct command_entry *e, const void *buf, size_t len, char *err,
                         size_t cap);
void command_entry_free(struct command_entry *e);

/* Decodes command I (< e->n) into C. 0 valid, 1 invalid (reason in ERR). */
int command_decode(const struct command_entry *e, uint32_t i, struct command *c, char *err,
                   size_t cap);

/* Writes P/N into DST (size CAP) quoted for a message: printable ASCII as is, other bytes as
 * \xNN, cut to 64 input bytes with "..." so a hostile name cannot fill a message. */
void command_quote(char *dst, size_t cap, const char *p, size_t n);

#endif
