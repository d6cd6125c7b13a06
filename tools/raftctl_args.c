/* raftctl_args: the command table and the parser it drives (see raftctl_args.h). */
#include "raftctl_args.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "raftctl_cmd.h"

#define RAFTCTL_MAX_GIVEN_OPTS 16

/* --watch SECONDS [--count N]: the command again every SECONDS until Ctrl-C or N refreshes
 * (raftctl_watch.c). */
#define WATCH_OPTS {"watch", "SECONDS", NULL, 0}, {"count", "N", NULL, 0}, {NULL, NULL, NULL, 0}

/* One row per command. Keep rows of one group together: the usage text follows this order. */
const struct raftctl_command raftctl_commands[] = {
    {"status", "", {WATCH_OPTS}, raftctl_cmd_status,
     "every member's role, state and applied index; the leader and term"},
    {"member list", "", {{NULL, NULL, NULL, 0}}, raftctl_cmd_member_list,
     "members with their raft and API addresses"},
    {"member add", "ID RAFT_ADDR",
     {{"api", "API_ADDR", NULL, 0}, {"role", "ROLE", "standby|spare|voter", 0}, {NULL, NULL, NULL, 0}},
     raftctl_cmd_member_add, "add a member (role standby unless --role says otherwise)"},
    {"member remove", "ID", {{NULL, NULL, NULL, 0}}, raftctl_cmd_member_remove, "remove a member"},
    {"member promote", "ID", {{NULL, NULL, NULL, 0}}, raftctl_cmd_member_promote, "make a member a voter"},
    {"member demote", "ID", {{"role", "ROLE", "standby|spare", 0}, {NULL, NULL, NULL, 0}}, raftctl_cmd_member_demote,
     "make a voter a standby (or --role spare)"},
    {"leader transfer", "[ID]", {{NULL, NULL, NULL, 0}}, raftctl_cmd_leader_transfer,
     "hand leadership to member ID (default: any voter)"},
    {"engine list", "", {WATCH_OPTS}, raftctl_cmd_engine_list,
     "engines: mode, liveness, draining, weight, projects, last heartbeat"},
    {"project list", "", {{NULL, NULL, NULL, 0}}, raftctl_cmd_project_list,
     "projects with their owner and epoch (--consistent: from the leader)"},
    {"project add", "NAME...", {{NULL, NULL, NULL, 0}}, raftctl_cmd_project_add, "create projects"},
    {"project remove", "NAME...", {{NULL, NULL, NULL, 0}}, raftctl_cmd_project_remove, "delete projects"},
    {"project show", "NAME", {{NULL, NULL, NULL, 0}}, raftctl_cmd_project_show,
     "a project's owner, epoch, pin and the owner's lease"},
    {"project move", "NAME ENGINE", {{NULL, NULL, NULL, 0}}, raftctl_cmd_project_move,
     "hand a project to engine ENGINE now"},
    {"project pin", "NAME ENGINE", {{NULL, NULL, NULL, 0}}, raftctl_cmd_project_pin,
     "keep a project on engine ENGINE (moves it there)"},
    {"project unpin", "NAME", {{NULL, NULL, NULL, 0}}, raftctl_cmd_project_unpin,
     "let the scheduler place a pinned project again"},
    {"rebalance", "",
     {{"dry-run", NULL, NULL, RAFTCTL_OPT_FLAG}, {"progress", NULL, NULL, RAFTCTL_OPT_FLAG}, {NULL, NULL, NULL, 0}},
     raftctl_cmd_rebalance,
     "move the fewest projects that even the load (--dry-run: only show; progress on stderr: on a terminal "
     "or with --progress)"},
    {"drain", "ID", {{NULL, NULL, NULL, 0}}, raftctl_cmd_drain, "move every project off engine ID and keep it empty"},
    {"undrain", "ID", {{NULL, NULL, NULL, 0}}, raftctl_cmd_undrain, "let engine ID own projects again"},
    {"maintenance on", "", {{"reason", "TEXT", NULL, RAFTCTL_OPT_REQUIRED}, {NULL, NULL, NULL, 0}},
     raftctl_cmd_maintenance_on, "freeze ownership: no failover, placement or moves"},
    {"maintenance off", "", {{NULL, NULL, NULL, 0}}, raftctl_cmd_maintenance_off, "end maintenance mode"},
    {"history", "", {{"project", "NAME", NULL, 0}, {"limit", "N", NULL, 0}, {NULL, NULL, NULL, 0}}, raftctl_cmd_history,
     "ownership changes, oldest first (the last N, default 20; 0 = all), BY whom"},
    {"audit", "", {{"limit", "N", NULL, 0}, {NULL, NULL, NULL, 0}}, raftctl_cmd_audit,
     "admin write requests with who made them, oldest first (the last N, default 20; 0 = all)"},
    {"metastore status", "", {{NULL, NULL, NULL, 0}}, raftctl_cmd_metastore_status,
     "the metastore mirror: backend, watermark, lag, last error (asks the leader)"},
    {"kylin status", "", {WATCH_OPTS}, raftctl_cmd_kylin_status,
     "per project: the quorum's owner, the Kylin identity and epoch_id in the epoch table, agreement"},
    {"autopilot status", "", {{NULL, NULL, NULL, 0}}, raftctl_cmd_autopilot_status,
     "the leader's autopilot: health, failure tolerance, per member last contact, lag, stability"},
    {"hash", "", {{NULL, NULL, NULL, 0}}, raftctl_cmd_hash,
     "each member's applied index and state digest (equal at equal index = agreement)"},
    {"snapshot save", "FILE", {{NULL, NULL, NULL, 0}}, raftctl_cmd_snapshot_save,
     "write an image of the replicated state at a committed index to FILE (from the leader)"},
    {"snapshot status", "FILE", {{NULL, NULL, NULL, 0}}, raftctl_cmd_snapshot_status,
     "verify a snapshot file and print its index, term, size, checksum and counts"},
    {NULL, NULL, {{NULL, NULL, NULL, 0}}, NULL, NULL},
};

struct given_opt {
    const char *name; /* points into argv, NAME_LEN bytes, not NUL-terminated at '=' */
    size_t name_len;
    const char *value;
};

int raftctl_parse_id(const char *s, uint64_t *out)
{
    char *end;
    unsigned long long v;

    if (s[0] < '0' || s[0] > '9') {
        return -1;
    }
    errno = 0;
    v = strtoull(s, &end, 10);
    /* Raft ids are at most 2^63-1 (raft.node.id's bound): a larger one could be added but
     * not removed again (issue 12). */
    if (errno != 0 || *end != '\0' || v == 0 || v > (unsigned long long)INT64_MAX) {
        return -1;
    }
    *out = (uint64_t)v;
    return 0;
}

/* Number of words of WORDS ("member add") when they are the first words of POS, else 0. */
static size_t words_match(const char *words, const char *const *pos, size_t n_pos)
{
    size_t k = 0;
    const char *w = words;

    while (*w != '\0') {
        size_t len = strcspn(w, " ");
        if (k >= n_pos || strlen(pos[k]) != len || memcmp(pos[k], w, len) != 0) {
            return 0;
        }
        k++;
        w += len;
        w += *w == ' ';
    }
    return k;
}

/* Lists the subcommands of GROUP ("member") into BUF: "list, add, remove". */
static void list_subcommands(const char *group, char *buf, size_t cap)
{
    size_t glen = strlen(group), used = 0;

    buf[0] = '\0';
    for (const struct raftctl_command *c = raftctl_commands; c->words != NULL && used < cap; c++) {
        if (strncmp(c->words, group, glen) == 0 && c->words[glen] == ' ') {
            int n = snprintf(buf + used, cap - used, "%s%s", used > 0 ? ", " : "", c->words + glen + 1);
            used += n > 0 ? (size_t)n : 0;
        }
    }
}

static int find_command(struct raftctl_args *a, char *err, size_t errcap)
{
    size_t best = 0;
    char subs[256];

    if (a->n_pos == 0) {
        snprintf(err, errcap, "no command given");
        return RAFTCTL_EXIT_USAGE;
    }
    for (const struct raftctl_command *c = raftctl_commands; c->words != NULL; c++) {
        size_t k = words_match(c->words, a->pos, a->n_pos);
        if (k > best) {
            best = k;
            a->cmd = c;
        }
    }
    if (a->cmd != NULL) {
        memmove(a->pos, a->pos + best, (a->n_pos - best) * sizeof *a->pos);
        a->n_pos -= best;
        return 0;
    }
    list_subcommands(a->pos[0], subs, sizeof subs);
    if (subs[0] == '\0') {
        snprintf(err, errcap, "unknown command '%s'", a->pos[0]);
    } else if (a->n_pos == 1) {
        snprintf(err, errcap, "'%s' needs a subcommand: %s", a->pos[0], subs);
    } else {
        snprintf(err, errcap, "unknown subcommand '%s %s'; '%s' takes: %s", a->pos[0], a->pos[1], a->pos[0], subs);
    }
    return RAFTCTL_EXIT_USAGE;
}

int raftctl_parse_count(const char *s, uint64_t *out)
{
    char *end;
    unsigned long long v;

    if (s[0] < '0' || s[0] > '9') {
        return -1;
    }
    errno = 0;
    v = strtoull(s, &end, 10);
    if (errno != 0 || *end != '\0') {
        return -1;
    }
    *out = (uint64_t)v;
    return 0;
}

static bool kind_is(const char *name, size_t name_len, const char *kind)
{
    return strlen(kind) == name_len && memcmp(name, kind, name_len) == 0;
}

/* Checks VALUE against an argument or option of kind NAME (ID, ENGINE, N, *_ADDR, other).
 * OPT is the option's name for an option value, NULL for a positional argument. */
static int check_kind(const char *cmd, const char *opt, const char *name, size_t name_len, const char *value,
                      char *err, size_t errcap)
{
    uint64_t id;
    struct sockaddr_in sa;
    char why[256], label[64];

    if (opt != NULL) {
        snprintf(label, sizeof label, "--%s", opt);
    } else {
        snprintf(label, sizeof label, "%.*s", (int)(name_len < 48 ? name_len : 48), name);
    }
    if (kind_is(name, name_len, "ID") && raftctl_parse_id(value, &id) != 0) {
        snprintf(err, errcap, "%s: %s '%s' is not an id from 1 to 9223372036854775807 (2^63-1)", cmd, label,
                 value);
        return RAFTCTL_EXIT_USAGE;
    }
    if (kind_is(name, name_len, "ENGINE") && raftctl_parse_id(value, &id) != 0) {
        snprintf(err, errcap, "%s: %s '%s' is not an engine id (1 to 2^63-1; see raftctl engine list)", cmd,
                 label, value);
        return RAFTCTL_EXIT_USAGE;
    }
    if (kind_is(name, name_len, "N") && raftctl_parse_count(value, &id) != 0) {
        snprintf(err, errcap, "%s: %s '%s' is not a number (a non-negative integer)", cmd, label, value);
        return RAFTCTL_EXIT_USAGE;
    }
    if (name_len > 5 && memcmp(name + name_len - 5, "_ADDR", 5) == 0 &&
        client_endpoint_parse(value, &sa, why, sizeof why) != 0) {
        snprintf(err, errcap, "%s: %.*s %s", cmd, (int)name_len, name, why);
        return RAFTCTL_EXIT_USAGE;
    }
    if (value[0] == '\0') {
        snprintf(err, errcap, "%s: %s is empty", cmd, label);
        return RAFTCTL_EXIT_USAGE;
    }
    return 0;
}

/* Validates the positional arguments against cmd->args. */
static int check_positional(const struct raftctl_args *a, char *err, size_t errcap)
{
    const char *w = a->cmd->args;
    size_t i = 0;

    while (*w != '\0') {
        size_t len = strcspn(w, " ");
        const char *name = w;
        size_t name_len = len;
        bool optional = name[0] == '[';
        bool variadic;
        if (optional) {
            name++;
            name_len -= 2; /* "[" and "]" */
        }
        variadic = name_len > 3 && memcmp(name + name_len - 3, "...", 3) == 0;
        if (variadic) {
            name_len -= 3;
        }
        if (i >= a->n_pos && !optional) {
            snprintf(err, errcap, "%s: missing %.*s", a->cmd->words, (int)name_len, name);
            return RAFTCTL_EXIT_USAGE;
        }
        do {
            if (i < a->n_pos && check_kind(a->cmd->words, NULL, name, name_len, a->pos[i], err, errcap) != 0) {
                return RAFTCTL_EXIT_USAGE;
            }
            i++;
        } while (variadic && i < a->n_pos);
        w += len;
        w += *w == ' ';
    }
    if (i < a->n_pos) {
        snprintf(err, errcap, "%s: unexpected argument '%s'", a->cmd->words, a->pos[i]);
        return RAFTCTL_EXIT_USAGE;
    }
    return 0;
}

static int check_options(struct raftctl_args *a, const struct given_opt *given, size_t n_given, char *err,
                         size_t errcap)
{
    for (size_t g = 0; g < n_given; g++) {
        const struct raftctl_opt *o = NULL;
        size_t idx = 0;
        for (; idx < RAFTCTL_MAX_OPTS && a->cmd->opts[idx].name != NULL; idx++) {
            if (strlen(a->cmd->opts[idx].name) == given[g].name_len &&
                memcmp(a->cmd->opts[idx].name, given[g].name, given[g].name_len) == 0) {
                o = &a->cmd->opts[idx];
                break;
            }
        }
        if (o == NULL) {
            snprintf(err, errcap, "%s: unknown option --%.*s", a->cmd->words, (int)given[g].name_len, given[g].name);
            return RAFTCTL_EXIT_USAGE;
        }
        if (a->opt_values[idx] != NULL) {
            snprintf(err, errcap, "%s: option --%s given twice", a->cmd->words, o->name);
            return RAFTCTL_EXIT_USAGE;
        }
        if ((o->flags & RAFTCTL_OPT_FLAG) != 0) {
            if (given[g].value != NULL) {
                snprintf(err, errcap, "%s: option --%s takes no value", a->cmd->words, o->name);
                return RAFTCTL_EXIT_USAGE;
            }
            a->opt_values[idx] = "";
            continue;
        }
        if (given[g].value == NULL) { /* "--NAME" last on the line */
            snprintf(err, errcap, "%s: option --%s needs a value (%s)", a->cmd->words, o->name,
                     o->choices != NULL ? o->choices : o->metavar);
            return RAFTCTL_EXIT_USAGE;
        }
        if (o->choices != NULL) {
            const char *c = o->choices;
            size_t vlen = strlen(given[g].value);
            bool ok = false;
            while (*c != '\0' && !ok) {
                size_t len = strcspn(c, "|");
                ok = len == vlen && memcmp(c, given[g].value, len) == 0;
                c += len;
                c += *c == '|';
            }
            if (!ok) {
                snprintf(err, errcap, "%s: --%s '%s' is not one of %s", a->cmd->words, o->name, given[g].value,
                         o->choices);
                return RAFTCTL_EXIT_USAGE;
            }
        } else if (check_kind(a->cmd->words, o->name, o->metavar, strlen(o->metavar), given[g].value, err, errcap) !=
                   0) {
            return RAFTCTL_EXIT_USAGE;
        }
        a->opt_values[idx] = given[g].value;
    }
    for (size_t idx = 0; idx < RAFTCTL_MAX_OPTS && a->cmd->opts[idx].name != NULL; idx++) {
        const struct raftctl_opt *o = &a->cmd->opts[idx];
        if ((o->flags & RAFTCTL_OPT_REQUIRED) != 0 && a->opt_values[idx] == NULL) {
            snprintf(err, errcap, "%s: --%s %s is required", a->cmd->words, o->name,
                     o->choices != NULL ? o->choices : o->metavar);
            return RAFTCTL_EXIT_USAGE;
        }
    }
    return 0;
}

/* True when some command has a flag option named NAME (NAME_LEN bytes). */
static bool is_flag_name(const char *name, size_t name_len)
{
    for (const struct raftctl_command *c = raftctl_commands; c->words != NULL; c++) {
        for (size_t i = 0; i < RAFTCTL_MAX_OPTS && c->opts[i].name != NULL; i++) {
            if ((c->opts[i].flags & RAFTCTL_OPT_FLAG) != 0 && strlen(c->opts[i].name) == name_len &&
                memcmp(c->opts[i].name, name, name_len) == 0) {
                return true;
            }
        }
    }
    return false;
}

/* Splits LIST ("h:p,h:p") into a->endpoints; SOURCE names where it came from. */
static int parse_endpoints(struct raftctl_args *a, const char *list, const char *source, char *err, size_t errcap)
{
    const char *p = list;

    a->n_endpoints = 0;
    for (;;) {
        size_t len = strcspn(p, ",");
        char one[CLIENT_ENDPOINT_MAX];
        char why[256];
        struct sockaddr_in sa;
        while (len > 0 && *p == ' ') {
            p++;
            len--;
        }
        while (len > 0 && p[len - 1] == ' ') {
            len--;
        }
        if (len == 0) {
            snprintf(err, errcap, "%s '%s' has an empty entry; give IPv4:port addresses separated by commas",
                     source, list);
            return RAFTCTL_EXIT_USAGE;
        }
        if (len >= sizeof one) {
            snprintf(err, errcap, "%s: '%.*s...' is too long for an IPv4:port address", source, 32, p);
            return RAFTCTL_EXIT_USAGE;
        }
        memcpy(one, p, len);
        one[len] = '\0';
        if (client_endpoint_parse(one, &sa, why, sizeof why) != 0) {
            snprintf(err, errcap, "%s: %s", source, why);
            return RAFTCTL_EXIT_USAGE;
        }
        if (a->n_endpoints == RAFTCTL_MAX_ENDPOINTS) {
            snprintf(err, errcap, "%s lists more than %d endpoints", source, RAFTCTL_MAX_ENDPOINTS);
            return RAFTCTL_EXIT_USAGE;
        }
        memcpy(a->endpoints[a->n_endpoints++], one, len + 1);
        p += strcspn(p, ",");
        if (*p == '\0') {
            return 0;
        }
        p++;
    }
}

static int set_format(struct raftctl_args *a, const char *value, char *err, size_t errcap)
{
    if (strcmp(value, "table") == 0) {
        a->format = RAFTCTL_FORMAT_TABLE;
    } else if (strcmp(value, "json") == 0) {
        a->format = RAFTCTL_FORMAT_JSON;
    } else {
        snprintf(err, errcap, "-w: '%s' is not an output format; use table or json", value);
        return RAFTCTL_EXIT_USAGE;
    }
    return 0;
}

static int set_timeout(struct raftctl_args *a, const char *value, char *err, size_t errcap)
{
    uint64_t ms;

    if (raftctl_parse_id(value, &ms) != 0 || ms > RAFTCTL_MAX_TIMEOUT_MS) {
        snprintf(err, errcap, "--timeout: '%s' is not a number of milliseconds between 1 and %u", value,
                 RAFTCTL_MAX_TIMEOUT_MS);
        return RAFTCTL_EXIT_USAGE;
    }
    a->timeout_ms = (unsigned)ms;
    return 0;
}

/* --watch SECONDS (1..RAFTCTL_WATCH_MAX_S) and --count N (1..RAFTCTL_WATCH_MAX_ROUNDS, only
 * with --watch) into a->watch_s and a->watch_rounds (0: until Ctrl-C, at most
 * RAFTCTL_WATCH_MAX_ROUNDS). */
static int check_watch(struct raftctl_args *a, char *err, size_t errcap)
{
    const char *watch = raftctl_args_opt(a, "watch"), *count = raftctl_args_opt(a, "count");
    uint64_t v;

    if (watch == NULL) {
        if (count != NULL) {
            snprintf(err, errcap, "%s: --count needs --watch SECONDS (it counts the refreshes)", a->cmd->words);
            return RAFTCTL_EXIT_USAGE;
        }
        return 0;
    }
    if (raftctl_parse_id(watch, &v) != 0 || v > RAFTCTL_WATCH_MAX_S) {
        snprintf(err, errcap, "%s: --watch '%s' is not a number of seconds from 1 to %u", a->cmd->words, watch,
                 RAFTCTL_WATCH_MAX_S);
        return RAFTCTL_EXIT_USAGE;
    }
    a->watch_s = (unsigned)v;
    if (count != NULL) {
        if (raftctl_parse_id(count, &v) != 0 || v > RAFTCTL_WATCH_MAX_ROUNDS) {
            snprintf(err, errcap, "%s: --count '%s' is not a number of refreshes from 1 to %u", a->cmd->words,
                     count, RAFTCTL_WATCH_MAX_ROUNDS);
            return RAFTCTL_EXIT_USAGE;
        }
        a->watch_rounds = (unsigned)v;
    }
    return 0;
}

int raftctl_args_parse(int argc, char **argv, const char *env_endpoints, struct raftctl_args *a,
                       char *err, size_t errcap)
{
    struct given_opt given[RAFTCTL_MAX_GIVEN_OPTS];
    size_t n_given = 0;
    const char *endpoints_arg = NULL;
    bool only_positional = false;
    int rc;

    memset(a, 0, sizeof *a);
    a->format = RAFTCTL_FORMAT_TABLE;
    a->timeout_ms = RAFTCTL_DEFAULT_TIMEOUT_MS;
    err[0] = '\0';
    a->pos = malloc((size_t)(argc > 0 ? argc : 1) * sizeof *a->pos);
    if (a->pos == NULL) {
        snprintf(err, errcap, "out of memory parsing %d arguments", argc);
        return RAFTCTL_EXIT_FAILED;
    }
    for (int i = 1; i < argc; i++) {
        const char *s = argv[i];
        if (only_positional || s[0] != '-' || s[1] == '\0') {
            a->pos[a->n_pos++] = s;
        } else if (strcmp(s, "--") == 0) {
            only_positional = true;
        } else if (strcmp(s, "-h") == 0 || strcmp(s, "--help") == 0) {
            a->help = true;
        } else if (strcmp(s, "--consistent") == 0) {
            a->consistent = true;
        } else if (strncmp(s, "-w", 2) == 0 && s[1] == 'w') {
            const char *v = s[2] != '\0' ? s + 2 : (i + 1 < argc ? argv[++i] : NULL);
            if (v == NULL) {
                snprintf(err, errcap, "-w needs a value: table or json");
                return RAFTCTL_EXIT_USAGE;
            }
            if ((rc = set_format(a, v, err, errcap)) != 0) {
                return rc;
            }
        } else if (s[1] == '-') {
            const char *name = s + 2;
            const char *eq = strchr(name, '=');
            size_t name_len = eq != NULL ? (size_t)(eq - name) : strlen(name);
            bool flag = eq == NULL && is_flag_name(name, name_len); /* value NULL: checked later */
            const char *v = eq != NULL ? eq + 1 : (!flag && i + 1 < argc ? argv[i + 1] : NULL);
            if (v == NULL && !flag) {
                snprintf(err, errcap, "option --%s needs a value", name);
                return RAFTCTL_EXIT_USAGE;
            }
            if (eq == NULL && !flag) {
                i++;
            }
            if (name_len == 9 && memcmp(name, "endpoints", 9) == 0) {
                endpoints_arg = v;
            } else if (name_len == 9 && memcmp(name, "write-out", 9) == 0) {
                if ((rc = set_format(a, v, err, errcap)) != 0) {
                    return rc;
                }
            } else if (name_len == 7 && memcmp(name, "timeout", 7) == 0) {
                if ((rc = set_timeout(a, v, err, errcap)) != 0) {
                    return rc;
                }
            } else if (name_len == 6 && memcmp(name, "cacert", 6) == 0) {
                a->cacert = v;
            } else if (name_len == 4 && memcmp(name, "cert", 4) == 0) {
                a->cert = v;
            } else if (name_len == 3 && memcmp(name, "key", 3) == 0) {
                a->key = v;
            } else if (n_given == RAFTCTL_MAX_GIVEN_OPTS) {
                snprintf(err, errcap, "too many options (more than %d)", RAFTCTL_MAX_GIVEN_OPTS);
                return RAFTCTL_EXIT_USAGE;
            } else {
                given[n_given].name = name;
                given[n_given].name_len = name_len;
                given[n_given].value = v;
                n_given++;
            }
        } else {
            snprintf(err, errcap, "unknown option '%s'", s);
            return RAFTCTL_EXIT_USAGE;
        }
    }
    if (a->help) {
        return 0;
    }
    if (endpoints_arg != NULL) {
        rc = parse_endpoints(a, endpoints_arg, "--endpoints", err, errcap);
    } else if (env_endpoints != NULL && env_endpoints[0] != '\0') {
        rc = parse_endpoints(a, env_endpoints, "RAFTCTL_ENDPOINTS", err, errcap);
    } else {
        rc = parse_endpoints(a, RAFTCTL_DEFAULT_ENDPOINTS, "default endpoints", err, errcap);
    }
    if (rc != 0) {
        return rc;
    }
    if ((rc = find_command(a, err, errcap)) != 0) {
        return rc;
    }
    if ((rc = check_positional(a, err, errcap)) != 0) {
        return rc;
    }
    if ((rc = check_options(a, given, n_given, err, errcap)) != 0) {
        return rc;
    }
    return check_watch(a, err, errcap);
}

void raftctl_args_free(struct raftctl_args *a)
{
    free(a->pos);
    a->pos = NULL;
    a->n_pos = 0;
}

const char *raftctl_args_opt(const struct raftctl_args *a, const char *name)
{
    if (a->cmd == NULL) {
        return NULL;
    }
    for (size_t i = 0; i < RAFTCTL_MAX_OPTS && a->cmd->opts[i].name != NULL; i++) {
        if (strcmp(a->cmd->opts[i].name, name) == 0) {
            return a->opt_values[i];
        }
    }
    return NULL;
}

/* "member add ID RAFT_ADDR [--api API_ADDR] [--role standby|spare|voter]" into BUF. */
static void command_synopsis(const struct raftctl_command *c, char *buf, size_t cap)
{
    size_t used = 0;
    int n = snprintf(buf, cap, "%s%s%s", c->words, c->args[0] != '\0' ? " " : "", c->args);

    used = n > 0 && (size_t)n < cap ? (size_t)n : cap - 1;
    for (size_t i = 0; i < RAFTCTL_MAX_OPTS && c->opts[i].name != NULL && used < cap - 1; i++) {
        const struct raftctl_opt *o = &c->opts[i];
        bool required = (o->flags & RAFTCTL_OPT_REQUIRED) != 0;
        if ((o->flags & RAFTCTL_OPT_FLAG) != 0) {
            n = snprintf(buf + used, cap - used, " [--%s]", o->name);
        } else {
            n = snprintf(buf + used, cap - used, " %s--%s %s%s", required ? "" : "[", o->name,
                         o->choices != NULL ? o->choices : o->metavar, required ? "" : "]");
        }
        used += n > 0 && (size_t)n < cap - used ? (size_t)n : cap - 1 - used;
    }
}

void raftctl_usage(FILE *f, const struct raftctl_command *cmd)
{
    char syn[256];
    int width = 0;

    if (cmd != NULL) {
        command_synopsis(cmd, syn, sizeof syn);
        fprintf(f, "usage: raftctl [global options] %s\n       (raftctl --help lists every command)\n", syn);
        return;
    }
    for (const struct raftctl_command *c = raftctl_commands; c->words != NULL; c++) {
        int len;
        command_synopsis(c, syn, sizeof syn);
        len = (int)strlen(syn);
        width = len > width && len <= 48 ? len : width;
    }
    fprintf(f, "usage: raftctl [--endpoints H:P,...] [-w table|json] [--timeout MS] [--consistent] COMMAND [ARGS]\n\n"
               "commands:\n");
    for (const struct raftctl_command *c = raftctl_commands; c->words != NULL; c++) {
        command_synopsis(c, syn, sizeof syn);
        if ((int)strlen(syn) > width) {
            fprintf(f, "  %s\n  %-*s  %s\n", syn, width, "", c->summary);
        } else {
            fprintf(f, "  %-*s  %s\n", width, syn, c->summary);
        }
    }
    fprintf(f,
            "\nglobal options (anywhere on the line):\n"
            "  --endpoints H:P,...    API addresses to try in turn until one answers (default: $RAFTCTL_ENDPOINTS,\n"
            "                         else %s)\n"
            "  -w, --write-out FMT    table (default) or json: one JSON document with stable field names\n"
            "  --timeout MS           per-request timeout in milliseconds (default %u)\n"
            "  --consistent           reads are answered by the leader after a raft barrier\n"
            "  --cacert FILE          TLS to the API: the CA that signed the members' API certificates\n"
            "                         (default $RAFTCTL_CACERT; unset: plaintext)\n"
            "  --cert FILE, --key FILE  this client's certificate and key, signed by that CA (default\n"
            "                         $RAFTCTL_CERT, $RAFTCTL_KEY); an admin's CN may write, others only read\n"
            "  -h, --help             this text\n"
            "\nexit status: 0 done; 1 refused or failed; 2 usage; 3 no quorum or no member reachable\n",
            RAFTCTL_DEFAULT_ENDPOINTS, RAFTCTL_DEFAULT_TIMEOUT_MS);
}
