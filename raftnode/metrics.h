/* metrics: this member's own counters and histograms (API requests by method and code, their
 * durations, loop lag and busy turns, HTTP requests) and the Prometheus text format 0.0.4 writer that
 * /metrics renders them with (docs/observability.md).
 *
 * Threading: every function here runs on the loop thread only (the one that owns raft and
 * SQLite); the HTTP library's thread never calls in. The counters live in one process-wide
 * struct (metrics_global) because a process runs one member and the API hooks (api.c,
 * handlers.c, api_pending.c) then need no new plumbing.
 *
 * Owns: metrics_global; a struct metrics_buf's data (malloc'd; metrics_buf_take hands it over,
 * the taker frees it with free()). Calls: libc only. */
#ifndef RAFTNODE_METRICS_H
#define RAFTNODE_METRICS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* ---- histograms: fixed upper bounds (seconds or counts), cumulative on output ---- */

#define METRICS_HIST_MAX_BOUNDS 16

struct metrics_hist {
    const double *bounds;                      /* read-only: ascending upper bounds */
    unsigned n_bounds;                         /* read-only */
    uint64_t buckets[METRICS_HIST_MAX_BOUNDS]; /* private: observations <= bounds[i] (not cumulative) */
    uint64_t count;                            /* read-only: every observation (the +Inf bucket) */
    double sum;                                /* read-only */
};

void metrics_hist_init(struct metrics_hist *h, const double *bounds, unsigned n_bounds);
void metrics_hist_observe(struct metrics_hist *h, double v);

/* ---- the member's own counters ---- */

#define METRICS_API_SERIES 96  /* distinct (method, code) pairs kept; later ones count as "other" */
#define METRICS_HTTP_SERIES 48 /* distinct (path, code) pairs */

#define METRICS_LABEL_MAX 48 /* longer method names and codes are cut */

struct metrics_series {
    char a[METRICS_LABEL_MAX]; /* copies: a reply's code may live in a buffer freed later */
    char b[METRICS_LABEL_MAX];
    uint64_t count;
};

struct metrics {
    struct metrics_series api[METRICS_API_SERIES]; /* read-only: requests by (method, code) */
    unsigned n_api;
    uint64_t api_other;                    /* read-only: requests past METRICS_API_SERIES */
    struct metrics_hist api_duration;      /* seconds from a request's dispatch to its reply */
    struct metrics_series http[METRICS_HTTP_SERIES]; /* read-only: HTTP requests by (path, code) */
    unsigned n_http;
    struct metrics_hist loop_lag;          /* seconds a 100 ms loop timer fired late */
    double loop_lag_max_s;                 /* read-only: largest lag since start */
    struct metrics_hist loop_busy;         /* seconds of one loop turn's callbacks (loop_busy.c) */
    double loop_busy_max_s;                /* read-only: longest turn since start */
    double loop_busy_cpu_max_s;            /* read-only: most loop-thread CPU in one turn */
    uint64_t leader_changes;               /* read-only: leader id changes seen by this member */
    /* read-only: the InfluxDB push (influx.c) */
    bool influx_enabled;
    uint64_t influx_pushes, influx_push_errors, influx_points_pushed, influx_points_dropped;
    uint64_t influx_points_queued;
    /* private: the reply code of the request being handled (api_reply_begin notes it) */
    char last_code[METRICS_LABEL_MAX];
    bool have_code;
    bool dispatching; /* inside handlers_dispatch: a parked request freed there is counted by it */
};

extern struct metrics metrics_global;

/* Zeroes metrics_global and sets the histograms' bounds. */
void metrics_init(void);

/* api_reply_begin: a reply with CODE is being sent (copied). */
void metrics_api_reply_code(const char *code);
/* handlers_dispatch: before a handler runs (forgets the last reply code). */
void metrics_api_dispatch_begin(void);
/* After the handler returned: counts the request (START_NS: uv_hrtime() at dispatch) when it
 * replied synchronously; false when it parked the request (api_pending counts it later). */
bool metrics_api_dispatch_end(const char *method, uint64_t start_ns);
/* A parked request (api_pending) is freed: counts it with the code of the reply just sent,
 * or "dropped" when none was (the client went away, shutdown). */
void metrics_api_parked_done(const char *method, uint64_t start_ns);

/* Counts one HTTP request to PATH answered with STATUS. */
void metrics_http_request(const char *path, unsigned status);

/* ---- the Prometheus text writer ---- */

/* A growing text buffer with a size limit: past LIMIT bytes it stops growing and sets
 * overflow (so does an allocation failure); the caller then answers an error instead. */
struct metrics_buf {
    char *data;     /* private until metrics_buf_take */
    size_t len;     /* read-only */
    size_t cap;     /* private */
    size_t limit;   /* read-only */
    bool overflow;  /* read-only */
};

void metrics_buf_init(struct metrics_buf *b, size_t limit);
void metrics_buf_free(struct metrics_buf *b);
/* Appends; nothing after an overflow. */
void metrics_buf_put(struct metrics_buf *b, const char *s, size_t len);
void metrics_buf_printf(struct metrics_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* The NUL-terminated text (caller frees) and its length; B is empty again. NULL after an
 * overflow (B freed). */
char *metrics_buf_take(struct metrics_buf *b, size_t *len);

/* A label set: N pairs {name, value}; values are escaped (\\, \", \n) on output. */
struct metrics_label {
    const char *name;
    const char *value;
};

/* "# HELP NAME HELP\n# TYPE NAME TYPE\n" (HELP escaped: \\ and \n). */
void metrics_write_header(struct metrics_buf *b, const char *name, const char *type, const char *help);
/* "NAME{labels} VALUE\n" (no braces without labels); integers print without a fraction. */
void metrics_write_sample(struct metrics_buf *b, const char *name, const struct metrics_label *labels,
                          unsigned n_labels, double value);
/* NAME_bucket{labels,le="B"} (cumulative, ending with le="+Inf" = count), NAME_sum, NAME_count. */
void metrics_write_hist(struct metrics_buf *b, const char *name, const struct metrics_label *labels,
                        unsigned n_labels, const struct metrics_hist *h);
/* A counter without labels, with its header. */
void metrics_write_counter(struct metrics_buf *b, const char *name, const char *help, uint64_t v);
/* Writes V escaped as a label value (no quotes). */
void metrics_write_label_value(struct metrics_buf *b, const char *v);

/* The member's own counters above, each with its header. */
void metrics_write_own(struct metrics_buf *b);

#endif
