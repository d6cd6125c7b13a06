/* backend: what pg.c and mysql.c share: set-up, error text (with the password scrubbed) and
 * query rows (see backend.h). */
#include "metastore/backend.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void ms_rows_free(struct ms_rows *r)
{
    if (r->cells != NULL) {
        for (size_t i = 0; i < r->n_rows * r->n_cols; i++) {
            free(r->cells[i]);
        }
        free(r->cells);
    }
    memset(r, 0, sizeof *r);
}

void ms_backend_init(struct ms_backend *b, const struct ms_url *url, int cancel_fd)
{
    memset(b, 0, sizeof *b);
    b->url = url;
    b->cancel_fd = cancel_fd;
    b->ops = url->kind == MS_KIND_POSTGRESQL ? &ms_pg_ops : &ms_mysql_ops;
}

/* Replaces every occurrence of SECRET in TEXT by "***" (in place; the text only shrinks or
 * keeps its length when the secret has 3 bytes or more, which is when it is scrubbed). */
static void scrub(char *text, const char *secret)
{
    size_t n = strlen(secret);
    if (n < 3) {
        return; /* too short to tell from ordinary text; such a password shows nothing */
    }
    char *p;
    while ((p = strstr(text, secret)) != NULL) {
        memcpy(p, "***", 3);
        memmove(p + 3, p + n, strlen(p + n) + 1);
    }
}

void ms_backend_error(struct ms_backend *b, bool broken, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(b->errmsg, sizeof b->errmsg, fmt, ap);
    va_end(ap);
    /* Servers end their messages with a newline: one line is what a log wants. */
    size_t len = strlen(b->errmsg);
    while (len > 0 && (b->errmsg[len - 1] == '\n' || b->errmsg[len - 1] == ' ')) {
        b->errmsg[--len] = '\0';
    }
    /* One line, single spaces: libpq's messages span lines and pad with blanks. */
    char *out = b->errmsg;
    for (const char *c = b->errmsg; *c != '\0'; c++) {
        char ch = *c == '\n' || *c == '\t' ? ' ' : *c;
        if (ch == ' ' && out > b->errmsg && out[-1] == ' ') {
            continue;
        }
        *out++ = ch;
    }
    *out = '\0';
    scrub(b->errmsg, b->url->password);
    b->broken = b->broken || broken;
}
