/* influx: the batched, non-blocking InfluxDB push (see influx.h). */
#include "influx.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/log.h"
#include "config.h"
#include "http.h"
#include "influx_line.h"
#include "kylin/error.h"
#include "metrics.h"

#define INFLUX_OF(ptr, field) ((struct influx *)(void *)((char *)(ptr)-offsetof(struct influx, field)))

static void batches_free(struct influx_batch *b)
{
    while (b != NULL) {
        struct influx_batch *next = b->next;
        free(b);
        b = next;
    }
}

static void set_queued(struct influx *i, size_t points)
{
    i->queued_points = points;
    metrics_global.influx_points_queued = points;
}

/* Drops the oldest queued batches until the queue fits raft.influxdb.max-buffered-points. */
static void enforce_bound(struct influx *i)
{
    while (i->head != NULL && i->queued_points > i->cfg->influxdb_max_points) {
        struct influx_batch *b = i->head;
        i->head = b->next;
        if (i->head == NULL) {
            i->tail = NULL;
        }
        metrics_global.influx_points_dropped += b->points;
        set_queued(i, i->queued_points - b->points);
        free(b);
    }
}

/* Puts the batches of the failed POST back at the head of the queue (oldest first). */
static void requeue_inflight(struct influx *i)
{
    struct influx_batch *last = i->inflight;
    if (last == NULL) {
        return;
    }
    while (last->next != NULL) {
        last = last->next;
    }
    last->next = i->head;
    if (i->head == NULL) {
        i->tail = last;
    }
    i->head = i->inflight;
    set_queued(i, i->queued_points + i->inflight_points);
    i->inflight = NULL;
    i->inflight_points = 0;
    enforce_bound(i);
}

static void send_queued(struct influx *i);

static void push_reply(struct kylin_http_req *req, const struct kylin_http_reply *reply)
{
    struct influx *i = INFLUX_OF(req, req);
    bool ok = reply->error == NULL && reply->status >= 200 && reply->status < 300;

    if (!i->enabled) {
        batches_free(i->inflight); /* cancelled by influx_close */
        i->inflight = NULL;
        return;
    }
    if (ok) {
        metrics_global.influx_pushes++;
        metrics_global.influx_points_pushed += i->inflight_points;
        batches_free(i->inflight);
        i->inflight = NULL;
        i->inflight_points = 0;
        if (i->failing) {
            log_info("influxdb: pushes to %s succeed again (%zu point(s) still queued)", i->cfg->influxdb_url,
                     i->queued_points);
            i->failing = false;
        }
        send_queued(i); /* drain a backlog at once */
        return;
    }
    metrics_global.influx_push_errors++;
    bool refused = reply->error == NULL && reply->status >= 400 && reply->status < 500;
    if (!i->failing) {
        int body_len = reply->error == NULL ? (int)(reply->body_len > 200 ? 200 : reply->body_len) : 0;
        log_warn("influxdb: push of %zu point(s) to %s failed: %s%.*s (HTTP %ld); %s (failures count in "
                 "raftnode_influxdb_push_errors_total, points the queue of %u cannot hold in "
                 "raftnode_influxdb_dropped_points_total)",
                 i->inflight_points, i->write_url, reply->error != NULL ? reply->error : "", body_len,
                 reply->error == NULL ? reply->body : "", reply->status,
                 refused ? "InfluxDB refused them, so they are dropped (does raft.influxdb.database exist?)"
                         : "they are kept and sent again on the next tick",
                 i->cfg->influxdb_max_points);
        i->failing = true;
    }
    if (refused) {
        metrics_global.influx_points_dropped += i->inflight_points;
        batches_free(i->inflight);
        i->inflight = NULL;
        i->inflight_points = 0;
        return;
    }
    requeue_inflight(i);
}

/* Sends the oldest queued batches (up to INFLUX_MAX_BODY, at least one) unless a POST is in
 * flight. */
static void send_queued(struct influx *i)
{
    struct influx_batch *b, **tailp;
    size_t len = 0, points = 0, off = 0;
    char *body;
    char err[KYLIN_HTTP_ERROR_MAX];
    static const char *const headers[] = {"Content-Type: text/plain; charset=utf-8", NULL};

    if (i->inflight != NULL || i->head == NULL) {
        return;
    }
    /* take batches off the queue */
    tailp = &i->inflight;
    while (i->head != NULL && (len == 0 || len + i->head->len <= INFLUX_MAX_BODY)) {
        b = i->head;
        i->head = b->next;
        b->next = NULL;
        *tailp = b;
        tailp = &b->next;
        len += b->len;
        points += b->points;
    }
    if (i->head == NULL) {
        i->tail = NULL;
    }
    i->inflight_points = points;
    set_queued(i, i->queued_points - points);
    body = malloc(len > 0 ? len : 1);
    if (body == NULL) {
        log_warn("influxdb: out of memory building a push of %zu bytes; retried on the next tick", len);
        requeue_inflight(i);
        return;
    }
    for (b = i->inflight; b != NULL; b = b->next) {
        memcpy(body + off, b->text, b->len);
        off += b->len;
    }
    unsigned timeout = i->cfg->influxdb_interval_ms < INFLUX_TIMEOUT_MAX_MS ? i->cfg->influxdb_interval_ms
                                                                             : INFLUX_TIMEOUT_MAX_MS;
    int rc = kylin_http_request(&i->client, &i->req, "POST", i->write_url, headers, body, len,
                                (long)(timeout < 1000 ? 1000 : timeout), push_reply, err, sizeof err);
    free(body); /* copied by kylin_http_request */
    if (rc != KYLIN_OK) {
        metrics_global.influx_push_errors++;
        if (!i->failing) {
            log_warn("influxdb: cannot start a push to %s: %s; retried on the next tick", i->write_url, err);
            i->failing = true;
        }
        requeue_inflight(i);
    }
}

void influx_tick(struct influx *i)
{
    struct metrics_buf prom, lines;
    struct timespec ts;
    char member[24];
    struct metrics_label tag = {"member", member};
    size_t prom_len, points, len;
    char *text;

    if (!i->enabled) {
        return;
    }
    if (clock_gettime(CLOCK_REALTIME, &ts) != 0) {
        return;
    }
    snprintf(member, sizeof member, "%llu", (unsigned long long)i->cfg->node_id);
    metrics_buf_init(&prom, 16u * 1024 * 1024);
    http_metrics_render(i->metrics, &prom);
    text = metrics_buf_take(&prom, &prom_len);
    if (text == NULL) {
        log_warn("influxdb: the metrics did not fit in 16 MiB (or memory ran out); this tick pushes nothing");
        return;
    }
    metrics_buf_init(&lines, INFLUX_MAX_BODY);
    points = influx_from_prometheus(&lines, text, prom_len, &tag, 1,
                                    (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000, NULL);
    free(text);
    text = metrics_buf_take(&lines, &len);
    if (text == NULL) {
        metrics_global.influx_points_dropped += points;
        log_warn("influxdb: one tick's %zu points did not fit in %u bytes (or memory ran out); dropped", points,
                 INFLUX_MAX_BODY);
        return;
    }
    struct influx_batch *b = malloc(sizeof *b + len);
    if (b == NULL) {
        metrics_global.influx_points_dropped += points;
        free(text);
        return;
    }
    memcpy(b->text, text, len);
    free(text);
    b->len = len;
    b->points = points;
    b->next = NULL;
    if (i->tail != NULL) {
        i->tail->next = b;
    } else {
        i->head = b;
    }
    i->tail = b;
    set_queued(i, i->queued_points + points);
    enforce_bound(i);
    send_queued(i);
}

static void timer_cb(uv_timer_t *t)
{
    influx_tick(INFLUX_OF(t, timer));
}

/* URL/write?db=DB&precision=ms (config.c allows only [A-Za-z0-9_.-] in DB: no escaping). */
static char *write_url(const char *base, const char *db)
{
    size_t n = strlen(base);
    while (n > 0 && base[n - 1] == '/') {
        n--;
    }
    size_t size = n + strlen(db) + 64;
    char *url = malloc(size);
    if (url != NULL) {
        snprintf(url, size, "%.*s/write?db=%s&precision=ms", (int)n, base, db);
    }
    return url;
}

int influx_start(struct influx *i, uv_loop_t *loop, const struct config *cfg, struct http *metrics)
{
    char err[KYLIN_HTTP_ERROR_MAX];

    memset(i, 0, sizeof *i);
    i->cfg = cfg;
    i->metrics = metrics;
    if (cfg->influxdb_url[0] == '\0') {
        return 0;
    }
    i->write_url = write_url(cfg->influxdb_url, cfg->influxdb_database);
    if (i->write_url == NULL) {
        log_error("influxdb: out of memory");
        return -1;
    }
    if (kylin_http_init(&i->client, loop, err, sizeof err) != KYLIN_OK) {
        log_error("influxdb: HTTP client: %s", err);
        goto err_url;
    }
    i->client_open = true;
    if (uv_timer_init(loop, &i->timer) != 0) {
        log_error("influxdb: cannot create a timer");
        goto err_client;
    }
    i->timer_open = true;
    i->enabled = true;
    metrics_global.influx_enabled = true;
    if (uv_timer_start(&i->timer, timer_cb, cfg->influxdb_interval_ms, cfg->influxdb_interval_ms) != 0) {
        log_error("influxdb: cannot start a timer");
        influx_close(i);
        return -1;
    }
    log_info("influxdb: pushing the /metrics figures to %s every %u ms (queue bound %u points)", i->write_url,
             cfg->influxdb_interval_ms, cfg->influxdb_max_points);
    return 0;

err_client:
    (void)kylin_http_close(&i->client, NULL);
    i->client_open = false;
err_url:
    free(i->write_url);
    i->write_url = NULL;
    return -1;
}

void influx_close(struct influx *i)
{
    if (!i->enabled) {
        return;
    }
    i->enabled = false; /* the cancelled POST's reply only frees its batches */
    if (i->timer_open) {
        uv_close((uv_handle_t *)&i->timer, NULL);
        i->timer_open = false;
    }
    if (i->client_open) {
        (void)kylin_http_close(&i->client, NULL);
        i->client_open = false;
    }
    batches_free(i->inflight);
    i->inflight = NULL;
    batches_free(i->head);
    i->head = i->tail = NULL;
    free(i->write_url);
    i->write_url = NULL;
}
