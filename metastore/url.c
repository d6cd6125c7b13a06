/* url: parsing of kylin.metadata.url and raft.metastore.url into a connection target and a
 * table prefix (see url.h). Every error names the part that is wrong, never the password. */
#include "metastore/url.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define DEFAULT_PREFIX "kylin_metadata"

static int fail(char *err, size_t cap, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static int fail(char *err, size_t cap, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, cap, fmt, ap);
    va_end(ap);
    return -1;
}

const char *ms_kind_name(int kind)
{
    switch (kind) {
    case MS_KIND_POSTGRESQL: return "postgresql";
    case MS_KIND_MYSQL: return "mysql";
    default: return "none";
    }
}

bool ms_identifier_ok(const char *s, size_t len)
{
    if (len == 0 || len >= MS_URL_PREFIX_MAX) {
        return false;
    }
    if (!(isalpha((unsigned char)s[0]) || s[0] == '_')) {
        return false;
    }
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_')) {
            return false;
        }
    }
    return true;
}

/* Copies LEN bytes of S into DST (size CAP), %-decoding when DECODE. -1 when it does not
 * fit, a %-escape is malformed or the result would contain a NUL byte. */
static int copy_part(char *dst, size_t cap, const char *s, size_t len, bool decode)
{
    size_t o = 0;
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        if (decode && c == '%') {
            if (i + 2 >= len || !isxdigit((unsigned char)s[i + 1]) ||
                !isxdigit((unsigned char)s[i + 2])) {
                return -1;
            }
            char hex[3] = {s[i + 1], s[i + 2], '\0'};
            c = (char)strtol(hex, NULL, 16);
            if (c == '\0') {
                return -1;
            }
            i += 2;
        }
        if (o + 1 >= cap) {
            return -1;
        }
        dst[o++] = c;
    }
    dst[o] = '\0';
    return 0;
}

static int parse_port(const char *s, size_t len, unsigned *out)
{
    if (len == 0 || len > 5) {
        return -1;
    }
    unsigned v = 0;
    for (size_t i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9') {
            return -1;
        }
        v = v * 10 + (unsigned)(s[i] - '0');
    }
    if (v == 0 || v > 65535) {
        return -1;
    }
    *out = v;
    return 0;
}

/* Parses "host[:port]" or "[v6]:port" (LEN bytes) into U. */
static int parse_hostport(const char *s, size_t len, struct ms_url *u, const char *what, char *err,
                          size_t cap)
{
    const char *host = s;
    size_t hlen = len;
    const char *port = NULL;
    size_t plen = 0;
    if (len > 0 && s[0] == '[') {
        const char *close = memchr(s, ']', len);
        if (close == NULL) {
            return fail(err, cap, "%s: unterminated '[' in the host", what);
        }
        host = s + 1;
        hlen = (size_t)(close - host);
        size_t rest = len - (size_t)(close + 1 - s);
        if (rest > 0) {
            if (close[1] != ':') {
                return fail(err, cap, "%s: unexpected text after ']' in the host", what);
            }
            port = close + 2;
            plen = rest - 1;
        }
    } else {
        const char *colon = memchr(s, ':', len);
        if (colon != NULL) {
            hlen = (size_t)(colon - s);
            port = colon + 1;
            plen = len - hlen - 1;
        }
    }
    if (copy_part(u->host, sizeof u->host, host, hlen, true) != 0) {
        return fail(err, cap, "%s: the host is too long or badly %%-encoded", what);
    }
    if (port != NULL && parse_port(port, plen, &u->port) != 0) {
        return fail(err, cap, "%s: port '%.*s' is not a number in 1..65535", what, (int)plen, port);
    }
    return 0;
}

/* Handles one query parameter K=V of a URI or JDBC URL. JDBC_URL: keys a JDBC driver
 * understands that we do not need are ignored there; in our own URI they are refused. */
static int query_param(struct ms_url *u, const char *k, size_t klen, const char *v, size_t vlen,
                       bool jdbc_url, bool *prefix_given, const char *what, char *err, size_t cap)
{
#define KEY_IS(lit) (klen == sizeof(lit) - 1 && memcmp(k, lit, klen) == 0)
    char *dst = NULL;
    size_t dcap = 0;
    if (KEY_IS("prefix") && !jdbc_url) {
        if (!ms_identifier_ok(v, vlen)) {
            return fail(err, cap,
                        "%s: prefix '%.*s' is not an SQL identifier ([A-Za-z_][A-Za-z0-9_]*, at "
                        "most %d bytes)",
                        what, (int)(vlen > 80 ? 80 : vlen), v, MS_URL_PREFIX_MAX - 1);
        }
        memcpy(u->prefix, v, vlen);
        u->prefix[vlen] = '\0';
        *prefix_given = true;
        return 0;
    }
    if (KEY_IS("host") && u->kind == MS_KIND_POSTGRESQL) {
        dst = u->socket;
        dcap = sizeof u->socket;
    } else if (KEY_IS("socket") && u->kind == MS_KIND_MYSQL) {
        dst = u->socket;
        dcap = sizeof u->socket;
    } else if (KEY_IS("user") && (jdbc_url || u->user[0] == '\0')) {
        dst = u->user;
        dcap = sizeof u->user;
    } else if (KEY_IS("password") && (jdbc_url || u->password[0] == '\0')) {
        dst = u->password;
        dcap = sizeof u->password;
    } else if (jdbc_url) {
        return 0; /* a driver option (sslmode, useSSL, ...): the mirror does not need it */
    } else {
        return fail(err, cap, "%s: unknown parameter '%.*s'; accepted: prefix, %s, user, password",
                    what, (int)(klen > 40 ? 40 : klen), k,
                    u->kind == MS_KIND_POSTGRESQL ? "host (socket directory)" : "socket");
    }
#undef KEY_IS
    if (copy_part(dst, dcap, v, vlen, true) != 0) {
        return fail(err, cap, "%s: parameter '%.*s' is too long or badly %%-encoded", what,
                    (int)(klen > 40 ? 40 : klen), k);
    }
    if (dst == u->socket && u->socket[0] != '/') {
        return fail(err, cap, "%s: the socket must be an absolute path", what);
    }
    return 0;
}

static int parse_query(struct ms_url *u, const char *q, size_t len, bool jdbc_url,
                       bool *prefix_given, const char *what, char *err, size_t cap)
{
    size_t i = 0;
    while (i < len) {
        size_t end = i;
        while (end < len && q[end] != '&') {
            end++;
        }
        if (end > i) {
            const char *eq = memchr(q + i, '=', end - i);
            if (eq == NULL) {
                return fail(err, cap, "%s: parameter '%.*s' has no '='", what,
                            (int)(end - i > 40 ? 40 : end - i), q + i);
            }
            size_t klen = (size_t)(eq - (q + i));
            if (query_param(u, q + i, klen, eq + 1, end - i - klen - 1, jdbc_url, prefix_given,
                            what, err, cap) != 0) {
                return -1;
            }
        }
        i = end + 1;
    }
    return 0;
}

/* "//[user[:pass]@]host[:port][/db][?query]" after the scheme. USERINFO: accepted (our URI)
 * or not (a JDBC URL has none). */
static int parse_authority_path(struct ms_url *u, const char *s, bool userinfo, bool jdbc_url,
                                bool *prefix_given, const char *what, char *err, size_t cap)
{
    if (strncmp(s, "//", 2) != 0) {
        return fail(err, cap, "%s: expected '//' after the scheme", what);
    }
    s += 2;
    size_t auth_len = strcspn(s, "/?");
    const char *at = NULL;
    for (size_t i = 0; i < auth_len; i++) {
        if (s[i] == '@') {
            at = s + i; /* the last '@': a password may hold one %-encoded, not raw */
        }
    }
    const char *hp = s;
    size_t hp_len = auth_len;
    if (at != NULL) {
        if (!userinfo) {
            return fail(err, cap, "%s: user names go into username=/password=, not the URL", what);
        }
        size_t ui_len = (size_t)(at - s);
        const char *colon = memchr(s, ':', ui_len);
        size_t ulen = colon != NULL ? (size_t)(colon - s) : ui_len;
        if (copy_part(u->user, sizeof u->user, s, ulen, true) != 0 ||
            (colon != NULL && copy_part(u->password, sizeof u->password, colon + 1,
                                        ui_len - ulen - 1, true) != 0)) {
            return fail(err, cap, "%s: the user or password is too long or badly %%-encoded", what);
        }
        hp = at + 1;
        hp_len = auth_len - ui_len - 1;
    }
    if (parse_hostport(hp, hp_len, u, what, err, cap) != 0) {
        return -1;
    }
    s += auth_len;
    if (*s == '/') {
        s++;
        size_t dlen = strcspn(s, "?");
        if (copy_part(u->database, sizeof u->database, s, dlen, true) != 0) {
            return fail(err, cap, "%s: the database name is too long or badly %%-encoded", what);
        }
        s += dlen;
    }
    if (*s == '?' && parse_query(u, s + 1, strlen(s + 1), jdbc_url, prefix_given, what, err, cap) != 0) {
        return -1;
    }
    return 0;
}

static int finish(struct ms_url *u, const char *what, char *err, size_t cap)
{
    if (u->database[0] == '\0') {
        return fail(err, cap, "%s: no database name (.../DATABASE)", what);
    }
    if (u->host[0] == '\0' && u->socket[0] == '\0') {
        return fail(err, cap, "%s: no host, and no socket (%s)", what,
                    u->kind == MS_KIND_POSTGRESQL ? "?host=/socket/dir" : "?socket=/path");
    }
    if (u->user[0] == '\0') {
        return fail(err, cap, "%s: no user name", what);
    }
    if (strncmp(u->password, "ENC(", 4) == 0) {
        return fail(err, cap,
                    "%s: the password is encrypted (ENC(...)); give raft.metastore.url with the "
                    "plain password instead (the file should then be readable by raftnode only)",
                    what);
    }
    /* The display form: our URI, with the password left out. */
    char hostpart[MS_URL_FIELD_MAX + 16] = "";
    if (u->host[0] != '\0') {
        bool v6 = strchr(u->host, ':') != NULL;
        snprintf(hostpart, sizeof hostpart, "%s%s%s", v6 ? "[" : "", u->host, v6 ? "]" : "");
        if (u->port != 0) {
            size_t n = strlen(hostpart);
            snprintf(hostpart + n, sizeof hostpart - n, ":%u", u->port);
        }
    }
    int n = snprintf(u->redacted, sizeof u->redacted, "%s://%s%s@%s/%s?%s%s%sprefix=%s",
                     ms_kind_name(u->kind), u->user, u->password[0] != '\0' ? ":***" : "",
                     hostpart, u->database,
                     u->socket[0] != '\0' ? (u->kind == MS_KIND_POSTGRESQL ? "host=" : "socket=") : "",
                     u->socket, u->socket[0] != '\0' ? "&" : "", u->prefix);
    if (n < 0 || (size_t)n >= sizeof u->redacted) {
        return fail(err, cap, "%s: too long", what);
    }
    return 0;
}

static int parse_uri(const char *text, const char *default_prefix, struct ms_url *u, char *err,
                     size_t cap)
{
    static const struct {
        const char *scheme;
        int kind;
    } schemes[] = {{"postgresql:", MS_KIND_POSTGRESQL}, {"postgres:", MS_KIND_POSTGRESQL},
                   {"mysql:", MS_KIND_MYSQL}, {"mariadb:", MS_KIND_MYSQL}};
    for (size_t i = 0; i < sizeof schemes / sizeof schemes[0]; i++) {
        size_t n = strlen(schemes[i].scheme);
        if (strncmp(text, schemes[i].scheme, n) == 0) {
            bool prefix_given = false;
            u->kind = schemes[i].kind;
            if (parse_authority_path(u, text + n, true, false, &prefix_given, "URI", err, cap) != 0) {
                return -1;
            }
            if (!prefix_given) {
                snprintf(u->prefix, sizeof u->prefix, "%s", default_prefix);
            }
            return finish(u, "URI", err, cap);
        }
    }
    return fail(err, cap, "unknown scheme; use postgresql://, mysql:// or Kylin's IDENT@jdbc,... form");
}

/* Kylin's JDBC URL: jdbc:postgresql://..., jdbc:postgresql:DB, jdbc:mysql://..., jdbc:mariadb://... */
static int parse_jdbc_url(struct ms_url *u, const char *v, size_t len, char *err, size_t cap)
{
    char url[MS_URL_TEXT_MAX];
    if (len >= sizeof url) {
        return fail(err, cap, "url=: too long");
    }
    memcpy(url, v, len);
    url[len] = '\0';
    int kind = MS_KIND_NONE;
    const char *rest = NULL;
    if (strncmp(url, "jdbc:postgresql:", 16) == 0) {
        kind = MS_KIND_POSTGRESQL;
        rest = url + 16;
    } else if (strncmp(url, "jdbc:mysql:", 11) == 0) {
        kind = MS_KIND_MYSQL;
        rest = url + 11;
    } else if (strncmp(url, "jdbc:mariadb:", 13) == 0) {
        kind = MS_KIND_MYSQL;
        rest = url + 13;
    } else {
        return fail(err, cap, "url=: '%.40s' is not a jdbc:postgresql:, jdbc:mysql: or jdbc:mariadb: URL", url);
    }
    if (u->kind != MS_KIND_NONE && u->kind != kind) {
        return fail(err, cap, "url=: a %s URL, but driverClassName names a %s driver",
                    ms_kind_name(kind), ms_kind_name(u->kind));
    }
    u->kind = kind;
    bool prefix_given = false;
    if (strncmp(rest, "//", 2) == 0) {
        return parse_authority_path(u, rest, false, true, &prefix_given, "url=", err, cap);
    }
    if (kind != MS_KIND_POSTGRESQL || rest[0] == '\0' || rest[0] == '/') {
        return fail(err, cap, "url=: expected %s//HOST:PORT/DATABASE",
                    kind == MS_KIND_POSTGRESQL ? "jdbc:postgresql:" : "jdbc:mysql:");
    }
    /* jdbc:postgresql:DATABASE = localhost, default port. */
    snprintf(u->host, sizeof u->host, "localhost");
    size_t dlen = strcspn(rest, "?");
    if (copy_part(u->database, sizeof u->database, rest, dlen, true) != 0) {
        return fail(err, cap, "url=: the database name is too long");
    }
    return rest[dlen] == '?' ? parse_query(u, rest + dlen + 1, strlen(rest + dlen + 1), true,
                                           &prefix_given, "url=", err, cap)
                             : 0;
}

static int driver_kind(const char *v, size_t len)
{
    static const struct {
        const char *name;
        int kind;
    } drivers[] = {{"org.postgresql.Driver", MS_KIND_POSTGRESQL},
                   {"com.mysql.jdbc.Driver", MS_KIND_MYSQL},
                   {"com.mysql.cj.jdbc.Driver", MS_KIND_MYSQL},
                   {"org.mariadb.jdbc.Driver", MS_KIND_MYSQL}};
    for (size_t i = 0; i < sizeof drivers / sizeof drivers[0]; i++) {
        if (strlen(drivers[i].name) == len && memcmp(drivers[i].name, v, len) == 0) {
            return drivers[i].kind;
        }
    }
    return MS_KIND_NONE;
}

/* IDENT@STORAGE[,key=value]... Returns 1 for a JDBC target (U filled), 0 when STORAGE is
 * not jdbc (only U->prefix is set), -1 on error. */
static int parse_kylin(const char *text, struct ms_url *u, char *err, size_t cap)
{
    const char *at = strchr(text, '@');
    size_t ilen = at != NULL ? (size_t)(at - text) : strlen(text);
    if (!ms_identifier_ok(text, ilen)) {
        return fail(err, cap,
                    "identifier '%.*s' (before '@') is not an SQL identifier "
                    "([A-Za-z_][A-Za-z0-9_]*, at most %d bytes): it names Kylin's tables",
                    (int)(ilen > 80 ? 80 : ilen), text, MS_URL_PREFIX_MAX - 1);
    }
    memcpy(u->prefix, text, ilen);
    u->prefix[ilen] = '\0';
    if (at == NULL) {
        return 0;
    }
    const char *s = at + 1;
    size_t slen = strcspn(s, ",");
    if (slen != 4 || memcmp(s, "jdbc", 4) != 0) {
        return 0;
    }
    s += slen;
    bool have_url = false;
    const char *url = NULL;
    size_t url_len = 0;
    while (*s == ',') {
        s++;
        size_t plen = strcspn(s, ",");
        const char *eq = memchr(s, '=', plen);
        if (plen == 0) {
            continue;
        }
        if (eq == NULL) {
            return fail(err, cap, "'%.*s' after '@jdbc' is not key=value", (int)(plen > 40 ? 40 : plen), s);
        }
        size_t klen = (size_t)(eq - s);
        const char *v = eq + 1;
        size_t vlen = plen - klen - 1;
#define KEY_IS(lit) (klen == sizeof(lit) - 1 && memcmp(s, lit, klen) == 0)
        if (KEY_IS("driverClassName")) {
            int kind = driver_kind(v, vlen);
            if (kind == MS_KIND_NONE) {
                return fail(err, cap,
                            "driverClassName=%.*s: not supported; use org.postgresql.Driver, "
                            "com.mysql.jdbc.Driver, com.mysql.cj.jdbc.Driver or org.mariadb.jdbc.Driver",
                            (int)(vlen > 60 ? 60 : vlen), v);
            }
            if (u->kind != MS_KIND_NONE && u->kind != kind) {
                return fail(err, cap, "driverClassName names a %s driver but url= is a %s URL",
                            ms_kind_name(kind), ms_kind_name(u->kind));
            }
            u->kind = kind;
        } else if (KEY_IS("url")) {
            url = v;
            url_len = vlen;
            have_url = true;
        } else if (KEY_IS("username")) {
            if (copy_part(u->user, sizeof u->user, v, vlen, false) != 0) {
                return fail(err, cap, "username=: too long");
            }
        } else if (KEY_IS("password")) {
            if (copy_part(u->password, sizeof u->password, v, vlen, false) != 0) {
                return fail(err, cap, "password=: too long");
            }
        } /* other keys (maxActive, maxIdle, ...) tune Kylin's pool, not the mirror */
#undef KEY_IS
        s += plen;
    }
    if (!have_url) {
        return fail(err, cap, "no url=jdbc:... after '@jdbc'");
    }
    /* Parsed last: username=/password= win over the URL's ?user=/?password=. */
    char user[MS_URL_FIELD_MAX], password[MS_URL_FIELD_MAX];
    memcpy(user, u->user, sizeof user);
    memcpy(password, u->password, sizeof password);
    if (parse_jdbc_url(u, url, url_len, err, cap) != 0) {
        return -1;
    }
    if (user[0] != '\0') {
        memcpy(u->user, user, sizeof user);
    }
    if (password[0] != '\0') {
        memcpy(u->password, password, sizeof password);
    }
    return finish(u, "url=", err, cap) == 0 ? 1 : -1;
}

int ms_url_parse(const char *text, const char *default_prefix, struct ms_url *out, char *err,
                 size_t cap)
{
    memset(out, 0, sizeof *out);
    if (default_prefix == NULL) {
        default_prefix = DEFAULT_PREFIX;
    }
    if (strstr(text, "://") != NULL && strncmp(text, "jdbc", 4) != 0 &&
        strcspn(text, "@") > strcspn(text, ":")) {
        int rc = parse_uri(text, default_prefix, out, err, cap);
        if (rc != 0) {
            memset(out, 0, sizeof *out);
        }
        return rc;
    }
    int rc = parse_kylin(text, out, err, cap);
    if (rc == 0) {
        rc = fail(err, cap, "'%s@...' is not a JDBC metastore (IDENT@jdbc,url=...)", out->prefix);
    }
    if (rc < 0) {
        memset(out, 0, sizeof *out);
        return -1;
    }
    return 0;
}

int ms_url_resolve(const char *metastore_url, const char *metadata_url, struct ms_url *out,
                   char *err, size_t cap)
{
    char why[512];
    char prefix[MS_URL_PREFIX_MAX] = DEFAULT_PREFIX;
    bool kylin_jdbc = false;
    struct ms_url kylin;
    memset(out, 0, sizeof *out);
    if (metadata_url != NULL && metadata_url[0] != '\0') {
        memset(&kylin, 0, sizeof kylin);
        int rc = parse_kylin(metadata_url, &kylin, why, sizeof why);
        if (rc < 0) {
            return fail(err, cap, "kylin.metadata.url: %s", why);
        }
        snprintf(prefix, sizeof prefix, "%s", kylin.prefix);
        kylin_jdbc = rc == 1;
    }
    if (metastore_url != NULL && metastore_url[0] != '\0') {
        if (ms_url_parse(metastore_url, prefix, out, why, sizeof why) != 0) {
            return fail(err, cap, "raft.metastore.url: %s", why);
        }
        return 1;
    }
    if (metadata_url == NULL || metadata_url[0] == '\0') {
        return 0;
    }
    if (!kylin_jdbc) {
        return fail(err, cap,
                    "kylin.metadata.url: '%s@...' is not a JDBC metastore, so there is no epoch "
                    "table to mirror into; set raft.metastore.url to the PostgreSQL or MySQL "
                    "database Kylin reads epochs from",
                    prefix);
    }
    *out = kylin;
    return 1;
}

int ms_password_file_read(const char *path, char *out, size_t cap, char *err, size_t errcap)
{
    struct stat st;
    ssize_t n;
    size_t len;
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);

    out[0] = '\0';
    if (fd < 0) {
        snprintf(err, errcap, "raft.metastore.password-file %s: %s", path, strerror(errno));
        return -1;
    }
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        snprintf(err, errcap, "raft.metastore.password-file %s: not a regular file", path);
        goto fail;
    }
    if ((st.st_mode & (S_IRGRP | S_IROTH)) != 0) {
        snprintf(err, errcap, "raft.metastore.password-file %s is mode %04o: readable by %s; it holds a "
                 "secret, so make it readable by its owner only (chmod 600 %s)", path,
                 (unsigned)(st.st_mode & 07777),
                 (st.st_mode & S_IRGRP) && (st.st_mode & S_IROTH) ? "group and others"
                 : (st.st_mode & S_IRGRP)                         ? "its group" : "others", path);
        goto fail;
    }
    if ((uint64_t)st.st_size > (uint64_t)cap + 1) { /* the password, then "\r\n" at most */
        snprintf(err, errcap, "raft.metastore.password-file %s: %lld bytes; a password has at most %zu",
                 path, (long long)st.st_size, cap - 1);
        goto fail;
    }
    n = read(fd, out, cap);
    if (n < 0) {
        snprintf(err, errcap, "raft.metastore.password-file %s: %s", path, strerror(errno));
        goto fail;
    }
    len = (size_t)n;
    if (len > 0 && out[len - 1] == '\n') {
        len--;
    }
    if (len > 0 && out[len - 1] == '\r') {
        len--;
    }
    if (len >= cap) {
        snprintf(err, errcap, "raft.metastore.password-file %s: the password has %zu bytes or more; at most %zu",
                 path, cap, cap - 1);
        goto fail;
    }
    if (len == 0 || memchr(out, '\n', len) != NULL || memchr(out, '\0', len) != NULL) {
        snprintf(err, errcap, "raft.metastore.password-file %s: %s", path,
                 len == 0 ? "empty; it must hold the password on one line" : "more than one line; it must "
                 "hold the password on one line");
        goto fail;
    }
    out[len] = '\0';
    if (close(fd) != 0) {
        snprintf(err, errcap, "raft.metastore.password-file %s: close: %s", path, strerror(errno));
        memset(out, 0, cap);
        return -1;
    }
    return 0;

fail:
    memset(out, 0, cap);
    (void)close(fd);
    return -1;
}
