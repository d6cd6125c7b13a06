/* mp: msgpack-c lookup and packing helpers (see mp.h). */
#include "mp.h"

#include <string.h>

bool mp_str_eq(const msgpack_object *obj, const char *s)
{
    size_t n = strlen(s);
    return obj != NULL && obj->type == MSGPACK_OBJECT_STR && obj->via.str.size == n &&
           memcmp(obj->via.str.ptr, s, n) == 0;
}

const msgpack_object *mp_get(const msgpack_object *obj, const char *key)
{
    if (obj == NULL || obj->type != MSGPACK_OBJECT_MAP) {
        return NULL;
    }
    for (uint32_t i = 0; i < obj->via.map.size; i++) {
        const msgpack_object_kv *kv = &obj->via.map.ptr[i];
        if (mp_str_eq(&kv->key, key)) {
            return &kv->val;
        }
    }
    return NULL;
}

int mp_get_u64(const msgpack_object *obj, const char *key, uint64_t *out)
{
    const msgpack_object *v = mp_get(obj, key);
    if (v == NULL) {
        return -1;
    }
    if (v->type != MSGPACK_OBJECT_POSITIVE_INTEGER) {
        return -2;
    }
    *out = v->via.u64;
    return 0;
}

int mp_get_i64(const msgpack_object *obj, const char *key, int64_t *out)
{
    const msgpack_object *v = mp_get(obj, key);
    if (v == NULL) {
        return -1;
    }
    if (v->type == MSGPACK_OBJECT_NEGATIVE_INTEGER) {
        *out = v->via.i64;
        return 0;
    }
    if (v->type == MSGPACK_OBJECT_POSITIVE_INTEGER && v->via.u64 <= INT64_MAX) {
        *out = (int64_t)v->via.u64;
        return 0;
    }
    return -2;
}

int mp_get_bool(const msgpack_object *obj, const char *key, bool *out)
{
    const msgpack_object *v = mp_get(obj, key);
    if (v == NULL) {
        return -1;
    }
    if (v->type != MSGPACK_OBJECT_BOOLEAN) {
        return -2;
    }
    *out = v->via.boolean;
    return 0;
}

int mp_get_str(const msgpack_object *obj, const char *key, const char **ptr, size_t *len)
{
    const msgpack_object *v = mp_get(obj, key);
    if (v == NULL) {
        return -1;
    }
    if (v->type != MSGPACK_OBJECT_STR) {
        return -2;
    }
    *ptr = v->via.str.ptr;
    *len = v->via.str.size;
    return 0;
}

int mp_get_cstr(const msgpack_object *obj, const char *key, char *buf, size_t cap)
{
    const char *p;
    size_t n;
    int rc = mp_get_str(obj, key, &p, &n);
    if (rc != 0) {
        return rc;
    }
    if (n >= cap || memchr(p, '\0', n) != NULL) {
        return -3;
    }
    memcpy(buf, p, n);
    buf[n] = '\0';
    return 0;
}

int mp_pack_cstr(msgpack_packer *pk, const char *s)
{
    size_t n = strlen(s);
    int rc = msgpack_pack_str(pk, n);
    return rc != 0 ? rc : msgpack_pack_str_body(pk, s, n);
}

int mp_pack_kv_strn(msgpack_packer *pk, const char *key, const char *val, size_t len)
{
    int rc = mp_pack_cstr(pk, key);
    if (rc == 0) {
        rc = msgpack_pack_str(pk, len);
    }
    return rc != 0 ? rc : msgpack_pack_str_body(pk, val, len);
}

int mp_pack_kv_str(msgpack_packer *pk, const char *key, const char *val)
{
    return mp_pack_kv_strn(pk, key, val, strlen(val));
}

int mp_pack_kv_u64(msgpack_packer *pk, const char *key, uint64_t val)
{
    int rc = mp_pack_cstr(pk, key);
    return rc != 0 ? rc : msgpack_pack_uint64(pk, val);
}

int mp_pack_kv_i64(msgpack_packer *pk, const char *key, int64_t val)
{
    int rc = mp_pack_cstr(pk, key);
    return rc != 0 ? rc : msgpack_pack_int64(pk, val);
}

int mp_pack_kv_bool(msgpack_packer *pk, const char *key, bool val)
{
    int rc = mp_pack_cstr(pk, key);
    if (rc != 0) {
        return rc;
    }
    return val ? msgpack_pack_true(pk) : msgpack_pack_false(pk);
}

int mp_pack_kv_nil(msgpack_packer *pk, const char *key)
{
    int rc = mp_pack_cstr(pk, key);
    return rc != 0 ? rc : msgpack_pack_nil(pk);
}

/* Size of the fixed part after the type byte B (lengths, counts, scalars), and what the
 * byte announces: *kind 0 = scalar, 1 = array, 2 = map, 3 = byte run (str/bin/ext body).
 * Returns -1 for 0xc1, the one byte msgpack never uses. */
static int mp_head(unsigned char b, size_t *fixed, int *kind, uint32_t *inline_n)
{
    *kind = 0;
    *inline_n = 0;
    *fixed = 0;
    if (b <= 0x7f || b >= 0xe0 || b == 0xc0 || b == 0xc2 || b == 0xc3) {
        return 0;
    }
    if (b <= 0x8f) {
        *kind = 2;
        *inline_n = b & 0x0fu;
        return 0;
    }
    if (b <= 0x9f) {
        *kind = 1;
        *inline_n = b & 0x0fu;
        return 0;
    }
    if (b <= 0xbf) {
        *kind = 3;
        *inline_n = b & 0x1fu;
        return 0;
    }
    switch (b) {
    case 0xc4: case 0xd9: *kind = 3; *fixed = 1; return 0;            /* bin8, str8 */
    case 0xc5: case 0xda: *kind = 3; *fixed = 2; return 0;            /* bin16, str16 */
    case 0xc6: case 0xdb: *kind = 3; *fixed = 4; return 0;            /* bin32, str32 */
    case 0xc7: *kind = 3; *fixed = 1; return 0;                       /* ext8: +1 type byte */
    case 0xc8: *kind = 3; *fixed = 2; return 0;                       /* ext16 */
    case 0xc9: *kind = 3; *fixed = 4; return 0;                       /* ext32 */
    case 0xca: case 0xce: case 0xd2: *fixed = 4; return 0;
    case 0xcb: case 0xcf: case 0xd3: *fixed = 8; return 0;
    case 0xcc: case 0xd0: *fixed = 1; return 0;
    case 0xcd: case 0xd1: *fixed = 2; return 0;
    case 0xd4: *fixed = 2; return 0;                                  /* fixext1: type + 1 */
    case 0xd5: *fixed = 3; return 0;
    case 0xd6: *fixed = 5; return 0;
    case 0xd7: *fixed = 9; return 0;
    case 0xd8: *fixed = 17; return 0;
    case 0xdc: *kind = 1; *fixed = 2; return 0;                       /* array16 */
    case 0xdd: *kind = 1; *fixed = 4; return 0;                       /* array32 */
    case 0xde: *kind = 2; *fixed = 2; return 0;                       /* map16 */
    case 0xdf: *kind = 2; *fixed = 4; return 0;                       /* map32 */
    default: return -1;                                               /* 0xc1 */
    }
}

int mp_check_object(const char *data, size_t len, size_t *used)
{
    const unsigned char *p = (const unsigned char *)data;
    size_t pos = 0;
    uint64_t pending = 1; /* objects still to read; each needs at least one byte */

    while (pending > 0) {
        size_t fixed;
        int kind;
        uint32_t n;
        uint64_t count = 0;
        unsigned char b;
        if (pos >= len || pending > len - pos) {
            return -1;
        }
        b = p[pos++];
        pending--;
        if (mp_head(b, &fixed, &kind, &n) != 0 || fixed > len - pos) {
            return -1;
        }
        if (kind != 0 && fixed > 0) { /* big-endian length or count */
            for (size_t i = 0; i < fixed; i++) {
                count = (count << 8) | p[pos + i];
            }
        } else {
            count = n;
        }
        pos += fixed;
        if (kind == 3) {
            if (b == 0xc7 || b == 0xc8 || b == 0xc9) {
                count += 1; /* the ext type byte */
            }
            if (count > len - pos) {
                return -1;
            }
            pos += (size_t)count;
        } else if (kind == 1) {
            pending += count;
        } else if (kind == 2) {
            pending += 2 * count;
        }
    }
    *used = pos;
    return 0;
}
