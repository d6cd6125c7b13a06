/* file: whole-file reads and atomic whole-file writes (backup images, docs/operations.md).
 * Owns: nothing beyond a call. Calls: POSIX. */
#ifndef COMMON_FILE_H
#define COMMON_FILE_H

#include <stddef.h>

/* Reads PATH whole into *BUF (malloc'd, caller frees; at least 1 byte allocated) and sets
 * *LEN. Refuses files over MAX bytes. 0, or -1 with ERR ("PATH: reason"). */
int file_read_all(const char *path, size_t max, unsigned char **buf, size_t *len, char *err, size_t cap);

/* Writes BUF/LEN to PATH so that PATH holds either its old content or all of BUF, even
 * across a crash: a temporary file beside it (PATH.tmp.PID, mode MODE, created exclusively),
 * write, fsync, rename over PATH, fsync of the directory. On failure the temporary file is
 * removed and PATH is untouched. 0, or -1 with ERR. */
int file_write_atomic(const char *path, const void *buf, size_t len, unsigned mode, char *err, size_t cap);

#endif
