/* command_kylin: packing the kylin_claimed command (docs/protocol.md, "Log entries"); its
 * decoder is in command_decode.c, its apply in claims.c. */
#include "storage/command.h"

#include "common/mp.h"

int command_pack_kylin_claimed(msgpack_packer *pk, const char *project, size_t len, uint64_t owner,
                               uint64_t epoch, const char *identity, int64_t epoch_id)
{
    int rc = msgpack_pack_map(pk, 6);
    rc = rc != 0 ? rc : mp_pack_kv_str(pk, "t", "kylin_claimed");
    rc = rc != 0 ? rc : mp_pack_kv_strn(pk, "project", project, len);
    rc = rc != 0 ? rc : mp_pack_kv_u64(pk, "owner", owner);
    rc = rc != 0 ? rc : mp_pack_kv_u64(pk, "epoch", epoch);
    rc = rc != 0 ? rc : mp_pack_kv_str(pk, "identity", identity);
    return rc != 0 ? rc : mp_pack_kv_i64(pk, "epoch_id", epoch_id);
}
