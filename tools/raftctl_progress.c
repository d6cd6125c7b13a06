/* raftctl_progress: see raftctl_progress.h. */
#include "raftctl_progress.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "common/mp.h"
#include "common/proto.h"

int raftctl_progress_parse(const msgpack_object *result, struct rebalance_progress *out)
{
    memset(out, 0, sizeof *out);
    if (result == NULL || result->type != MSGPACK_OBJECT_MAP || mp_get_bool(result, "running", &out->running) != 0 ||
        mp_get_u64(result, "planned", &out->planned) != 0 || mp_get_u64(result, "applied", &out->applied) != 0 ||
        mp_get_u64(result, "failed", &out->failed) != 0) {
        return -1;
    }
    if (out->applied > out->planned || out->failed > out->planned - out->applied) {
        return -1;
    }
    return 0;
}

const char *raftctl_thousands(uint64_t v, char *buf, size_t cap)
{
    char digits[21];
    int n = snprintf(digits, sizeof digits, "%llu", (unsigned long long)v);
    size_t o = 0;

    if (cap == 0) {
        return buf;
    }
    for (int i = 0; i < n && o + 1 < cap; i++) {
        if (i > 0 && (n - i) % 3 == 0) {
            buf[o++] = ',';
            if (o + 1 >= cap) {
                break;
            }
        }
        buf[o++] = digits[i];
    }
    buf[o] = '\0';
    return buf;
}

void raftctl_progress_format(const struct rebalance_progress *p, char *buf, size_t cap)
{
    char a[32], b[32], f[32];
    int n = snprintf(buf, cap, "rebalance: %s of %s moves applied", raftctl_thousands(p->applied, a, sizeof a),
                     raftctl_thousands(p->planned, b, sizeof b));
    if (p->failed > 0 && n >= 0 && (size_t)n < cap) {
        snprintf(buf + n, cap - (size_t)n, ", %s refused", raftctl_thousands(p->failed, f, sizeof f));
    }
}

/* One poll: prints a line when a rebalance runs and its applied count changed. */
static void poll_once(struct raftctl_poller *p, size_t *at)
{
    struct client_sync_reply out;
    struct rebalance_progress pr;
    char line[160];

    if (client_call_leader(p->endpoints[*at], "rebalance.status", NULL, NULL, p->timeout_ms, 3, &out) != PROTO_OK ||
        raftctl_progress_parse(out.reply.result, &pr) != 0) {
        *at = (*at + 1) % p->n_endpoints; /* unreachable or too old a server: the next one */
        client_sync_reply_free(&out);
        return;
    }
    client_sync_reply_free(&out);
    p->polls++;
    if (pr.running && pr.applied + 1 != p->last_applied) {
        raftctl_progress_format(&pr, line, sizeof line);
        fprintf(stderr, "raftctl: %s\n", line);
        p->last_applied = pr.applied + 1;
        p->lines++;
    }
}

/* Waits one interval or until stopped. true: stop. */
static bool poller_wait(struct raftctl_poller *p)
{
    struct timespec until;
    bool stop;
    if (clock_gettime(CLOCK_REALTIME, &until) != 0 || pthread_mutex_lock(&p->lock) != 0) {
        return true; /* not reached on Linux; the command goes on without progress lines */
    }
    until.tv_nsec += (long)RAFTCTL_PROGRESS_INTERVAL_MS * 1000000L;
    until.tv_sec += until.tv_nsec / 1000000000L;
    until.tv_nsec %= 1000000000L;
    /* 0 is a wake-up (stop, or spurious): look again; ETIMEDOUT (or an error) ends the wait */
    while (!p->stop && pthread_cond_timedwait(&p->wake, &p->lock, &until) == 0) {
    }
    stop = p->stop;
    (void)pthread_mutex_unlock(&p->lock); /* cannot fail: this thread holds it */
    return stop;
}

static void *poller_main(void *arg)
{
    struct raftctl_poller *p = arg;
    size_t at = 0;
    for (unsigned long i = 0; i < RAFTCTL_PROGRESS_MAX_POLLS && !poller_wait(p); i++) {
        poll_once(p, &at);
    }
    return NULL;
}

int raftctl_poller_start(struct raftctl_poller *p, const char (*endpoints)[CLIENT_ENDPOINT_MAX], size_t n,
                         unsigned timeout_ms)
{
    memset(p, 0, sizeof *p);
    if (n == 0) {
        return -1;
    }
    p->n_endpoints = n < 8 ? n : 8;
    for (size_t i = 0; i < p->n_endpoints; i++) {
        snprintf(p->endpoints[i], sizeof p->endpoints[i], "%s", endpoints[i]);
    }
    p->timeout_ms = timeout_ms > 0 && timeout_ms < 2000 ? timeout_ms : 2000;
    if (pthread_mutex_init(&p->lock, NULL) != 0) {
        return -1;
    }
    if (pthread_cond_init(&p->wake, NULL) != 0) {
        pthread_mutex_destroy(&p->lock);
        return -1;
    }
    if (pthread_create(&p->thread, NULL, poller_main, p) != 0) {
        pthread_cond_destroy(&p->wake);
        pthread_mutex_destroy(&p->lock);
        return -1;
    }
    p->started = true;
    return 0;
}

void raftctl_poller_stop(struct raftctl_poller *p)
{
    if (!p->started) {
        return;
    }
    if (pthread_mutex_lock(&p->lock) == 0) {
        p->stop = true;
        (void)pthread_cond_signal(&p->wake); /* cannot fail on an initialised condition */
        (void)pthread_mutex_unlock(&p->lock);
    } else {
        p->stop = true; /* not reached: the poller then sees it at its next wake-up */
    }
    if (pthread_join(p->thread, NULL) != 0) {
        return; /* not reached: joined once, from the thread that started it */
    }
    pthread_cond_destroy(&p->wake);
    pthread_mutex_destroy(&p->lock);
    p->started = false;
}
