/* error: kylin/'s return codes as text, and the message formatter the modules share. */
#include "error.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static const char *const kylin_rc_text[] = {
    [KYLIN_OK] = "success",
    [KYLIN_ENOMEM] = "out of memory",
    [KYLIN_EINVAL] = "invalid argument",
    [KYLIN_ETOOBIG] = "too large",
    [KYLIN_EFORMAT] = "not in Kylin's format",
    [KYLIN_EREFUSED] = "refused",
    [KYLIN_ECLOSED] = "client closed",
    [KYLIN_EIO] = "I/O error",
};

const char *kylin_strerror(int rc)
{
    if (rc < 0 || (size_t)rc >= sizeof kylin_rc_text / sizeof kylin_rc_text[0] || kylin_rc_text[rc] == NULL) {
        return "unknown error";
    }
    return kylin_rc_text[rc];
}

void kylin_errf(char *buf, size_t size, const char *fmt, ...)
{
    va_list ap;
    int n;

    if (buf == NULL || size == 0) {
        return;
    }
    va_start(ap, fmt);
    n = vsnprintf(buf, size, fmt, ap);
    va_end(ap);
    if (n < 0) {
        buf[0] = '\0';
        return;
    }
    if ((size_t)n >= size && size > 4) {
        memcpy(buf + size - 4, "...", 4); /* marks the truncation, keeps the NUL */
    }
}
