/* api_frame: one request payload -> validated request (see api_frame.h). */
#include "api_frame.h"

#include <string.h>

#include "common/frame.h"
#include "common/mp.h"

enum api_frame_status api_frame_decode(struct api_frame *f, const char *data, size_t len)
{
    static const msgpack_object empty_map = {.type = MSGPACK_OBJECT_MAP};
    const char *method;
    size_t mlen;
    size_t used = 0;

    f->id = 0;
    f->method[0] = '\0';
    f->args = NULL;
    msgpack_unpacked_init(&f->msg);
    if (frame_unpack(data, len, &f->msg, &used) != FRAME_UNPACK_OK ||
        mp_get_u64(&f->msg.data, "id", &f->id) != 0 ||
        mp_get_str(&f->msg.data, "method", &method, &mlen) != 0) {
        return API_FRAME_MALFORMED;
    }
    if (mlen >= sizeof f->method || memchr(method, '\0', mlen) != NULL) {
        return API_FRAME_BAD_METHOD;
    }
    memcpy(f->method, method, mlen);
    f->method[mlen] = '\0';
    const msgpack_object *args = mp_get(&f->msg.data, "args");
    if (args == NULL || args->type == MSGPACK_OBJECT_NIL) {
        args = &empty_map;
    }
    if (args->type != MSGPACK_OBJECT_MAP) {
        return API_FRAME_BAD_ARGS;
    }
    f->args = args;
    return API_FRAME_OK;
}

void api_frame_free(struct api_frame *f)
{
    msgpack_unpacked_destroy(&f->msg);
}
