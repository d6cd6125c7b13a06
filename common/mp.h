/* mp: small helpers over msgpack-c for reading decoded maps and writing strings.
 *
 * Ownership: every msgpack_object returned points into the msgpack_zone of the
 * msgpack_unpacked it came from; it lives as long as that unpacked object.
 *
 * Owns: nothing (callers own their zones and buffers). Calls: msgpack-c. */
#ifndef COMMON_MP_H
#define COMMON_MP_H

#include <msgpack.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Value of KEY in map OBJ, or NULL when OBJ is not a map or has no such string key. */
const msgpack_object *mp_get(const msgpack_object *obj, const char *key);

/* Typed lookups. Return 0 on success, -1 when the key is missing, -2 when it has the wrong
 * type (negative integers are refused by mp_get_u64). */
int mp_get_u64(const msgpack_object *obj, const char *key, uint64_t *out);
int mp_get_i64(const msgpack_object *obj, const char *key, int64_t *out);
int mp_get_bool(const msgpack_object *obj, const char *key, bool *out);
/* String lookup: *ptr points into the object (NOT NUL-terminated), *len its length. */
int mp_get_str(const msgpack_object *obj, const char *key, const char **ptr, size_t *len);
/* Copies a string value into BUF (size CAP, always NUL-terminated); -3 if it does not fit or
 * contains a NUL byte. */
int mp_get_cstr(const msgpack_object *obj, const char *key, char *buf, size_t cap);

/* True when OBJ is a string equal to the C string S. */
bool mp_str_eq(const msgpack_object *obj, const char *s);

/* Checks, without allocating, that DATA (LEN bytes) starts with one complete msgpack object
 * whose every declared length and element count fits in the bytes that follow. Run it
 * before msgpack_unpack_next on untrusted input: msgpack-c allocates an array's or a map's
 * elements from the declared count before reading them, so a 6-byte frame announcing 2^32
 * elements would ask for ~100 GiB. After a 0 the objects decoded number at most LEN.
 * Returns 0 with *USED = the object's size in bytes, or -1 (truncated, impossible
 * count, or the unused byte 0xc1). */
int mp_check_object(const char *data, size_t len, size_t *used);

/* Writers: pack a C string, or a key followed by a value. All return msgpack's status
 * (0 on success). */
int mp_pack_cstr(msgpack_packer *pk, const char *s);
int mp_pack_kv_str(msgpack_packer *pk, const char *key, const char *val);
int mp_pack_kv_strn(msgpack_packer *pk, const char *key, const char *val, size_t len);
int mp_pack_kv_u64(msgpack_packer *pk, const char *key, uint64_t val);
int mp_pack_kv_i64(msgpack_packer *pk, const char *key, int64_t val);
int mp_pack_kv_bool(msgpack_packer *pk, const char *key, bool val);
int mp_pack_kv_nil(msgpack_packer *pk, const char *key);

#endif
