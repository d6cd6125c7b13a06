/* walbuf: coalesces a WAL commit's writes into one (see walbuf.h). */
#include "storage/walbuf.h"

#include <pthread.h>
#include <sqlite3.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

/* One open file: ours, with the default VFS's own file right behind it. */
struct wbf {
    sqlite3_file base;
    bool is_wal;
    struct wbf *wal;      /* on a database: its WAL, while open */
    struct wbf *db;       /* on a WAL: its database, while open */
    unsigned char *buf;   /* the pending run: LEN bytes for offset OFF */
    size_t len, cap;
    sqlite3_int64 off;
    sqlite3_int64 commit_page_at; /* where the page of the last commit header goes, or -1 */
};

/* The unix VFS writes at most 128 KiB - 1 bytes per call (seekAndWriteFd masks the length
 * with 0x1ffff, and a write whose remainder is a multiple of 128 KiB fails as "disk full"):
 * a run goes out in pieces of this size. */
#define WALBUF_CHUNK (64u * 1024)

static sqlite3_file *real(struct wbf *p)
{
    return (sqlite3_file *)(p + 1);
}

static sqlite3_vfs *base_vfs;
static sqlite3_vfs wb_vfs;
static const sqlite3_io_methods wb_methods;
static pthread_once_t once = PTHREAD_ONCE_INIT;
static int register_rc = SQLITE_ERROR;

static struct {
    atomic_uint_fast64_t writes, flushes, commit_flushes, late_flushes, failures;
} stats;

void walbuf_stats(struct walbuf_stats *out)
{
    out->writes = atomic_load_explicit(&stats.writes, memory_order_relaxed);
    out->flushes = atomic_load_explicit(&stats.flushes, memory_order_relaxed);
    out->commit_flushes = atomic_load_explicit(&stats.commit_flushes, memory_order_relaxed);
    out->late_flushes = atomic_load_explicit(&stats.late_flushes, memory_order_relaxed);
    out->failures = atomic_load_explicit(&stats.failures, memory_order_relaxed);
}

static void count(atomic_uint_fast64_t *c)
{
    atomic_fetch_add_explicit(c, 1, memory_order_relaxed);
}

/* Writes the pending run. On failure the run stays pending (a later flush tries again) and
 * the error is returned. */
static int flush(struct wbf *p)
{
    if (p->len == 0) {
        return SQLITE_OK;
    }
    count(&stats.flushes);
    size_t done = 0;
    while (done < p->len) {
        size_t n = p->len - done < WALBUF_CHUNK ? p->len - done : WALBUF_CHUNK;
        int rc = real(p)->pMethods->xWrite(real(p), p->buf + done, (int)n, p->off + (sqlite3_int64)done);
        if (rc != SQLITE_OK) {
            /* keep what is left, at its offset: written bytes are just written again */
            count(&stats.failures);
            memmove(p->buf, p->buf + done, p->len - done);
            p->len -= done;
            p->off += (sqlite3_int64)done;
            return rc;
        }
        done += n;
    }
    p->len = 0;
    return SQLITE_OK;
}

/* The database's shared memory is about to change hands or publish a commit: its WAL must
 * hold every frame written so far. Nothing is pending here when each commit flushed at its
 * frame; a failure leaves the run pending for the next flush, which reports it. */
static void flush_late(struct wbf *db)
{
    if (db->wal != NULL && db->wal->len > 0) {
        count(&stats.late_flushes);
        (void)flush(db->wal);
    }
}

static int append(struct wbf *p, const void *data, int n, sqlite3_int64 off)
{
    size_t need = p->len + (size_t)n;
    if (need > p->cap) {
        size_t cap = p->cap ? p->cap : 64 * 1024;
        while (cap < need) {
            cap *= 2;
        }
        unsigned char *b = realloc(p->buf, cap);
        if (b == NULL) { /* write it through instead */
            int rc = flush(p);
            return rc != SQLITE_OK ? rc : real(p)->pMethods->xWrite(real(p), data, n, off);
        }
        p->buf = b;
        p->cap = cap;
    }
    if (p->len == 0) {
        p->off = off;
    }
    memcpy(p->buf + p->len, data, (size_t)n);
    p->len = need;
    return SQLITE_OK;
}

static int wb_write(sqlite3_file *f, const void *data, int n, sqlite3_int64 off)
{
    struct wbf *p = (struct wbf *)f;
    if (!p->is_wal || n <= 0) {
        return real(p)->pMethods->xWrite(real(p), data, n, off);
    }
    count(&stats.writes);
    const unsigned char *d = data;
    /* A frame header is the only 24-byte write to a WAL; bytes 4-7 hold the database size
     * after the commit in a commit frame, 0 in any other. */
    bool commit_header = n == 24 && (d[4] | d[5] | d[6] | d[7]) != 0;
    bool continues = p->len > 0 && off == p->off + (sqlite3_int64)p->len;
    int rc;
    if (!continues || p->len + (size_t)n > WALBUF_MAX_RUN) {
        rc = flush(p);
        if (rc != SQLITE_OK) {
            return rc;
        }
    }
    if (commit_header && !continues) {
        /* a commit header starting nothing we hold: also a rewrite of its checksum
         * (walRewriteChecksums), after which no page follows; written at once */
        p->commit_page_at = off + 24;
        return real(p)->pMethods->xWrite(real(p), data, n, off);
    }
    rc = append(p, data, n, off); /* n is at most a page (64 KiB): it fits a run */
    if (rc != SQLITE_OK) {
        return rc;
    }
    if (commit_header) {
        p->commit_page_at = off + 24;
    } else if (off == p->commit_page_at) {
        p->commit_page_at = -1;
        count(&stats.commit_flushes);
        return flush(p); /* the commit's last write: its result is the commit's */
    }
    return SQLITE_OK;
}

static int wb_close(sqlite3_file *f)
{
    struct wbf *p = (struct wbf *)f;
    int rc = flush(p);
    if (p->db != NULL && p->db->wal == p) {
        p->db->wal = NULL;
    }
    if (p->wal != NULL && p->wal->db == p) {
        p->wal->db = NULL;
    }
    int crc = real(p)->pMethods->xClose(real(p));
    free(p->buf);
    p->buf = NULL;
    p->len = p->cap = 0;
    return rc != SQLITE_OK ? rc : crc;
}

static int wb_read(sqlite3_file *f, void *data, int n, sqlite3_int64 off)
{
    struct wbf *p = (struct wbf *)f;
    int rc = flush(p);
    return rc != SQLITE_OK ? rc : real(p)->pMethods->xRead(real(p), data, n, off);
}

static int wb_truncate(sqlite3_file *f, sqlite3_int64 size)
{
    struct wbf *p = (struct wbf *)f;
    int rc = flush(p);
    return rc != SQLITE_OK ? rc : real(p)->pMethods->xTruncate(real(p), size);
}

static int wb_sync(sqlite3_file *f, int flags)
{
    struct wbf *p = (struct wbf *)f;
    int rc = flush(p);
    return rc != SQLITE_OK ? rc : real(p)->pMethods->xSync(real(p), flags);
}

static int wb_file_size(sqlite3_file *f, sqlite3_int64 *size)
{
    struct wbf *p = (struct wbf *)f;
    int rc = flush(p);
    return rc != SQLITE_OK ? rc : real(p)->pMethods->xFileSize(real(p), size);
}

static int wb_lock(sqlite3_file *f, int level)
{
    return real((struct wbf *)f)->pMethods->xLock(real((struct wbf *)f), level);
}

static int wb_unlock(sqlite3_file *f, int level)
{
    return real((struct wbf *)f)->pMethods->xUnlock(real((struct wbf *)f), level);
}

static int wb_check_reserved(sqlite3_file *f, int *out)
{
    return real((struct wbf *)f)->pMethods->xCheckReservedLock(real((struct wbf *)f), out);
}

static int wb_file_control(sqlite3_file *f, int op, void *arg)
{
    struct wbf *p = (struct wbf *)f;
    int rc = flush(p);
    if (rc != SQLITE_OK) {
        return rc;
    }
    rc = real(p)->pMethods->xFileControl(real(p), op, arg);
    if (op == SQLITE_FCNTL_VFSNAME && rc == SQLITE_OK) {
        /* as SQLite's own shims do: our name in front of the one below */
        char *below = *(char **)arg;
        *(char **)arg = sqlite3_mprintf("%s/%z", WALBUF_VFS, below);
    }
    return rc;
}

static int wb_sector_size(sqlite3_file *f)
{
    return real((struct wbf *)f)->pMethods->xSectorSize(real((struct wbf *)f));
}

static int wb_device_characteristics(sqlite3_file *f)
{
    return real((struct wbf *)f)->pMethods->xDeviceCharacteristics(real((struct wbf *)f));
}

static int wb_shm_map(sqlite3_file *f, int page, int size, int extend, void volatile **out)
{
    struct wbf *p = (struct wbf *)f;
    return real(p)->pMethods->xShmMap(real(p), page, size, extend, out);
}

static int wb_shm_lock(sqlite3_file *f, int offset, int n, int flags)
{
    struct wbf *p = (struct wbf *)f;
    flush_late(p);
    return real(p)->pMethods->xShmLock(real(p), offset, n, flags);
}

static void wb_shm_barrier(sqlite3_file *f)
{
    struct wbf *p = (struct wbf *)f;
    flush_late(p);
    real(p)->pMethods->xShmBarrier(real(p));
}

static int wb_shm_unmap(sqlite3_file *f, int delete_flag)
{
    struct wbf *p = (struct wbf *)f;
    flush_late(p);
    return real(p)->pMethods->xShmUnmap(real(p), delete_flag);
}

static int wb_fetch(sqlite3_file *f, sqlite3_int64 off, int n, void **out)
{
    struct wbf *p = (struct wbf *)f;
    int rc = flush(p);
    return rc != SQLITE_OK ? rc : real(p)->pMethods->xFetch(real(p), off, n, out);
}

static int wb_unfetch(sqlite3_file *f, sqlite3_int64 off, void *page)
{
    struct wbf *p = (struct wbf *)f;
    return real(p)->pMethods->xUnfetch(real(p), off, page);
}

static const sqlite3_io_methods wb_methods = {
    .iVersion = 3,
    .xClose = wb_close,
    .xRead = wb_read,
    .xWrite = wb_write,
    .xTruncate = wb_truncate,
    .xSync = wb_sync,
    .xFileSize = wb_file_size,
    .xLock = wb_lock,
    .xUnlock = wb_unlock,
    .xCheckReservedLock = wb_check_reserved,
    .xFileControl = wb_file_control,
    .xSectorSize = wb_sector_size,
    .xDeviceCharacteristics = wb_device_characteristics,
    .xShmMap = wb_shm_map,
    .xShmLock = wb_shm_lock,
    .xShmBarrier = wb_shm_barrier,
    .xShmUnmap = wb_shm_unmap,
    .xFetch = wb_fetch,
    .xUnfetch = wb_unfetch,
};

static int wb_open(sqlite3_vfs *vfs, const char *name, sqlite3_file *f, int flags, int *out_flags)
{
    struct wbf *p = (struct wbf *)f;
    (void)vfs;
    memset(p, 0, sizeof *p);
    p->commit_page_at = -1;
    int rc = base_vfs->xOpen(base_vfs, name, real(p), flags, out_flags);
    if (rc != SQLITE_OK) {
        p->base.pMethods = NULL;
        return rc;
    }
    if (real(p)->pMethods == NULL || real(p)->pMethods->iVersion < 3) {
        /* not the default unix VFS's files: leave them alone */
        if (real(p)->pMethods != NULL) {
            real(p)->pMethods->xClose(real(p));
        }
        p->base.pMethods = NULL;
        return SQLITE_CANTOPEN;
    }
    p->is_wal = (flags & SQLITE_OPEN_WAL) != 0;
    if (p->is_wal && name != NULL) {
        sqlite3_file *dbf = sqlite3_database_file_object(name);
        if (dbf != NULL && dbf->pMethods == &wb_methods) {
            p->db = (struct wbf *)dbf;
            p->db->wal = p;
        }
    }
    p->base.pMethods = &wb_methods;
    return SQLITE_OK;
}

/* The rest of the VFS is the default one's (its functions get the default VFS). */
static int wb_delete(sqlite3_vfs *v, const char *name, int sync_dir)
{
    (void)v;
    return base_vfs->xDelete(base_vfs, name, sync_dir);
}

static int wb_access(sqlite3_vfs *v, const char *name, int flags, int *out)
{
    (void)v;
    return base_vfs->xAccess(base_vfs, name, flags, out);
}

static int wb_full_pathname(sqlite3_vfs *v, const char *name, int n, char *out)
{
    (void)v;
    return base_vfs->xFullPathname(base_vfs, name, n, out);
}

static void *wb_dl_open(sqlite3_vfs *v, const char *name)
{
    (void)v;
    return base_vfs->xDlOpen(base_vfs, name);
}

static void wb_dl_error(sqlite3_vfs *v, int n, char *out)
{
    (void)v;
    base_vfs->xDlError(base_vfs, n, out);
}

static void (*wb_dl_sym(sqlite3_vfs *v, void *h, const char *sym))(void)
{
    (void)v;
    return base_vfs->xDlSym(base_vfs, h, sym);
}

static void wb_dl_close(sqlite3_vfs *v, void *h)
{
    (void)v;
    base_vfs->xDlClose(base_vfs, h);
}

static int wb_randomness(sqlite3_vfs *v, int n, char *out)
{
    (void)v;
    return base_vfs->xRandomness(base_vfs, n, out);
}

static int wb_sleep(sqlite3_vfs *v, int us)
{
    (void)v;
    return base_vfs->xSleep(base_vfs, us);
}

static int wb_current_time(sqlite3_vfs *v, double *out)
{
    (void)v;
    return base_vfs->xCurrentTime(base_vfs, out);
}

static int wb_last_error(sqlite3_vfs *v, int n, char *out)
{
    (void)v;
    return base_vfs->xGetLastError(base_vfs, n, out);
}

static int wb_current_time64(sqlite3_vfs *v, sqlite3_int64 *out)
{
    (void)v;
    return base_vfs->xCurrentTimeInt64(base_vfs, out);
}

static void register_once(void)
{
    base_vfs = sqlite3_vfs_find(NULL);
    if (base_vfs == NULL || base_vfs->iVersion < 2) {
        register_rc = SQLITE_ERROR;
        return;
    }
    wb_vfs = (sqlite3_vfs){
        .iVersion = 2,
        .szOsFile = (int)sizeof(struct wbf) + base_vfs->szOsFile,
        .mxPathname = base_vfs->mxPathname,
        .zName = WALBUF_VFS,
        .xOpen = wb_open,
        .xDelete = wb_delete,
        .xAccess = wb_access,
        .xFullPathname = wb_full_pathname,
        .xDlOpen = wb_dl_open,
        .xDlError = wb_dl_error,
        .xDlSym = wb_dl_sym,
        .xDlClose = wb_dl_close,
        .xRandomness = wb_randomness,
        .xSleep = wb_sleep,
        .xCurrentTime = wb_current_time,
        .xGetLastError = wb_last_error,
        .xCurrentTimeInt64 = wb_current_time64,
    };
    register_rc = sqlite3_vfs_register(&wb_vfs, 0);
}

int walbuf_register(void)
{
    if (pthread_once(&once, register_once) != 0) {
        return SQLITE_ERROR;
    }
    return register_rc;
}
