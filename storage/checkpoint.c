/* checkpoint: PASSIVE WAL checkpoints from a second connection (see checkpoint.h). */
#include "storage/checkpoint.h"

#include <sqlite3.h>
#include <stdio.h>
#include <string.h>

#include "storage/db.h"

int store_checkpointer_open(struct store_checkpointer *c, const char *path)
{
    memset(c, 0, sizeof *c);
    if (strcmp(path, ":memory:") == 0) {
        return 1;
    }
    /* No CREATE: the store has created the file and put it in WAL mode (a persistent
     * setting of the file). NOMUTEX: one user at a time, as the header says. */
    int rc = sqlite3_open_v2(path, &c->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, NULL);
    if (rc == SQLITE_OK) {
        /* The checkpoint syncs per this connection's setting: the same as the store's
         * (db.c), so moving the checkpoint here changes where it runs, not what it makes
         * durable. PASSIVE never calls the busy handler, so none is set. */
        rc = sqlite3_exec(c->db, "PRAGMA synchronous=NORMAL", NULL, NULL, NULL);
    }
    if (rc != SQLITE_OK) {
        snprintf(c->errmsg, sizeof c->errmsg, "checkpoint connection to %s: %s", path,
                 c->db != NULL ? sqlite3_errmsg(c->db) : sqlite3_errstr(rc));
        sqlite3_close(c->db);
        c->db = NULL;
        return -1;
    }
    return 0;
}

int store_checkpointer_run(struct store_checkpointer *c, unsigned max_rounds)
{
    int log = -1, done = -1, prev_log = -1;
    c->rounds = 0;
    if (c->db == NULL) {
        snprintf(c->errmsg, sizeof c->errmsg, "checkpoint: no connection");
        return -1;
    }
    while (c->rounds < max_rounds) {
        int rc = sqlite3_wal_checkpoint_v2(c->db, "main", SQLITE_CHECKPOINT_PASSIVE, &log, &done);
        c->rounds++;
        if (rc == SQLITE_BUSY) {
            break; /* another checkpoint (the store's inline fallback) is running */
        }
        if (rc != SQLITE_OK) {
            snprintf(c->errmsg, sizeof c->errmsg, "checkpoint: %s", sqlite3_errmsg(c->db));
            return -1;
        }
        /* Caught up: everything copied, and the log did not grow while we copied (a round
         * that copies nothing costs no fsync). Otherwise the writer appended meanwhile:
         * copy that too, so that the writer can restart the WAL soon. */
        if (log <= 0 || (done == log && log == prev_log)) {
            break;
        }
        prev_log = log;
    }
    c->log_frames = log;
    c->done_frames = done;
    return 0;
}

void store_checkpointer_close(struct store_checkpointer *c)
{
    /* Fails only with unfinalized statements, and this connection never prepares any. */
    sqlite3_close(c->db);
    c->db = NULL;
}

/* sqlite3_wal_hook: runs after every commit of the store's connection. */
static int wal_hook(void *arg, sqlite3 *db, const char *name, int frames)
{
    struct store_wal_watch *w = arg;
    if (frames >= STORE_WAL_INLINE_FRAMES) {
        /* As SQLite's own automatic checkpoint, its outcome is not the commit's: BUSY (the
         * checkpointer is at work) or an I/O error leaves the WAL to the next commit. */
        (void)sqlite3_wal_checkpoint_v2(db, name, SQLITE_CHECKPOINT_PASSIVE, NULL, NULL);
    }
    if (w != NULL && w->fn != NULL) {
        w->fn(w->arg, frames);
    }
    return SQLITE_OK;
}

void store_wal_watch(struct store *s, struct store_wal_watch *w)
{
    /* Returns the previous hook's argument, nothing to check. */
    (void)sqlite3_wal_hook(s->db, wal_hook, w);
}
