/* log: one line per event on stderr: "2026-11-26T23:59:59.123Z INFO  node=1 message".
 * Single-threaded (the loop thread); the level comes from raft.log-level. */
#ifndef RAFTNODE_LOG_H
#define RAFTNODE_LOG_H

#include <stdint.h>

#include "config.h"

void log_setup(uint64_t node_id, int level);
void log_emit(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define log_debug(...) log_emit(LOG_LEVEL_DEBUG, __VA_ARGS__)
#define log_info(...) log_emit(LOG_LEVEL_INFO, __VA_ARGS__)
#define log_warn(...) log_emit(LOG_LEVEL_WARN, __VA_ARGS__)
#define log_error(...) log_emit(LOG_LEVEL_ERROR, __VA_ARGS__)

#endif
