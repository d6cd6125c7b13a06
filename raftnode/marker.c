/* marker: atomic small text files in the data directory (see marker.h). */
#include "marker.h"

#include "../common/file.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

int marker_write(const char *dir, const char *name, const char *text, char *err, size_t errcap)
{
    char path[1200];

    snprintf(path, sizeof path, "%s/%s", dir, name);
    return file_write_atomic(path, text, strlen(text), 0600, err, errcap);
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
