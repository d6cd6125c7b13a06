/* marker: small text files in the data directory that record a one-way event for the next
 * start (recover.c: "force-new-cluster" after --force-new-cluster; removal.c: "removed" once
 * this member learnt it was removed from the cluster).
 *
 * Owns: nothing. Calls: POSIX file I/O only. */
#ifndef RAFTNODE_MARKER_H
#define RAFTNODE_MARKER_H

#include <stddef.h>

/* Writes TEXT to DIR/NAME atomically (temporary file, fsync, rename, fsync of DIR).
 * 0, or -1 with the reason in ERR. */
int marker_write(const char *dir, const char *name, const char *text, char *err, size_t errcap);

/* Reads DIR/NAME into BUF (NUL-terminated, truncated to CAP - 1 bytes).
 * 1 read, 0 no such file, -1 error (reason in ERR). */
int marker_read(const char *dir, const char *name, char *buf, size_t cap, char *err, size_t errcap);

#endif
