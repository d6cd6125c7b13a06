/* restore: initialising a data dir from a backup image (see restore.h). Validation comes
 * first and only reads: the data dir is touched only once the image has been checked, loaded
 * into a scratch in-memory store and fenced there. */
#include "restore.h"

#include <dirent.h>
#include <stdbool.h>
#include <errno.h>
#include <inttypes.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/file.h"
#include "common/log.h"
#include "common/snapfile.h"
#include "config.h"
#include "metastore/forget.h"
#include "restore_raft.h"
#include "storage/store.h"

#define RESTORE_FILE_MAX ((size_t)4 << 30) /* as raftctl snapshot status reads */

/* 1 when PATH is missing, 0 when it is an empty directory, -1 otherwise (message printed). */
static int data_dir_state(const char *path)
{
    DIR *d = opendir(path);
    if (d == NULL) {
        if (errno == ENOENT) {
            return 1;
        }
        fprintf(stderr, "raftnode: --restore: data dir %s: %s; restore needs an empty or missing directory\n", path,
                strerror(errno));
        return -1;
    }
    const struct dirent *e;
    char first[256] = "";
    while ((e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0) {
            snprintf(first, sizeof first, "%s", e->d_name);
            break;
        }
    }
    closedir(d);
    if (first[0] != '\0') {
        fprintf(stderr,
                "raftnode: --restore: data dir %s is not empty (it holds '%s'): a restore starts a new cluster "
                "and never overwrites a member's state; move the directory away (or point raft.data-dir at a new "
                "one) and run the restore again; nothing written\n",
                path, first);
        return -1;
    }
    return 0;
}

/* Undoes a failed write: the files in RAFT_DIR, RAFT_DIR, and DATA_DIR when this run made it
 * (both were empty before; best effort: a failure here leaves a directory the next try refuses,
 * and the message above said why). */
static void remove_created(const char *raft_dir, const char *data_dir, bool made_data_dir)
{
    DIR *d = opendir(raft_dir);
    const struct dirent *e;
    char path[CONFIG_PATH_MAX + 300];
    while (d != NULL && (e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0) {
            snprintf(path, sizeof path, "%s/%s", raft_dir, e->d_name);
            (void)unlink(path);
        }
    }
    if (d != NULL) {
        closedir(d);
    }
    (void)rmdir(raft_dir);
    if (made_data_dir) {
        (void)rmdir(data_dir);
    }
}

/* The fenced state.db image of the backup IMAGE: malloc'd into *OUT. 0 or -1 (printed). */
static int fenced_image(const char *snapshot, const struct snapfile_meta *m, const unsigned char *image,
                        unsigned char **out, size_t *out_len)
{
    static struct store st; /* large: off the stack */
    void *db = NULL;
    size_t len = 0;
    if (store_open(&st, ":memory:") != 0) {
        fprintf(stderr, "raftnode: --restore: %s; nothing written\n", st.errmsg);
        return -1;
    }
    if (store_restore(&st, image, (size_t)m->image_size) != 0 || store_fence_restore(&st, m->term, m->created_ms) != 0 ||
        store_snapshot(&st, &db, &len) != 0) {
        fprintf(stderr, "raftnode: --restore %s: %s; nothing written\n", snapshot, st.errmsg);
        store_close(&st);
        return -1;
    }
    store_close(&st);
    *out = malloc(len > 0 ? len : 1);
    if (*out == NULL) {
        fprintf(stderr, "raftnode: --restore: out of memory for %zu bytes; nothing written\n", len);
        sqlite3_free(db);
        return -1;
    }
    memcpy(*out, db, len);
    *out_len = len;
    sqlite3_free(db);
    return 0;
}

/* The old cluster's sync row would fence the new cluster's mirror out (metastore/forget.h).
 * Not reaching the metastore does not stop a restore: the operator is told what to delete. */
static void forget_old_cluster(const struct config *cfg)
{
    char err[1024], where[512];
    int done = 0;
    if (ms_forget_cluster(cfg->metastore_url, cfg->metadata_url, cfg->metastore_password_file, cfg->node_id, &done,
                          where, sizeof where, err, sizeof err) != 0) {
        log_warn("--restore: metastore: %s; until the old cluster's sync row is gone the new cluster's mirror "
                 "writes nothing: delete it by hand (DELETE FROM <prefix>_raft_sync) in %s",
                 err, where[0] != '\0' ? where : "the metastore");
    } else if (done) {
        log_info("--restore: metastore: deleted the old cluster's row of %s; the new leader's mirror brings the "
                 "tables in line with the restored state", where);
    }
}

int restore_prepare(const struct config *cfg, const char *snapshot)
{
    unsigned char *file = NULL, *db = NULL;
    const unsigned char *image = NULL;
    size_t len = 0, db_len = 0;
    struct snapfile_meta m;
    char err[1024], path[CONFIG_PATH_MAX + 16];

    if (cfg->n_peers == 0 || cfg->join[0] != '\0') {
        fprintf(stderr, "raftnode: --restore starts a new cluster: set raft.initial-cluster (the new cluster's "
                        "members) and leave raft.join unset\n");
        return -1;
    }
    int dir = data_dir_state(cfg->data_dir);
    if (dir < 0) {
        return -1;
    }
    if (file_read_all(snapshot, RESTORE_FILE_MAX, &file, &len, err, sizeof err) != 0) {
        fprintf(stderr, "raftnode: --restore: %s; nothing written\n", err);
        return -1;
    }
    if (snapfile_parse(file, len, &m, &image, err, sizeof err) != SNAPFILE_OK) {
        fprintf(stderr, "raftnode: --restore %s: %s; nothing written\n", snapshot, err);
        free(file);
        return -1;
    }
    int rc = fenced_image(snapshot, &m, image, &db, &db_len);
    free(file);
    if (rc != 0) {
        return -1;
    }
    /* node.c's layout: DATA_DIR/raft holds libraft's files; state.db is made by the member
     * at start, when raft restores the snapshot into it (fsm_glue.c) */
    snprintf(path, sizeof path, "%s/raft", cfg->data_dir);
    if ((dir == 1 && mkdir(cfg->data_dir, 0700) != 0) || mkdir(path, 0700) != 0) {
        fprintf(stderr, "raftnode: --restore: cannot create %s: %s; nothing written\n", path, strerror(errno));
        free(db);
        remove_created(path, cfg->data_dir, dir == 1);
        return -1;
    }
    if (restore_raft_write(cfg, path, db, db_len, err, sizeof err) != 0) {
        fprintf(stderr, "raftnode: --restore: %s; what was written is removed again\n", err);
        free(db);
        remove_created(path, cfg->data_dir, dir == 1);
        return -1;
    }
    free(db);
    forget_old_cluster(cfg);
    char hex[2 * SNAPFILE_DIGEST_BYTES + 1];
    snapfile_hex(m.sha256, hex);
    log_warn("RESTORED from %s (index %" PRIu64 ", term %" PRIu64 ", %" PRIu64 " projects, sha256 %s) into %s: every "
             "project's epoch raised by %d (history reason 'restore'); starting a NEW cluster from "
             "raft.initial-cluster (the state is raft's snapshot at index %d)",
             snapshot, m.index, m.term, m.projects, hex, cfg->data_dir, STORE_RESTORE_EPOCH_MARGIN, RESTORE_RAFT_INDEX);
    return 0;
}
