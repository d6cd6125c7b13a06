/* aio_defer: io_destroy(2) on the background thread (see aio_defer.h). */
#include "aio_defer.h"

#include <dlfcn.h>
#include <errno.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>

#include "common/log.h"

typedef long (*syscall_fn)(long number, ...);

struct aio_destroy_job {
    struct bgjob job;
    unsigned long ctx;
    long rv;
    int err;
};

/* Written on the loop thread (attach), read by syscall on any thread: DEFER_THREAD is set before
 * DEFER_BG is published. */
static _Atomic(struct bgworker *) defer_bg;
static uv_thread_t defer_thread;
unsigned long aio_defer_deferred;
unsigned long aio_defer_inline;
/* Loop thread only: destroys queued and not yet done. Past AIO_DEFER_MAX_PENDING a destroy
 * runs on the loop as before, so that contexts waiting in the queue (each still counted
 * against fs.aio-max-nr) stay bounded however often libraft finalizes segments. */
static unsigned aio_defer_pending;

/* The C library's syscall, found on first use (any thread; every thread finds the same). */
static syscall_fn real_syscall(void)
{
    static _Atomic(syscall_fn) real;
    syscall_fn fn = atomic_load_explicit(&real, memory_order_acquire);
    if (fn == NULL) {
        fn = (syscall_fn)dlsym(RTLD_NEXT, "syscall");
        atomic_store_explicit(&real, fn, memory_order_release);
    }
    return fn;
}

static void destroy_now(struct aio_destroy_job *j)
{
    errno = 0;
    j->rv = real_syscall()(SYS_io_destroy, j->ctx);
    j->err = j->rv == 0 ? 0 : errno;
}

static void destroy_work(struct bgjob *job)
{
    destroy_now((struct aio_destroy_job *)job->data);
}

/* Loop thread: the destroy ran (STATUS 0), or was cancelled when the worker closed: then now. */
static void destroy_done(struct bgjob *job, int status)
{
    struct aio_destroy_job *j = job->data;
    aio_defer_pending--;
    if (status != 0) {
        destroy_now(j);
        aio_defer_inline++;
    }
    if (j->rv != 0) {
        log_warn("io_destroy of raft's AIO context %#lx failed: %s (it is freed when the process "
                 "exits; nothing to do unless fs.aio-max-nr runs out)", j->ctx, strerror(j->err));
    }
    free(j);
}

static long defer_destroy(unsigned long ctx)
{
    struct aio_destroy_job *j = aio_defer_pending < AIO_DEFER_MAX_PENDING ? calloc(1, sizeof *j) : NULL;
    if (j != NULL) {
        j->ctx = ctx;
        j->job.data = j;
        if (bgworker_submit(atomic_load_explicit(&defer_bg, memory_order_relaxed), &j->job, destroy_work,
                            destroy_done) == 0) {
            aio_defer_deferred++;
            aio_defer_pending++;
            return 0;
        }
        free(j);
    }
    aio_defer_inline++;
    return real_syscall()(SYS_io_destroy, ctx);
}

/* Six arguments are read whatever the call passed, as the C library's own syscall does (x86-64:
 * five registers and the first stack slot above the return address, which the kernel ignores
 * for a call with fewer). ASan would report that slot as the caller's redzone: not checked
 * here. */
__attribute__((no_sanitize_address)) long syscall(long number, ...)
{
    va_list ap;
    long a[6];
    va_start(ap, number);
    for (int i = 0; i < 6; i++) {
        a[i] = va_arg(ap, long);
    }
    va_end(ap);
    if (number == SYS_io_destroy && atomic_load_explicit(&defer_bg, memory_order_acquire) != NULL) {
        uv_thread_t self = uv_thread_self();
        if (uv_thread_equal(&self, &defer_thread)) {
            return defer_destroy((unsigned long)a[0]);
        }
    }
    syscall_fn real = real_syscall();
    if (real == NULL) {
        errno = ENOSYS; /* not reached: the C library exports syscall */
        return -1;
    }
    return real(number, a[0], a[1], a[2], a[3], a[4], a[5]);
}

void aio_defer_attach(struct bgworker *bg)
{
    if (bg != NULL && real_syscall() == NULL) {
        log_warn("aio_defer: the C library's syscall not found (%s); io_destroy stays on the loop",
                 dlerror());
        return;
    }
    if (bg != NULL) {
        defer_thread = uv_thread_self();
    }
    atomic_store_explicit(&defer_bg, bg, memory_order_release);
}
