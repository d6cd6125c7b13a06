/* file: whole-file reads and atomic writes (see file.h). */
#include "common/file.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int file_read_all(const char *path, size_t max, unsigned char **buf, size_t *len, char *err, size_t cap)
{
    *buf = NULL;
    *len = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) != 0) {
        snprintf(err, cap, "%s: %s", path, strerror(errno));
        if (fd >= 0) {
            close(fd);
        }
        return -1;
    }
    if (!S_ISREG(st.st_mode) || (uint64_t)st.st_size > max) {
        snprintf(err, cap, "%s: %s", path, !S_ISREG(st.st_mode) ? "not a regular file" : "larger than this tool reads");
        close(fd);
        return -1;
    }
    size_t size = (size_t)st.st_size;
    unsigned char *data = malloc(size > 0 ? size : 1);
    if (data == NULL) {
        snprintf(err, cap, "%s: out of memory for %zu bytes", path, size);
        close(fd);
        return -1;
    }
    size_t done = 0;
    while (done < size) {
        ssize_t n = read(fd, data + done, size - done);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            snprintf(err, cap, "%s: read: %s", path, n < 0 ? strerror(errno) : "the file shrank while being read");
            free(data);
            close(fd);
            return -1;
        }
        done += (size_t)n;
    }
    close(fd);
    *buf = data;
    *len = size;
    return 0;
}

static int write_all(int fd, const unsigned char *p, size_t len)
{
    while (len > 0) {
        ssize_t n = write(fd, p, len);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n < 0) {
            return -1;
        }
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

int file_write_atomic(const char *path, const void *buf, size_t len, unsigned mode, char *err, size_t cap)
{
    char tmp[4096], dir[4096];
    if (snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid()) >= (int)sizeof tmp ||
        snprintf(dir, sizeof dir, "%s", path) >= (int)sizeof dir) {
        snprintf(err, cap, "%s: path too long", path);
        return -1;
    }
    int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, (mode_t)mode);
    if (fd < 0) {
        snprintf(err, cap, "%s: creating %s: %s", path, tmp, strerror(errno));
        return -1;
    }
    const char *step = "write";
    if (write_all(fd, buf, len) != 0 || (step = "fsync", fsync(fd) != 0)) {
        snprintf(err, cap, "%s: %s of %s: %s", path, step, tmp, strerror(errno));
        close(fd);
        unlink(tmp);
        return -1;
    }
    if (close(fd) != 0 || rename(tmp, path) != 0) {
        snprintf(err, cap, "%s: renaming %s over it: %s", path, tmp, strerror(errno));
        unlink(tmp);
        return -1;
    }
    /* the rename itself is durable once the directory is */
    int dfd = open(dirname(dir), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0 || fsync(dfd) != 0) {
        snprintf(err, cap, "%s: written, but fsync of its directory failed: %s", path, strerror(errno));
        if (dfd >= 0) {
            close(dfd);
        }
        return -1;
    }
    close(dfd);
    return 0;
}
