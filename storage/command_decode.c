/* command_decode: validating decoder of log entries for the state machine (see
 * command_decode.h). Adding a command type = one decode function + one row in `types`. */
#include "storage/command_decode.h"

#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "common/mp.h"
#include "storage/command.h"

/* Deepest container nesting accepted. An entry needs 3 (entry map, cmds array, cmd map);
 * msgpack-c's own limit (MSGPACK_EMBED_STACK_SIZE, 32) reports overflow as an out-of-memory
 * error, which must never come from entry bytes, so the scan refuses depth long before. */
#define SCAN_MAX_DEPTH 16

void command_quote(char *dst, size_t cap, const char *p, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    const size_t max_in = 64;
    size_t o = 0;
    if (cap == 0) {
        return;
    }
    for (size_t i = 0; i < n && i < max_in; i++) {
        unsigned char c = (unsigned char)p[i];
        if (c >= 0x20 && c < 0x7f && c != '\\' && c != '\'') {
            if (o + 1 >= cap) {
                break;
            }
            dst[o++] = (char)c;
        } else {
            if (o + 4 >= cap) {
                break;
            }
            dst[o++] = '\\';
            dst[o++] = 'x';
            dst[o++] = hex[c >> 4];
            dst[o++] = hex[c & 0xf];
        }
    }
    if (n > max_in && o + 3 < cap) {
        memcpy(dst + o, "...", 3);
        o += 3;
    }
    dst[o] = '\0';
}

static uint64_t read_be(const unsigned char *p, unsigned bytes)
{
    uint64_t v = 0;
    for (unsigned i = 0; i < bytes; i++) {
        v = (v << 8) | p[i];
    }
    return v;
}

/* Checks that BUF/LEN is exactly one well-formed msgpack object, nested at most
 * SCAN_MAX_DEPTH deep, every declared size fitting in the bytes left. 0 or 1 (ERR set). */
/* libraft wants entry lengths that are multiples of 8, so command_entry_build_n pads the
 * msgpack map with up to 7 zero bytes; anything else after the map is garbage. */
static bool is_padding(const void *data, size_t off, size_t len)
{
    const unsigned char *buf = data;
    if (off > len || len - off >= 8) {
        return false;
    }
    for (size_t i = off; i < len; i++) {
        if (buf[i] != 0) {
            return false;
        }
    }
    return true;
}

static int scan(const unsigned char *buf, size_t len, char *err, size_t cap)
{
    uint64_t pending[SCAN_MAX_DEPTH + 1]; /* objects still to read at each open level */
    unsigned depth = 1;
    size_t off = 0;
    pending[0] = 1;
    while (depth > 0) {
        if (pending[depth - 1] == 0) {
            depth--;
            continue;
        }
        pending[depth - 1]--;
        if (off >= len) {
            snprintf(err, cap, "entry is truncated: %zu bytes end inside a msgpack object", len);
            return 1;
        }
        unsigned char b = buf[off++];
        unsigned len_bytes = 0;  /* size of a following length / count field */
        uint64_t skip = 0;       /* fixed payload bytes */
        uint64_t items = 0;      /* container: objects it holds (a map holds 2 per entry) */
        bool container = false;
        unsigned pairs = 1;      /* 2 for maps */
        if (b <= 0x7f || b >= 0xe0 || b == 0xc0 || b == 0xc2 || b == 0xc3) {
            /* fixint, nil, bool */
        } else if (b <= 0x8f) {
            container = true, items = b & 0x0f, pairs = 2;
        } else if (b <= 0x9f) {
            container = true, items = b & 0x0f;
        } else if (b <= 0xbf) {
            skip = b & 0x1f;
        } else {
            switch (b) {
            case 0xc4: case 0xd9: len_bytes = 1; break;             /* bin8, str8 */
            case 0xc5: case 0xda: len_bytes = 2; break;             /* bin16, str16 */
            case 0xc6: case 0xdb: len_bytes = 4; break;             /* bin32, str32 */
            case 0xc7: len_bytes = 1, skip = 1; break;              /* ext8: + type byte */
            case 0xc8: len_bytes = 2, skip = 1; break;
            case 0xc9: len_bytes = 4, skip = 1; break;
            case 0xca: skip = 4; break;                             /* float32 */
            case 0xcb: skip = 8; break;                             /* float64 */
            case 0xcc: case 0xd0: skip = 1; break;                  /* (u)int8 */
            case 0xcd: case 0xd1: skip = 2; break;
            case 0xce: case 0xd2: skip = 4; break;
            case 0xcf: case 0xd3: skip = 8; break;
            case 0xd4: skip = 2; break;                             /* fixext1: type + 1 */
            case 0xd5: skip = 3; break;
            case 0xd6: skip = 5; break;
            case 0xd7: skip = 9; break;
            case 0xd8: skip = 17; break;
            case 0xdc: container = true, len_bytes = 2; break;      /* array16 */
            case 0xdd: container = true, len_bytes = 4; break;      /* array32 */
            case 0xde: container = true, len_bytes = 2, pairs = 2; break; /* map16 */
            case 0xdf: container = true, len_bytes = 4, pairs = 2; break; /* map32 */
            default:
                snprintf(err, cap, "entry is not valid msgpack: byte 0x%02x at offset %zu", b,
                         off - 1);
                return 1;
            }
        }
        if (len_bytes > 0) {
            if (len - off < len_bytes) {
                snprintf(err, cap, "entry is truncated: %zu bytes end inside a length field", len);
                return 1;
            }
            uint64_t declared = read_be(buf + off, len_bytes);
            off += len_bytes;
            if (container) {
                items = declared;
            } else {
                skip += declared;
            }
        }
        if (container) {
            items *= pairs; /* at most 2 * (2^32 - 1): no overflow */
            if (items > len - off) {
                snprintf(err, cap,
                         "entry is truncated: a container declares %" PRIu64
                         " objects but only %zu bytes remain",
                         items, len - off);
                return 1;
            }
            if (items > 0) {
                if (depth > SCAN_MAX_DEPTH) {
                    snprintf(err, cap, "entry nests containers deeper than %d levels",
                             SCAN_MAX_DEPTH);
                    return 1;
                }
                pending[depth++] = items;
            }
        } else {
            if (skip > len - off) {
                snprintf(err, cap, "entry is truncated: a value needs %" PRIu64
                                   " bytes but only %zu remain",
                         skip, len - off);
                return 1;
            }
            off += (size_t)skip;
        }
    }
    if (!is_padding(buf, off, len)) {
        snprintf(err, cap, "entry has %zu trailing bytes after its msgpack map", len - off);
        return 1;
    }
    return 0;
}

static const char *type_name(const msgpack_object *o)
{
    switch (o->type) {
    case MSGPACK_OBJECT_NIL: return "nil";
    case MSGPACK_OBJECT_BOOLEAN: return "boolean";
    case MSGPACK_OBJECT_POSITIVE_INTEGER: return "unsigned integer";
    case MSGPACK_OBJECT_NEGATIVE_INTEGER: return "negative integer";
    case MSGPACK_OBJECT_FLOAT32:
    case MSGPACK_OBJECT_FLOAT64: return "float";
    case MSGPACK_OBJECT_STR: return "string";
    case MSGPACK_OBJECT_ARRAY: return "array";
    case MSGPACK_OBJECT_MAP: return "map";
    case MSGPACK_OBJECT_BIN: return "binary";
    case MSGPACK_OBJECT_EXT: return "ext";
    }
    return "unknown";
}

/* Reads unsigned field KEY of OBJ; 0 or 1 with "WHAT: field 'KEY' ..." in ERR. */
static int field_u64(const msgpack_object *obj, const char *what, const char *key, uint64_t *out,
                     char *err, size_t cap)
{
    const msgpack_object *v = mp_get(obj, key);
    if (v == NULL) {
        snprintf(err, cap, "%s: field '%s' is missing", what, key);
        return 1;
    }
    if (v->type != MSGPACK_OBJECT_POSITIVE_INTEGER) {
        snprintf(err, cap, "%s: field '%s' must be an unsigned integer, got %s", what, key,
                 type_name(v));
        return 1;
    }
    *out = v->via.u64;
    return 0;
}

static int field_str(const msgpack_object *obj, const char *what, const char *key,
                     const char **ptr, size_t *len, char *err, size_t cap)
{
    const msgpack_object *v = mp_get(obj, key);
    if (v == NULL) {
        snprintf(err, cap, "%s: field '%s' is missing", what, key);
        return 1;
    }
    if (v->type != MSGPACK_OBJECT_STR) {
        snprintf(err, cap, "%s: field '%s' must be a string, got %s", what, key, type_name(v));
        return 1;
    }
    *ptr = v->via.str.ptr;
    *len = v->via.str.size;
    return 0;
}

static int field_bool(const msgpack_object *obj, const char *what, const char *key, bool *out,
                      char *err, size_t cap)
{
    const msgpack_object *v = mp_get(obj, key);
    if (v == NULL) {
        snprintf(err, cap, "%s: field '%s' is missing", what, key);
        return 1;
    }
    if (v->type != MSGPACK_OBJECT_BOOLEAN) {
        snprintf(err, cap, "%s: field '%s' must be a boolean, got %s", what, key, type_name(v));
        return 1;
    }
    *out = v->via.boolean;
    return 0;
}

/* Ids (members, engines) and other integers stored in an SQLite INTEGER (signed 64 bits):
 * MIN..INT64_MAX, MIN being 1 where an id is required, 0 where 0 means "none". */
static int field_int(const msgpack_object *obj, const char *what, const char *key,
                     uint64_t min, uint64_t max, uint64_t *out, char *err, size_t cap)
{
    if (field_u64(obj, what, key, out, err, cap) != 0) {
        return 1;
    }
    if (*out < min || *out > max) {
        snprintf(err, cap, "%s: field '%s' must be %" PRIu64 "..%" PRIu64 ", got %" PRIu64, what,
                 key, min, max, *out);
        return 1;
    }
    return 0;
}

static int field_id(const msgpack_object *obj, const char *what, const char *key, uint64_t *id,
                    char *err, size_t cap)
{
    return field_int(obj, what, key, 1, INT64_MAX, id, err, cap);
}

/* An id where 0 means "none". */
static int field_id_or_none(const msgpack_object *obj, const char *what, const char *key,
                            uint64_t *id, char *err, size_t cap)
{
    return field_int(obj, what, key, 0, INT64_MAX, id, err, cap);
}

static int field_member_id(const msgpack_object *obj, const char *what, uint64_t *id, char *err,
                           size_t cap)
{
    return field_id(obj, what, "id", id, err, cap);
}

/* String field KEY that must be one of the NULL-terminated WORDS; *OUT = the static word. */
static int field_enum(const msgpack_object *obj, const char *what, const char *key,
                      const char *const words[], const char *list, const char **out, char *err,
                      size_t cap)
{
    const char *p;
    size_t n;
    if (field_str(obj, what, key, &p, &n, err, cap) != 0) {
        return 1;
    }
    for (size_t i = 0; words[i] != NULL; i++) {
        if (strlen(words[i]) == n && memcmp(words[i], p, n) == 0) {
            *out = words[i];
            return 0;
        }
    }
    char quoted[96];
    command_quote(quoted, sizeof quoted, p, n);
    snprintf(err, cap, "%s: field '%s' must be one of %s, got '%s'", what, key, list, quoted);
    return 1;
}

/* True when P/N is well-formed UTF-8 (no overlong forms, surrogates or code points beyond
 * U+10FFFF) without NUL bytes: what PostgreSQL and MySQL's utf8mb4 accept as text. */
static bool is_utf8_text(const char *p, size_t n)
{
    const unsigned char *s = (const unsigned char *)p;
    size_t i = 0;
    while (i < n) {
        unsigned char c = s[i];
        if (c == 0) {
            return false;
        }
        if (c < 0x80) {
            i++;
            continue;
        }
        unsigned extra;
        uint32_t cp;
        if (c >= 0xc2 && c <= 0xdf) {
            extra = 1, cp = c & 0x1f;
        } else if (c >= 0xe0 && c <= 0xef) {
            extra = 2, cp = c & 0x0f;
        } else if (c >= 0xf0 && c <= 0xf4) {
            extra = 3, cp = c & 0x07;
        } else {
            return false;
        }
        if (n - i <= extra) {
            return false;
        }
        for (unsigned k = 1; k <= extra; k++) {
            if ((s[i + k] & 0xc0) != 0x80) {
                return false;
            }
            cp = (cp << 6) | (s[i + k] & 0x3f);
        }
        if ((extra == 2 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) ||
            (extra == 3 && (cp < 0x10000 || cp > 0x10ffff))) {
            return false;
        }
        i += 1 + extra;
    }
    return true;
}

static int decode_project(const msgpack_object *o, const char *what, struct command *c,
                          char *err, size_t cap)
{
    return field_str(o, what, "name", &c->u.project.name, &c->u.project.len, err, cap);
}

/* "nocase" and "kylin" are optional: entries from before their rules lack them (command.h). */
static int decode_project_add(const msgpack_object *o, const char *what, struct command *c,
                              char *err, size_t cap)
{
    if (decode_project(o, what, c, err, cap) != 0) {
        return 1;
    }
    c->u.project.nocase = false;
    c->u.project.kylin = false;
    if (mp_get(o, "kylin") != NULL && field_bool(o, what, "kylin", &c->u.project.kylin, err, cap) != 0) {
        return 1;
    }
    return mp_get(o, "nocase") != NULL &&
           field_bool(o, what, "nocase", &c->u.project.nocase, err, cap) != 0;
}

static int decode_member_set(const msgpack_object *o, const char *what, struct command *c,
                             char *err, size_t cap)
{
    if (field_member_id(o, what, &c->u.member.id, err, cap) != 0 ||
        field_str(o, what, "api_address", &c->u.member.api_address, &c->u.member.api_len, err,
                  cap) != 0) {
        return 1;
    }
    const char *p = c->u.member.api_address;
    size_t n = c->u.member.api_len;
    bool printable = true;
    for (size_t i = 0; i < n && printable; i++) {
        printable = p[i] > 0x20 && p[i] < 0x7f;
    }
    if (n == 0 || n > COMMAND_ADDRESS_MAX || !printable) {
        char quoted[96];
        command_quote(quoted, sizeof quoted, p, n);
        snprintf(err, cap,
                 "%s: field 'api_address' must have 1..%d printable ASCII bytes without "
                 "spaces, got '%s' (%zu bytes)",
                 what, COMMAND_ADDRESS_MAX, quoted, n);
        return 1;
    }
    return 0;
}

static int decode_member_forget(const msgpack_object *o, const char *what, struct command *c,
                                char *err, size_t cap)
{
    return field_member_id(o, what, &c->u.member.id, err, cap);
}

static const char *const engine_modes[] = {"all", "job", "query", NULL};
static const char *const assign_reasons[] = {"new",   "failover", "rebalance", "move",
                                             "drain", "restore",  NULL};

/* An identity ("host:port|startMillis") field already read into P/N: 1..COMMAND_IDENTITY_MAX
 * printable ASCII bytes (space allowed). 0 or 1 (ERR set). */
static int check_identity(const char *what, const char *p, size_t n, char *err, size_t cap)
{
    bool printable = true;
    for (size_t i = 0; i < n && printable; i++) {
        printable = p[i] >= 0x20 && p[i] < 0x7f;
    }
    if (n == 0 || n > COMMAND_IDENTITY_MAX || !printable) {
        char quoted[96];
        command_quote(quoted, sizeof quoted, p, n);
        snprintf(err, cap,
                 "%s: field 'identity' must have 1..%d printable ASCII bytes "
                 "(host:port|startMillis), got '%s' (%zu bytes)",
                 what, COMMAND_IDENTITY_MAX, quoted, n);
        return 1;
    }
    return 0;
}

static int decode_engine_set(const msgpack_object *o, const char *what, struct command *c,
                             char *err, size_t cap)
{
    uint64_t weight;
    if (field_id(o, what, "id", &c->u.engine.id, err, cap) != 0 ||
        field_enum(o, what, "mode", engine_modes, "all, job, query", &c->u.engine.mode, err,
                   cap) != 0 ||
        field_int(o, what, "weight", 1, COMMAND_WEIGHT_MAX, &weight, err, cap) != 0 ||
        field_str(o, what, "identity", &c->u.engine.identity, &c->u.engine.identity_len, err,
                  cap) != 0 ||
        field_bool(o, what, "race_enabled", &c->u.engine.race_enabled, err, cap) != 0) {
        return 1;
    }
    c->u.engine.weight = (unsigned)weight;
    return check_identity(what, c->u.engine.identity, c->u.engine.identity_len, err, cap);
}

/* Every id is checked here, so fsm.c can apply the batch without looking at types. */
static int decode_heartbeat(const msgpack_object *o, const char *what, struct command *c,
                            char *err, size_t cap)
{
    const msgpack_object *v = mp_get(o, "ids");
    if (v == NULL) {
        snprintf(err, cap, "%s: field 'ids' is missing", what);
        return 1;
    }
    if (v->type != MSGPACK_OBJECT_ARRAY) {
        snprintf(err, cap, "%s: field 'ids' must be an array, got %s", what, type_name(v));
        return 1;
    }
    if (v->via.array.size > COMMAND_HEARTBEAT_IDS_MAX) {
        snprintf(err, cap, "%s: field 'ids' has %" PRIu32 " entries; at most %d", what,
                 v->via.array.size, COMMAND_HEARTBEAT_IDS_MAX);
        return 1;
    }
    for (uint32_t i = 0; i < v->via.array.size; i++) {
        const msgpack_object *id = &v->via.array.ptr[i];
        if (id->type != MSGPACK_OBJECT_POSITIVE_INTEGER) {
            snprintf(err, cap, "%s: ids[%" PRIu32 "] must be an unsigned integer, got %s", what,
                     i, type_name(id));
            return 1;
        }
        if (id->via.u64 == 0 || id->via.u64 > INT64_MAX) {
            snprintf(err, cap, "%s: ids[%" PRIu32 "] must be 1..%" PRId64 ", got %" PRIu64, what,
                     i, (int64_t)INT64_MAX, id->via.u64);
            return 1;
        }
    }
    c->u.heartbeat.ids = v->via.array.ptr;
    c->u.heartbeat.n = v->via.array.size;
    return 0;
}

static int decode_engine_dead(const msgpack_object *o, const char *what, struct command *c,
                              char *err, size_t cap)
{
    return field_id(o, what, "id", &c->u.engine.id, err, cap);
}

/* String field KEY of 1..MAX printable ASCII bytes (spaces allowed). OPTIONAL: absent or nil
 * leaves *P NULL. */
static int field_printable(const msgpack_object *o, const char *what, const char *key, size_t max,
                           bool optional, const char **p, size_t *n, char *err, size_t cap)
{
    const msgpack_object *v = mp_get(o, key);
    bool ok;

    *p = NULL;
    *n = 0;
    if (optional && (v == NULL || v->type == MSGPACK_OBJECT_NIL)) {
        return 0;
    }
    if (field_str(o, what, key, p, n, err, cap) != 0) {
        return 1;
    }
    ok = *n > 0 && *n <= max;
    for (size_t i = 0; i < *n && ok; i++) {
        ok = (*p)[i] >= 0x20 && (*p)[i] < 0x7f;
    }
    if (!ok) {
        char quoted[96];
        command_quote(quoted, sizeof quoted, *p, *n);
        snprintf(err, cap, "%s: field '%s' must have 1..%zu printable ASCII bytes, got '%s' (%zu bytes)",
                 what, key, max, quoted, *n);
        return 1;
    }
    return 0;
}

static int decode_assign(const msgpack_object *o, const char *what, struct command *c,
                         char *err, size_t cap)
{
    /* || stops at the first bad field, whose message stays in ERR. */
    return field_printable(o, what, "by", COMMAND_WHO_MAX, true, &c->u.assign.by, &c->u.assign.by_len, err,
                           cap) != 0 ||
           field_str(o, what, "project", &c->u.assign.project, &c->u.assign.len, err, cap) != 0 ||
           field_id_or_none(o, what, "from", &c->u.assign.from, err, cap) != 0 ||
           field_id_or_none(o, what, "to", &c->u.assign.to, err, cap) != 0 ||
           field_enum(o, what, "reason", assign_reasons,
                      "new, failover, rebalance, move, drain, restore", &c->u.assign.reason, err,
                      cap) != 0 ||
           field_int(o, what, "time_ms", 0, INT64_MAX, &c->u.assign.time_ms, err, cap) != 0;
}

static int decode_drain(const msgpack_object *o, const char *what, struct command *c, char *err,
                        size_t cap)
{
    return field_id(o, what, "id", &c->u.drain.id, err, cap) != 0 ||
           field_bool(o, what, "on", &c->u.drain.on, err, cap) != 0;
}

static int decode_pin(const msgpack_object *o, const char *what, struct command *c, char *err,
                      size_t cap)
{
    return field_str(o, what, "project", &c->u.pin.project, &c->u.pin.len, err, cap) != 0 ||
           field_id_or_none(o, what, "engine", &c->u.pin.engine, err, cap) != 0;
}

/* The reason ends up in Kylin's maintenance_mode_reason varchar(5000) through the mirror:
 * text that PostgreSQL/MySQL would reject must be refused here, or the mirror would stall. */
static int decode_maintenance(const msgpack_object *o, const char *what, struct command *c,
                              char *err, size_t cap)
{
    if (field_bool(o, what, "on", &c->u.maintenance.on, err, cap) != 0 ||
        field_str(o, what, "reason", &c->u.maintenance.reason, &c->u.maintenance.reason_len, err,
                  cap) != 0) {
        return 1;
    }
    size_t n = c->u.maintenance.reason_len;
    if (n > COMMAND_REASON_MAX) {
        snprintf(err, cap, "%s: field 'reason' has %zu bytes; at most %d", what, n,
                 COMMAND_REASON_MAX);
        return 1;
    }
    if (!is_utf8_text(c->u.maintenance.reason, n)) {
        char quoted[96];
        command_quote(quoted, sizeof quoted, c->u.maintenance.reason, n);
        snprintf(err, cap, "%s: field 'reason' must be UTF-8 text without NUL bytes, got '%s'",
                 what, quoted);
        return 1;
    }
    return 0;
}

static int decode_audit(const msgpack_object *o, const char *what, struct command *c, char *err,
                        size_t cap)
{
    if (field_printable(o, what, "by", COMMAND_WHO_MAX, false, &c->u.audit.by, &c->u.audit.by_len, err, cap) != 0 ||
        field_printable(o, what, "method", COMMAND_METHOD_MAX, false, &c->u.audit.method, &c->u.audit.method_len,
                        err, cap) != 0 ||
        field_str(o, what, "detail", &c->u.audit.detail, &c->u.audit.detail_len, err, cap) != 0 ||
        field_int(o, what, "time_ms", 0, INT64_MAX, &c->u.audit.time_ms, err, cap) != 0) {
        return 1;
    }
    if (c->u.audit.detail_len > COMMAND_DETAIL_MAX || !is_utf8_text(c->u.audit.detail, c->u.audit.detail_len)) {
        snprintf(err, cap, "%s: field 'detail' must be UTF-8 text without NUL bytes of at most %d bytes (%zu)",
                 what, COMMAND_DETAIL_MAX, c->u.audit.detail_len);
        return 1;
    }
    return 0;
}

/* Signed integer field KEY (msgpack packs non-negative values as unsigned): INT64_MIN..MAX. */
static int field_i64(const msgpack_object *obj, const char *what, const char *key, int64_t *out,
                     char *err, size_t cap)
{
    const msgpack_object *v = mp_get(obj, key);
    if (v == NULL) {
        snprintf(err, cap, "%s: field '%s' is missing", what, key);
        return 1;
    }
    if (v->type == MSGPACK_OBJECT_NEGATIVE_INTEGER) {
        *out = v->via.i64;
        return 0;
    }
    if (v->type != MSGPACK_OBJECT_POSITIVE_INTEGER) {
        snprintf(err, cap, "%s: field '%s' must be an integer, got %s", what, key, type_name(v));
        return 1;
    }
    if (v->via.u64 > INT64_MAX) {
        snprintf(err, cap, "%s: field '%s' must be at most %" PRId64 ", got %" PRIu64, what, key,
                 (int64_t)INT64_MAX, v->via.u64);
        return 1;
    }
    *out = (int64_t)v->via.u64;
    return 0;
}

static int decode_kylin_claimed(const msgpack_object *o, const char *what, struct command *c,
                                char *err, size_t cap)
{
    if (field_str(o, what, "project", &c->u.claimed.project, &c->u.claimed.len, err, cap) != 0 ||
        field_id(o, what, "owner", &c->u.claimed.owner, err, cap) != 0 ||
        field_int(o, what, "epoch", 0, INT64_MAX, &c->u.claimed.epoch, err, cap) != 0 ||
        field_str(o, what, "identity", &c->u.claimed.identity, &c->u.claimed.identity_len, err,
                  cap) != 0 ||
        field_i64(o, what, "epoch_id", &c->u.claimed.epoch_id, err, cap) != 0) {
        return 1;
    }
    return check_identity(what, c->u.claimed.identity, c->u.claimed.identity_len, err, cap);
}

static const struct {
    const char *name;
    enum command_type type;
    int (*decode)(const msgpack_object *o, const char *what, struct command *c, char *err,
                  size_t cap);
} types[] = {
    {"project_add", COMMAND_PROJECT_ADD, decode_project_add},
    {"project_remove", COMMAND_PROJECT_REMOVE, decode_project},
    {"member_set", COMMAND_MEMBER_SET, decode_member_set},
    {"member_forget", COMMAND_MEMBER_FORGET, decode_member_forget},
    {"engine_set", COMMAND_ENGINE_SET, decode_engine_set},
    {"heartbeat", COMMAND_HEARTBEAT, decode_heartbeat},
    {"engine_dead", COMMAND_ENGINE_DEAD, decode_engine_dead},
    {"assign", COMMAND_ASSIGN, decode_assign},
    {"drain", COMMAND_DRAIN, decode_drain},
    {"pin", COMMAND_PIN, decode_pin},
    {"maintenance", COMMAND_MAINTENANCE, decode_maintenance},
    {"audit", COMMAND_AUDIT, decode_audit},
    {"kylin_claimed", COMMAND_KYLIN_CLAIMED, decode_kylin_claimed},
};

int command_decode(const struct command_entry *e, uint32_t i, struct command *c, char *err,
                   size_t cap)
{
    const msgpack_object *o = &e->cmds[i];
    if (o->type != MSGPACK_OBJECT_MAP) {
        snprintf(err, cap, "command is not a map, got %s", type_name(o));
        return 1;
    }
    const msgpack_object *t = mp_get(o, "t");
    if (t == NULL) {
        snprintf(err, cap, "command field 't' (its type) is missing");
        return 1;
    }
    if (t->type != MSGPACK_OBJECT_STR) {
        snprintf(err, cap, "command field 't' must be a string, got %s", type_name(t));
        return 1;
    }
    for (size_t k = 0; k < sizeof types / sizeof types[0]; k++) {
        if (mp_str_eq(t, types[k].name)) {
            memset(c, 0, sizeof *c);
            c->type = types[k].type;
            return types[k].decode(o, types[k].name, c, err, cap);
        }
    }
    char quoted[96];
    command_quote(quoted, sizeof quoted, t->via.str.ptr, t->via.str.size);
    snprintf(err, cap, "unknown command type '%s'", quoted);
    return 1;
}

int command_entry_decode(struct command_entry *e, const void *buf, size_t len, char *err,
                         size_t cap)
{
    memset(e, 0, sizeof *e);
    msgpack_unpacked_init(&e->unpacked);
    if (len == 0) {
        snprintf(err, cap, "entry is empty");
        return 1;
    }
    if (scan(buf, len, err, cap) != 0) {
        return 1;
    }
    size_t off = 0;
    msgpack_unpack_return ur = msgpack_unpack_next(&e->unpacked, buf, len, &off);
    if (ur == MSGPACK_UNPACK_NOMEM_ERROR) {
        snprintf(err, cap, "out of memory decoding an entry of %zu bytes", len);
        return -1;
    }
    if (ur != MSGPACK_UNPACK_SUCCESS || !is_padding(buf, off, len)) {
        /* The scan accepted it, so msgpack-c should too; still deterministic. */
        snprintf(err, cap, "entry is not valid msgpack (msgpack-c: %d at offset %zu)", (int)ur,
                 off);
        return 1;
    }
    const msgpack_object *root = &e->unpacked.data;
    if (root->type != MSGPACK_OBJECT_MAP) {
        snprintf(err, cap, "entry is not a map, got %s", type_name(root));
        return 1;
    }
    uint64_t version;
    if (field_u64(root, "entry", "v", &version, err, cap) != 0) {
        return 1;
    }
    if (version != COMMAND_FORMAT_VERSION) {
        snprintf(err, cap, "entry version %" PRIu64 " is not supported (this binary reads %d)",
                 version, COMMAND_FORMAT_VERSION);
        return 1;
    }
    if (field_u64(root, "entry", "term", &e->term, err, cap) != 0) {
        return 1;
    }
    const msgpack_object *cmds = mp_get(root, "cmds");
    if (cmds == NULL) {
        snprintf(err, cap, "entry: field 'cmds' is missing");
        return 1;
    }
    if (cmds->type != MSGPACK_OBJECT_ARRAY) {
        snprintf(err, cap, "entry: field 'cmds' must be an array, got %s", type_name(cmds));
        return 1;
    }
    e->n = cmds->via.array.size;
    e->cmds = cmds->via.array.ptr;
    return 0;
}

void command_entry_free(struct command_entry *e)
{
    msgpack_unpacked_destroy(&e->unpacked);
    memset(e, 0, sizeof *e);
}
