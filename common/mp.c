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
