/* influx: pushes this member's /metrics figures to InfluxDB 1.x (raft.influxdb.url,
 * raft.influxdb.database, raft.influxdb.interval-ms; docs/observability.md "InfluxDB").
 *
 * Every interval the loop renders the /metrics text (http_metrics.c), turns it into line
 * protocol points stamped with the wall clock in ms and tagged member=<raft.node.id>
 * (influx_line.c), and queues that batch. One POST /write?db=DB&precision=ms is in flight at
 * a time, carrying the oldest queued batches up to INFLUX_MAX_BODY bytes; the HTTP client is
 * libcurl's multi interface driven by libuv (kylin/http.c), so the loop never waits on
 * InfluxDB.
 *
 * Outage: a transport error or a 5xx puts the batches back at the head of the queue (sent
 * again on the next tick); a 4xx (InfluxDB will never take them: a bad database name, a
 * field type conflict) drops them. Either way raftnode_influxdb_push_errors_total counts
 * the failed POST. The queue holds at most raft.influxdb.max-buffered-points points: past
 * it the oldest batches are dropped and counted in raftnode_influxdb_dropped_points_total.
 * A success sends the next queued batches at once, so a backlog drains after an outage.
 * A failing run is logged once when it starts and once when pushes succeed again.
 *
 * Owns: the HTTP client, the timer, the queued batches. Calls: kylin/http.h, http.h
 * (http_metrics_render), influx_line.h, metrics.h (counters). Loop thread only. */
#ifndef RAFTNODE_INFLUX_H
#define RAFTNODE_INFLUX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "kylin/http.h"

#define INFLUX_MAX_BODY (1024u * 1024u) /* one POST carries at most this (one batch always fits) */
#define INFLUX_TIMEOUT_MAX_MS 10000     /* a POST fails after min(interval, this), at least 1 s */

struct config;
struct http;

struct influx_batch {
    struct influx_batch *next;
    size_t len, points;
    char text[]; /* line protocol, len bytes */
};

struct influx {
    bool enabled;                 /* read-only: raft.influxdb.url is set */
    const struct config *cfg;     /* read-only */
    struct http *metrics;         /* read-only: renders the figures */
    char *write_url;              /* private: URL/write?db=DB&precision=ms */
    struct kylin_http client;     /* private */
    bool client_open;             /* private */
    struct kylin_http_req req;    /* private */
    uv_timer_t timer;             /* private */
    bool timer_open;              /* private */
    struct influx_batch *head, *tail; /* private: queued, oldest first */
    size_t queued_points;         /* read-only */
    struct influx_batch *inflight; /* private: the batches of the POST in flight */
    size_t inflight_points;       /* private */
    bool failing;                 /* private: the last POST failed (for the log) */
};

/* Starts pushing when raft.influxdb.url is set (otherwise does nothing and returns 0).
 * METRICS must be started (http_start) and outlive I. 0, or -1 after logging why. */
int influx_start(struct influx *i, uv_loop_t *loop, const struct config *cfg, struct http *metrics);

/* Cancels the POST in flight, frees the queue, closes the handles. Idempotent. */
void influx_close(struct influx *i);

/* Renders, converts and queues one batch and sends if idle (the timer's work; tests call
 * it). */
void influx_tick(struct influx *i);

#endif
