/* loop_busy: the longest event-loop turn (see loop_busy.h). */
#include "loop_busy.h"

#include <time.h>

#include "common/log.h"
#include "metrics.h"

static uint64_t thread_cpu_ns(void)
{
    struct timespec ts;
    if (clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts) != 0) {
        return 0; /* not on Linux: the CPU figure stays 0 */
    }
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void prepare_cb(uv_prepare_t *h)
{
    struct loop_busy *b = h->data;
    uint64_t now = uv_hrtime(), idle = uv_metrics_idle_time(h->loop), cpu_ns = thread_cpu_ns();
    uint64_t wall = now - b->last_ns, slept = idle - b->last_idle;
    double busy = wall > slept ? (double)(wall - slept) / 1e9 : 0;
    double cpu = cpu_ns > b->last_cpu_ns ? (double)(cpu_ns - b->last_cpu_ns) / 1e9 : 0;

    b->last_ns = now;
    b->last_idle = idle;
    b->last_cpu_ns = cpu_ns;
    if (cpu > metrics_global.loop_busy_cpu_max_s) {
        metrics_global.loop_busy_cpu_max_s = cpu;
    }
    metrics_hist_observe(&metrics_global.loop_busy, busy);
    if (busy > metrics_global.loop_busy_max_s) {
        metrics_global.loop_busy_max_s = busy;
    }
}

static void handle_closed(uv_handle_t *h)
{
    (void)h; /* embedded in the node, which outlives the loop */
}

int loop_busy_start(struct loop_busy *b, uv_loop_t *loop)
{
    int rv;

    b->started = false;
    rv = uv_loop_configure(loop, UV_METRICS_IDLE_TIME);
    if (rv == 0) {
        rv = uv_prepare_init(loop, &b->prepare);
    }
    if (rv != 0) {
        log_warn("loop busy-time metric unavailable: %s (raftnode_loop_busy_* stay 0)", uv_strerror(rv));
        return -1;
    }
    b->prepare.data = b;
    b->last_ns = uv_hrtime();
    b->last_idle = uv_metrics_idle_time(loop);
    b->last_cpu_ns = thread_cpu_ns();
    rv = uv_prepare_start(&b->prepare, prepare_cb);
    if (rv != 0) {
        log_warn("loop busy-time metric unavailable: uv_prepare_start: %s", uv_strerror(rv));
        uv_close((uv_handle_t *)&b->prepare, handle_closed);
        return -1;
    }
    /* ignored by libuv from now on (the prepare handle does not keep the loop alive) */
    uv_unref((uv_handle_t *)&b->prepare);
    b->started = true;
    return 0;
}

void loop_busy_close(struct loop_busy *b)
{
    if (b->started && !uv_is_closing((uv_handle_t *)&b->prepare)) {
        uv_close((uv_handle_t *)&b->prepare, handle_closed);
    }
    b->started = false;
}
