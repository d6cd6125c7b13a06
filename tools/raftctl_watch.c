/* raftctl_watch: --watch SECONDS for the read commands (status, engine list, kylin status):
 * the command again every SECONDS until Ctrl-C (SIGINT or SIGTERM) or --count N refreshes,
 * at most RAFTCTL_WATCH_MAX_ROUNDS. A round that fails prints its error and the watch goes
 * on (a failover is what one watches for); the exit status is the last round's. In table
 * format on a terminal the screen is cleared before each round, with a header line naming
 * the command and the time; -w json prints one document per round. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "raftctl_args.h"
#include "raftctl_call.h"
#include "raftctl_output.h"

static volatile sig_atomic_t watch_stop;

static void on_signal(int sig)
{
    (void)sig;
    watch_stop = 1;
}

/* Sleeps S seconds unless a signal asks to stop (no SA_RESTART: nanosleep returns EINTR). */
static void pause_s(unsigned s)
{
    struct timespec left = {.tv_sec = (time_t)s, .tv_nsec = 0};
    for (int i = 0; i < 1000 && !watch_stop; i++) { /* bounded: each EINTR is a signal */
        if (nanosleep(&left, &left) == 0 || errno != EINTR) {
            return;
        }
    }
}

static void header(const struct raftctl_ctx *ctx)
{
    char when[32] = "";
    time_t now = time(NULL);
    struct tm tm;
    if (localtime_r(&now, &tm) != NULL) {
        (void)strftime(when, sizeof when, "%Y-%m-%d %H:%M:%S", &tm);
    }
    if (isatty(STDOUT_FILENO)) {
        fputs("\033[H\033[2J", stdout); /* home, clear screen */
    }
    printf("every %us: raftctl %s    %s (Ctrl-C ends)\n\n", ctx->args.watch_s, ctx->args.cmd->words, when);
}

int raftctl_watch(struct raftctl_ctx *ctx)
{
    struct sigaction sa, old_int, old_term;
    unsigned rounds = ctx->args.watch_rounds > 0 ? ctx->args.watch_rounds : RAFTCTL_WATCH_MAX_ROUNDS;
    int rc = RAFTCTL_EXIT_OK;

    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    watch_stop = 0;
    if (sigaction(SIGINT, &sa, &old_int) != 0 || sigaction(SIGTERM, &sa, &old_term) != 0) {
        raftctl_errf("--watch: cannot catch Ctrl-C: %s", strerror(errno));
        return RAFTCTL_EXIT_FAILED;
    }
    for (unsigned round = 0; round < rounds && !watch_stop; round++) {
        if (round > 0) {
            pause_s(ctx->args.watch_s);
            if (watch_stop) {
                break;
            }
        }
        if (ctx->args.format == RAFTCTL_FORMAT_TABLE) {
            header(ctx);
        }
        /* each round starts afresh: a member that came back is asked again */
        ctx->n_failed = 0;
        ctx->n_attempts = 0;
        ctx->leader_hint[0] = '\0';
        rc = ctx->args.cmd->run(ctx);
        if (fflush(stdout) != 0 || ferror(stdout)) {
            break; /* stdout gone (a closed pipe): raftctl_main reports it */
        }
    }
    (void)sigaction(SIGINT, &old_int, NULL);
    (void)sigaction(SIGTERM, &old_term, NULL);
    return rc;
}
