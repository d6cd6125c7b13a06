/* mysql: the MySQL / MariaDB backend (MariaDB Connector/C), see backend.h.
 *
 * Bounded waits come from the connector's own timeouts (connect, read, write), which hold
 * on TCP and unix sockets alike; a call cannot be interrupted early, so closing the mirror
 * during a hung statement waits at most MYSQL_IO_TIMEOUT_S. The session asks for READ
 * COMMITTED, strict SQL mode, a short lock wait, and (MariaDB only: MySQL has no such
 * variable and keeps the default) idle_transaction_timeout, so that a member paused while
 * holding the sync row's lock loses it. */
#include <errmsg.h>
#include <mysql.h>
#include <mysqld_error.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "metastore/backend.h"

#define MYSQL_IO_TIMEOUT_S 5

/* Client errors that mean the connection is gone. */
static bool lost(unsigned err)
{
    return err == CR_SERVER_GONE_ERROR || err == CR_SERVER_LOST || err == CR_CONN_HOST_ERROR ||
           err == CR_CONNECTION_ERROR || err == CR_COMMANDS_OUT_OF_SYNC ||
           err == CR_UNKNOWN_HOST || err == CR_SERVER_LOST_EXTENDED || err == ER_CONNECTION_KILLED;
}

static void my_disconnect(struct ms_backend *b)
{
    if (b->impl != NULL) {
        mysql_close(b->impl);
        b->impl = NULL;
    }
    b->connected = false;
}

static void fail_conn(struct ms_backend *b, const char *what)
{
    MYSQL *m = b->impl;
    unsigned e = mysql_errno(m);
    ms_backend_error(b, lost(e), "%s: %s (error %u)", what, mysql_error(m), e);
}

static int my_exec(struct ms_backend *b, const char *sql);

static int my_connect(struct ms_backend *b)
{
    const struct ms_url *u = b->url;
    my_disconnect(b);
    b->broken = false;
    MYSQL *m = mysql_init(NULL);
    if (m == NULL) {
        ms_backend_error(b, true, "connect: out of memory");
        return -1;
    }
    b->impl = m;
    unsigned connect_s = (MS_CONNECT_TIMEOUT_MS + 999) / 1000, io_s = MYSQL_IO_TIMEOUT_S;
    my_bool reconnect = 0;
    unsigned protocol = u->socket[0] != '\0' ? MYSQL_PROTOCOL_SOCKET : MYSQL_PROTOCOL_TCP;
    if (mysql_options(m, MYSQL_OPT_CONNECT_TIMEOUT, &connect_s) != 0 ||
        mysql_options(m, MYSQL_OPT_READ_TIMEOUT, &io_s) != 0 ||
        mysql_options(m, MYSQL_OPT_WRITE_TIMEOUT, &io_s) != 0 ||
        mysql_options(m, MYSQL_OPT_RECONNECT, &reconnect) != 0 ||
        mysql_options(m, MYSQL_OPT_PROTOCOL, &protocol) != 0 ||
        mysql_options(m, MYSQL_SET_CHARSET_NAME, "utf8mb4") != 0) {
        fail_conn(b, "connect: setting options");
        b->broken = true;
        my_disconnect(b);
        return -1;
    }
    const char *host = u->socket[0] != '\0' ? NULL : u->host;
    if (mysql_real_connect(m, host, u->user, u->password, u->database, u->port,
                           u->socket[0] != '\0' ? u->socket : NULL, 0) == NULL) {
        fail_conn(b, "connect");
        b->broken = true;
        my_disconnect(b);
        return -1;
    }
    b->connected = true;
    if (my_exec(b, "SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED") != 0 ||
        my_exec(b, "SET SESSION sql_mode = 'STRICT_TRANS_TABLES,NO_ENGINE_SUBSTITUTION'") != 0 ||
        my_exec(b, "SET SESSION innodb_lock_wait_timeout = 5") != 0) {
        my_disconnect(b);
        return -1;
    }
    char id[24];
    const char *idv[1] = {id};
    snprintf(id, sizeof id, "%llu", (unsigned long long)b->member_id);
    if (b->ops->exec_params(b, "SET @raftnode_member = ?", 1, idv, NULL) != 0) {
        my_disconnect(b);
        return -1;
    }
    if (mysql_query(m, "SET SESSION idle_transaction_timeout = 15") != 0 &&
        mysql_errno(m) != ER_UNKNOWN_SYSTEM_VARIABLE) {
        fail_conn(b, "SET SESSION idle_transaction_timeout");
        my_disconnect(b);
        return -1;
    }
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

static void describe(const char *sql, char *what, size_t cap)
{
    snprintf(what, cap, "%.48s%s", sql, strlen(sql) > 48 ? "..." : "");
}

static int my_exec(struct ms_backend *b, const char *sql)
{
    char what[64];
    if (not_connected(b) != 0) {
        return -1;
    }
    if (mysql_real_query(b->impl, sql, strlen(sql)) != 0) {
        describe(sql, what, sizeof what);
        fail_conn(b, what);
        return -1;
    }
    /* A statement without rows has no result set; free one if a server sent it anyway. */
    MYSQL_RES *res = mysql_store_result(b->impl);
    mysql_free_result(res);
    return 0;
}

static int my_exec_params(struct ms_backend *b, const char *sql, size_t n, const char *const *values,
                          uint64_t *affected)
{
    char what[64];
    int rc = -1;
    if (not_connected(b) != 0) {
        return -1;
    }
    describe(sql, what, sizeof what);
    MYSQL_STMT *st = mysql_stmt_init(b->impl);
    MYSQL_BIND *binds = calloc(n > 0 ? n : 1, sizeof *binds);
    unsigned long *lens = calloc(n > 0 ? n : 1, sizeof *lens);
    if (st == NULL || binds == NULL || lens == NULL) {
        ms_backend_error(b, st == NULL && mysql_errno(b->impl) != 0 && lost(mysql_errno(b->impl)),
                         "%s: out of memory for %zu values", what, n);
        goto out;
    }
    if (mysql_stmt_prepare(st, sql, strlen(sql)) != 0) {
        unsigned e = mysql_stmt_errno(st);
        ms_backend_error(b, lost(e), "%s: prepare: %s (error %u)", what, mysql_stmt_error(st), e);
        goto out;
    }
    if (mysql_stmt_param_count(st) != n) {
        ms_backend_error(b, false, "%s: %lu placeholders for %zu values", what,
                         mysql_stmt_param_count(st), n);
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        if (values[i] == NULL) {
            binds[i].buffer_type = MYSQL_TYPE_NULL;
            continue;
        }
        lens[i] = strlen(values[i]);
        binds[i].buffer_type = MYSQL_TYPE_STRING;
        binds[i].buffer = (void *)values[i]; /* only read by the connector */
        binds[i].buffer_length = lens[i];
        binds[i].length = &lens[i];
    }
    if ((n > 0 && mysql_stmt_bind_param(st, binds) != 0) || mysql_stmt_execute(st) != 0) {
        unsigned e = mysql_stmt_errno(st);
        ms_backend_error(b, lost(e), "%s: %s (error %u)", what, mysql_stmt_error(st), e);
        goto out;
    }
    if (affected != NULL) {
        *affected = (uint64_t)mysql_stmt_affected_rows(st);
    }
    rc = 0;
out:
    if (st != NULL) {
        mysql_stmt_close(st);
    }
    free(binds);
    free(lens);
    return rc;
}

static int my_query(struct ms_backend *b, const char *sql, struct ms_rows *out)
{
    char what[64];
    if (not_connected(b) != 0) {
        return -1;
    }
    describe(sql, what, sizeof what);
    if (mysql_real_query(b->impl, sql, strlen(sql)) != 0) {
        fail_conn(b, what);
        return -1;
    }
    MYSQL_RES *res = mysql_store_result(b->impl);
    if (res == NULL) {
        if (mysql_errno(b->impl) != 0) {
            fail_conn(b, what);
        } else {
            ms_backend_error(b, false, "%s: the statement returned no rows at all", what);
        }
        return -1;
    }
    struct ms_rows rows = {.n_rows = (size_t)mysql_num_rows(res), .n_cols = mysql_num_fields(res)};
    size_t cells = rows.n_rows * rows.n_cols;
    rows.cells = calloc(cells > 0 ? cells : 1, sizeof *rows.cells);
    if (rows.cells == NULL) {
        mysql_free_result(res);
        ms_backend_error(b, false, "%s: out of memory for %zu cells", what, cells);
        return -1;
    }
    MYSQL_ROW row;
    size_t i = 0;
    while (i < rows.n_rows && (row = mysql_fetch_row(res)) != NULL) {
        unsigned long *lens = mysql_fetch_lengths(res);
        for (size_t j = 0; j < rows.n_cols; j++) {
            if (row[j] == NULL) {
                continue;
            }
            char *v = strndup(row[j], lens[j]);
            if (v == NULL) {
                mysql_free_result(res);
                ms_rows_free(&rows);
                ms_backend_error(b, false, "%s: out of memory", what);
                return -1;
            }
            rows.cells[i * rows.n_cols + j] = v;
        }
        i++;
    }
    mysql_free_result(res);
    *out = rows;
    return 0;
}

const struct ms_backend_ops ms_mysql_ops = {
    .name = "mysql",
    .connect = my_connect,
    .disconnect = my_disconnect,
    .exec = my_exec,
    .exec_params = my_exec_params,
    .query = my_query,
};

int ms_backend_global_init(int kind)
{
    return kind == MS_KIND_MYSQL && mysql_library_init(0, NULL, NULL) != 0 ? -1 : 0;
}

void ms_backend_global_end(int kind)
{
    if (kind == MS_KIND_MYSQL) {
        mysql_library_end();
    }
}
