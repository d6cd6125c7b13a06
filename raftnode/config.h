/* config: raftnode's configuration, read from a Java-properties file plus -D overrides.
 *
 * One static table (config.c) lists every key: name, type, default, bounds, doc. The same
 * table drives parsing, `raftnode --help-config` and conf/raftnode.properties.example.
 * Owns: struct config (plain data, no heap). Calls: nothing outside libc. */
#ifndef RAFTNODE_CONFIG_H
#define RAFTNODE_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "common/log.h"

#define CONFIG_ADDR_MAX 256
#define CONFIG_PATH_MAX 1024
#define CONFIG_URL_MAX 2048
#define CONFIG_MAX_PEERS 64

enum config_role { CONFIG_ROLE_VOTER = 0, CONFIG_ROLE_STANDBY = 1, CONFIG_ROLE_SPARE = 2 };
enum config_mode { CONFIG_MODE_ALL = 0, CONFIG_MODE_JOB = 1, CONFIG_MODE_QUERY = 2 };

struct config_peer {
    uint64_t id;
    char address[CONFIG_ADDR_MAX]; /* host:port of its raft transport */
    int role;                      /* enum config_role */
};

struct config {
    /* raft.* keys */
    uint64_t node_id;                       /* raft.node.id (required, >= 1) */
    char node_address[CONFIG_ADDR_MAX];     /* raft.node.address (required, IPv4:port) */
    char api_address[CONFIG_ADDR_MAX];      /* raft.api.address (required, IPv4:port) */
    char data_dir[CONFIG_PATH_MAX];         /* raft.data-dir (required) */
    struct config_peer peers[CONFIG_MAX_PEERS]; /* raft.initial-cluster, parsed */
    unsigned n_peers;                       /* 0 when raft.initial-cluster is unset */
    char join[CONFIG_ADDR_MAX];             /* raft.join: API address of a member, "" if unset */
    unsigned election_timeout_ms;           /* raft.election-timeout-ms (default 1000, 50..60000) */
    unsigned heartbeat_timeout_ms;          /* raft.heartbeat-timeout-ms (default 100, 10..10000, < election) */
    unsigned tick_ms;                       /* raft.tick-ms (default 10, 0..10000; 0 or >= heartbeat: libraft's) */
    unsigned snapshot_threshold;            /* raft.snapshot-threshold (default 1024, 2..10^9) */
    unsigned snapshot_trailing;             /* raft.snapshot-trailing (default 128, 0..10^9) */
    unsigned group_commit_ms;               /* raft.apply.group-commit-ms (default 20, 0..1000) */
    unsigned background_nice;               /* raft.background-nice (default 10, 0..19) */
    char metastore_url[CONFIG_URL_MAX];     /* raft.metastore.url, "" if unset */
    int log_level;                          /* raft.log-level: debug|info|warn|error (default info) */
    unsigned max_frame_bytes;               /* raft.api.max-frame-bytes (default 1 MiB, 1 KiB..64 MiB) */
    unsigned api_max_connections;           /* raft.api.max-connections (default 1024) */
    unsigned api_idle_timeout_ms;           /* raft.api.idle-timeout-ms (default 300000) */
    unsigned api_slow_client_timeout_ms;    /* raft.api.slow-client-timeout-ms (default 30000) */
    unsigned api_max_pending_bytes;         /* raft.api.max-pending-bytes (default 4 MiB) */
    unsigned join_timeout_ms;               /* raft.join-timeout-ms (default 60000, 0 = for ever) */
    char metastore_password_file[CONFIG_PATH_MAX]; /* raft.metastore.password-file, "" if unset */
    unsigned engine_weight;                 /* raft.engine.weight (default 1, 1..1000000) */
    uint64_t peer_max_message_bytes;        /* raft.peer.max-message-bytes (default 64 MiB, 64 KiB..1 GiB) */
    char peer_cert_file[CONFIG_PATH_MAX];   /* raft.peer.cert-file, "" if unset (then all three are) */
    char peer_key_file[CONFIG_PATH_MAX];    /* raft.peer.key-file */
    char peer_ca_file[CONFIG_PATH_MAX];     /* raft.peer.trusted-ca-file */
    char api_cert_file[CONFIG_PATH_MAX];    /* raft.api.cert-file, "" if unset (then all three are) */
    char api_key_file[CONFIG_PATH_MAX];     /* raft.api.key-file */
    char api_ca_file[CONFIG_PATH_MAX];      /* raft.api.trusted-ca-file */
    char api_admins[CONFIG_URL_MAX];        /* raft.api.admins: certificate CNs allowed to write */
    char http_address[CONFIG_ADDR_MAX];     /* raft.http.address (HTTP port, http.h), "" = off */
    bool force_new_cluster;                 /* --force-new-cluster (command line only; recover.h) */
    char influxdb_url[CONFIG_URL_MAX];      /* raft.influxdb.url (influx.h), "" = off */
    char influxdb_database[128];            /* raft.influxdb.database ([A-Za-z0-9_.-]) */
    unsigned influxdb_interval_ms;          /* raft.influxdb.interval-ms (default 10000) */
    unsigned influxdb_max_points;           /* raft.influxdb.max-buffered-points (default 100000) */
    unsigned autopilot_voters;              /* raft.autopilot.voters (default 0: raft.initial-cluster's voters) */
    unsigned autopilot_dead_ms;             /* raft.autopilot.dead-member-timeout-ms (default 10000) */
    bool autopilot_cleanup;                 /* raft.autopilot.cleanup-dead-members (default false) */
    unsigned autopilot_cleanup_ms;          /* raft.autopilot.cleanup-after-ms (default 600000) */
    bool autopilot_readmit;                 /* raft.autopilot.readmit-spares (default true) */
    /* kylin.* keys */
    int server_mode;                        /* kylin.server.mode: all|job|query (default all) */
    bool leader_race_enabled;               /* kylin.server.leader-race.enabled (default true) */
    unsigned heartbeat_timeout_s;           /* kylin.server.leader-race.heart-beat-timeout (default 60, 1..86400) */
    unsigned heartbeat_interval_s;          /* kylin.server.leader-race.heart-beat-interval (default 30, 1..86400, < timeout) */
    char metadata_url[CONFIG_URL_MAX];      /* kylin.metadata.url, "" if unset */
    char identity[CONFIG_ADDR_MAX];         /* kylin.server.identity (default: api_address) */
    char kylin_url[CONFIG_URL_MAX];         /* raft.kylin.url (default "none": no Kylin attached) */
    unsigned kylin_health_interval_ms;      /* raft.kylin.health-interval-ms (default 1000) */
    unsigned kylin_repair_ms;               /* raft.kylin.repair-ms (default 2000) */
    unsigned kylin_timeout_ms;              /* raft.kylin.timeout-ms (default 2000) */
    bool kylin_follow_projects;             /* raft.kylin.follow-projects (default false) */
};

/* Whether raft.kylin.url names a Kylin node (not none or empty). */
bool config_kylin_attached(const struct config *c);

/* Sets every field to its default (required fields empty/0). */
void config_defaults(struct config *c);

/* Loads FILE (may be NULL: overrides only), then applies the N overrides "key=value" in
 * order. On error returns -1 and writes one line into ERR (size ERRLEN), formatted
 * "FILE:LINE: key: reason" for file errors or "-D key=value: key: reason" for overrides;
 * unknown keys and bad values are reported before a missing required key. Returns 0 on
 * success. Never exits, never prints. */
int config_load(struct config *c, const char *file, char *const overrides[], int n_overrides,
                char *err, size_t errlen);

/* Writes every key with its default and doc string, in properties format, to OUT. */
void config_print_reference(FILE *out);

const char *config_role_name(int role);
const char *config_mode_name(int mode);

#endif
