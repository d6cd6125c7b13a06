/* log: timestamped, levelled log lines on stderr (see log.h). */
#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <time.h>

static uint64_t log_node_id;
static int log_level = LOG_LEVEL_INFO;
static log_sink_fn log_sink;
static void *log_sink_data;

void log_setup(uint64_t node_id, int level)
{
    log_node_id = node_id;
    log_level = level;
}

void log_set_sink(log_sink_fn fn, void *data)
{
    log_sink = fn;
    log_sink_data = data;
}

void log_emit(int level, const char *fmt, ...)
{
    static const char *const names[] = {"DEBUG", "INFO ", "WARN ", "ERROR"};
    struct timespec ts;
    struct tm tm;
    char stamp[32];
    va_list ap;

    if (level < log_level) {
        return;
    }
    if (log_sink != NULL) {
        char line[1024];
        va_start(ap, fmt);
        vsnprintf(line, sizeof line, fmt, ap);
        va_end(ap);
        log_sink(log_sink_data, log_node_id, level, line);
        return;
    }
    if (clock_gettime(CLOCK_REALTIME, &ts) != 0 || gmtime_r(&ts.tv_sec, &tm) == NULL ||
        strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%S", &tm) == 0) {
        stamp[0] = '\0';
    }
    fprintf(stderr, "%s.%03ldZ %s node=%llu ", stamp, ts.tv_nsec / 1000000L,
            names[level < 0 ? 0 : level > 3 ? 3 : level], (unsigned long long)log_node_id);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}
