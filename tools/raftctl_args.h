/* raftctl_args: raftctl's command line: global options, the command table, usage text.
 *
 * One static table (raftctl_commands, in raftctl_args.c) lists every command: its words, its
 * positional arguments, its options, its handler and a one-line summary. The same table
 * drives parsing, validation and the usage text, so adding a command is adding one row (and
 * writing its handler). Owns: struct raftctl_args. Calls: common/client.h (endpoint syntax).
 * All global symbols start with raftctl_ (these objects are linked into raftnode and the
 * unit tests too). */
#ifndef TOOLS_RAFTCTL_ARGS_H
#define TOOLS_RAFTCTL_ARGS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "common/client.h"

#define RAFTCTL_DEFAULT_ENDPOINTS "127.0.0.1:7201,127.0.0.1:7202,127.0.0.1:7203"
#define RAFTCTL_DEFAULT_TIMEOUT_MS 5000u
#define RAFTCTL_MAX_TIMEOUT_MS 3600000u
#define RAFTCTL_MAX_ENDPOINTS 64
#define RAFTCTL_MAX_OPTS 4      /* options one command accepts */
#define RAFTCTL_ERR_MAX 512
#define RAFTCTL_WATCH_MAX_S 3600u          /* --watch SECONDS */
#define RAFTCTL_WATCH_MAX_ROUNDS 1000000u  /* refreshes of one --watch run (11 days at 1 s) */

/* Exit statuses (DESIGN.md, "Operator interface"); they equal enum proto_status. */
enum raftctl_exit {
    RAFTCTL_EXIT_OK = 0,
    RAFTCTL_EXIT_FAILED = 1,
    RAFTCTL_EXIT_USAGE = 2,
    RAFTCTL_EXIT_UNAVAILABLE = 3,
};

enum raftctl_format { RAFTCTL_FORMAT_TABLE = 0, RAFTCTL_FORMAT_JSON = 1 };

struct raftctl_ctx;

/* Option flags (struct raftctl_opt.flags). */
#define RAFTCTL_OPT_FLAG 1u     /* "--NAME" alone, no value; its value reads "" when given */
#define RAFTCTL_OPT_REQUIRED 2u /* the command refuses to run without it (usage error) */

/* A command option: "--NAME VALUE" or "--NAME=VALUE", or "--NAME" for a RAFTCTL_OPT_FLAG.
 * An option name is a flag in every command that has it, or in none (the parser decides
 * whether "--NAME" takes the next word before it knows the command). */
struct raftctl_opt {
    const char *name;    /* without the dashes; NULL ends the list */
    const char *metavar; /* VALUE's name in the usage text, of the kinds listed at
                          * raftctl_command.args (ID, N, *_ADDR...); NULL for a flag */
    const char *choices; /* "a|b|c", or NULL for any value */
    unsigned flags;      /* RAFTCTL_OPT_* */
};

struct raftctl_command {
    const char *words;   /* "member add" */
    /* Positional arguments, space separated: ID and ENGINE (positive integer: a member or
     * engine id), N (non-negative integer), [ID] (optional), *_ADDR (IPv4:port), NAME...
     * (one or more), anything else (one non-empty word). Option values follow the same
     * kinds, by their metavar. */
    const char *args;
    struct raftctl_opt opts[RAFTCTL_MAX_OPTS];
    int (*run)(struct raftctl_ctx *ctx); /* returns an enum raftctl_exit */
    const char *summary;
};

/* The table; its last row has words == NULL. */
extern const struct raftctl_command raftctl_commands[];

struct raftctl_args {
    char endpoints[RAFTCTL_MAX_ENDPOINTS][CLIENT_ENDPOINT_MAX];
    size_t n_endpoints;
    enum raftctl_format format;
    unsigned timeout_ms;
    const char *cacert, *cert, *key;    /* --cacert/--cert/--key (TLS to the API), or NULL */
    bool consistent;
    bool help;                          /* -h/--help: print the usage, exit 0 */
    const struct raftctl_command *cmd;  /* NULL only with help */
    const char **pos;                   /* positional arguments after the command words:
                                         * malloc'd array of pointers into argv */
    size_t n_pos;
    const char *opt_values[RAFTCTL_MAX_OPTS]; /* by index in cmd->opts; NULL = not given */
    unsigned watch_s;                   /* --watch SECONDS; 0 = run once */
    unsigned watch_rounds;              /* --count N; 0 = until Ctrl-C (at most RAFTCTL_WATCH_MAX_ROUNDS) */
};

/* Parses ARGV (ARGV[0] is the program name). ENV_ENDPOINTS is $RAFTCTL_ENDPOINTS or NULL;
 * --endpoints wins over it, and it over RAFTCTL_DEFAULT_ENDPOINTS. Returns 0, or
 * RAFTCTL_EXIT_USAGE with a message (without the "raftctl: " prefix) in ERR; A->cmd is
 * then set when the command was recognised, for a usage line. Always call
 * raftctl_args_free afterwards. */
int raftctl_args_parse(int argc, char **argv, const char *env_endpoints, struct raftctl_args *a,
                       char *err, size_t errcap);
void raftctl_args_free(struct raftctl_args *a);

/* The value of option NAME of the parsed command, or NULL. */
const char *raftctl_args_opt(const struct raftctl_args *a, const char *name);

/* Parses a positive decimal integer (no sign, no spaces). 0 or -1. */
int raftctl_parse_id(const char *s, uint64_t *out);
/* The same, but 0 is accepted too ("--limit 0"). 0 or -1. */
int raftctl_parse_count(const char *s, uint64_t *out);

/* Prints the usage of CMD, or of everything when CMD is NULL. */
void raftctl_usage(FILE *f, const struct raftctl_command *cmd);

#endif
