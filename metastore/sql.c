/* sql: DDL and statements of the metastore mirror in both dialects (see sql.h). */
#include "metastore/sql.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "metastore/url.h"

/* A growing string; on allocation failure it stays failed and sb_done returns NULL. */
struct sb {
    char *buf;
    size_t len, cap;
    bool failed;
};

static void sb_add(struct sb *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void sb_add(struct sb *s, const char *fmt, ...)
{
    if (s->failed) {
        return;
    }
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(s->buf != NULL ? s->buf + s->len : NULL, s->buf != NULL ? s->cap - s->len : 0, fmt, ap);
        va_end(ap);
        if (n < 0) {
            s->failed = true;
            return;
        }
        if (s->buf != NULL && s->len + (size_t)n < s->cap) {
            s->len += (size_t)n;
            return;
        }
        size_t cap = s->cap == 0 ? 256 : s->cap;
        while (cap <= s->len + (size_t)n) {
            cap *= 2;
        }
        char *p = realloc(s->buf, cap);
        if (p == NULL) {
            s->failed = true;
            return;
        }
        s->buf = p;
        s->cap = cap;
    }
}

static char *sb_done(struct sb *s)
{
    if (s->failed) {
        free(s->buf);
        return NULL;
    }
    return s->buf;
}

/* One column: name, PostgreSQL type, MySQL type (DDL and casts). */
struct column {
    const char *name;
    const char *pg;
    const char *my;
};

/* Kylin's epoch table, exactly as Kylin creates it (DESIGN.md; Kylin's
 * metadata-jdbc-{postgresql,mysql}.properties, create.epoch.store.table): the same words,
 * "null" included, and the key declared last (tables[].key_clause). */
static const struct column epoch_cols[] = {
    {"epoch_id", "int null", "int null"},
    {"epoch_target", "varchar(255)", "varchar(255)"},
    {"current_epoch_owner", "varchar(2000) null", "varchar(2000) null"},
    {"last_epoch_renew_time", "bigint null", "bigint null"},
    {"server_mode", "varchar(10) null", "varchar(10) null"},
    {"maintenance_mode_reason", "varchar(5000) null", "varchar(5000) null"},
    {"mvcc", "bigint null", "bigint null"},
    {"reserved_field_1", "VARCHAR(50)", "VARCHAR(50)"},
    {"reserved_field_2", "bytea", "longblob"},
    {"reserved_field_3", "bytea", "longblob"},
};
/* The columns the mirror writes, in SQL_EPOCH_WRITE_COLS order. */
static const struct column epoch_write_cols[] = {
    {"epoch_target", "varchar", NULL},        {"epoch_id", "int", NULL},
    {"current_epoch_owner", "varchar", NULL}, {"last_epoch_renew_time", "bigint", NULL},
    {"server_mode", "varchar", NULL},         {"maintenance_mode_reason", "varchar", NULL},
};

static const struct column member_cols[] = {
    {"member_id", "bigint NOT NULL", "bigint NOT NULL"},
    {"raft_address", "varchar(255)", "varchar(255)"},
    {"api_address", "varchar(255)", "varchar(255)"},
    {"member_role", "varchar(10)", "varchar(10)"},
    {"engine_mode", "varchar(10)", "varchar(10)"},
    {"weight", "int", "int"},
    {"engine_identity", "varchar(2000)", "varchar(2000)"},
    {"alive", "smallint", "smallint"},
    {"draining", "smallint", "smallint"},
};
static const char *const member_casts[] = {"bigint", "varchar", "varchar", "varchar", "varchar",
                                           "int", "varchar", "smallint", "smallint"};

static const struct column history_cols[] = {
    {"raft_index", "bigint NOT NULL", "bigint NOT NULL"},
    {"term", "bigint NOT NULL", "bigint NOT NULL"},
    {"time_ms", "bigint NOT NULL", "bigint NOT NULL"},
    {"project", "varchar(255) NOT NULL", "varchar(255) NOT NULL"},
    {"from_engine", "bigint", "bigint"},
    {"to_engine", "bigint", "bigint"},
    {"epoch", "bigint NOT NULL", "bigint NOT NULL"},
    {"reason", "varchar(16) NOT NULL", "varchar(16) NOT NULL"},
};
static const char *const history_casts[] = {"bigint", "bigint", "bigint", "varchar",
                                            "bigint", "bigint", "bigint", "varchar"};

static const struct column sync_cols[] = {
    {"sync_id", "int NOT NULL", "int NOT NULL"},
    {"applied_index", "bigint NOT NULL", "bigint NOT NULL"},
    {"term", "bigint NOT NULL", "bigint NOT NULL"},
    {"leader_id", "bigint NOT NULL", "bigint NOT NULL"},
    {"updated_time_ms", "bigint NOT NULL", "bigint NOT NULL"},
};

/* MySQL table options. Kylin's epoch table: Kylin's own (utf8, the default collation, which
 * compares ignoring case: project names are unique ignoring case in the quorum, as in Kylin,
 * and the mirror deletes before it upserts, so a name whose case changed keeps its row).
 * The service's own tables: utf8mb4 with a binary collation. */
#define KYLIN_MYSQL_OPTIONS " ENGINE=INNODB DEFAULT CHARSET=utf8"
#define OWN_MYSQL_OPTIONS " ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin"

static const struct {
    const char *suffix;
    const struct column *cols;
    size_t n;
    const char *key_clause;
    const char *mysql_options;
} tables[SQL_TABLE_COUNT] = {
    [SQL_EPOCH] = {"epoch", epoch_cols, sizeof epoch_cols / sizeof epoch_cols[0], "primary key(epoch_target)",
                   KYLIN_MYSQL_OPTIONS},
    [SQL_MEMBER] = {"raft_member", member_cols, sizeof member_cols / sizeof member_cols[0],
                    "PRIMARY KEY (member_id)", OWN_MYSQL_OPTIONS},
    [SQL_HISTORY] = {"raft_history", history_cols, sizeof history_cols / sizeof history_cols[0],
                     "PRIMARY KEY (raft_index, project, epoch)", OWN_MYSQL_OPTIONS},
    [SQL_SYNC] = {"raft_sync", sync_cols, sizeof sync_cols / sizeof sync_cols[0], "PRIMARY KEY (sync_id)",
                  OWN_MYSQL_OPTIONS},
};

char *sql_create(int kind, const char *prefix, enum sql_table t)
{
    struct sb s = {0};
    bool pg = kind == MS_KIND_POSTGRESQL;
    sb_add(&s, "CREATE TABLE IF NOT EXISTS %s_%s (", prefix, tables[t].suffix);
    for (size_t i = 0; i < tables[t].n; i++) {
        const struct column *c = &tables[t].cols[i];
        sb_add(&s, "%s %s, ", c->name, pg ? c->pg : c->my);
    }
    sb_add(&s, "%s)%s", tables[t].key_clause, pg ? "" : tables[t].mysql_options);
    return sb_done(&s);
}

char *sql_check_columns(int kind, const char *prefix, enum sql_table t)
{
    (void)kind;
    struct sb s = {0};
    sb_add(&s, "SELECT ");
    for (size_t i = 0; i < tables[t].n; i++) {
        sb_add(&s, "%s%s", i > 0 ? ", " : "", tables[t].cols[i].name);
    }
    sb_add(&s, " FROM %s_%s WHERE 1 = 0", prefix, tables[t].suffix);
    return sb_done(&s);
}

const char *sql_begin(int kind)
{
    return kind == MS_KIND_POSTGRESQL ? "BEGIN ISOLATION LEVEL READ COMMITTED" : "START TRANSACTION";
}

/* Placeholder number N (1-based) of a value cast to CAST. */
static void placeholder(struct sb *s, int kind, size_t n, const char *cast)
{
    if (kind == MS_KIND_POSTGRESQL) {
        sb_add(s, "$%zu::%s", n, cast);
    } else {
        sb_add(s, "?");
    }
}

char *sql_sync_lock(int kind, const char *prefix)
{
    (void)kind;
    struct sb s = {0};
    sb_add(&s, "SELECT applied_index, term, leader_id FROM %s_raft_sync WHERE sync_id = 1 FOR UPDATE", prefix);
    return sb_done(&s);
}

char *sql_sync_seed(int kind, const char *prefix)
{
    (void)kind;
    struct sb s = {0};
    sb_add(&s, "INSERT INTO %s_raft_sync (sync_id, applied_index, term, leader_id, updated_time_ms)"
               " VALUES (1, 0, 0, 0, 0)", prefix);
    return sb_done(&s);
}

char *sql_sync_set(int kind, const char *prefix)
{
    struct sb s = {0};
    sb_add(&s, "UPDATE %s_raft_sync SET applied_index = ", prefix);
    placeholder(&s, kind, 1, "bigint");
    sb_add(&s, ", term = ");
    placeholder(&s, kind, 2, "bigint");
    sb_add(&s, ", leader_id = ");
    placeholder(&s, kind, 3, "bigint");
    sb_add(&s, ", updated_time_ms = ");
    placeholder(&s, kind, 4, "bigint");
    sb_add(&s, " WHERE sync_id = 1");
    return sb_done(&s);
}

char *sql_epoch_select(int kind, const char *prefix)
{
    (void)kind;
    struct sb s = {0};
    sb_add(&s, "SELECT epoch_target, epoch_id, current_epoch_owner, last_epoch_renew_time,"
               " server_mode, maintenance_mode_reason, mvcc FROM %s_epoch", prefix);
    return sb_done(&s);
}

/* "VALUES (...), (...)" of ROWS rows of N placeholders (CASTS per column), each row ending
 * with TAIL (e.g. ", 0" for a literal column) or "". */
static void values_list(struct sb *s, int kind, size_t rows, size_t n, const char *const *casts,
                        const char *tail)
{
    sb_add(s, " VALUES ");
    size_t p = 1;
    for (size_t r = 0; r < rows; r++) {
        sb_add(s, "%s(", r > 0 ? ", " : "");
        for (size_t c = 0; c < n; c++) {
            if (c > 0) {
                sb_add(s, ", ");
            }
            placeholder(s, kind, p++, casts[c]);
        }
        sb_add(s, "%s)", tail);
    }
}

char *sql_epoch_upsert(int kind, const char *prefix, size_t rows)
{
    struct sb s = {0};
    const char *casts[SQL_EPOCH_WRITE_COLS];
    bool pg = kind == MS_KIND_POSTGRESQL;
    for (size_t i = 0; i < SQL_EPOCH_WRITE_COLS; i++) {
        casts[i] = epoch_write_cols[i].pg;
    }
    sb_add(&s, "INSERT INTO %s_epoch%s (", prefix, pg ? " AS t" : "");
    for (size_t i = 0; i < SQL_EPOCH_WRITE_COLS; i++) {
        sb_add(&s, "%s, ", epoch_write_cols[i].name);
    }
    sb_add(&s, "mvcc)");
    values_list(&s, kind, rows, SQL_EPOCH_WRITE_COLS, casts, ", 0");
    sb_add(&s, pg ? " ON CONFLICT (epoch_target) DO UPDATE SET " : " ON DUPLICATE KEY UPDATE ");
    for (size_t i = 1; i < SQL_EPOCH_WRITE_COLS; i++) {
        const char *c = epoch_write_cols[i].name;
        if (pg) {
            sb_add(&s, "%s = EXCLUDED.%s, ", c, c);
        } else {
            sb_add(&s, "%s = VALUES(%s), ", c, c);
        }
    }
    /* A row Kylin left with a NULL mvcc restarts at 0. */
    sb_add(&s, pg ? "mvcc = COALESCE(t.mvcc, -1) + 1" : "mvcc = COALESCE(mvcc, -1) + 1");
    return sb_done(&s);
}

static char *delete_in(int kind, const char *prefix, const char *table, const char *key,
                       const char *cast, size_t rows)
{
    struct sb s = {0};
    sb_add(&s, "DELETE FROM %s_%s WHERE %s IN (", prefix, table, key);
    for (size_t r = 0; r < rows; r++) {
        if (r > 0) {
            sb_add(&s, ", ");
        }
        placeholder(&s, kind, r + 1, cast);
    }
    sb_add(&s, ")");
    return sb_done(&s);
}

char *sql_epoch_delete(int kind, const char *prefix, size_t rows)
{
    return delete_in(kind, prefix, "epoch", "epoch_target", "varchar", rows);
}

char *sql_member_select(int kind, const char *prefix)
{
    (void)kind;
    struct sb s = {0};
    sb_add(&s, "SELECT ");
    for (size_t i = 0; i < SQL_MEMBER_COLS; i++) {
        sb_add(&s, "%s%s", i > 0 ? ", " : "", member_cols[i].name);
    }
    sb_add(&s, " FROM %s_raft_member", prefix);
    return sb_done(&s);
}

char *sql_member_upsert(int kind, const char *prefix, size_t rows)
{
    struct sb s = {0};
    bool pg = kind == MS_KIND_POSTGRESQL;
    sb_add(&s, "INSERT INTO %s_raft_member (", prefix);
    for (size_t i = 0; i < SQL_MEMBER_COLS; i++) {
        sb_add(&s, "%s%s", i > 0 ? ", " : "", member_cols[i].name);
    }
    sb_add(&s, ")");
    values_list(&s, kind, rows, SQL_MEMBER_COLS, member_casts, "");
    sb_add(&s, pg ? " ON CONFLICT (member_id) DO UPDATE SET " : " ON DUPLICATE KEY UPDATE ");
    for (size_t i = 1; i < SQL_MEMBER_COLS; i++) {
        const char *c = member_cols[i].name;
        if (pg) {
            sb_add(&s, "%s%s = EXCLUDED.%s", i > 1 ? ", " : "", c, c);
        } else {
            sb_add(&s, "%s%s = VALUES(%s)", i > 1 ? ", " : "", c, c);
        }
    }
    return sb_done(&s);
}

char *sql_member_delete(int kind, const char *prefix, size_t rows)
{
    return delete_in(kind, prefix, "raft_member", "member_id", "bigint", rows);
}

char *sql_history_insert(int kind, const char *prefix, size_t rows)
{
    struct sb s = {0};
    bool pg = kind == MS_KIND_POSTGRESQL;
    sb_add(&s, "INSERT INTO %s_raft_history (", prefix);
    for (size_t i = 0; i < SQL_HISTORY_COLS; i++) {
        sb_add(&s, "%s%s", i > 0 ? ", " : "", history_cols[i].name);
    }
    sb_add(&s, ")");
    values_list(&s, kind, rows, SQL_HISTORY_COLS, history_casts, "");
    /* MySQL: a no-op update rather than INSERT IGNORE, which would also turn real errors
     * (a value too long, say) into warnings. */
    sb_add(&s, pg ? " ON CONFLICT (raft_index, project, epoch) DO NOTHING"
                  : " ON DUPLICATE KEY UPDATE raft_index = raft_index");
    return sb_done(&s);
}

void sql_text_utf8mb3(char *s)
{
    static const char replacement[] = "\xef\xbf\xbd"; /* U+FFFD */
    size_t r = 0, w = 0;
    while (s[r] != '\0') {
        unsigned char c = (unsigned char)s[r];
        /* A lead byte of 4 (0xf0-0xf4 in valid UTF-8) with its continuation bytes present. */
        if (c >= 0xf0 && c <= 0xf7 && s[r + 1] != '\0' && s[r + 2] != '\0' && s[r + 3] != '\0') {
            memcpy(&s[w], replacement, 3);
            w += 3;
            r += 4;
            continue;
        }
        s[w++] = s[r++];
    }
    s[w] = '\0';
}
