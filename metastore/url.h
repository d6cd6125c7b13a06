/* url: where the metastore mirror writes, from Kylin's `kylin.metadata.url` and our own
 * `raft.metastore.url` (DESIGN.md, "Compatibility with Kylin"; docs/metastore.md).
 *
 * Accepted forms (either key takes either form):
 *   Kylin's:  IDENT@jdbc,driverClassName=org.postgresql.Driver,url=jdbc:postgresql://h:5432/db,
 *             username=u,password=p        (driverClassName may be left out: the JDBC URL's
 *             scheme says it; com.mysql.jdbc.Driver, com.mysql.cj.jdbc.Driver and
 *             org.mariadb.jdbc.Driver select MySQL; jdbc:mysql:// and jdbc:mariadb:// too)
 *   URI:      postgresql://user:pass@host:port/db?prefix=P&host=/socket/dir
 *             mysql://user:pass@host:port/db?prefix=P&socket=/path/mysqld.sock
 *             (postgres:// and mariadb:// are synonyms; user, password, database and query
 *             values may be %-encoded)
 * The table prefix is, in order: raft.metastore.url's `?prefix=` (URI) or identifier (Kylin
 * form), kylin.metadata.url's identifier, "kylin_metadata". It must be an SQL identifier.
 *
 * Passwords are kept in struct ms_url for connecting only; every text meant for people
 * (redacted, error messages) leaves them out.
 * Owns: nothing on the heap. Calls: libc only. */
#ifndef METASTORE_URL_H
#define METASTORE_URL_H

#include <stdbool.h>
#include <stddef.h>

enum ms_kind { MS_KIND_NONE = 0, MS_KIND_POSTGRESQL, MS_KIND_MYSQL };

#define MS_URL_FIELD_MAX 256
#define MS_URL_PATH_MAX 1024
/* The longest table name is PREFIX + "_raft_history" (13 bytes): PostgreSQL cuts identifiers
 * at 63 bytes, MySQL at 64. */
#define MS_URL_PREFIX_MAX 51
#define MS_URL_TEXT_MAX 2048

struct ms_url {
    int kind;                          /* enum ms_kind */
    char host[MS_URL_FIELD_MAX];       /* name or address; "" = local (socket) */
    unsigned port;                     /* 0 = the backend's default (5432 / 3306) */
    char socket[MS_URL_PATH_MAX];      /* PostgreSQL: socket directory; MySQL: socket file */
    char database[MS_URL_FIELD_MAX];
    char user[MS_URL_FIELD_MAX];
    char password[MS_URL_FIELD_MAX];   /* secret: never printed */
    char prefix[MS_URL_PREFIX_MAX];    /* validated SQL identifier */
    char redacted[MS_URL_TEXT_MAX];    /* for display: the URI form, password left out */
};

/* Returns the name of KIND: "postgresql", "mysql" or "none". */
const char *ms_kind_name(int kind);

/* Parses one URL in either form into OUT. DEFAULT_PREFIX is used when the URL names none
 * (NULL = "kylin_metadata"). 0, or -1 with a reason in ERR (no password in it). */
int ms_url_parse(const char *text, const char *default_prefix, struct ms_url *out, char *err,
                 size_t cap);

/* Resolves the mirror's target from the two configuration values (either may be "" or NULL):
 * raft.metastore.url wins; kylin.metadata.url gives the target when it is the only one and
 * the prefix in any case. Returns 1 with OUT filled, 0 when neither is set (mirror disabled),
 * -1 with a reason in ERR, prefixed with the offending key. A kylin.metadata.url that is not
 * a JDBC metastore (e.g. `kylin_metadata@hdfs,...`) only gives the prefix: alone it is an
 * error, since there is no table to mirror into. */
int ms_url_resolve(const char *metastore_url, const char *metadata_url, struct ms_url *out,
                   char *err, size_t cap);

/* Reads the metastore password from PATH (raft.metastore.password-file) into OUT (CAP
 * bytes): the file's one line, a trailing "\n" or "\r\n" removed. Refused, with the file and
 * its mode named in ERR: a file readable by group or others, not a regular file, empty, or
 * with more than one line or a password of CAP bytes or more. 0 or -1. */
int ms_password_file_read(const char *path, char *out, size_t cap, char *err, size_t errcap);

/* True when S (LEN bytes) is an SQL identifier: [A-Za-z_][A-Za-z0-9_]*, 1 to
 * MS_URL_PREFIX_MAX - 1 (50) bytes. */
bool ms_identifier_ok(const char *s, size_t len);

#endif
