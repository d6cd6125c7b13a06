/* wire_err: enum store_err -> the wire's status and code (see wire_err.h). */
#include "wire_err.h"

#include "common/proto.h"

static const struct wire_err wire_errs[STORE_ERR_COUNT] = {
    [STORE_OK] = {PROTO_OK, PROTO_CODE_OK},
    [STORE_EXISTS] = {PROTO_REFUSED, PROTO_CODE_EXISTS},
    [STORE_NOT_FOUND] = {PROTO_REFUSED, PROTO_CODE_NOT_FOUND},
    [STORE_INVALID] = {PROTO_REFUSED, PROTO_CODE_INVALID},
    [STORE_BUSY] = {PROTO_REFUSED, PROTO_CODE_BUSY},
    [STORE_FAILED] = {PROTO_REFUSED, PROTO_CODE_FAILED},
};

struct wire_err wire_from_store_err(enum store_err err)
{
    return (unsigned)err < STORE_ERR_COUNT ? wire_errs[err] : wire_errs[STORE_FAILED];
}
