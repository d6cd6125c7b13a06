/* err: enum store_err -> its word (see err.h). */
#include "storage/err.h"

static const char *const store_err_names[STORE_ERR_COUNT] = {
    [STORE_OK] = "ok",
    [STORE_EXISTS] = "exists",
    [STORE_NOT_FOUND] = "not_found",
    [STORE_INVALID] = "invalid",
    [STORE_BUSY] = "busy",
    [STORE_FAILED] = "failed",
};

const char *store_err_name(enum store_err err)
{
    return (unsigned)err < STORE_ERR_COUNT ? store_err_names[err] : store_err_names[STORE_FAILED];
}
