/* Unit tests of raftctl's command line (tools/raftctl_args.c): endpoints from the flag, the
 * environment or the default; -w; per-command arguments and options; usage errors -> 2. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
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

/* The whole program answers a usage error with 2 before touching the network. */
static void test_main_usage_exit(void **state)
{
    (void)state;
    assert_int_equal(raftctl_main(ARGC("bogus"), ARGV("bogus"), NULL), RAFTCTL_EXIT_USAGE);
    assert_int_equal(raftctl_main(ARGC("member", "add"), ARGV("member", "add"), NULL), RAFTCTL_EXIT_USAGE);
    assert_int_equal(raftctl_main(ARGC("-w", "yaml", "status"), ARGV("-w", "yaml", "status"), NULL), RAFTCTL_EXIT_USAGE);
    assert_int_equal(raftctl_main(ARGC("status"), ARGV("status"), "not-an-endpoint"), RAFTCTL_EXIT_USAGE);
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
            assert_non_null(c->opts[i].metavar);
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
        cmocka_unit_test_teardown(test_commands, teardown),
        cmocka_unit_test_teardown(test_usage_errors, teardown),
        cmocka_unit_test(test_main_usage_exit),
        cmocka_unit_test(test_table_rows),
    };
    return cmocka_run_group_tests_name("raftctl_args", tests, NULL, NULL);
}
