/* influx_line: InfluxDB line protocol (1.x, docs.influxdata.com "Line protocol reference")
 * written from this member's Prometheus text (http_metrics.c), so InfluxDB receives exactly
 * the figures /metrics shows. Pure: no clock, no I/O; influx.c adds the timestamp and ships it.
 *
 *   measurement[,tag_key=tag_value...] field_key=field_value[,...] [timestamp]
 *
 * Escaping (the spec's table): a measurement escapes ',' and ' '; tag keys, tag values and
 * field keys escape ',', '=' and ' '; a string field value is double-quoted with '"' and '\'
 * escaped. A line ends at '\n', so a newline inside any of them is written as the two
 * characters "\n" (the spec allows no raw newline). Tag values may not be empty: such a tag
 * is left out. Float fields cannot be NaN or infinite: such a sample is skipped.
 *
 * Owns: nothing (writes into the caller's struct metrics_buf). Calls: metrics.h's buffer. */
#ifndef RAFTNODE_INFLUX_LINE_H
#define RAFTNODE_INFLUX_LINE_H

#include <stddef.h>
#include <stdint.h>

#include "metrics.h"

/* Escaped names and values (no quotes added except for string fields). */
void influx_write_measurement(struct metrics_buf *b, const char *s, size_t len);
void influx_write_key(struct metrics_buf *b, const char *s, size_t len); /* tag key, tag value, field key */
void influx_write_string_field(struct metrics_buf *b, const char *s, size_t len); /* "..." */

/* Converts Prometheus text format 0.0.4 (comments skipped) into line protocol: one point a
 * sample, measurement = metric name, tags = the sample's labels then EXTRA_TAGS (N_EXTRA
 * name/value pairs, e.g. member=1), one float field "value", timestamp TS (in the precision
 * the writer names in its URL). Returns the number of points written; *SKIPPED (may be NULL)
 * gets the samples left out (NaN/Inf values, lines that do not parse). */
size_t influx_from_prometheus(struct metrics_buf *b, const char *text, size_t len, const struct metrics_label *extra_tags,
                              unsigned n_extra, int64_t ts, size_t *skipped);

#endif
