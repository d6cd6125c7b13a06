/* raftctl_run: raftctl's whole run after main(): parse, dispatch through the command table,
 * check that stdout took the output. Separate from tools/raftctl.c so that the unit tests
 * (which link every object but the mains) can drive it. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/client.h"
#include "common/tls.h"
#include "raftctl_args.h"
#include "raftctl_call.h"
#include "raftctl_output.h"

/* --cacert/--cert/--key, else $RAFTCTL_CACERT/CERT/KEY: TLS for every call of this run.
 * 0, or RAFTCTL_EXIT_USAGE with ERR. */
static int setup_tls(struct raftctl_args *a, char *err, size_t errcap)
{
    const char *ca = a->cacert != NULL ? a->cacert : getenv("RAFTCTL_CACERT");
    const char *cert = a->cert != NULL ? a->cert : getenv("RAFTCTL_CERT");
    const char *key = a->key != NULL ? a->key : getenv("RAFTCTL_KEY");
    struct tls_files f;
    struct ssl_ctx_st *ctx;

    ca = ca != NULL ? ca : "";
    cert = cert != NULL ? cert : "";
    key = key != NULL ? key : "";
    if (ca[0] == '\0') {
        if (cert[0] != '\0' || key[0] != '\0') {
            snprintf(err, errcap, "--cert/--key need --cacert (or $RAFTCTL_CACERT): the CA that signed "
                     "the members' API certificates");
            return RAFTCTL_EXIT_USAGE;
        }
        return 0;
    }
    f = (struct tls_files){cert, key, ca, "--cert", "--key", "--cacert"};
    ctx = tls_ctx_new(&f, false, err, errcap);
    if (ctx == NULL) {
        return RAFTCTL_EXIT_USAGE;
    }
    client_set_tls(ctx);
    tls_ctx_free(ctx); /* the client holds its own reference */
    return 0;
}

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
    if (!ctx.args.help && (rc = setup_tls(&ctx.args, err, sizeof err)) != 0) {
        raftctl_errf("%s", err);
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
    client_set_tls(NULL);
    if (fflush(stdout) != 0 || ferror(stdout)) {
        raftctl_errf("cannot write to standard output: %s", strerror(errno));
        rc = rc > RAFTCTL_EXIT_FAILED ? rc : RAFTCTL_EXIT_FAILED;
    }
    return rc;
}
