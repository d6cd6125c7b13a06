/* log: one line per event on stderr: "2026-11-26T23:59:59.123Z INFO  node=1 message".
 * Single-threaded (the loop thread); raftnode sets the level from raft.log-level. Shared by
 * every layer (storage, metastore, raftnode) so that none of them includes another's header.
 *
 * Owns: the level and the node id prefix (process-wide). Calls: stdio only. */
#ifndef COMMON_LOG_H
#define COMMON_LOG_H

#include <stdint.h>

enum log_level { LOG_LEVEL_DEBUG = 0, LOG_LEVEL_INFO = 1, LOG_LEVEL_WARN = 2, LOG_LEVEL_ERROR = 3 };

void log_setup(uint64_t node_id, int level);

/* Hands every line that passes the level to FN (DATA, the node id of log_setup, the level,
 * the text without stamp or newline) instead of writing it to stderr; FN NULL writes to
 * stderr again. For a host that keeps its own record: the simulation's event history. */
typedef void (*log_sink_fn)(void *data, uint64_t node_id, int level, const char *line);
void log_set_sink(log_sink_fn fn, void *data);

void log_emit(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define log_debug(...) log_emit(LOG_LEVEL_DEBUG, __VA_ARGS__)
#define log_info(...) log_emit(LOG_LEVEL_INFO, __VA_ARGS__)
#define log_warn(...) log_emit(LOG_LEVEL_WARN, __VA_ARGS__)
#define log_error(...) log_emit(LOG_LEVEL_ERROR, __VA_ARGS__)

#endif
