/* raftnode: one member of the Raft quorum that replaces Kylin's database leader race.
 * Usage: raftnode -c FILE [-D key=value]... ; raftnode --help-config */
#include <malloc.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "config.h"
#include "common/log.h"
#include "metastore/url.h"
#include "node.h"
#include "restore.h"

#define MAX_OVERRIDES 128

/* glibc gives the top of the heap back to the kernel whenever more than 128 KiB of it is
 * free, and takes it again at the next allocation: applying an entry and committing it (SQLite
 * and the entry's buffers) did that over and over, brk(2) and page faults every commit.
 * Keeping up to this much (bytes) free instead took ~12% off the state machine's CPU per
 * project.add (bench/store_bench with GLIBC_TUNABLES=glibc.malloc.trim_threshold=8388608) and
 * 4-8% off the members' per write (bench/ab.sh: 207 -> 199 and 215 -> 198 us), for at most
 * this much more resident memory after a burst. */
#define MALLOC_TRIM_THRESHOLD 8388608 /* 8 MiB */

/* Overwrites, in VALUE (a -D argument: argv's own memory, so /proc/PID/cmdline shows the
 * change), each literal copy of PASSWORD that follows ':' or '=' (user:PASSWORD@, password=).
 * A percent-encoded password is not found: the warning still stands. */
static void scrub_password(char *value, const char *password)
{
    size_t len = strlen(password);
    for (char *p = strstr(value, password); p != NULL; p = strstr(p + len, password)) {
        if (p > value && (p[-1] == ':' || p[-1] == '=')) {
            memset(p, '*', len);
        }
    }
}

/* A metastore URL given with -D that holds a password: any local user reads it in
 * /proc/PID/cmdline (ps). Warned, not refused: the operator may have no other way yet; the
 * copy in argv is blanked once the configuration holds its own. */
static void warn_password_in_argv(char *const overrides[], int n)
{
    static const char *const keys[] = {"raft.metastore.url=", "kylin.metadata.url="};
    static struct ms_url url; /* large: off the stack */
    char err[512];

    for (int i = 0; i < n; i++) {
        for (size_t k = 0; k < sizeof keys / sizeof keys[0]; k++) {
            size_t klen = strlen(keys[k]);
            const char *value = overrides[i] + klen;
            if (strncmp(overrides[i], keys[k], klen) != 0 ||
                ms_url_resolve(k == 0 ? value : "", k == 1 ? value : "", &url, err, sizeof err) != 1) {
                continue;
            }
            if (url.password[0] != '\0') {
                log_warn("a metastore password was given on the command line (-D %.*s...): other local users "
                         "can read it with ps until it is blanked now; put it in a file named by "
                         "raft.metastore.password-file (mode 0600) instead", (int)(klen - 1), keys[k]);
                scrub_password(overrides[i] + klen, url.password);
            }
            memset(&url, 0, sizeof url);
        }
    }
}

static void usage(FILE *out)
{
    fprintf(out, "usage: raftnode -c FILE [-D key=value]... [--force-new-cluster | --restore SNAPSHOT]\n"
                 "       --force-new-cluster: on the survivor of a lost quorum, make this member the only\n"
                 "         voter, keeping its data (docs/operations-force.md)\n"
                 "       --restore SNAPSHOT: first start of a member of a new cluster from a backup made\n"
                 "         with raftctl snapshot save (docs/operations.md)\n"
                 "       raftnode --help-config   (every configuration key, default and meaning)\n");
}

int main(int argc, char **argv)
{
    const char *file = NULL;
    bool force_new_cluster = false;
    const char *restore = NULL; /* --restore SNAPSHOT: first start of a new cluster (restore.h) */
    char *overrides[MAX_OVERRIDES];
    int n_overrides = 0;
    static struct config cfg;
    static struct node node;
    char err[1024];
    uv_loop_t loop;

    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "-c") == 0 && i + 1 < argc) {
            file = argv[++i];
        } else if (strcmp(argv[i], "-D") == 0 && i + 1 < argc) {
            if (n_overrides == MAX_OVERRIDES) {
                fprintf(stderr, "raftnode: more than %d -D overrides\n", MAX_OVERRIDES);
                return 2;
            }
            overrides[n_overrides++] = argv[++i];
        } else if (strncmp(argv[i], "-D", 2) == 0 && argv[i][2] != '\0') {
            if (n_overrides == MAX_OVERRIDES) {
                fprintf(stderr, "raftnode: more than %d -D overrides\n", MAX_OVERRIDES);
                return 2;
            }
            overrides[n_overrides++] = argv[i] + 2;
        } else if (strcmp(argv[i], "--force-new-cluster") == 0) {
            force_new_cluster = true;
        } else if (strcmp(argv[i], "--restore") == 0 && i + 1 < argc) {
            restore = argv[++i];
        } else if (strcmp(argv[i], "--help-config") == 0) {
            config_print_reference(stdout);
            return 0;
        } else if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
            usage(stdout);
            return 0;
        } else {
            fprintf(stderr, "raftnode: unexpected argument '%s'\n", argv[i]);
            usage(stderr);
            return 2;
        }
    }
    if (force_new_cluster && restore != NULL) {
        fprintf(stderr, "raftnode: --force-new-cluster and --restore exclude each other: --restore starts a new "
                        "cluster from a backup on an empty data dir, --force-new-cluster keeps a survivor's data "
                        "(give one of them)\n");
        return 2;
    }
    if (file == NULL && n_overrides == 0) {
        usage(stderr);
        return 2;
    }
    if (config_load(&cfg, file, overrides, n_overrides, err, sizeof err) != 0) {
        fprintf(stderr, "raftnode: %s\n", err);
        return 2;
    }
    cfg.force_new_cluster = force_new_cluster;
    log_setup(cfg.node_id, cfg.log_level);
    if (mallopt(M_TRIM_THRESHOLD, MALLOC_TRIM_THRESHOLD) != 1) {
        log_warn("mallopt(M_TRIM_THRESHOLD, %d) refused: the heap is trimmed at glibc's default "
                 "(slower writes, nothing else)", MALLOC_TRIM_THRESHOLD);
    }
    warn_password_in_argv(overrides, n_overrides);
    if (restore != NULL && restore_prepare(&cfg, restore) != 0) {
        return 1;
    }
    /* libuv and libraft write to sockets with write(2): a peer that went away must give
     * EPIPE on that connection, not kill the whole member. */
    signal(SIGPIPE, SIG_IGN);
    if (uv_loop_init(&loop) != 0) {
        log_error("cannot initialise the event loop");
        return 1;
    }
    if (node_start(&node, &loop, &cfg) != 0) {
        uv_run(&loop, UV_RUN_DEFAULT);
        uv_loop_close(&loop);
        return node.exit_status != 0 ? node.exit_status : 1; /* 2, 3: refused (node.h) */
    }
    uv_run(&loop, UV_RUN_DEFAULT);
    if (uv_loop_close(&loop) != 0) {
        log_warn("event loop closed with handles still open");
    }
    return node.exit_status;
}
