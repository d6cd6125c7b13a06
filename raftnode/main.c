/* raftnode: one member of the Raft quorum that replaces Kylin's database leader race.
 * Usage: raftnode -c FILE [-D key=value]... ; raftnode --help-config */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "config.h"
#include "common/log.h"
#include "node.h"

#define MAX_OVERRIDES 128

static void usage(FILE *out)
{
    fprintf(out, "usage: raftnode -c FILE [-D key=value]...\n"
                 "       raftnode --help-config   (every configuration key, default and meaning)\n");
}

int main(int argc, char **argv)
{
    const char *file = NULL;
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
    if (file == NULL && n_overrides == 0) {
        usage(stderr);
        return 2;
    }
    if (config_load(&cfg, file, overrides, n_overrides, err, sizeof err) != 0) {
        fprintf(stderr, "raftnode: %s\n", err);
        return 2;
    }
    log_setup(cfg.node_id, cfg.log_level);
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
        return 1;
    }
    uv_run(&loop, UV_RUN_DEFAULT);
    if (uv_loop_close(&loop) != 0) {
        log_warn("event loop closed with handles still open");
    }
    return node.exit_status;
}
