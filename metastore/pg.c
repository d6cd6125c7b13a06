/* pg: the PostgreSQL backend (libpq), see backend.h.
 *
 * libpq's blocking calls can wait forever on a server that stopped answering (a paused
 * process keeps its socket open; statement_timeout is enforced by the server itself), so
 * every call here is libpq's asynchronous API driven by poll() with a deadline, which also
 * watches the mirror's cancel descriptor. A deadline or a cancel drops the connection: its
 * state is unknown, and PostgreSQL rolls back whatever transaction it had open.
 * Server-side timeouts (lock, statement, idle in transaction) are set too, so that a
 * member paused mid-transaction cannot hold the sync row's lock for long. */
#include <errno.h>
#include <libpq-fe.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "metastore/backend.h"

static uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static void notice_ignore(void *arg, const char *message)
{
    /* "relation ... already exists, skipping" and the like: not errors, and libpq's default
     * would print them on stderr behind the log's back. */
    (void)arg;
    (void)message;
}

static void pg_disconnect(struct ms_backend *b)
{
    if (b->impl != NULL) {
        PQfinish(b->impl);
        b->impl = NULL;
    }
    b->connected = false;
}

/* Waits until the connection's socket is ready for WRITE (else read). 0 ready, -1 on
 * deadline, cancel or poll failure (errmsg set, connection marked broken). */
static int wait_socket(struct ms_backend *b, int sock, bool write, uint64_t deadline,
                       unsigned timeout_ms, const char *what)
{
    for (;;) {
        uint64_t now = now_ms();
        if (now >= deadline) {
            ms_backend_error(b, true, "%s: no answer from the server within %u ms", what, timeout_ms);
            return -1;
        }
        struct pollfd fds[2] = {{.fd = sock, .events = write ? POLLOUT : POLLIN},
                                {.fd = b->cancel_fd, .events = POLLIN}};
        int rc = poll(fds, b->cancel_fd >= 0 ? 2 : 1, (int)(deadline - now));
        if (rc < 0 && errno == EINTR) {
            continue;
        }
        if (rc < 0) {
            ms_backend_error(b, true, "%s: poll: %s", what, strerror(errno));
            return -1;
        }
        if (b->cancel_fd >= 0 && (fds[1].revents & POLLIN)) {
            ms_backend_error(b, true, "%s: cancelled (the mirror is stopping)", what);
            return -1;
        }
        if (rc > 0 && fds[0].revents != 0) {
            return 0;
        }
    }
}

static int pg_connect(struct ms_backend *b)
{
    const struct ms_url *u = b->url;
    char port[16] = "", timeout[16], appname[48];
    const char *keys[12], *vals[12];
    int k = 0;

    pg_disconnect(b);
    b->broken = false;
    snprintf(timeout, sizeof timeout, "%u", (MS_CONNECT_TIMEOUT_MS + 999) / 1000);
    snprintf(appname, sizeof appname, "raftnode-mirror-%llu", (unsigned long long)b->member_id);
    keys[k] = "host";
    vals[k++] = u->socket[0] != '\0' ? u->socket : u->host;
    if (u->port != 0) {
        snprintf(port, sizeof port, "%u", u->port);
        keys[k] = "port";
        vals[k++] = port;
    }
    keys[k] = "dbname";
    vals[k++] = u->database;
    keys[k] = "user";
    vals[k++] = u->user;
    if (u->password[0] != '\0') {
        keys[k] = "password";
        vals[k++] = u->password;
    }
    keys[k] = "connect_timeout";
    vals[k++] = timeout;
    keys[k] = "application_name";
    vals[k++] = appname;
    /* Dead peers on TCP are noticed by keepalives even between statements. */
    keys[k] = "keepalives_idle";
    vals[k++] = "10";
    keys[k] = "keepalives_interval";
    vals[k++] = "3";
    keys[k] = "keepalives_count";
    vals[k++] = "3";
    keys[k] = NULL;
    vals[k] = NULL;

    PGconn *c = PQconnectStartParams(keys, vals, 0);
    if (c == NULL) {
        ms_backend_error(b, true, "connect: out of memory");
        return -1;
    }
    b->impl = c;
    uint64_t deadline = now_ms() + MS_CONNECT_TIMEOUT_MS;
    PostgresPollingStatusType st = PGRES_POLLING_WRITING;
    if (PQstatus(c) == CONNECTION_BAD) {
        st = PGRES_POLLING_FAILED;
    }
    while (st != PGRES_POLLING_OK && st != PGRES_POLLING_FAILED) {
        if (wait_socket(b, PQsocket(c), st == PGRES_POLLING_WRITING, deadline,
                        MS_CONNECT_TIMEOUT_MS, "connect") != 0) {
            pg_disconnect(b);
            return -1;
        }
        st = PQconnectPoll(c);
    }
    if (st == PGRES_POLLING_FAILED) {
        ms_backend_error(b, true, "connect: %s", PQerrorMessage(c));
        pg_disconnect(b);
        return -1;
    }
    PQsetNoticeProcessor(c, notice_ignore, NULL);
    if (PQsetnonblocking(c, 1) != 0) {
        ms_backend_error(b, true, "connect: cannot switch to non-blocking mode: %s", PQerrorMessage(c));
        pg_disconnect(b);
        return -1;
    }
    b->connected = true;
    /* Server-side bounds: a statement, a lock wait, and a transaction left idle by a member
     * that was paused (SIGSTOP) while it held the sync row's lock. */
    if (b->ops->exec(b, "SET statement_timeout = 10000; SET lock_timeout = 5000;"
                        " SET idle_in_transaction_session_timeout = 15000;"
                        " SET client_encoding = 'UTF8'") != 0) {
        pg_disconnect(b);
        return -1;
    }
    return 0;
}

/* Sends what libpq has buffered, then collects every result of the statement; keeps the
 * last one in *OUT (the caller clears it). */
static int pg_finish(struct ms_backend *b, const char *what, PGresult **out)
{
    PGconn *c = b->impl;
    uint64_t deadline = now_ms() + MS_STATEMENT_TIMEOUT_MS;
    int rc;
    while ((rc = PQflush(c)) == 1) {
        if (wait_socket(b, PQsocket(c), true, deadline, MS_STATEMENT_TIMEOUT_MS, what) != 0) {
            return -1;
        }
    }
    if (rc != 0) {
        ms_backend_error(b, true, "%s: sending: %s", what, PQerrorMessage(c));
        return -1;
    }
    PGresult *last = NULL;
    for (;;) {
        while (PQisBusy(c)) {
            if (wait_socket(b, PQsocket(c), false, deadline, MS_STATEMENT_TIMEOUT_MS, what) != 0) {
                PQclear(last);
                return -1;
            }
            if (!PQconsumeInput(c)) {
                ms_backend_error(b, true, "%s: %s", what, PQerrorMessage(c));
                PQclear(last);
                return -1;
            }
        }
        PGresult *r = PQgetResult(c);
        if (r == NULL) {
            break;
        }
        /* The first failing result is the one that explains; keep it over later ones. */
        if (last != NULL && PQresultStatus(last) == PGRES_FATAL_ERROR) {
            PQclear(r);
            continue;
        }
        PQclear(last);
        last = r;
    }
    if (last == NULL) {
        ms_backend_error(b, PQstatus(c) == CONNECTION_BAD, "%s: no result: %s", what, PQerrorMessage(c));
        return -1;
    }
    ExecStatusType st = PQresultStatus(last);
    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
        const char *state = PQresultErrorField(last, PG_DIAG_SQLSTATE);
        ms_backend_error(b, PQstatus(c) == CONNECTION_BAD, "%s: %s%s%s%s", what,
                         PQresultErrorMessage(last), state != NULL ? " (SQLSTATE " : "",
                         state != NULL ? state : "", state != NULL ? ")" : "");
        PQclear(last);
        return -1;
    }
    *out = last;
    return 0;
}

static int not_connected(struct ms_backend *b)
{
    if (b->impl == NULL || !b->connected) {
        ms_backend_error(b, true, "not connected");
        return -1;
    }
    return 0;
}

/* WHAT for messages: the statement's first words, enough to tell which one failed. */
static void describe(const char *sql, char *what, size_t cap)
{
    snprintf(what, cap, "%.48s%s", sql, strlen(sql) > 48 ? "..." : "");
}

static int pg_exec(struct ms_backend *b, const char *sql)
{
    char what[64];
    PGresult *r = NULL;
    if (not_connected(b) != 0) {
        return -1;
    }
    describe(sql, what, sizeof what);
    if (!PQsendQuery(b->impl, sql)) {
        ms_backend_error(b, PQstatus(b->impl) == CONNECTION_BAD, "%s: %s", what, PQerrorMessage(b->impl));
        return -1;
    }
    if (pg_finish(b, what, &r) != 0) {
        return -1;
    }
    PQclear(r);
    return 0;
}

static int pg_exec_params(struct ms_backend *b, const char *sql, size_t n, const char *const *values,
                          uint64_t *affected)
{
    char what[64];
    PGresult *r = NULL;
    if (not_connected(b) != 0) {
        return -1;
    }
    describe(sql, what, sizeof what);
    if (n > 65535) {
        ms_backend_error(b, false, "%s: %zu values; PostgreSQL takes at most 65535", what, n);
        return -1;
    }
    if (!PQsendQueryParams(b->impl, sql, (int)n, NULL, values, NULL, NULL, 0)) {
        ms_backend_error(b, PQstatus(b->impl) == CONNECTION_BAD, "%s: %s", what, PQerrorMessage(b->impl));
        return -1;
    }
    if (pg_finish(b, what, &r) != 0) {
        return -1;
    }
    if (affected != NULL) {
        *affected = strtoull(PQcmdTuples(r), NULL, 10);
    }
    PQclear(r);
    return 0;
}

static int pg_query(struct ms_backend *b, const char *sql, struct ms_rows *out)
{
    char what[64];
    PGresult *r = NULL;
    if (not_connected(b) != 0) {
        return -1;
    }
    describe(sql, what, sizeof what);
    if (!PQsendQueryParams(b->impl, sql, 0, NULL, NULL, NULL, NULL, 0)) {
        ms_backend_error(b, PQstatus(b->impl) == CONNECTION_BAD, "%s: %s", what, PQerrorMessage(b->impl));
        return -1;
    }
    if (pg_finish(b, what, &r) != 0) {
        return -1;
    }
    struct ms_rows rows = {.n_rows = (size_t)PQntuples(r), .n_cols = (size_t)PQnfields(r)};
    size_t cells = rows.n_rows * rows.n_cols;
    rows.cells = calloc(cells > 0 ? cells : 1, sizeof *rows.cells);
    if (rows.cells == NULL) {
        PQclear(r);
        ms_backend_error(b, false, "%s: out of memory for %zu cells", what, cells);
        return -1;
    }
    for (size_t i = 0; i < rows.n_rows; i++) {
        for (size_t j = 0; j < rows.n_cols; j++) {
            if (PQgetisnull(r, (int)i, (int)j)) {
                continue;
            }
            char *v = strdup(PQgetvalue(r, (int)i, (int)j));
            if (v == NULL) {
                PQclear(r);
                ms_rows_free(&rows);
                ms_backend_error(b, false, "%s: out of memory", what);
                return -1;
            }
            rows.cells[i * rows.n_cols + j] = v;
        }
    }
    PQclear(r);
    *out = rows;
    return 0;
}

const struct ms_backend_ops ms_pg_ops = {
    .name = "postgresql",
    .connect = pg_connect,
    .disconnect = pg_disconnect,
    .exec = pg_exec,
    .exec_params = pg_exec_params,
    .query = pg_query,
};
