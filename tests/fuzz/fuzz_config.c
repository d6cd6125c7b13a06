/* fuzz_config: raftnode's configuration loader (raftnode/config.c).
 *
 * Input layout: the properties file, up to the first two NUL bytes in a row (or the whole
 * input); after them, -D overrides separated by single NUL bytes (at most MAX_OVERRIDES).
 * config_load only reads files, so the file part goes into a memfd opened by its
 * /proc/self/fd path (an empty file part loads overrides only, FILE = NULL). A successful
 * load must satisfy every documented bound and cross-key rule. */
#include <inttypes.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "raftnode/config.h"
#include "tests/fuzz/fuzz.h"

#define MAX_OVERRIDES 8
#define MAX_INPUT 65536 /* config files are small; longer inputs are cut here */

static int terminated(const char *buf, size_t cap)
{
    return memchr(buf, '\0', cap) != NULL;
}

/* Writes DATA/LEN as the whole content of the memfd; *PATH names it. */
static void write_file(const uint8_t *data, size_t len, const char **path)
{
    static int fd = -1;
    static char name[64];
    size_t done = 0;

    if (fd < 0) {
        fd = memfd_create("fuzz_config", 0);
        FUZZ_CHECK(fd >= 0);
        FUZZ_CHECK(snprintf(name, sizeof name, "/proc/self/fd/%d", fd) < (int)sizeof name);
    }
    FUZZ_CHECK(ftruncate(fd, 0) == 0);
    while (done < len) {
        ssize_t n = pwrite(fd, data + done, len - done, (off_t)done);
        FUZZ_CHECK(n > 0);
        done += (size_t)n;
    }
    *path = name;
}

static void check_config(const struct config *c)
{
    FUZZ_CHECK(c->node_id >= 1 && c->node_id <= INT64_MAX);
    FUZZ_CHECK(terminated(c->node_address, sizeof c->node_address) && c->node_address[0]);
    FUZZ_CHECK(terminated(c->api_address, sizeof c->api_address) && c->api_address[0]);
    FUZZ_CHECK(strcmp(c->node_address, c->api_address) != 0);
    FUZZ_CHECK(terminated(c->data_dir, sizeof c->data_dir) && c->data_dir[0]);
    FUZZ_CHECK(terminated(c->join, sizeof c->join));
    FUZZ_CHECK(terminated(c->metastore_url, sizeof c->metastore_url));
    FUZZ_CHECK(terminated(c->metadata_url, sizeof c->metadata_url));
    FUZZ_CHECK(terminated(c->identity, sizeof c->identity) && c->identity[0]);
    FUZZ_CHECK(c->n_peers <= CONFIG_MAX_PEERS);
    FUZZ_CHECK((c->n_peers > 0) != (c->join[0] != '\0'));
    unsigned self = 0, voters = 0;
    for (unsigned i = 0; i < c->n_peers; i++) {
        const struct config_peer *p = &c->peers[i];
        FUZZ_CHECK(p->id >= 1 && p->id <= INT64_MAX);
        FUZZ_CHECK(terminated(p->address, sizeof p->address));
        FUZZ_CHECK(p->role >= CONFIG_ROLE_VOTER && p->role <= CONFIG_ROLE_SPARE);
        FUZZ_CHECK(config_role_name(p->role) != NULL);
        voters += p->role == CONFIG_ROLE_VOTER;
        if (p->id == c->node_id) {
            self++;
            FUZZ_CHECK(strcmp(p->address, c->node_address) == 0);
        }
        for (unsigned j = 0; j < i; j++) {
            FUZZ_CHECK(c->peers[j].id != p->id && strcmp(c->peers[j].address, p->address) != 0);
        }
    }
    FUZZ_CHECK(c->n_peers == 0 || (self == 1 && voters > 0));
    FUZZ_CHECK(c->heartbeat_timeout_ms >= 10 && c->heartbeat_timeout_ms < c->election_timeout_ms);
    FUZZ_CHECK(c->election_timeout_ms <= 60000);
    FUZZ_CHECK(c->snapshot_threshold >= 2 && c->snapshot_threshold <= 1000000000);
    FUZZ_CHECK(c->snapshot_trailing <= 1000000000);
    FUZZ_CHECK(c->max_frame_bytes >= 1024 && c->max_frame_bytes <= 67108864);
    FUZZ_CHECK(c->engine_weight >= 1 && c->engine_weight <= 1000000);
    FUZZ_CHECK(c->log_level >= LOG_LEVEL_DEBUG && c->log_level <= LOG_LEVEL_ERROR);
    FUZZ_CHECK(c->server_mode >= CONFIG_MODE_ALL && c->server_mode <= CONFIG_MODE_QUERY);
    FUZZ_CHECK(c->heartbeat_interval_s >= 1 && c->heartbeat_interval_s < c->heartbeat_timeout_s);
    FUZZ_CHECK(c->heartbeat_timeout_s <= 86400);
    FUZZ_CHECK(config_mode_name(c->server_mode) != NULL);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct config c; /* about 30 KB: off the stack */
    static char text[MAX_INPUT + 1];
    char *overrides[MAX_OVERRIDES];
    int n_overrides = 0;
    const char *path = NULL;
    char err[1024];
    size_t file_len = size;

    if (size > MAX_INPUT) {
        return 0;
    }
    for (size_t i = 0; i + 1 < size; i++) {
        if (data[i] == 0 && data[i + 1] == 0) {
            file_len = i;
            break;
        }
    }
    if (file_len > 0) {
        write_file(data, file_len, &path);
    }
    if (file_len < size) {
        /* The overrides part, NUL-terminated once more so the last one ends too. */
        size_t rest = size - file_len - 2;
        memcpy(text, data + file_len + 2, rest);
        text[rest] = '\0';
        for (char *p = text; p < text + rest && n_overrides < MAX_OVERRIDES; p += strlen(p) + 1) {
            overrides[n_overrides++] = p;
        }
    }
    if (config_load(&c, path, overrides, n_overrides, err, sizeof err) == 0) {
        check_config(&c);
    } else {
        FUZZ_CHECK(err[0] != '\0' && terminated(err, sizeof err));
    }
    return 0;
}
