/* marker: atomic small text files in the data directory (see marker.h). */
#include "marker.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static int write_all(int fd, const char *text)
{
    size_t len = strlen(text), done = 0;
    while (done < len) {
        ssize_t w = write(fd, text + done, len - done);
        if (w < 0 && errno == EINTR) {
            continue;
        }
        if (w <= 0) {
            return -1;
        }
        done += (size_t)w;
    }
    return 0;
}

int marker_write(const char *dir, const char *name, const char *text, char *err, size_t errcap)
{
    char path[1200], tmp[1220];
    int fd, dfd;

    snprintf(path, sizeof path, "%s/%s", dir, name);
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0) {
        snprintf(err, errcap, "cannot create %s: %s", tmp, strerror(errno));
        return -1;
    }
    if (write_all(fd, text) != 0 || fsync(fd) != 0) {
        snprintf(err, errcap, "cannot write %s: %s", tmp, strerror(errno));
        close(fd);
        unlink(tmp);
        return -1;
    }
    if (close(fd) != 0 || rename(tmp, path) != 0) {
        snprintf(err, errcap, "cannot rename %s to %s: %s", tmp, path, strerror(errno));
        unlink(tmp);
        return -1;
    }
    dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0 || fsync(dfd) != 0) {
        snprintf(err, errcap, "cannot sync directory %s: %s", dir, strerror(errno));
        if (dfd >= 0) {
            close(dfd);
        }
        return -1;
    }
    close(dfd);
    return 0;
}

int marker_read(const char *dir, const char *name, char *buf, size_t cap, char *err, size_t errcap)
{
    char path[1200];
    size_t n;
    FILE *f;

    snprintf(path, sizeof path, "%s/%s", dir, name);
    f = fopen(path, "re");
    if (f == NULL) {
        if (errno == ENOENT) {
            return 0;
        }
        snprintf(err, errcap, "cannot open %s: %s", path, strerror(errno));
        return -1;
    }
    n = fread(buf, 1, cap - 1, f);
    buf[n] = '\0';
    if (ferror(f)) {
        snprintf(err, errcap, "cannot read %s", path);
        fclose(f);
        return -1;
    }
    fclose(f);
    return 1;
}
