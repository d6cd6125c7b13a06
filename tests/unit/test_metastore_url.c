/* Unit tests for metastore/url.c: Kylin's kylin.metadata.url and our raft.metastore.url, the
 * prefix rules, unix sockets, redaction and the error messages (never with a password). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "metastore/url.h"

static struct ms_url u;
static char err[1024];

#define PG_KYLIN                                                                            \
    "kylin_metadata@jdbc,driverClassName=org.postgresql.Driver,"                            \
    "url=jdbc:postgresql://db.example:5432/kylin,username=kylin,password=s3cret"

static void test_kylin_postgresql(void **state)
{
    (void)state;
    assert_int_equal(ms_url_resolve("", PG_KYLIN, &u, err, sizeof err), 1);
    assert_int_equal(u.kind, MS_KIND_POSTGRESQL);
    assert_string_equal(u.host, "db.example");
    assert_int_equal(u.port, 5432);
    assert_string_equal(u.database, "kylin");
    assert_string_equal(u.user, "kylin");
    assert_string_equal(u.password, "s3cret");
    assert_string_equal(u.prefix, "kylin_metadata");
    assert_string_equal(u.redacted, "postgresql://kylin:***@db.example:5432/kylin?prefix=kylin_metadata");
    assert_null(strstr(u.redacted, "s3cret"));
}

static void test_kylin_mysql_drivers(void **state)
{
    (void)state;
    static const char *const urls[] = {
        "km@jdbc,driverClassName=com.mysql.jdbc.Driver,url=jdbc:mysql://10.0.0.5:3306/kylin?useSSL=false,"
        "username=root,password=pw",
        "km@jdbc,driverClassName=com.mysql.cj.jdbc.Driver,url=jdbc:mysql://10.0.0.5:3306/kylin,"
        "username=root,password=pw,maxActive=20",
        "km@jdbc,driverClassName=org.mariadb.jdbc.Driver,url=jdbc:mariadb://10.0.0.5:3306/kylin,"
        "username=root,password=pw",
        "km@jdbc,url=jdbc:mysql://10.0.0.5:3306/kylin,username=root,password=pw",
    };
    for (size_t i = 0; i < sizeof urls / sizeof urls[0]; i++) {
        assert_int_equal(ms_url_resolve(NULL, urls[i], &u, err, sizeof err), 1);
        assert_int_equal(u.kind, MS_KIND_MYSQL);
        assert_string_equal(u.host, "10.0.0.5");
        assert_int_equal(u.port, 3306);
        assert_string_equal(u.database, "kylin");
        assert_string_equal(u.user, "root");
        assert_string_equal(u.prefix, "km");
        assert_string_equal(u.redacted, "mysql://root:***@10.0.0.5:3306/kylin?prefix=km");
    }
}

static void test_uri_forms(void **state)
{
    (void)state;
    assert_int_equal(ms_url_parse("postgresql://u:p%40ss@127.0.0.1:6543/meta?prefix=kx", NULL, &u, err, sizeof err), 0);
    assert_int_equal(u.kind, MS_KIND_POSTGRESQL);
    assert_string_equal(u.password, "p@ss");
    assert_int_equal(u.port, 6543);
    assert_string_equal(u.prefix, "kx");
    assert_string_equal(u.redacted, "postgresql://u:***@127.0.0.1:6543/meta?prefix=kx");

    assert_int_equal(ms_url_parse("postgres://u@/meta?host=/tmp/pg%20sock", NULL, &u, err, sizeof err), 0);
    assert_string_equal(u.socket, "/tmp/pg sock");
    assert_string_equal(u.host, "");
    assert_string_equal(u.prefix, "kylin_metadata");
    assert_string_equal(u.redacted, "postgresql://u@/meta?host=/tmp/pg sock&prefix=kylin_metadata");

    assert_int_equal(ms_url_parse("mysql://root:pw@/kylin?socket=/run/my.sock&prefix=P1", NULL, &u, err, sizeof err), 0);
    assert_int_equal(u.kind, MS_KIND_MYSQL);
    assert_string_equal(u.socket, "/run/my.sock");
    assert_string_equal(u.prefix, "P1");
    assert_int_equal(u.port, 0);

    assert_int_equal(ms_url_parse("mariadb://root@[::1]:3307/k", "from_kylin", &u, err, sizeof err), 0);
    assert_string_equal(u.host, "::1");
    assert_int_equal(u.port, 3307);
    assert_string_equal(u.prefix, "from_kylin");
    assert_string_equal(u.redacted, "mysql://root@[::1]:3307/k?prefix=from_kylin");
}

/* raft.metastore.url wins; kylin.metadata.url still names the tables unless ?prefix= does. */
static void test_precedence(void **state)
{
    (void)state;
    assert_int_equal(ms_url_resolve("mysql://a:b@h:1/d", PG_KYLIN, &u, err, sizeof err), 1);
    assert_int_equal(u.kind, MS_KIND_MYSQL);
    assert_string_equal(u.prefix, "kylin_metadata");
    assert_int_equal(ms_url_resolve("mysql://a:b@h:1/d?prefix=mine", "other@jdbc,url=jdbc:mysql://x/y,username=z",
                                    &u, err, sizeof err), 1);
    assert_string_equal(u.prefix, "mine");
    /* Our key in Kylin's form: its identifier is the prefix. */
    assert_int_equal(ms_url_resolve("kylin_metadata@jdbc,url=jdbc:postgresql://db:5432/kylin,username=k",
                                    "", &u, err, sizeof err), 1);
    assert_string_equal(u.host, "db");
    /* A non-JDBC Kylin metastore gives the prefix only. */
    assert_int_equal(ms_url_resolve("postgresql://a@h/d", "hdfs_meta@hdfs,path=/x", &u, err, sizeof err), 1);
    assert_string_equal(u.prefix, "hdfs_meta");
    assert_int_equal(ms_url_resolve("", "hdfs_meta@hdfs,path=/x", &u, err, sizeof err), -1);
    assert_non_null(strstr(err, "raft.metastore.url"));
    /* Neither: disabled. */
    assert_int_equal(ms_url_resolve("", "", &u, err, sizeof err), 0);
    assert_int_equal(ms_url_resolve(NULL, NULL, &u, err, sizeof err), 0);
    assert_int_equal(u.kind, MS_KIND_NONE);
}

static void expect_error(const char *metastore, const char *metadata, const char *needle)
{
    err[0] = '\0';
    int rc = ms_url_resolve(metastore, metadata, &u, err, sizeof err);
    if (rc != -1 || strstr(err, needle) == NULL) {
        print_error("resolve(%s, %s) = %d, err '%s', want '%s'\n", metastore, metadata, rc, err, needle);
    }
    assert_int_equal(rc, -1);
    assert_non_null(strstr(err, needle));
    assert_null(strstr(err, "s3cret"));
}

static void test_errors(void **state)
{
    (void)state;
    expect_error("postgresql://u:s3cret@h/db?prefix=bad-name", NULL, "prefix 'bad-name' is not an SQL identifier");
    expect_error("postgresql://u:s3cret@h/db?prefix=1abc", NULL, "not an SQL identifier");
    expect_error("postgresql://u:s3cret@h/db?prefix=a23456789012345678901234567890123456789012345678901",
                 NULL, "not an SQL identifier");
    expect_error(NULL, "kylin-meta@jdbc,url=jdbc:postgresql://h/db,username=u,password=s3cret",
                 "kylin.metadata.url: identifier 'kylin-meta'");
    expect_error("postgresql://u:s3cret@h:99999/db", NULL, "port '99999'");
    expect_error("postgresql://u:s3cret@h/db?sslmode=require", NULL, "unknown parameter 'sslmode'");
    expect_error("postgresql://u:s3cret@h", NULL, "no database name");
    expect_error("postgresql://:s3cret@h/db", NULL, "no user name");
    expect_error("postgresql://u:s3cret@/db", NULL, "no host, and no socket (?host=/socket/dir)");
    expect_error("mysql://u:s3cret@/db?socket=rel/path", NULL, "absolute path");
    expect_error("oracle://u:s3cret@h/db", NULL, "unknown scheme");
    expect_error(NULL, "k@jdbc,driverClassName=oracle.jdbc.OracleDriver,url=jdbc:oracle:thin:@h:1521:x,password=s3cret",
                 "driverClassName=oracle.jdbc.OracleDriver: not supported");
    expect_error(NULL, "k@jdbc,driverClassName=org.postgresql.Driver,url=jdbc:mysql://h/db,username=u,password=s3cret",
                 "driverClassName names a postgresql driver");
    expect_error(NULL, "k@jdbc,driverClassName=org.postgresql.Driver,username=u,password=s3cret", "no url=jdbc");
    expect_error(NULL, "k@jdbc,url=jdbc:postgresql://h/db,username=u,password=ENC('abc')", "encrypted");
    expect_error(NULL, "k@jdbc,url=jdbc:postgresql://u:s3cret@h/db", "user names go into username=");
    expect_error("postgresql://u:s3cret@h/db%zz", NULL, "badly %-encoded");
}

/* raft.metastore.password-file (issue 12): one line, owner-readable only. */
static void write_secret(const char *path, const char *text, mode_t mode)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    assert_int_equal(fputs(text, f) >= 0, 1);
    assert_int_equal(fclose(f), 0);
    assert_int_equal(chmod(path, mode), 0);
}

/* Writes TEXT at PATH with MODE and reads it back: 0 with the password in PW, or -1 with a
 * message in ERR containing NEEDLE (and PW wiped). */
static void expect_password(const char *path, const char *text, mode_t mode, const char *want, const char *needle)
{
    char pw[MS_URL_FIELD_MAX], err[512];

    write_secret(path, text, mode);
    if (want != NULL) {
        assert_int_equal(ms_password_file_read(path, pw, sizeof pw, err, sizeof err), 0);
        assert_string_equal(pw, want);
        return;
    }
    assert_int_equal(ms_password_file_read(path, pw, sizeof pw, err, sizeof err), -1);
    assert_string_equal(pw, "");
    assert_non_null(strstr(err, path));
    if (strstr(err, needle) == NULL) {
        fail_msg("'%s' lacks '%s'", err, needle);
    }
}

static void test_password_file(void **state)
{
    char dir[] = "/tmp/test_pwfile.XXXXXX";
    char path[128], pw[MS_URL_FIELD_MAX], err[512], big[400];

    (void)state;
    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof path, "%s/pw", dir);
    expect_password(path, "s3cret\n", 0600, "s3cret", NULL);
    expect_password(path, "s3cret\r\n", 0400, "s3cret", NULL);
    expect_password(path, "no newline", 0600, "no newline", NULL);
    expect_password(path, "s3cret\n", 0644, NULL, "is mode 0644: readable by group and others");
    expect_password(path, "s3cret\n", 0640, NULL, "is mode 0640: readable by its group");
    expect_password(path, "s3cret\n", 0604, NULL, "readable by others");
    expect_password(path, "\n", 0600, NULL, "empty");
    expect_password(path, "a\nb\n", 0600, NULL, "more than one line");
    memset(big, 'p', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    expect_password(path, big, 0600, NULL, "at most 255");
    assert_int_equal(unlink(path), 0);
    assert_int_equal(ms_password_file_read(path, pw, sizeof pw, err, sizeof err), -1);
    assert_non_null(strstr(err, "No such file"));
    assert_int_equal(ms_password_file_read(dir, pw, sizeof pw, err, sizeof err), -1);
    assert_non_null(strstr(err, "not a regular file"));
    assert_int_equal(rmdir(dir), 0);
}

static void test_identifier(void **state)
{
    (void)state;
    assert_true(ms_identifier_ok("kylin_metadata", 14));
    assert_true(ms_identifier_ok("_x9", 3));
    assert_false(ms_identifier_ok("", 0));
    assert_false(ms_identifier_ok("9x", 2));
    assert_false(ms_identifier_ok("a b", 3));
    assert_false(ms_identifier_ok("a;drop", 6));
    assert_false(ms_identifier_ok("a\"b", 3));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_kylin_postgresql), cmocka_unit_test(test_kylin_mysql_drivers),
        cmocka_unit_test(test_uri_forms),        cmocka_unit_test(test_precedence),
        cmocka_unit_test(test_errors),           cmocka_unit_test(test_identifier),
        cmocka_unit_test(test_password_file),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
