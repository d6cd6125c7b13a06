/* metrics: the member's own counters and the Prometheus text writer (see metrics.h). */
#include "metrics.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

struct metrics metrics_global;

/* Request durations: from a fast local read (~100 us) to a write waiting out an election. */
static const double api_duration_bounds[] = {0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01,
                                             0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};
/* Loop lag: anything near raft.heartbeat-timeout-ms (100 ms by default) is trouble. */
static const double loop_lag_bounds[] = {0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5};
/* Busy loop turns: the aim is under 20% of the heartbeat interval (20 ms at 100 ms). */
static const double loop_busy_bounds[] = {0.0001, 0.001, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1};

void metrics_hist_init(struct metrics_hist *h, const double *bounds, unsigned n_bounds)
{
    memset(h, 0, sizeof *h);
    h->bounds = bounds;
    h->n_bounds = n_bounds > METRICS_HIST_MAX_BOUNDS ? METRICS_HIST_MAX_BOUNDS : n_bounds;
}

void metrics_hist_observe(struct metrics_hist *h, double v)
{
    for (unsigned i = 0; i < h->n_bounds; i++) {
        if (v <= h->bounds[i]) {
            h->buckets[i]++;
            break;
        }
    }
    h->count++;
    h->sum += v;
}

void metrics_init(void)
{
    memset(&metrics_global, 0, sizeof metrics_global);
    metrics_hist_init(&metrics_global.api_duration, api_duration_bounds,
                      sizeof api_duration_bounds / sizeof api_duration_bounds[0]);
    metrics_hist_init(&metrics_global.loop_lag, loop_lag_bounds, sizeof loop_lag_bounds / sizeof loop_lag_bounds[0]);
    metrics_hist_init(&metrics_global.loop_busy, loop_busy_bounds,
                      sizeof loop_busy_bounds / sizeof loop_busy_bounds[0]);
}

/* Adds one to the series (A, B) of TABLE; false when the table is full and it is new. */
static bool series_inc(struct metrics_series *table, unsigned *n, unsigned max, const char *a, const char *b)
{
    for (unsigned i = 0; i < *n; i++) {
        if (strncmp(table[i].a, a, METRICS_LABEL_MAX - 1) == 0 && strncmp(table[i].b, b, METRICS_LABEL_MAX - 1) == 0) {
            table[i].count++;
            return true;
        }
    }
    if (*n == max) {
        return false;
    }
    table[*n].count = 1;
    snprintf(table[*n].a, sizeof table[*n].a, "%s", a);
    snprintf(table[*n].b, sizeof table[*n].b, "%s", b);
    (*n)++;
    return true;
}

static void api_count(const char *method, const char *code, uint64_t start_ns)
{
    struct metrics *m = &metrics_global;
    if (!series_inc(m->api, &m->n_api, METRICS_API_SERIES, method, code)) {
        m->api_other++;
    }
    if (start_ns != 0) {
        metrics_hist_observe(&m->api_duration, (double)(uv_hrtime() - start_ns) / 1e9);
    }
}

void metrics_api_reply_code(const char *code)
{
    snprintf(metrics_global.last_code, sizeof metrics_global.last_code, "%s", code != NULL ? code : "");
    metrics_global.have_code = true;
}

void metrics_api_dispatch_begin(void)
{
    metrics_global.have_code = false;
    metrics_global.dispatching = true;
}

bool metrics_api_dispatch_end(const char *method, uint64_t start_ns)
{
    struct metrics *m = &metrics_global;
    m->dispatching = false;
    if (!m->have_code) {
        return false;
    }
    m->have_code = false;
    api_count(method, m->last_code, start_ns);
    return true;
}

void metrics_api_parked_done(const char *method, uint64_t start_ns)
{
    struct metrics *m = &metrics_global;
    if (m->dispatching) {
        return; /* freed by its own handler, which replies (or not) before dispatch ends */
    }
    api_count(method != NULL ? method : "unknown", m->have_code ? m->last_code : "dropped", start_ns);
    m->have_code = false;
}

static const char *status_word(unsigned status)
{
    switch (status) {
    case 200: return "200";
    case 400: return "400";
    case 404: return "404";
    case 405: return "405";
    case 413: return "413";
    case 414: return "414";
    case 500: return "500";
    case 503: return "503";
    default: return "other";
    }
}

void metrics_http_request(const char *path, unsigned status)
{
    struct metrics *m = &metrics_global;
    (void)series_inc(m->http, &m->n_http, METRICS_HTTP_SERIES, path, status_word(status));
}

/* ---- text buffer ---- */

void metrics_buf_init(struct metrics_buf *b, size_t limit)
{
    memset(b, 0, sizeof *b);
    b->limit = limit;
}

void metrics_buf_free(struct metrics_buf *b)
{
    free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
}

void metrics_buf_put(struct metrics_buf *b, const char *s, size_t len)
{
    if (b->overflow) {
        return;
    }
    if (len > b->limit - b->len) {
        b->overflow = true;
        return;
    }
    if (b->len + len + 1 > b->cap) {
        size_t cap = b->cap == 0 ? 4096 : b->cap;
        while (cap < b->len + len + 1) {
            cap *= 2;
        }
        char *p = realloc(b->data, cap);
        if (p == NULL) {
            b->overflow = true;
            return;
        }
        b->data = p;
        b->cap = cap;
    }
    memcpy(b->data + b->len, s, len);
    b->len += len;
    b->data[b->len] = '\0';
}

void metrics_buf_printf(struct metrics_buf *b, const char *fmt, ...)
{
    char small[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(small, sizeof small, fmt, ap);
    va_end(ap);
    if (n < 0) {
        b->overflow = true;
        return;
    }
    if ((size_t)n < sizeof small) {
        metrics_buf_put(b, small, (size_t)n);
        return;
    }
    char *big = malloc((size_t)n + 1);
    if (big == NULL) {
        b->overflow = true;
        return;
    }
    va_start(ap, fmt);
    (void)vsnprintf(big, (size_t)n + 1, fmt, ap);
    va_end(ap);
    metrics_buf_put(b, big, (size_t)n);
    free(big);
}

char *metrics_buf_take(struct metrics_buf *b, size_t *len)
{
    char *d;
    if (b->overflow) {
        metrics_buf_free(b);
        return NULL;
    }
    if (b->data == NULL) {
        metrics_buf_put(b, "", 0);
        if (b->data == NULL && (b->data = malloc(1)) != NULL) {
            b->data[0] = '\0';
        }
    }
    d = b->data;
    *len = b->len;
    b->data = NULL;
    b->len = b->cap = 0;
    return d;
}

/* ---- Prometheus text format 0.0.4 ---- */

void metrics_write_label_value(struct metrics_buf *b, const char *v)
{
    const char *run = v;
    for (const char *p = v; *p != '\0'; p++) {
        const char *esc = *p == '\\' ? "\\\\" : *p == '"' ? "\\\"" : *p == '\n' ? "\\n" : NULL;
        if (esc != NULL) {
            metrics_buf_put(b, run, (size_t)(p - run));
            metrics_buf_put(b, esc, 2);
            run = p + 1;
        }
    }
    metrics_buf_put(b, run, strlen(run));
}

void metrics_write_header(struct metrics_buf *b, const char *name, const char *type, const char *help)
{
    metrics_buf_printf(b, "# HELP %s ", name);
    const char *run = help;
    for (const char *p = help; *p != '\0'; p++) {
        const char *esc = *p == '\\' ? "\\\\" : *p == '\n' ? "\\n" : NULL;
        if (esc != NULL) {
            metrics_buf_put(b, run, (size_t)(p - run));
            metrics_buf_put(b, esc, 2);
            run = p + 1;
        }
    }
    metrics_buf_put(b, run, strlen(run));
    metrics_buf_printf(b, "\n# TYPE %s %s\n", name, type);
}

static void write_labels(struct metrics_buf *b, const struct metrics_label *labels, unsigned n, const char *le)
{
    if (n == 0 && le == NULL) {
        return;
    }
    metrics_buf_put(b, "{", 1);
    for (unsigned i = 0; i < n; i++) {
        metrics_buf_printf(b, "%s%s=\"", i > 0 ? "," : "", labels[i].name);
        metrics_write_label_value(b, labels[i].value);
        metrics_buf_put(b, "\"", 1);
    }
    if (le != NULL) {
        metrics_buf_printf(b, "%sle=\"%s\"", n > 0 ? "," : "", le);
    }
    metrics_buf_put(b, "}", 1);
}

static void write_value(struct metrics_buf *b, double v)
{
    if (isnan(v)) {
        metrics_buf_put(b, "NaN", 3);
    } else if (isinf(v)) {
        metrics_buf_printf(b, "%s", v > 0 ? "+Inf" : "-Inf");
    } else if (v == floor(v) && fabs(v) < 1e15) {
        metrics_buf_printf(b, "%.0f", v);
    } else {
        metrics_buf_printf(b, "%.9g", v);
    }
}

void metrics_write_sample(struct metrics_buf *b, const char *name, const struct metrics_label *labels,
                          unsigned n_labels, double value)
{
    metrics_buf_put(b, name, strlen(name));
    write_labels(b, labels, n_labels, NULL);
    metrics_buf_put(b, " ", 1);
    write_value(b, value);
    metrics_buf_put(b, "\n", 1);
}

void metrics_write_hist(struct metrics_buf *b, const char *name, const struct metrics_label *labels,
                        unsigned n_labels, const struct metrics_hist *h)
{
    uint64_t cumulative = 0;
    char le[32];
    for (unsigned i = 0; i < h->n_bounds; i++) {
        cumulative += h->buckets[i];
        snprintf(le, sizeof le, "%.9g", h->bounds[i]);
        metrics_buf_printf(b, "%s_bucket", name);
        write_labels(b, labels, n_labels, le);
        metrics_buf_printf(b, " %llu\n", (unsigned long long)cumulative);
    }
    metrics_buf_printf(b, "%s_bucket", name);
    write_labels(b, labels, n_labels, "+Inf");
    metrics_buf_printf(b, " %llu\n%s_sum", (unsigned long long)h->count, name);
    write_labels(b, labels, n_labels, NULL);
    metrics_buf_put(b, " ", 1);
    write_value(b, h->sum);
    metrics_buf_printf(b, "\n%s_count", name);
    write_labels(b, labels, n_labels, NULL);
    metrics_buf_printf(b, " %llu\n", (unsigned long long)h->count);
}

void metrics_write_counter(struct metrics_buf *b, const char *name, const char *help, uint64_t v)
{
    metrics_write_header(b, name, "counter", help);
    metrics_write_sample(b, name, NULL, 0, (double)v);
}

/* The InfluxDB push's own figures (influx.c; all 0 when raft.influxdb.url is unset). */
static void write_influx(struct metrics_buf *b, const struct metrics *m)
{
    metrics_write_header(b, "raftnode_influxdb_enabled", "gauge", "1 when raft.influxdb.url is set.");
    metrics_write_sample(b, "raftnode_influxdb_enabled", NULL, 0, m->influx_enabled);
    metrics_write_counter(b, "raftnode_influxdb_pushes_total", "POSTs to InfluxDB's /write that succeeded.", m->influx_pushes);
    metrics_write_counter(b, "raftnode_influxdb_push_errors_total",
                  "POSTs to InfluxDB that failed (transport error, timeout, HTTP 4xx/5xx).", m->influx_push_errors);
    metrics_write_counter(b, "raftnode_influxdb_points_pushed_total", "Points InfluxDB accepted.", m->influx_points_pushed);
    metrics_write_counter(b, "raftnode_influxdb_dropped_points_total",
                  "Points dropped: the queue was full (raft.influxdb.max-buffered-points) or InfluxDB refused them.",
                  m->influx_points_dropped);
    metrics_write_header(b, "raftnode_influxdb_queued_points", "gauge", "Points waiting to be pushed.");
    metrics_write_sample(b, "raftnode_influxdb_queued_points", NULL, 0, (double)m->influx_points_queued);
}

void metrics_write_own(struct metrics_buf *b)
{
    const struct metrics *m = &metrics_global;

    metrics_write_header(b, "raftnode_api_requests_total", "counter",
                         "Client API requests answered, by method and reply code (\"dropped\": the client left first).");
    for (unsigned i = 0; i < m->n_api; i++) {
        struct metrics_label l[2] = {{"method", m->api[i].a}, {"code", m->api[i].b}};
        metrics_write_sample(b, "raftnode_api_requests_total", l, 2, (double)m->api[i].count);
    }
    if (m->api_other > 0) {
        struct metrics_label l[2] = {{"method", "other"}, {"code", "other"}};
        metrics_write_sample(b, "raftnode_api_requests_total", l, 2, (double)m->api_other);
    }
    metrics_write_header(b, "raftnode_api_request_duration_seconds", "histogram",
                         "Seconds from a client API request's dispatch to its reply (writes: until applied).");
    metrics_write_hist(b, "raftnode_api_request_duration_seconds", NULL, 0, &m->api_duration);
    metrics_write_header(b, "raftnode_http_requests_total", "counter", "HTTP requests by path and status.");
    for (unsigned i = 0; i < m->n_http; i++) {
        struct metrics_label l[2] = {{"path", m->http[i].a}, {"code", m->http[i].b}};
        metrics_write_sample(b, "raftnode_http_requests_total", l, 2, (double)m->http[i].count);
    }
    metrics_write_header(b, "raftnode_loop_lag_seconds", "histogram",
                         "How late a 100 ms timer on the loop thread fired: time the loop was busy elsewhere.");
    metrics_write_hist(b, "raftnode_loop_lag_seconds", NULL, 0, &m->loop_lag);
    metrics_write_header(b, "raftnode_loop_lag_max_seconds", "gauge", "Largest loop lag seen since start.");
    metrics_write_sample(b, "raftnode_loop_lag_max_seconds", NULL, 0, m->loop_lag_max_s);
    metrics_write_header(b, "raftnode_loop_busy_seconds", "histogram",
                         "Time one event-loop turn spent in callbacks (not polling), per turn.");
    metrics_write_hist(b, "raftnode_loop_busy_seconds", NULL, 0, &m->loop_busy);
    metrics_write_header(b, "raftnode_loop_busy_max_seconds", "gauge",
                         "Longest event-loop turn since start: the loop's longest stall.");
    metrics_write_sample(b, "raftnode_loop_busy_max_seconds", NULL, 0, m->loop_busy_max_s);
    metrics_write_header(b, "raftnode_loop_busy_cpu_max_seconds", "gauge",
                         "Most CPU time the loop thread used in one turn since start (the work, without preemption).");
    metrics_write_sample(b, "raftnode_loop_busy_cpu_max_seconds", NULL, 0, m->loop_busy_cpu_max_s);
    write_influx(b, m);
}
