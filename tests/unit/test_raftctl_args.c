/* Unit tests of raftctl's command line (tools/raftctl_args.c): endpoints from the flag, the
 * environment or the default; -w; per-command arguments and options (valued, flag and
 * required ones); usage errors -> 2; the usage text. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "tools/raftctl_args.h"
#include "tools/raftctl_call.h"

#define ARGV(...) ((char *[]){"raftctl", __VA_ARGS__, NULL})
#define ARGC(...) ((int)(sizeof((char *[]){"raftctl", __VA_ARGS__}) / sizeof(char *)))

static struct raftctl_args args;
static char err[RAFTCTL_ERR_MAX];

#define PARSE(env, ...) raftctl_args_parse(ARGC(__VA_ARGS__), ARGV(__VA_ARGS__), (env), &args, err, sizeof err)

static int teardown(void **state)
{
    (void)state;
    raftctl_args_free(&args);
    return 0;
}

static void test_defaults(void **state)
{
    (void)state;
    assert_int_equal(PARSE(NULL, "status"), 0);
    assert_int_equal(args.n_endpoints, 3);
    assert_string_equal(args.endpoints[0], "127.0.0.1:7201");
    assert_string_equal(args.endpoints[2], "127.0.0.1:7203");
    assert_int_equal(args.format, RAFTCTL_FORMAT_TABLE);
    assert_int_equal(args.timeout_ms, RAFTCTL_DEFAULT_TIMEOUT_MS);
    assert_false(args.consistent);
    assert_string_equal(args.cmd->words, "status");
    assert_int_equal(args.n_pos, 0);
    raftctl_args_free(&args);

    assert_int_equal(PARSE("", "status"), 0); /* empty variable = unset */
    assert_int_equal(args.n_endpoints, 3);
}

static void test_endpoints_env_and_flag(void **state)
{
    (void)state;
    assert_int_equal(PARSE("10.0.0.1:1, 10.0.0.2:2", "status"), 0);
    assert_int_equal(args.n_endpoints, 2);
    assert_string_equal(args.endpoints[0], "10.0.0.1:1");
    assert_string_equal(args.endpoints[1], "10.0.0.2:2");
    raftctl_args_free(&args);

    /* the flag wins over the environment, in both spellings and after the command */
    assert_int_equal(PARSE("10.0.0.1:1", "--endpoints", "127.0.0.1:9", "status"), 0);
    assert_int_equal(args.n_endpoints, 1);
    assert_string_equal(args.endpoints[0], "127.0.0.1:9");
    raftctl_args_free(&args);
    assert_int_equal(PARSE("10.0.0.1:1", "status", "--endpoints=127.0.0.1:8,127.0.0.1:9"), 0);
    assert_int_equal(args.n_endpoints, 2);
    assert_string_equal(args.endpoints[1], "127.0.0.1:9");
    raftctl_args_free(&args);

    /* bad ones are usage errors naming their source */
    assert_int_equal(PARSE("nohost", "status"), RAFTCTL_EXIT_USAGE);
    assert_non_null(strstr(err, "RAFTCTL_ENDPOINTS"));
    raftctl_args_free(&args);
    assert_int_equal(PARSE(NULL, "--endpoints", "127.0.0.1:1,,127.0.0.1:2", "status"), RAFTCTL_EXIT_USAGE);
    assert_non_null(strstr(err, "empty entry"));
    raftctl_args_free(&args);
    assert_int_equal(PARSE(NULL, "--endpoints", "127.0.0.1:99999", "status"), RAFTCTL_EXIT_USAGE);
    assert_non_null(strstr(err, "--endpoints"));
    raftctl_args_free(&args);
    assert_int_equal(PARSE(NULL, "status", "--endpoints"), RAFTCTL_EXIT_USAGE);
    assert_non_null(strstr(err, "needs a value"));
}

static void test_write_out(void **state)
{
    (void)state;
    assert_int_equal(PARSE(NULL, "-w", "json", "status"), 0);
    assert_int_equal(args.format, RAFTCTL_FORMAT_JSON);
    raftctl_args_free(&args);
    assert_int_equal(PARSE(NULL, "status", "-wjson"), 0);
    assert_int_equal(args.format, RAFTCTL_FORMAT_JSON);
    raftctl_args_free(&args);
    assert_int_equal(PARSE(NULL, "--write-out=table", "status"), 0);
    assert_int_equal(args.format, RAFTCTL_FORMAT_TABLE);
    raftctl_args_free(&args);
    assert_int_equal(PARSE(NULL, "-w", "xml", "status"), RAFTCTL_EXIT_USAGE);
    assert_non_null(strstr(err, "xml"));
    raftctl_args_free(&args);
    assert_int_equal(PARSE(NULL, "status", "-w"), RAFTCTL_EXIT_USAGE);
}

static void test_timeout_and_consistent(void **state)
{
    (void)state;
    assert_int_equal(PARSE(NULL, "project", "list", "--consistent", "--timeout", "250"), 0);
    assert_true(args.consistent);
    assert_int_equal(args.timeout_ms, 250);
    assert_string_equal(args.cmd->words, "project list");
    raftctl_args_free(&args);
    assert_int_equal(PARSE(NULL, "--timeout=0", "status"), RAFTCTL_EXIT_USAGE);
    raftctl_args_free(&args);
    assert_int_equal(PARSE(NULL, "--timeout", "10s", "status"), RAFTCTL_EXIT_USAGE);
    raftctl_args_free(&args);
    assert_int_equal(PARSE(NULL, "--timeout", "3600001", "status"), RAFTCTL_EXIT_USAGE);
}

/* --watch SECONDS [--count N] on status, engine list and kylin status (raftctl_watch.c). */
static void test_watch(void **state)
{
    (void)state;
    assert_int_equal(PARSE(NULL, "status"), 0);
    assert_int_equal(args.watch_s, 0); /* runs once */
    assert_int_equal(args.watch_rounds, 0);
    raftctl_args_free(&args);
    assert_int_equal(PARSE(NULL, "status", "--watch", "2"), 0);
    assert_int_equal(args.watch_s, 2);
    assert_int_equal(args.watch_rounds, 0); /* until Ctrl-C (bounded by RAFTCTL_WATCH_MAX_ROUNDS) */
    raftctl_args_free(&args);
    assert_int_equal(PARSE(NULL, "--watch=1", "engine", "list", "--count", "3", "-w", "json"), 0);
    assert_string_equal(args.cmd->words, "engine list");
    assert_int_equal(args.watch_s, 1);
    assert_int_equal(args.watch_rounds, 3);
    assert_int_equal(args.format, RAFTCTL_FORMAT_JSON);
    raftctl_args_free(&args);
    assert_int_equal(PARSE(NULL, "kylin", "status", "--watch", "3600", "--count=1000000"), 0);
    assert_int_equal(args.watch_s, RAFTCTL_WATCH_MAX_S);
    assert_int_equal(args.watch_rounds, RAFTCTL_WATCH_MAX_ROUNDS);
    raftctl_args_free(&args);

    struct {
        int argc;
        char **argv;
        const char *needle;
    } bad[] = {
        {ARGC("status", "--watch"), ARGV("status", "--watch"), "needs a value"},
        {ARGC("status", "--watch", "0"), ARGV("status", "--watch", "0"), "--watch '0' is not a number of seconds from 1 to 3600"},
        {ARGC("status", "--watch", "3601"), ARGV("status", "--watch", "3601"), "from 1 to 3600"},
        {ARGC("status", "--watch", "1s"), ARGV("status", "--watch", "1s"), "--watch '1s'"},
        {ARGC("status", "--watch", "-1"), ARGV("status", "--watch", "-1"), "--watch"},
        {ARGC("status", "--count", "2"), ARGV("status", "--count", "2"), "--count needs --watch SECONDS"},
        {ARGC("status", "--watch", "1", "--count", "0"), ARGV("status", "--watch", "1", "--count", "0"),
         "--count '0' is not a number of refreshes from 1 to 1000000"},
        {ARGC("status", "--watch", "1", "--count", "1000001"), ARGV("status", "--watch", "1", "--count", "1000001"),
         "from 1 to 1000000"},
        {ARGC("status", "--watch", "1", "--watch", "2"), ARGV("status", "--watch", "1", "--watch", "2"), "given twice"},
        /* only the read commands refresh: a write must not repeat */
        {ARGC("project", "add", "p", "--watch", "1"), ARGV("project", "add", "p", "--watch", "1"),
         "unknown option --watch"},
        {ARGC("project", "list", "--watch", "1"), ARGV("project", "list", "--watch", "1"), "unknown option --watch"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int rc = raftctl_args_parse(bad[i].argc, bad[i].argv, NULL, &args, err, sizeof err);
        if (rc != RAFTCTL_EXIT_USAGE || strstr(err, bad[i].needle) == NULL) {
            fail_msg("case %zu: rc %d, err '%s', wanted '%s'", i, rc, err, bad[i].needle);
        }
        raftctl_args_free(&args);
    }
}

/* --cacert/--cert/--key are global options, anywhere on the line, in both spellings. */
static void test_tls_options(void **state)
{
    (void)state;
    assert_int_equal(PARSE(NULL, "--cacert", "ca.crt", "project", "add", "p1", "--cert=ops.crt", "--key", "ops.key"), 0);
    assert_string_equal(args.cacert, "ca.crt");
    assert_string_equal(args.cert, "ops.crt");
    assert_string_equal(args.key, "ops.key");
    assert_string_equal(args.cmd->words, "project add");
    assert_int_equal(args.n_pos, 1);
    raftctl_args_free(&args);
    assert_int_equal(PARSE(NULL, "status"), 0);
    assert_null(args.cacert);
    assert_null(args.cert);
    raftctl_args_free(&args);
    assert_int_equal(PARSE(NULL, "status", "--cacert"), RAFTCTL_EXIT_USAGE);
    assert_non_null(strstr(err, "--cacert needs a value"));
    raftctl_args_free(&args);
    assert_int_equal(PARSE(NULL, "audit", "--limit", "5"), 0);
    assert_string_equal(args.cmd->words, "audit");
    assert_string_equal(raftctl_args_opt(&args, "limit"), "5");
}

static void test_commands(void **state)
{
    (void)state;
    assert_int_equal(PARSE(NULL, "member", "add", "4", "127.0.0.1:7104", "--api", "127.0.0.1:7204", "--role=voter"), 0);
    assert_string_equal(args.cmd->words, "member add");
    assert_int_equal(args.n_pos, 2);
    assert_string_equal(args.pos[0], "4");
    assert_string_equal(args.pos[1], "127.0.0.1:7104");
    assert_string_equal(raftctl_args_opt(&args, "api"), "127.0.0.1:7204");
    assert_string_equal(raftctl_args_opt(&args, "role"), "voter");
    raftctl_args_free(&args);

    assert_int_equal(PARSE(NULL, "member", "add", "4", "127.0.0.1:7104"), 0);
    assert_null(raftctl_args_opt(&args, "api"));
    assert_null(raftctl_args_opt(&args, "role"));
    raftctl_args_free(&args);

    assert_int_equal(PARSE(NULL, "project", "add", "a", "b", "c"), 0);
    assert_string_equal(args.cmd->words, "project add");
    assert_int_equal(args.n_pos, 3);
    assert_string_equal(args.pos[2], "c");
    raftctl_args_free(&args);

    assert_int_equal(PARSE(NULL, "leader", "transfer"), 0);
    assert_int_equal(args.n_pos, 0);
    raftctl_args_free(&args);
    assert_int_equal(PARSE(NULL, "leader", "transfer", "2"), 0);
    assert_int_equal(args.n_pos, 1);
    raftctl_args_free(&args);

    assert_int_equal(PARSE(NULL, "member", "demote", "3", "--role", "spare"), 0);
    assert_string_equal(raftctl_args_opt(&args, "role"), "spare");
    raftctl_args_free(&args);

    /* "--" ends the options */
    assert_int_equal(PARSE(NULL, "project", "remove", "--", "p1"), 0);
    assert_int_equal(args.n_pos, 1);
    raftctl_args_free(&args);

    assert_int_equal(PARSE(NULL, "--help"), 0);
    assert_true(args.help);
}

static void test_usage_errors(void **state)
{
    struct {
        int argc;
        char **argv;
        const char *needle;
    } cases[] = {
        {ARGC("-w", "json"), ARGV("-w", "json"), "no command"},
        {ARGC("frobnicate"), ARGV("frobnicate"), "unknown command 'frobnicate'"},
        {ARGC("member"), ARGV("member"), "needs a subcommand: list, add"},
        {ARGC("member", "grow"), ARGV("member", "grow"), "unknown subcommand 'member grow'"},
        {ARGC("member", "add", "4"), ARGV("member", "add", "4"), "missing RAFT_ADDR"},
        {ARGC("member", "add", "x", "127.0.0.1:1"), ARGV("member", "add", "x", "127.0.0.1:1"), "ID 'x'"},
        {ARGC("member", "add", "0", "127.0.0.1:1"), ARGV("member", "add", "0", "127.0.0.1:1"), "ID '0'"},
        {ARGC("member", "add", "9223372036854775808", "127.0.0.1:1"),
         ARGV("member", "add", "9223372036854775808", "127.0.0.1:1"), "id from 1 to 9223372036854775807"},
        {ARGC("member", "remove", "18446744073709551615"), ARGV("member", "remove", "18446744073709551615"),
         "ID '18446744073709551615'"},
        {ARGC("member", "add", "4", "host:1"), ARGV("member", "add", "4", "host:1"), "RAFT_ADDR"},
        {ARGC("member", "add", "4", "127.0.0.1:1", "--api", "x"), ARGV("member", "add", "4", "127.0.0.1:1", "--api", "x"),
         "API_ADDR"},
        {ARGC("member", "add", "4", "127.0.0.1:1", "--role", "boss"),
         ARGV("member", "add", "4", "127.0.0.1:1", "--role", "boss"), "not one of standby|spare|voter"},
        {ARGC("member", "demote", "4", "--role", "voter"), ARGV("member", "demote", "4", "--role", "voter"),
         "not one of standby|spare"},
        {ARGC("member", "remove", "4", "--api", "127.0.0.1:1"), ARGV("member", "remove", "4", "--api", "127.0.0.1:1"),
         "unknown option --api"},
        {ARGC("member", "remove", "4", "5"), ARGV("member", "remove", "4", "5"), "unexpected argument '5'"},
        {ARGC("member", "add", "4", "127.0.0.1:1", "--role", "voter", "--role", "spare"),
         ARGV("member", "add", "4", "127.0.0.1:1", "--role", "voter", "--role", "spare"), "given twice"},
        {ARGC("project", "add"), ARGV("project", "add"), "missing NAME"},
        {ARGC("leader", "transfer", "me"), ARGV("leader", "transfer", "me"), "ID 'me'"},
        {ARGC("status", "-x"), ARGV("status", "-x"), "unknown option '-x'"},
        {ARGC("status", "extra"), ARGV("status", "extra"), "unexpected argument 'extra'"},
    };

    (void)state;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int rc = raftctl_args_parse(cases[i].argc, cases[i].argv, NULL, &args, err, sizeof err);
        if (rc != RAFTCTL_EXIT_USAGE || strstr(err, cases[i].needle) == NULL) {
            fail_msg("case %zu: rc %d, err '%s', expected 2 and '%s'", i, rc, err, cases[i].needle);
        }
        raftctl_args_free(&args);
    }
}

/* engine list, project show|move|pin|unpin, rebalance, drain, undrain, maintenance, history. */
static void test_owner_commands(void **state)
{
    (void)state;
    assert_int_equal(PARSE(NULL, "engine", "list"), 0);
    assert_string_equal(args.cmd->words, "engine list");
    assert_int_equal(args.n_pos, 0);
    raftctl_args_free(&args);

    assert_int_equal(PARSE(NULL, "project", "show", "p1"), 0);
    assert_string_equal(args.cmd->words, "project show");
    assert_int_equal(args.n_pos, 1);
    assert_string_equal(args.pos[0], "p1");
    raftctl_args_free(&args);

    assert_int_equal(PARSE(NULL, "project", "move", "p1", "2"), 0);
    assert_string_equal(args.cmd->words, "project move");
    assert_int_equal(args.n_pos, 2);
    assert_string_equal(args.pos[1], "2");
    raftctl_args_free(&args);

    assert_int_equal(PARSE(NULL, "project", "pin", "p1", "3"), 0);
    assert_string_equal(args.cmd->words, "project pin");
    raftctl_args_free(&args);
    assert_int_equal(PARSE(NULL, "project", "unpin", "p1"), 0);
    assert_string_equal(args.cmd->words, "project unpin");
    assert_int_equal(args.n_pos, 1);
    raftctl_args_free(&args);

    assert_int_equal(PARSE(NULL, "drain", "2"), 0);
    assert_string_equal(args.cmd->words, "drain");
    assert_string_equal(args.pos[0], "2");
    raftctl_args_free(&args);
    assert_int_equal(PARSE(NULL, "undrain", "2"), 0);
    assert_string_equal(args.cmd->words, "undrain");
    raftctl_args_free(&args);

    /* a flag takes no value: the next word stays a word, wherever the flag stands */
    assert_int_equal(PARSE(NULL, "rebalance"), 0);
    assert_string_equal(args.cmd->words, "rebalance");
    assert_null(raftctl_args_opt(&args, "dry-run"));
    raftctl_args_free(&args);
    assert_int_equal(PARSE(NULL, "rebalance", "--dry-run"), 0);
    assert_non_null(raftctl_args_opt(&args, "dry-run"));
    assert_int_equal(args.n_pos, 0);
    raftctl_args_free(&args);
    assert_int_equal(PARSE(NULL, "--dry-run", "rebalance", "-w", "json"), 0);
    assert_string_equal(args.cmd->words, "rebalance");
    assert_non_null(raftctl_args_opt(&args, "dry-run"));
    assert_int_equal(args.format, RAFTCTL_FORMAT_JSON);
    raftctl_args_free(&args);

    assert_int_equal(PARSE(NULL, "maintenance", "on", "--reason", "upgrading the metastore"), 0);
    assert_string_equal(args.cmd->words, "maintenance on");
    assert_string_equal(raftctl_args_opt(&args, "reason"), "upgrading the metastore");
    raftctl_args_free(&args);
    assert_int_equal(PARSE(NULL, "maintenance", "on", "--reason=x"), 0);
    assert_string_equal(raftctl_args_opt(&args, "reason"), "x");
    raftctl_args_free(&args);
    assert_int_equal(PARSE(NULL, "maintenance", "off"), 0);
    assert_string_equal(args.cmd->words, "maintenance off");
    assert_null(raftctl_args_opt(&args, "reason"));
    raftctl_args_free(&args);

    assert_int_equal(PARSE(NULL, "history"), 0);
    assert_string_equal(args.cmd->words, "history");
    assert_null(raftctl_args_opt(&args, "project"));
    assert_null(raftctl_args_opt(&args, "limit"));
    raftctl_args_free(&args);
    assert_int_equal(PARSE(NULL, "history", "--project", "p1", "--limit", "5"), 0);
    assert_string_equal(raftctl_args_opt(&args, "project"), "p1");
    assert_string_equal(raftctl_args_opt(&args, "limit"), "5");
    raftctl_args_free(&args);
    assert_int_equal(PARSE(NULL, "history", "--limit=0"), 0); /* 0 = everything */
    assert_string_equal(raftctl_args_opt(&args, "limit"), "0");
}

static void test_owner_usage_errors(void **state)
{
    struct {
        int argc;
        char **argv;
        const char *needle;
    } cases[] = {
        {ARGC("engine"), ARGV("engine"), "'engine' needs a subcommand: list"},
        {ARGC("engine", "list", "3"), ARGV("engine", "list", "3"), "unexpected argument '3'"},
        {ARGC("project", "show"), ARGV("project", "show"), "missing NAME"},
        {ARGC("project", "show", "a", "b"), ARGV("project", "show", "a", "b"), "unexpected argument 'b'"},
        {ARGC("project", "move", "p1"), ARGV("project", "move", "p1"), "missing ENGINE"},
        {ARGC("project", "move"), ARGV("project", "move"), "missing NAME"},
        {ARGC("project", "move", "p1", "x"), ARGV("project", "move", "p1", "x"), "ENGINE 'x' is not an engine id"},
        {ARGC("project", "move", "p1", "0"), ARGV("project", "move", "p1", "0"), "ENGINE '0'"},
        {ARGC("project", "move", "p1", "-3"), ARGV("project", "move", "p1", "-3"), "unknown option '-3'"},
        {ARGC("project", "pin", "p1"), ARGV("project", "pin", "p1"), "missing ENGINE"},
        {ARGC("project", "pin", "p1", "2x"), ARGV("project", "pin", "p1", "2x"), "ENGINE '2x'"},
        {ARGC("project", "unpin"), ARGV("project", "unpin"), "missing NAME"},
        {ARGC("project", "unpin", "p1", "2"), ARGV("project", "unpin", "p1", "2"), "unexpected argument '2'"},
        {ARGC("project", "show", ""), ARGV("project", "show", ""), "NAME is empty"},
        {ARGC("drain"), ARGV("drain"), "missing ID"},
        {ARGC("drain", "x"), ARGV("drain", "x"), "ID 'x'"},
        {ARGC("undrain"), ARGV("undrain"), "missing ID"},
        {ARGC("undrain", "0"), ARGV("undrain", "0"), "ID '0'"},
        {ARGC("drain", "1", "2"), ARGV("drain", "1", "2"), "unexpected argument '2'"},
        {ARGC("rebalance", "--dry-run=yes"), ARGV("rebalance", "--dry-run=yes"), "--dry-run takes no value"},
        {ARGC("rebalance", "now"), ARGV("rebalance", "now"), "unexpected argument 'now'"},
        {ARGC("rebalance", "--dry-run", "--dry-run"), ARGV("rebalance", "--dry-run", "--dry-run"), "given twice"},
        {ARGC("rebalance", "--limit", "3"), ARGV("rebalance", "--limit", "3"), "unknown option --limit"},
        {ARGC("maintenance"), ARGV("maintenance"), "'maintenance' needs a subcommand: on, off"},
        {ARGC("maintenance", "pause"), ARGV("maintenance", "pause"), "unknown subcommand 'maintenance pause'"},
        {ARGC("maintenance", "on"), ARGV("maintenance", "on"), "--reason TEXT is required"},
        {ARGC("maintenance", "on", "upgrade"), ARGV("maintenance", "on", "upgrade"), "unexpected argument 'upgrade'"},
        {ARGC("maintenance", "on", "--reason"), ARGV("maintenance", "on", "--reason"), "needs a value"},
        {ARGC("maintenance", "on", "--reason", ""), ARGV("maintenance", "on", "--reason", ""), "--reason is empty"},
        {ARGC("maintenance", "on", "--reason="), ARGV("maintenance", "on", "--reason="), "--reason is empty"},
        {ARGC("maintenance", "off", "--reason", "x"), ARGV("maintenance", "off", "--reason", "x"),
         "unknown option --reason"},
        {ARGC("history", "--limit", "x"), ARGV("history", "--limit", "x"), "--limit 'x' is not a number"},
        {ARGC("history", "--limit", "-1"), ARGV("history", "--limit", "-1"), "--limit '-1' is not a number"},
        {ARGC("history", "--limit", "1.5"), ARGV("history", "--limit", "1.5"), "--limit '1.5' is not a number"},
        {ARGC("history", "--limit", ""), ARGV("history", "--limit", ""), "--limit '' is not a number"},
        {ARGC("history", "--limit", "99999999999999999999999"), ARGV("history", "--limit", "99999999999999999999999"),
         "is not a number"},
        {ARGC("history", "--limit"), ARGV("history", "--limit"), "needs a value"},
        {ARGC("history", "--project"), ARGV("history", "--project"), "needs a value"},
        {ARGC("history", "--project", ""), ARGV("history", "--project", ""), "--project is empty"},
        {ARGC("history", "p1"), ARGV("history", "p1"), "unexpected argument 'p1'"},
        {ARGC("history", "--dry-run"), ARGV("history", "--dry-run"), "unknown option --dry-run"},
    };

    (void)state;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int rc = raftctl_args_parse(cases[i].argc, cases[i].argv, NULL, &args, err, sizeof err);
        if (rc != RAFTCTL_EXIT_USAGE || strstr(err, cases[i].needle) == NULL) {
            fail_msg("case %zu: rc %d, err '%s', expected 2 and '%s'", i, rc, err, cases[i].needle);
        }
        raftctl_args_free(&args);
    }
}

static void test_parse_count(void **state)
{
    uint64_t v = 7;

    (void)state;
    assert_int_equal(raftctl_parse_count("0", &v), 0);
    assert_int_equal(v, 0);
    assert_int_equal(raftctl_parse_count("42", &v), 0);
    assert_int_equal(v, 42);
    assert_int_equal(raftctl_parse_count("00", &v), 0); /* leading zeros: still a number */
    assert_int_equal(v, 0);
    assert_int_equal(raftctl_parse_count("", &v), -1);
    assert_int_equal(raftctl_parse_count("+1", &v), -1);
    assert_int_equal(raftctl_parse_count(" 1", &v), -1);
    assert_int_equal(raftctl_parse_count("1 ", &v), -1);
    assert_int_equal(raftctl_parse_count("18446744073709551616", &v), -1);
}

/* Ids: 1..2^63-1, as raft.node.id (issue 12: 2^63 could be added but not removed). */
static void test_parse_id_bounds(void **state)
{
    uint64_t v = 7;

    (void)state;
    assert_int_equal(raftctl_parse_id("9223372036854775807", &v), 0);
    assert_int_equal(v, 9223372036854775807ull);
    assert_int_equal(raftctl_parse_id("9223372036854775808", &v), -1);
    assert_int_equal(raftctl_parse_id("18446744073709551615", &v), -1);
    assert_int_equal(raftctl_parse_id("18446744073709551616", &v), -1);
    assert_int_equal(raftctl_parse_id("0", &v), -1);
    assert_int_equal(raftctl_parse_id("1", &v), 0);
    assert_int_equal(v, 1);
}

/* The usage text lists the new commands with their option forms. */
static void test_usage_text(void **state)
{
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);

    (void)state;
    assert_non_null(f);
    raftctl_usage(f, NULL);
    assert_int_equal(fclose(f), 0);
    assert_non_null(strstr(text, "engine list"));
    assert_non_null(strstr(text, "project show NAME"));
    assert_non_null(strstr(text, "project move NAME ENGINE"));
    assert_non_null(strstr(text, "project pin NAME ENGINE"));
    assert_non_null(strstr(text, "project unpin NAME"));
    assert_non_null(strstr(text, "rebalance [--dry-run]"));
    assert_non_null(strstr(text, "drain ID"));
    assert_non_null(strstr(text, "undrain ID"));
    assert_non_null(strstr(text, "maintenance on --reason TEXT "));
    assert_non_null(strstr(text, "maintenance off"));
    assert_non_null(strstr(text, "history [--project NAME] [--limit N]"));
    free(text);

    text = NULL;
    f = open_memstream(&text, &len);
    assert_non_null(f);
    assert_int_equal(PARSE(NULL, "maintenance", "on"), RAFTCTL_EXIT_USAGE);
    raftctl_usage(f, args.cmd); /* the one-command form raftctl prints after a usage error */
    assert_int_equal(fclose(f), 0);
    assert_non_null(strstr(text, "usage: raftctl [global options] maintenance on --reason TEXT\n"));
    free(text);
}

/* The whole program answers a usage error with 2 before touching the network. */
static void test_main_usage_exit(void **state)
{
    (void)state;
    assert_int_equal(raftctl_main(ARGC("bogus"), ARGV("bogus"), NULL), RAFTCTL_EXIT_USAGE);
    assert_int_equal(raftctl_main(ARGC("member", "add"), ARGV("member", "add"), NULL), RAFTCTL_EXIT_USAGE);
    assert_int_equal(raftctl_main(ARGC("-w", "yaml", "status"), ARGV("-w", "yaml", "status"), NULL), RAFTCTL_EXIT_USAGE);
    assert_int_equal(raftctl_main(ARGC("status"), ARGV("status"), "not-an-endpoint"), RAFTCTL_EXIT_USAGE);
    /* 127.0.0.1:1 refuses connections: a usage error must be found before it is tried */
    assert_int_equal(raftctl_main(ARGC("maintenance", "on"), ARGV("maintenance", "on"), "127.0.0.1:1"),
                     RAFTCTL_EXIT_USAGE);
    assert_int_equal(raftctl_main(ARGC("history", "--limit", "ten"), ARGV("history", "--limit", "ten"), "127.0.0.1:1"),
                     RAFTCTL_EXIT_USAGE);
    assert_int_equal(raftctl_main(ARGC("project", "move", "p1"), ARGV("project", "move", "p1"), "127.0.0.1:1"),
                     RAFTCTL_EXIT_USAGE);
    assert_int_equal(raftctl_main(ARGC("drain", "me"), ARGV("drain", "me"), "127.0.0.1:1"), RAFTCTL_EXIT_USAGE);
}

/* With nothing listening, the new commands (reads and writes) end with 3, not 1. */
static void test_main_unreachable_exit(void **state)
{
    (void)state;
    assert_int_equal(raftctl_main(ARGC("engine", "list"), ARGV("engine", "list"), "127.0.0.1:1"),
                     RAFTCTL_EXIT_UNAVAILABLE);
    assert_int_equal(raftctl_main(ARGC("project", "show", "p1"), ARGV("project", "show", "p1"), "127.0.0.1:1"),
                     RAFTCTL_EXIT_UNAVAILABLE);
    assert_int_equal(raftctl_main(ARGC("drain", "2"), ARGV("drain", "2"), "127.0.0.1:1"), RAFTCTL_EXIT_UNAVAILABLE);
    assert_int_equal(raftctl_main(ARGC("rebalance", "--dry-run"), ARGV("rebalance", "--dry-run"), "127.0.0.1:1"),
                     RAFTCTL_EXIT_UNAVAILABLE);
    assert_int_equal(raftctl_main(ARGC("history", "--limit", "0"), ARGV("history", "--limit", "0"), "127.0.0.1:1"),
                     RAFTCTL_EXIT_UNAVAILABLE);
}

/* Every command row is well formed: a handler, a summary, parsable argument kinds. */
static void test_table_rows(void **state)
{
    (void)state;
    for (const struct raftctl_command *c = raftctl_commands; c->words != NULL; c++) {
        assert_non_null(c->run);
        assert_non_null(c->summary);
        assert_non_null(c->args);
        for (size_t i = 0; i < RAFTCTL_MAX_OPTS && c->opts[i].name != NULL; i++) {
            const struct raftctl_opt *o = &c->opts[i];
            bool flag = (o->flags & RAFTCTL_OPT_FLAG) != 0;
            if (flag) {
                /* a flag has no value to name, offer or require */
                assert_null(o->metavar);
                assert_null(o->choices);
                assert_int_equal(o->flags & RAFTCTL_OPT_REQUIRED, 0);
            } else {
                assert_non_null(o->metavar);
            }
            /* an option name is a flag everywhere or nowhere (the parser relies on it) */
            for (const struct raftctl_command *d = raftctl_commands; d->words != NULL; d++) {
                for (size_t k = 0; k < RAFTCTL_MAX_OPTS && d->opts[k].name != NULL; k++) {
                    if (strcmp(d->opts[k].name, o->name) == 0) {
                        assert_int_equal((d->opts[k].flags & RAFTCTL_OPT_FLAG) != 0, flag);
                    }
                }
            }
        }
        /* no two rows share their words */
        for (const struct raftctl_command *d = c + 1; d->words != NULL; d++) {
            assert_string_not_equal(c->words, d->words);
        }
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_defaults, teardown),
        cmocka_unit_test_teardown(test_endpoints_env_and_flag, teardown),
        cmocka_unit_test_teardown(test_write_out, teardown),
        cmocka_unit_test_teardown(test_timeout_and_consistent, teardown),
        cmocka_unit_test_teardown(test_tls_options, teardown),
        cmocka_unit_test_teardown(test_commands, teardown),
        cmocka_unit_test_teardown(test_watch, teardown),
        cmocka_unit_test_teardown(test_usage_errors, teardown),
        cmocka_unit_test_teardown(test_owner_commands, teardown),
        cmocka_unit_test_teardown(test_owner_usage_errors, teardown),
        cmocka_unit_test(test_parse_count),
        cmocka_unit_test(test_parse_id_bounds),
        cmocka_unit_test_teardown(test_usage_text, teardown),
        cmocka_unit_test(test_main_usage_exit),
        cmocka_unit_test(test_main_unreachable_exit),
        cmocka_unit_test(test_table_rows),
    };
    return cmocka_run_group_tests_name("raftctl_args", tests, NULL, NULL);
}
