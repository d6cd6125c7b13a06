/* error: the return codes of every kylin/ function and their text (one enum, one table).
 * Functions that can fail in more than one way also fill a caller's message buffer with the
 * details (what failed, on which URL or key, what to do).
 *
 * Owns: nothing. Calls: nothing. */
#ifndef KYLIN_ERROR_H
#define KYLIN_ERROR_H

#include <stddef.h>

enum kylin_rc {
    KYLIN_OK = 0,
    KYLIN_ENOMEM,   /* out of memory */
    KYLIN_EINVAL,   /* an argument breaks the function's contract (the message says which) */
    KYLIN_ETOOBIG,  /* a reply, a row or a decoded document exceeds its bound */
    KYLIN_EFORMAT,  /* input that is not what Kylin writes (bad key, bad zlib stream, bad JSON) */
    KYLIN_EREFUSED, /* a schema or setup we do not support (the message says why) */
    KYLIN_ECLOSED,  /* the HTTP client is closing or closed */
    KYLIN_EIO,      /* libcurl or libuv failed (the message carries their text) */
};

/* Short text of RC ("out of memory"); never NULL. */
const char *kylin_strerror(int rc);

/* snprintf into BUF of SIZE (SIZE 0 or BUF NULL: nothing written); always NUL-terminated and
 * truncated with "..." when too long. Shared by the modules. */
void kylin_errf(char *buf, size_t size, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

#endif
