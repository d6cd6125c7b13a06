/* influx_line: Prometheus text -> InfluxDB line protocol, with the spec's escaping (see
 * influx_line.h). */
#include "influx_line.h"

#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#define INFLUX_MAX_LABELS 16
#define INFLUX_SCRATCH 4096 /* unescaped label values of one sample; longer samples are skipped */

/* Writes S with a backslash before every byte in SPECIAL and a newline as "\n". */
static void write_escaped(struct metrics_buf *b, const char *s, size_t len, const char *special)
{
    size_t run = 0;
    for (size_t i = 0; i < len; i++) {
        if (s[i] == '\n' || strchr(special, s[i]) != NULL) {
            metrics_buf_put(b, s + run, i - run);
            metrics_buf_put(b, s[i] == '\n' ? "\\n" : "\\", s[i] == '\n' ? 2 : 1);
            run = s[i] == '\n' ? i + 1 : i;
        }
    }
    metrics_buf_put(b, s + run, len - run);
}

void influx_write_measurement(struct metrics_buf *b, const char *s, size_t len)
{
    write_escaped(b, s, len, ", ");
}

void influx_write_key(struct metrics_buf *b, const char *s, size_t len)
{
    write_escaped(b, s, len, ",= ");
}

void influx_write_string_field(struct metrics_buf *b, const char *s, size_t len)
{
    metrics_buf_put(b, "\"", 1);
    write_escaped(b, s, len, "\"\\");
    metrics_buf_put(b, "\"", 1);
}

/* One parsed sample: spans into the text (name, label names) and SCRATCH (label values). */
struct sample {
    const char *name;
    size_t name_len;
    struct {
        const char *key, *value;
        size_t key_len, value_len;
    } labels[INFLUX_MAX_LABELS];
    unsigned n_labels;
    double value;
    char scratch[INFLUX_SCRATCH];
};

static bool is_name_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == ':';
}

/* Parses the label set starting after '{' at *P (ending before END); unescapes values
 * (\\, \", \n) into S->scratch. */
static bool parse_labels(const char **p, const char *end, struct sample *s)
{
    const char *q = *p;
    size_t used = 0;
    while (q < end && *q != '}') {
        const char *key = q;
        while (q < end && is_name_char(*q)) {
            q++;
        }
        if (q == key || q + 1 >= end || q[0] != '=' || q[1] != '"' || s->n_labels == INFLUX_MAX_LABELS) {
            return false;
        }
        s->labels[s->n_labels].key = key;
        s->labels[s->n_labels].key_len = (size_t)(q - key);
        q += 2;
        char *value = s->scratch + used;
        size_t vlen = 0;
        while (q < end && *q != '"') {
            char c = *q++;
            if (c == '\\') {
                if (q == end) {
                    return false;
                }
                c = *q == 'n' ? '\n' : *q;
                q++;
            }
            if (used + vlen + 1 >= sizeof s->scratch) {
                return false;
            }
            value[vlen++] = c;
        }
        if (q == end) {
            return false;
        }
        q++; /* the closing quote */
        s->labels[s->n_labels].value = value;
        s->labels[s->n_labels].value_len = vlen;
        s->n_labels++;
        used += vlen;
        if (q < end && *q == ',') {
            q++;
        }
    }
    if (q == end) {
        return false;
    }
    *p = q + 1;
    return true;
}

/* Parses one sample line [LINE, END): name, optional labels, value (a timestamp after it is
 * ignored). */
static bool parse_sample(const char *line, const char *end, struct sample *s)
{
    const char *p = line;
    char num[64];
    s->n_labels = 0;
    s->name = p;
    while (p < end && is_name_char(*p)) {
        p++;
    }
    s->name_len = (size_t)(p - line);
    if (s->name_len == 0 || p == end) {
        return false;
    }
    if (*p == '{') {
        p++;
        if (!parse_labels(&p, end, s)) {
            return false;
        }
    }
    while (p < end && *p == ' ') {
        p++;
    }
    const char *v = p;
    while (p < end && *p != ' ') {
        p++;
    }
    if (p == v || (size_t)(p - v) >= sizeof num) {
        return false;
    }
    memcpy(num, v, (size_t)(p - v));
    num[p - v] = '\0';
    char *stop;
    s->value = strtod(num, &stop);
    return *stop == '\0';
}

static void write_point(struct metrics_buf *b, const struct sample *s, const struct metrics_label *extra,
                        unsigned n_extra, int64_t ts)
{
    influx_write_measurement(b, s->name, s->name_len);
    for (unsigned i = 0; i < s->n_labels; i++) {
        if (s->labels[i].value_len == 0) {
            continue; /* the spec allows no empty tag value */
        }
        metrics_buf_put(b, ",", 1);
        influx_write_key(b, s->labels[i].key, s->labels[i].key_len);
        metrics_buf_put(b, "=", 1);
        influx_write_key(b, s->labels[i].value, s->labels[i].value_len);
    }
    for (unsigned i = 0; i < n_extra; i++) {
        if (extra[i].value[0] == '\0') {
            continue;
        }
        metrics_buf_put(b, ",", 1);
        influx_write_key(b, extra[i].name, strlen(extra[i].name));
        metrics_buf_put(b, "=", 1);
        influx_write_key(b, extra[i].value, strlen(extra[i].value));
    }
    /* %.17g keeps every double exact; a value without '.' or 'e' is still a float field
     * (integers would need the 'i' suffix) */
    metrics_buf_printf(b, " value=%.17g %lld\n", s->value, (long long)ts);
}

size_t influx_from_prometheus(struct metrics_buf *b, const char *text, size_t len, const struct metrics_label *extra_tags,
                              unsigned n_extra, int64_t ts, size_t *skipped)
{
    const char *p = text, *end = text + len;
    size_t points = 0, bad = 0;
    struct sample *s = malloc(sizeof *s);

    if (s == NULL) {
        b->overflow = true;
        if (skipped != NULL) {
            *skipped = 0;
        }
        return 0;
    }
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *line_end = nl != NULL ? nl : end;
        if (line_end > p && *p != '#') {
            if (parse_sample(p, line_end, s) && isfinite(s->value)) {
                write_point(b, s, extra_tags, n_extra, ts);
                points++;
            } else {
                bad++;
            }
        }
        p = nl != NULL ? nl + 1 : end;
    }
    free(s);
    if (skipped != NULL) {
        *skipped = bad;
    }
    return points;
}
