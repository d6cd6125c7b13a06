/* command: packing commands and building log entries (docs/protocol.md, "Log entries").
 * The decoding side, used by the state machine, is command_decode.c. */
#include "storage/command.h"

#include <raft.h>
#include <string.h>

#include "common/mp.h"

static int pack_type(msgpack_packer *pk, unsigned n_fields, const char *type)
{
    int rc = msgpack_pack_map(pk, 1 + n_fields);
    return rc != 0 ? rc : mp_pack_kv_str(pk, "t", type);
}

static int pack_project_add(msgpack_packer *pk, const char *name, size_t len, bool kylin)
{
    int rc = pack_type(pk, kylin ? 3 : 2, "project_add");
    if (rc == 0) {
        rc = mp_pack_kv_strn(pk, "name", name, len);
    }
    if (rc == 0 && kylin) {
        rc = mp_pack_kv_bool(pk, "kylin", true);
    }
    return rc != 0 ? rc : mp_pack_kv_bool(pk, "nocase", true);
}

int command_pack_project_add(msgpack_packer *pk, const char *name, size_t len)
{
    return pack_project_add(pk, name, len, false);
}

int command_pack_project_add_kylin(msgpack_packer *pk, const char *name, size_t len)
{
    return pack_project_add(pk, name, len, true);
}

int command_pack_project_remove(msgpack_packer *pk, const char *name, size_t len)
{
    int rc = pack_type(pk, 1, "project_remove");
    return rc != 0 ? rc : mp_pack_kv_strn(pk, "name", name, len);
}

int command_pack_member_set(msgpack_packer *pk, uint64_t id, const char *api_address)
{
    int rc = pack_type(pk, 2, "member_set");
    if (rc == 0) {
        rc = mp_pack_kv_u64(pk, "id", id);
    }
    return rc != 0 ? rc : mp_pack_kv_str(pk, "api_address", api_address);
}

int command_pack_member_forget(msgpack_packer *pk, uint64_t id)
{
    int rc = pack_type(pk, 1, "member_forget");
    return rc != 0 ? rc : mp_pack_kv_u64(pk, "id", id);
}

int command_pack_engine_set(msgpack_packer *pk, uint64_t id, const char *mode, unsigned weight,
                            const char *identity, bool race_enabled)
{
    int rc = pack_type(pk, 5, "engine_set");
    if (rc == 0) {
        rc = mp_pack_kv_u64(pk, "id", id);
    }
    if (rc == 0) {
        rc = mp_pack_kv_str(pk, "mode", mode);
    }
    if (rc == 0) {
        rc = mp_pack_kv_u64(pk, "weight", weight);
    }
    if (rc == 0) {
        rc = mp_pack_kv_str(pk, "identity", identity);
    }
    return rc != 0 ? rc : mp_pack_kv_bool(pk, "race_enabled", race_enabled);
}

int command_pack_heartbeat(msgpack_packer *pk, const uint64_t *ids, size_t n)
{
    int rc = pack_type(pk, 1, "heartbeat");
    if (rc == 0) {
        rc = mp_pack_cstr(pk, "ids");
    }
    if (rc == 0) {
        rc = msgpack_pack_array(pk, n);
    }
    for (size_t i = 0; i < n && rc == 0; i++) {
        rc = msgpack_pack_uint64(pk, ids[i]);
    }
    return rc;
}

int command_pack_engine_dead(msgpack_packer *pk, uint64_t id)
{
    int rc = pack_type(pk, 1, "engine_dead");
    return rc != 0 ? rc : mp_pack_kv_u64(pk, "id", id);
}

int command_pack_assign(msgpack_packer *pk, const char *project, size_t len, uint64_t from,
                        uint64_t to, const char *reason, uint64_t time_ms)
{
    return command_pack_assign_by(pk, project, len, from, to, reason, time_ms, NULL);
}

int command_pack_assign_by(msgpack_packer *pk, const char *project, size_t len, uint64_t from,
                           uint64_t to, const char *reason, uint64_t time_ms, const char *by)
{
    bool has_by = by != NULL && by[0] != '\0';
    int rc = pack_type(pk, has_by ? 6 : 5, "assign");
    if (rc == 0 && has_by) {
        rc = mp_pack_kv_str(pk, "by", by);
    }
    if (rc == 0) {
        rc = mp_pack_kv_strn(pk, "project", project, len);
    }
    if (rc == 0) {
        rc = mp_pack_kv_u64(pk, "from", from);
    }
    if (rc == 0) {
        rc = mp_pack_kv_u64(pk, "to", to);
    }
    if (rc == 0) {
        rc = mp_pack_kv_str(pk, "reason", reason);
    }
    return rc != 0 ? rc : mp_pack_kv_u64(pk, "time_ms", time_ms);
}

int command_pack_drain(msgpack_packer *pk, uint64_t id, bool on)
{
    int rc = pack_type(pk, 2, "drain");
    if (rc == 0) {
        rc = mp_pack_kv_u64(pk, "id", id);
    }
    return rc != 0 ? rc : mp_pack_kv_bool(pk, "on", on);
}

int command_pack_pin(msgpack_packer *pk, const char *project, size_t len, uint64_t engine)
{
    int rc = pack_type(pk, 2, "pin");
    if (rc == 0) {
        rc = mp_pack_kv_strn(pk, "project", project, len);
    }
    return rc != 0 ? rc : mp_pack_kv_u64(pk, "engine", engine);
}

int command_pack_maintenance(msgpack_packer *pk, bool on, const char *reason)
{
    int rc = pack_type(pk, 2, "maintenance");
    if (rc == 0) {
        rc = mp_pack_kv_bool(pk, "on", on);
    }
    return rc != 0 ? rc : mp_pack_kv_str(pk, "reason", reason != NULL ? reason : "");
}

/* msgpack_packer callback writing into a fixed buffer (the entry header is at most
 * 1 + 2 + 9 + 5 + 9 + 5 + 5 = 36 bytes). */
struct fixed_buf {
    unsigned char data[64];
    size_t len;
};

static int fixed_write(void *data, const char *buf, size_t len)
{
    struct fixed_buf *fb = data;
    if (len > sizeof fb->data - fb->len) {
        return -1;
    }
    memcpy(fb->data + fb->len, buf, len);
    fb->len += len;
    return 0;
}

int command_pack_audit(msgpack_packer *pk, const char *by, const char *method, const char *detail,
                       uint64_t time_ms)
{
    const char *const keys[3] = {"by", "method", "detail"};
    const char *const values[3] = {by, method, detail};
    int rc = pack_type(pk, 4, "audit");
    for (int i = 0; i < 3 && rc == 0; i++) {
        rc = mp_pack_kv_str(pk, keys[i], values[i]);
    }
    return rc != 0 ? rc : mp_pack_kv_u64(pk, "time_ms", time_ms);
}

int command_entry_build(uint64_t term, const void *const cmds[], const size_t lens[], unsigned n,
                        void **buf, size_t *len)
{
    return command_entry_build_n(term, cmds, lens, n, n, buf, len);
}

int command_entry_build_n(uint64_t term, const void *const bufs[], const size_t lens[],
                          unsigned n_bufs, unsigned n_cmds, void **buf, size_t *len)
{
    struct fixed_buf header = {.len = 0};
    msgpack_packer pk;
    msgpack_packer_init(&pk, &header, fixed_write);
    if (msgpack_pack_map(&pk, 3) != 0 || mp_pack_kv_u64(&pk, "v", COMMAND_FORMAT_VERSION) != 0 ||
        mp_pack_kv_u64(&pk, "term", term) != 0 || mp_pack_cstr(&pk, "cmds") != 0 ||
        msgpack_pack_array(&pk, n_cmds) != 0) {
        return -1; /* cannot happen: the header always fits */
    }
    size_t total = header.len;
    for (unsigned i = 0; i < n_bufs; i++) {
        if (lens[i] > SIZE_MAX - total) {
            return -1;
        }
        total += lens[i];
    }
    /* libraft's disk format needs entry lengths that are multiples of 8: pad with zeros
     * (the decoder accepts up to 7 zero bytes after the map). */
    size_t padded = (total + 7) & ~(size_t)7;
    if (padded < total) {
        return -1;
    }
    unsigned char *out = raft_malloc(padded);
    if (out == NULL) {
        return -1;
    }
    memset(out + total, 0, padded - total);
    memcpy(out, header.data, header.len);
    size_t off = header.len;
    for (unsigned i = 0; i < n_bufs; i++) {
        if (lens[i] > 0) {
            memcpy(out + off, bufs[i], lens[i]);
        }
        off += lens[i];
    }
    *buf = out;
    *len = padded;
    return 0;
}
