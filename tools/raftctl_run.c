/* raftctl_run: raftctl's whole run after main(): parse, dispatch through the command table,
 * check that stdout took the output. Separate from tools/raftctl.c so that the unit tests
 * (which link every object but the mains) can drive it. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "raftctl_args.h"
#include "raftctl_call.h"
#include "raftctl_output.h"

int raftctl_main(int argc, char **argv, const char *env_endpoints)
{
    static struct raftctl_ctx ctx; /* ~100 KiB with the attempt log: kept off the stack */
    char err[RAFTCTL_ERR_MAX];
    int rc;

    memset(&ctx, 0, sizeof ctx);
    rc = raftctl_args_parse(argc, argv, env_endpoints, &ctx.args, err, sizeof err);
    if (rc != 0) {
        raftctl_errf("%s", err);
        if (rc == RAFTCTL_EXIT_USAGE) {
            raftctl_usage(stderr, ctx.args.cmd);
        }
        raftctl_args_free(&ctx.args);
        return rc;
    }
    if (ctx.args.help) {
        raftctl_usage(stdout, NULL);
        rc = RAFTCTL_EXIT_OK;
    } else if (ctx.args.watch_s > 0) {
        rc = raftctl_watch(&ctx);
    } else {
        rc = ctx.args.cmd->run(&ctx);
    }
    raftctl_args_free(&ctx.args);
    if (fflush(stdout) != 0 || ferror(stdout)) {
        raftctl_errf("cannot write to standard output: %s", strerror(errno));
        rc = rc > RAFTCTL_EXIT_FAILED ? rc : RAFTCTL_EXIT_FAILED;
    }
    return rc;
}
