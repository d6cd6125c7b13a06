/* config: raftnode's key table, a Java-properties reader and the cross-key checks (config.h).
 * The table config_keys is the single source of every key's type, default, bounds and doc:
 * config_defaults, config_load and config_print_reference (--help-config, which generates
 * conf/raftnode.properties.example) all walk it. Never prints, never exits; the only heap is
 * getline's line buffer, freed before returning. */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/types.h>

#include "kylin/api.h"
#include "kylin/error.h"

/* Longest logical line (after joining continuations) and longest -D override. 64 peers of
 * "ID=IPv4:port/standby" need about 3.3 KB; a JDBC URL with options stays below 2 KB. */
#define LINE_MAX_BYTES 8192
/* Ids end up in SQLite's signed 64-bit integers (member and engine ids). */
#define ID_MAX ((uint64_t)INT64_MAX)

enum key_type {
    KT_UINT,     /* decimal digits only, within [min, max]; field is unsigned or uint64_t */
    KT_STRING,   /* any text that fits the field */
    KT_ADDRESS,  /* IPv4:port; empty clears an optional key */
    KT_HOSTPORT, /* host:port with a non-empty host; empty clears it */
    KT_BOOL,     /* true|false|yes|no|on|off|1|0, any case */
    KT_ENUM,     /* one of names[], any case; stores the index */
    KT_CLUSTER,  /* raft.initial-cluster: ID=IPv4:port[/standby|/spare],... into peers/n_peers */
};

#define KF_REQUIRED 1u /* must be given, with a non-empty value */

struct key_def {
    const char *name;
    enum key_type type;
    unsigned flags;
    const char *default_value; /* applied by config_defaults; NULL: zero / empty */
    uint64_t min, max;         /* KT_UINT bounds, inclusive */
    const char *const *names;  /* KT_ENUM: names[i] stores i; NULL-terminated */
    size_t offset, size;       /* the field in struct config */
    const char *doc;           /* lines separated by '\n', printed as "# " comments */
};

#define FIELD(f) offsetof(struct config, f), sizeof(((struct config *)0)->f)

static const char *const role_names[] = {"voter", "standby", "spare", NULL};
static const char *const mode_names[] = {"all", "job", "query", NULL};
static const char *const level_names[] = {"debug", "info", "warn", "error", NULL};

/* Indexes into config_keys, for the cross-key checks. The table's order is also the order of
 * --help-config and of the missing-required-key checks. */
enum key_index {
    K_NODE_ID, K_NODE_ADDRESS, K_API_ADDRESS, K_DATA_DIR, K_INITIAL_CLUSTER, K_JOIN,
    K_ELECTION_MS, K_HEARTBEAT_MS, K_TICK_MS, K_SNAPSHOT_THRESHOLD, K_SNAPSHOT_TRAILING, K_GROUP_COMMIT_MS, K_BACKGROUND_NICE, K_METASTORE_URL,
    K_LOG_LEVEL, K_MAX_FRAME, K_API_MAX_CONNS, K_API_IDLE_MS, K_API_SLOW_MS, K_API_MAX_PENDING, K_JOIN_TIMEOUT_MS, K_METASTORE_PASSWORD_FILE,
    K_ENGINE_WEIGHT, K_SERVER_MODE, K_RACE_ENABLED, K_HB_TIMEOUT_S,
    K_HB_INTERVAL_S, K_METADATA_URL, K_IDENTITY, K_PEER_MAX_MSG, K_PEER_CERT, K_PEER_KEY, K_PEER_CA,
    K_API_CERT, K_API_ADMINS, K_API_KEY, K_API_CA,
    K_KYLIN_URL, K_KYLIN_HEALTH_MS, K_KYLIN_REPAIR_MS, K_KYLIN_TIMEOUT_MS, K_KYLIN_FOLLOW,
    /* raft.http.* (observability; docs/observability.md) */
    K_HTTP_ADDRESS, K_INFLUX_URL, K_INFLUX_DB, K_INFLUX_INTERVAL_MS, K_INFLUX_MAX_POINTS,
    /* raft.autopilot.* (dead voters replaced by standbys; docs/operations-autopilot.md) */
    K_AUTOPILOT_VOTERS, K_AUTOPILOT_DEAD_MS, K_AUTOPILOT_CLEANUP, K_AUTOPILOT_CLEANUP_MS, K_AUTOPILOT_READMIT,
    K_COUNT
};

static const struct key_def config_keys[K_COUNT] = {
    [K_NODE_ID] = {"raft.node.id", KT_UINT, KF_REQUIRED, NULL, 1, ID_MAX, NULL, FIELD(node_id),
        "This member's Raft id, unique in the cluster and never reused (a removed member's id\n"
        "stays retired). It is also the id of the engine this member speaks for."},
    [K_NODE_ADDRESS] = {"raft.node.address", KT_ADDRESS, KF_REQUIRED, NULL, 0, 0, NULL,
        FIELD(node_address),
        "Address of this member's Raft transport: raftnode listens here and the other members\n"
        "connect here. An IPv4 literal: libraft's TCP transport takes no host names."},
    [K_API_ADDRESS] = {"raft.api.address", KT_ADDRESS, KF_REQUIRED, NULL, 0, 0, NULL,
        FIELD(api_address),
        "Address of the client API that raftctl and Kylin engines connect to; needs a port of\n"
        "its own, apart from raft.node.address. Example: 127.0.0.1:7201"},
    [K_DATA_DIR] = {"raft.data-dir", KT_STRING, KF_REQUIRED, NULL, 0, 0, NULL, FIELD(data_dir),
        "Directory of this member's Raft log, snapshots and SQLite state. A relative path is\n"
        "resolved against raftnode's working directory. Example: /var/lib/raftnode"},
    [K_INITIAL_CLUSTER] = {"raft.initial-cluster", KT_CLUSTER, 0, NULL, 0, 0, NULL, FIELD(peers),
        "The founding members, read on first start only: ID=ADDRESS of each member's\n"
        "raft.node.address, comma-separated; an entry ending in /standby or /spare is a\n"
        "non-voting member, any other a voter. Ids and addresses must be unique, at least one\n"
        "entry must be a voter, and this member must be listed with its raft.node.address.\n"
        "Set it on the founding members only; members added later use raft.join instead.\n"
        "Example: 1=127.0.0.1:7101,2=127.0.0.1:7102,3=127.0.0.1:7103"},
    [K_JOIN] = {"raft.join", KT_ADDRESS, 0, NULL, 0, 0, NULL, FIELD(join),
        "API address (raft.api.address) of any running member, to join a running cluster.\n"
        "Use it instead of raft.initial-cluster on members added after the cluster formed."},
    [K_ELECTION_MS] = {"raft.election-timeout-ms", KT_UINT, 0, "1000", 50, 60000, NULL,
        FIELD(election_timeout_ms),
        "Raft election timeout in milliseconds: a follower that hears from no leader for this\n"
        "long (randomised up to twice as long) starts an election. Must be greater than\n"
        "raft.heartbeat-timeout-ms."},
    [K_HEARTBEAT_MS] = {"raft.heartbeat-timeout-ms", KT_UINT, 0, "100", 10, 10000, NULL,
        FIELD(heartbeat_timeout_ms),
        "Milliseconds between the leader's heartbeats to its followers. Must be less than\n"
        "raft.election-timeout-ms; a tenth of it is usual."},
    [K_TICK_MS] = {"raft.tick-ms", KT_UINT, 0, "10", 0, 10000, NULL, FIELD(tick_ms),
        "Milliseconds between the checks of a follower's or candidate's election timer, so an\n"
        "election starts at most this late after the timeout (libraft checks it on each\n"
        "heartbeat-timeout tick otherwise, on average half a heartbeat late). The leader's\n"
        "heartbeats and its other rules keep raft.heartbeat-timeout-ms. 0, or a value not below\n"
        "raft.heartbeat-timeout-ms: checked every heartbeat timeout (libraft's own tick)."},
    [K_SNAPSHOT_THRESHOLD] = {"raft.snapshot-threshold", KT_UINT, 0, "1024", 2, 1000000000,
        NULL, FIELD(snapshot_threshold),
        "Take a snapshot once this many log entries were applied since the last one."},
    [K_SNAPSHOT_TRAILING] = {"raft.snapshot-trailing", KT_UINT, 0, "128", 0, 1000000000, NULL,
        FIELD(snapshot_trailing),
        "Log entries kept behind a snapshot, so that a follower lagging by fewer entries\n"
        "catches up without a snapshot transfer."},
    [K_GROUP_COMMIT_MS] = {"raft.apply.group-commit-ms", KT_UINT, 0, "20", 0, 1000, NULL,
        FIELD(group_commit_ms),
        "Applied entries share one SQLite transaction for up to this many milliseconds (at\n"
        "most 64 entries), so pages they share are written once: less disk and CPU per write.\n"
        "Replies do not wait for it (the raft log holds the entries; a restart replays what\n"
        "SQLite lost). The metastore mirror sees a decision once it is committed. 0 commits\n"
        "every entry on its own. After a kill -9 a member has lost the uncommitted entries from\n"
        "SQLite until it has replayed its log; it answers plain reads catching_up meanwhile\n"
        "(after every start, whatever this value), so no read goes back."},
    [K_BACKGROUND_NICE] = {"raft.background-nice", KT_UINT, 0, "10", 0, 19, NULL,
        FIELD(background_nice),
        "How much lower than the event loop's the CPU priority of the member's background\n"
        "thread is (WAL checkpoints, snapshot copies, libraft's AIO context teardown): its nice\n"
        "value is raised by this much (up to 19) and it runs as SCHED_BATCH, so that on a busy\n"
        "machine it takes the CPU the loops of this and other members leave. 0: the process's\n"
        "own priority (SCHED_BATCH alone). Lowering needs no privilege. A thread starved too\n"
        "long lets the WAL grow until SQLite checkpoints on the loop (STORE_WAL_INLINE_FRAMES)."},
    [K_METASTORE_URL] = {"raft.metastore.url", KT_STRING, 0, NULL, 0, 0, NULL,
        FIELD(metastore_url),
        "Metastore (PostgreSQL or MySQL) that receives the mirror of ownership decisions:\n"
        "postgresql://USER:PASSWORD@HOST:PORT/DATABASE?prefix=P or mysql://... (unix sockets:\n"
        "?host=/socket/dir or ?socket=/path/mysqld.sock), or kylin.metadata.url's form.\n"
        "Overrides kylin.metadata.url. Empty: kylin.metadata.url is used; neither: no mirror.\n"
        "See docs/metastore.md."},
    [K_LOG_LEVEL] = {"raft.log-level", KT_ENUM, 0, "info", 0, 0, level_names, FIELD(log_level),
        "Least severe level written to stderr."},
    [K_MAX_FRAME] = {"raft.api.max-frame-bytes", KT_UINT, 0, "1048576", 1024, 67108864, NULL,
        FIELD(max_frame_bytes),
        "Largest request or reply frame on the client API, in bytes (default 1 MiB, at most\n"
        "64 MiB); larger frames are refused."},
    [K_API_MAX_CONNS] = {"raft.api.max-connections", KT_UINT, 0, "1024", 1, 1000000, NULL,
        FIELD(api_max_connections),
        "Most client API connections open at once; a connection past it is accepted and\n"
        "closed at once, with a WARN line (at most one a second)."},
    [K_API_IDLE_MS] = {"raft.api.idle-timeout-ms", KT_UINT, 0, "300000", 100, 86400000, NULL,
        FIELD(api_idle_timeout_ms),
        "A client API connection that sent no complete request for this many milliseconds,\n"
        "and waits for no reply, is closed (a half-sent request does not count)."},
    [K_API_SLOW_MS] = {"raft.api.slow-client-timeout-ms", KT_UINT, 0, "30000", 100, 3600000,
        NULL, FIELD(api_slow_client_timeout_ms),
        "A client API connection whose queued replies see no write completed for this many\n"
        "milliseconds (the client does not read them) is closed."},
    [K_API_MAX_PENDING] = {"raft.api.max-pending-bytes", KT_UINT, 0, "4194304", 65536,
        1073741824, NULL, FIELD(api_max_pending_bytes),
        "Per client API connection, most bytes of requests not yet answered plus replies not\n"
        "yet sent (default 4 MiB). Past it the member stops reading that connection until it\n"
        "drains below half, so a client that pipelines without reading cannot grow memory."},
    [K_JOIN_TIMEOUT_MS] = {"raft.join-timeout-ms", KT_UINT, 0, "60000", 0, 86400000, NULL,
        FIELD(join_timeout_ms),
        "How long a member started with raft.join keeps asking to be added (a WARN line on each\n"
        "failed try) before it gives up with exit status 1; 0 waits for ever."},
    [K_METASTORE_PASSWORD_FILE] = {"raft.metastore.password-file", KT_STRING, 0, NULL, 0, 0, NULL,
        FIELD(metastore_password_file),
        "File holding the metastore password on one line; it replaces a password in the\n"
        "metastore URL, which then need not hold one. Must not be readable by group or others\n"
        "(chmod 600): raftnode refuses to start otherwise, naming the file and its mode."},
    [K_ENGINE_WEIGHT] = {"raft.engine.weight", KT_UINT, 0, "1", 1, 1000000, NULL,
        FIELD(engine_weight),
        "Capacity of this member's engine relative to the others: placement keeps\n"
        "projects / weight even across engines."},
    [K_SERVER_MODE] = {"kylin.server.mode", KT_ENUM, 0, "all", 0, 0, mode_names,
        FIELD(server_mode),
        "Mode of the Kylin instance this member speaks for, as in kylin.properties: all and\n"
        "job engines own projects and run their jobs, query engines own none."},
    [K_RACE_ENABLED] = {"kylin.server.leader-race.enabled", KT_BOOL, 0, "true", 0, 0, NULL,
        FIELD(leader_race_enabled),
        "false: a single engine owns every project and nothing fails over (Kylin's\n"
        "single-engine mode)."},
    [K_HB_TIMEOUT_S] = {"kylin.server.leader-race.heart-beat-timeout", KT_UINT, 0, "60", 1,
        86400, NULL, FIELD(heartbeat_timeout_s),
        "Seconds of silence, on the leader's monotonic clock, after which an engine is dead\n"
        "and its projects move. Must be greater than heart-beat-interval. Kylin's default is\n"
        "60; 3 with an interval of 1 is the short profile for fast failover."},
    [K_HB_INTERVAL_S] = {"kylin.server.leader-race.heart-beat-interval", KT_UINT, 0, "30", 1,
        86400, NULL, FIELD(heartbeat_interval_s),
        "Seconds between an engine's heartbeats to the leader. Must be less than\n"
        "heart-beat-timeout."},
    [K_METADATA_URL] = {"kylin.metadata.url", KT_STRING, 0, NULL, 0, 0, NULL,
        FIELD(metadata_url),
        "Kylin's metastore URL, as in kylin.properties, e.g.\n"
        "kylin_metadata@jdbc,driverClassName=org.postgresql.Driver,url=jdbc:postgresql://h:5432/kylin,username=u,password=p\n"
        "Its identifier (before '@') names the epoch table, here kylin_metadata_epoch."},
    [K_IDENTITY] = {"kylin.server.identity", KT_HOSTPORT, 0, NULL, 0, 0, NULL, FIELD(identity),
        "host:port of the Kylin instance this member speaks for, as Kylin writes it in an\n"
        "epoch owner (host:port|startMillis). Empty: this member's raft.api.address."},
    [K_PEER_MAX_MSG] = {"raft.peer.max-message-bytes", KT_UINT, 0, "67108864", 65536, 1073741824,
        NULL, FIELD(peer_max_message_bytes),
        "Largest message another member may send on the raft port, header and entries or\n"
        "snapshot included (default 64 MiB). A larger one closes that connection. Keep it\n"
        "above the largest snapshot of the state (raftctl status shows its size)."},
    [K_PEER_CERT] = {"raft.peer.cert-file", KT_STRING, 0, NULL, 0, 0, NULL, FIELD(peer_cert_file),
        "PEM certificate of this member for mutual TLS on the raft port, CN member-<raft.node.id>\n"
        "and signed by raft.peer.trusted-ca-file (tools/make-certs.sh makes them). Set the three\n"
        "raft.peer.* files or none; with none, peers speak plaintext. See docs/security.md."},
    [K_PEER_KEY] = {"raft.peer.key-file", KT_STRING, 0, NULL, 0, 0, NULL, FIELD(peer_key_file),
        "PEM private key of raft.peer.cert-file."},
    [K_PEER_CA] = {"raft.peer.trusted-ca-file", KT_STRING, 0, NULL, 0, 0, NULL, FIELD(peer_ca_file),
        "PEM certificate of the CA that signs every member's certificate; a peer must present\n"
        "one signed by it with CN member-<the id it claims>."},
    [K_API_CERT] = {"raft.api.cert-file", KT_STRING, 0, NULL, 0, 0, NULL, FIELD(api_cert_file),
        "PEM certificate of this member's API (raft.api.address): set the three raft.api.*-file\n"
        "keys and the API speaks TLS 1.2+ and requires a client certificate signed by\n"
        "raft.api.trusted-ca-file. This member also presents it when it calls another member's\n"
        "API (joining, heartbeats), so use its member-<raft.node.id> certificate. See\n"
        "docs/security.md."},
    [K_API_ADMINS] = {"raft.api.admins", KT_STRING, 0, NULL, 0, 0, NULL, FIELD(api_admins),
        "Comma-separated certificate CNs (with API TLS) allowed to change anything through the\n"
        "API; other valid certificates may only read (a write gets \"permission denied\").\n"
        "Member certificates (CN member-<id>) may make the calls members make to each other."},
    [K_API_KEY] = {"raft.api.key-file", KT_STRING, 0, NULL, 0, 0, NULL, FIELD(api_key_file),
        "PEM private key of raft.api.cert-file; keep it 0600, readable by the raftnode user\n"
        "only."},
    [K_API_CA] = {"raft.api.trusted-ca-file", KT_STRING, 0, NULL, 0, 0, NULL, FIELD(api_ca_file),
        "PEM certificate of the CA that signs the API's client certificates (admins', readers'\n"
        "and the members' own, which they present when calling each other), e.g. ca.crt of\n"
        "tools/make-certs.sh."},
    [K_KYLIN_URL] = {"raft.kylin.url", KT_STRING, 0, "none", 0, 0, NULL, FIELD(kylin_url),
        "The Kylin node on this member's host, with its servlet context, e.g.\n"
        "http://127.0.0.1:7070/kylin. Set: that Kylin is this member's engine (heartbeats only\n"
        "while its metastore is healthy) and claims the projects the quorum gives it through its\n"
        "own REST API; the mirror then writes no epoch rows. none: no Kylin attached (the\n"
        "engine heartbeats on its own and the mirror writes the epoch rows). See docs/kylin.md."},
    [K_KYLIN_HEALTH_MS] = {"raft.kylin.health-interval-ms", KT_UINT, 0, "1000", 50, 3600000, NULL,
        FIELD(kylin_health_interval_ms),
        "Milliseconds between probes of the local Kylin's GET /api/health (raft.kylin.url)."},
    [K_KYLIN_REPAIR_MS] = {"raft.kylin.repair-ms", KT_UINT, 0, "2000", 100, 3600000, NULL,
        FIELD(kylin_repair_ms),
        "Milliseconds between reads of the epoch table by which this member repairs rows of its\n"
        "engine's projects that drifted (raft.kylin.url set); reads also follow every event."},
    [K_KYLIN_TIMEOUT_MS] = {"raft.kylin.timeout-ms", KT_UINT, 0, "2000", 50, 600000, NULL,
        FIELD(kylin_timeout_ms),
        "Timeout of each request to the local Kylin (health probe, claim, poke), in ms. A health\n"
        "probe without an answer in time counts as DOWN."},
    [K_KYLIN_FOLLOW] = {"raft.kylin.follow-projects", KT_BOOL, 0, "true", 0, 0, NULL, FIELD(kylin_follow_projects),
        "With raft.kylin.url set (ignored with none): the leader reads Kylin's project list from\n"
        "its metadata tables, once they exist, every raft.kylin.repair-ms; adds the projects\n"
        "created in Kylin, marks those it lists, removes a marked one once Kylin dropped it (never\n"
        "one Kylin never listed), and refuses a later-line schema (job-lock tables) with an ERROR.\n"
        "false: projects come from raftctl project add/remove only (and when upgrading from a\n"
        "binary before store schema 7, until every member runs the new one). See docs/kylin.md,\n"
        "\"Projects follow Kylin\"."},
    /* raft.http.* (observability; docs/observability.md) */
    [K_HTTP_ADDRESS] = {"raft.http.address", KT_ADDRESS, 0, NULL, 0, 0, NULL, FIELD(http_address),
        "Address of this member's HTTP port: GET /metrics (Prometheus), /health, /ready and the\n"
        "read-only JSON /v1/status, /v1/engines, /v1/projects, /v1/projects/NAME. Empty: off.\n"
        "Plaintext and unauthenticated: bind it to a monitoring network. Example: 127.0.0.1:7281"},
    [K_INFLUX_URL] = {"raft.influxdb.url", KT_STRING, 0, NULL, 0, 0, NULL, FIELD(influxdb_url),
        "InfluxDB 1.x to push the /metrics figures to, in line protocol (POST /write), e.g.\n"
        "http://127.0.0.1:8086. Needs raft.influxdb.database. Empty: no push. Pushes never\n"
        "block the member; while InfluxDB is down points queue up to\n"
        "raft.influxdb.max-buffered-points. See docs/observability.md."},
    [K_INFLUX_DB] = {"raft.influxdb.database", KT_STRING, 0, NULL, 0, 0, NULL, FIELD(influxdb_database),
        "InfluxDB database the points go to (letters, digits, '_', '.', '-'); it must exist\n"
        "(CREATE DATABASE). Required when raft.influxdb.url is set."},
    [K_INFLUX_INTERVAL_MS] = {"raft.influxdb.interval-ms", KT_UINT, 0, "10000", 100, 3600000, NULL,
        FIELD(influxdb_interval_ms),
        "Milliseconds between two samples of the figures pushed to InfluxDB (one batch each)."},
    [K_INFLUX_MAX_POINTS] = {"raft.influxdb.max-buffered-points", KT_UINT, 0, "100000", 100, 10000000, NULL,
        FIELD(influxdb_max_points),
        "Points kept while InfluxDB cannot take them; past it the oldest batches are dropped\n"
        "and counted in raftnode_influxdb_dropped_points_total."},
    /* raft.autopilot.* (docs/operations-autopilot.md) */
    [K_AUTOPILOT_VOTERS] = {"raft.autopilot.voters", KT_UINT, 0, "0", 0, CONFIG_MAX_PEERS, NULL,
        FIELD(autopilot_voters),
        "Voters the leader's autopilot keeps: when fewer are alive, it promotes a caught-up,\n"
        "stable standby. 0: the number of voters in raft.initial-cluster (for a member that\n"
        "joined, the voters in the configuration when it became leader)."},
    [K_AUTOPILOT_DEAD_MS] = {"raft.autopilot.dead-member-timeout-ms", KT_UINT, 0, "10000", 100, 86400000,
        NULL, FIELD(autopilot_dead_ms),
        "A voter the leader has not heard from for this many ms is dead: the leader demotes it\n"
        "to spare and promotes a standby that was healthy and caught up for as long, never\n"
        "leaving the healthy voters short of a quorum. A new leader counts from its election."},
    [K_AUTOPILOT_CLEANUP] = {"raft.autopilot.cleanup-dead-members", KT_BOOL, 0, "false", 0, 0, NULL,
        FIELD(autopilot_cleanup),
        "When true, the leader removes a member it has not heard from for\n"
        "raft.autopilot.cleanup-after-ms (a voter only when the healthy voters stay a quorum)."},
    [K_AUTOPILOT_CLEANUP_MS] = {"raft.autopilot.cleanup-after-ms", KT_UINT, 0, "600000", 1000, 604800000,
        NULL, FIELD(autopilot_cleanup_ms),
        "How long a member must be dead before raft.autopilot.cleanup-dead-members removes it,\n"
        "in ms. At least raft.autopilot.dead-member-timeout-ms."},
    [K_AUTOPILOT_READMIT] = {"raft.autopilot.readmit-spares", KT_BOOL, 0, "true", 0, 0, NULL,
        FIELD(autopilot_readmit),
        "When true, the leader turns a spare it hears from back into a standby: a demoted voter\n"
        "that came back still campaigns with its old configuration. As a standby it catches up\n"
        "and is promoted when a voter is missing. false: it stays a spare until an operator acts."},
};

/* Where a key got its value: a file line or a -D override. Later settings win. */
struct origin {
    bool set;
    int override_index; /* -1: from the file */
    unsigned line;      /* file line of the key (first line of a continued line) */
};

struct loader {
    struct config *c;
    const char *file;
    char *const *overrides;
    char *err;
    size_t errlen;
    struct origin origins[K_COUNT];
};

/* ---- small text helpers ---- */

static bool is_ws(char ch)
{
    return ch == ' ' || ch == '\t' || ch == '\f';
}

/* Copies V for quoting in a message, cut to 60 bytes so a long URL cannot hide the reason. */
static const char *shown(const char *v, char out[72])
{
    size_t n = strlen(v);
    if (n <= 60) {
        return v;
    }
    memcpy(out, v, 57);
    memcpy(out + 57, "...", 4);
    return out;
}

/* Appends to a message buffer, keeping it NUL-terminated when truncated. */
static void append(char *buf, size_t len, size_t *used, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void append(char *buf, size_t len, size_t *used, const char *fmt, ...)
{
    va_list ap;
    int n;

    if (*used >= len) {
        return;
    }
    va_start(ap, fmt);
    n = vsnprintf(buf + *used, len - *used, fmt, ap);
    va_end(ap);
    if (n < 0) {
        buf[*used] = '\0';
        return;
    }
    *used += (size_t)n < len - *used ? (size_t)n : len - *used;
}

/* Decimal digits only: no sign, no spaces, no 0x (strtoull would take "-1" and " 7"). */
static int parse_u64(const char *s, uint64_t *out)
{
    uint64_t v = 0;

    if (*s == '\0') {
        return -1;
    }
    for (; *s != '\0'; s++) {
        if (*s < '0' || *s > '9') {
            return -1;
        }
        if (v > (UINT64_MAX - (uint64_t)(*s - '0')) / 10) {
            return -2;
        }
        v = v * 10 + (uint64_t)(*s - '0');
    }
    *out = v;
    return 0;
}

/* The "expected ..." part of a message; also the type line of --help-config. */
static void describe(const struct key_def *k, char *buf, size_t len)
{
    size_t used = 0;

    buf[0] = '\0';
    switch (k->type) {
    case KT_UINT:
        append(buf, len, &used, "%" PRIu64 "..%" PRIu64, k->min, k->max);
        break;
    case KT_STRING:
        append(buf, len, &used, "text of at most %zu bytes", k->size - 1);
        break;
    case KT_ADDRESS:
        append(buf, len, &used, "IPv4:port, e.g. 127.0.0.1:7101");
        break;
    case KT_HOSTPORT:
        append(buf, len, &used, "host:port, e.g. 10.0.0.5:7070");
        break;
    case KT_BOOL:
        append(buf, len, &used, "true or false");
        break;
    case KT_ENUM:
        append(buf, len, &used, "one of");
        for (size_t i = 0; k->names[i] != NULL; i++) {
            append(buf, len, &used, "%s %s", i == 0 ? "" : ",", k->names[i]);
        }
        break;
    case KT_CLUSTER:
        append(buf, len, &used, "comma-separated ID=IPv4:port[/standby|/spare]");
        break;
    }
}

/* ---- value parsers: 0, or -1 with REASON ---- */

static int parse_port(const char *s, char *reason, size_t rlen, const char *whole)
{
    uint64_t port;
    char q[72];

    if (s[0] == '0' || parse_u64(s, &port) != 0 || port < 1 || port > 65535) {
        snprintf(reason, rlen, "'%s' has no valid port (expected a port 1..65535 without leading "
                 "zeros)", shown(whole, q));
        return -1;
    }
    return 0;
}

static int parse_address(const char *s, char *reason, size_t rlen)
{
    const char *colon = strrchr(s, ':');
    char host[INET_ADDRSTRLEN];
    struct in_addr in;
    char q[72];
    size_t hlen;

    if (colon == NULL) {
        snprintf(reason, rlen, "'%s' has no port (expected IPv4:port, e.g. 127.0.0.1:7101)",
                 shown(s, q));
        return -1;
    }
    hlen = (size_t)(colon - s);
    if (hlen < sizeof host) {
        memcpy(host, s, hlen);
        host[hlen] = '\0';
    }
    if (hlen >= sizeof host || inet_pton(AF_INET, host, &in) != 1) {
        snprintf(reason, rlen, "'%s' is not an IPv4 address (expected IPv4:port with a "
                 "dotted-quad address, e.g. 127.0.0.1:7101: libraft's TCP transport takes no host "
                 "names)", shown(s, q));
        return -1;
    }
    if (in.s_addr == 0) {
        snprintf(reason, rlen, "'%s': 0.0.0.0 is not an address others can connect to (expected "
                 "this host's IPv4 address, e.g. 127.0.0.1:7101)", shown(s, q));
        return -1;
    }
    return parse_port(colon + 1, reason, rlen, s);
}

/* Kylin's identity host:port: the host may be a name, but no spaces and no '|' (Kylin's
 * owner string is "host:port|startMillis"). */
static int parse_hostport(const char *s, char *reason, size_t rlen)
{
    const char *colon = strrchr(s, ':');
    char q[72];

    if (colon == NULL || colon == s) {
        snprintf(reason, rlen, "'%s' is not host:port (expected a non-empty host, ':' and a "
                 "port, e.g. 10.0.0.5:7070)", shown(s, q));
        return -1;
    }
    for (const char *p = s; p < colon; p++) {
        if ((unsigned char)*p <= ' ' || *p == '|' || *p == 0x7f) {
            snprintf(reason, rlen, "'%s': the host contains a space, control character or '|' "
                     "(expected host:port, e.g. 10.0.0.5:7070)", shown(s, q));
            return -1;
        }
    }
    return parse_port(colon + 1, reason, rlen, s);
}

static int parse_bool(const char *s, bool *out)
{
    static const char *const yes[] = {"true", "yes", "on", "1"};
    static const char *const no[] = {"false", "no", "off", "0"};

    for (size_t i = 0; i < sizeof yes / sizeof yes[0]; i++) {
        if (strcasecmp(s, yes[i]) == 0) {
            *out = true;
            return 0;
        }
        if (strcasecmp(s, no[i]) == 0) {
            *out = false;
            return 0;
        }
    }
    return -1;
}

/* raft.initial-cluster: "ID=IPv4:port[/standby|/spare]" entries separated by commas; spaces
 * around an entry are ignored. Entries are numbered from 1 in messages. */
static int parse_cluster(struct config *c, const char *s, char *reason, size_t rlen)
{
    static const char expected[] = "expected ID=IPv4:port[/standby|/spare]";
    unsigned n = 0;
    unsigned voters = 0;
    char q[72];

    c->n_peers = 0;
    if (*s == '\0') {
        return 0; /* unset */
    }
    for (;;) {
        const char *end = strchr(s, ',');
        const char *stop = end != NULL ? end : s + strlen(s);
        char entry[CONFIG_ADDR_MAX + 32];
        char why[384];
        char *eq, *slash;
        struct config_peer *peer;
        uint64_t id;
        size_t len;

        while (s < stop && is_ws(*s)) {
            s++;
        }
        while (stop > s && is_ws(stop[-1])) {
            stop--;
        }
        len = (size_t)(stop - s);
        if (len == 0) {
            snprintf(reason, rlen, "entry %u is empty (%s,...)", n + 1, expected);
            return -1;
        }
        if (len >= sizeof entry) {
            snprintf(reason, rlen, "entry %u is longer than %zu bytes (%s)", n + 1,
                     sizeof entry - 1, expected);
            return -1;
        }
        memcpy(entry, s, len);
        entry[len] = '\0';
        if (n == CONFIG_MAX_PEERS) {
            snprintf(reason, rlen, "more than %d entries (at most %d members)", CONFIG_MAX_PEERS,
                     CONFIG_MAX_PEERS);
            return -1;
        }
        eq = strchr(entry, '=');
        if (eq == NULL) {
            snprintf(reason, rlen, "entry %u '%s' has no '=' (%s)", n + 1, shown(entry, q),
                     expected);
            return -1;
        }
        *eq = '\0';
        if (parse_u64(entry, &id) != 0 || id < 1 || id > ID_MAX) {
            snprintf(reason, rlen, "entry %u: id '%s' is not an integer 1..%" PRIu64 " (%s)",
                     n + 1, shown(entry, q), ID_MAX, expected);
            return -1;
        }
        peer = &c->peers[n];
        peer->id = id;
        peer->role = CONFIG_ROLE_VOTER;
        slash = strchr(eq + 1, '/');
        if (slash != NULL) {
            *slash = '\0';
            if (strcasecmp(slash + 1, "standby") == 0) {
                peer->role = CONFIG_ROLE_STANDBY;
            } else if (strcasecmp(slash + 1, "spare") == 0) {
                peer->role = CONFIG_ROLE_SPARE;
            } else {
                snprintf(reason, rlen, "entry %u: unknown role '/%s' (expected /standby or "
                         "/spare after the address, nothing for a voter)", n + 1,
                         shown(slash + 1, q));
                return -1;
            }
        }
        if (parse_address(eq + 1, why, sizeof why) != 0) {
            snprintf(reason, rlen, "entry %u: %s", n + 1, why);
            return -1;
        }
        snprintf(peer->address, sizeof peer->address, "%s", eq + 1);
        for (unsigned i = 0; i < n; i++) {
            if (c->peers[i].id == id) {
                snprintf(reason, rlen, "entry %u: id %" PRIu64 " is already entry %u (ids must "
                         "be unique)", n + 1, id, i + 1);
                return -1;
            }
            if (strcmp(c->peers[i].address, peer->address) == 0) {
                snprintf(reason, rlen, "entry %u: address %s is already entry %u (addresses "
                         "must be unique)", n + 1, peer->address, i + 1);
                return -1;
            }
        }
        voters += peer->role == CONFIG_ROLE_VOTER;
        n++;
        if (end == NULL) {
            break;
        }
        s = end + 1;
    }
    if (voters == 0) {
        snprintf(reason, rlen, "lists no voter (at least one entry needs no /standby or /spare)");
        return -1;
    }
    c->n_peers = n;
    return 0;
}

/* Parses VALUE (already trimmed) for key K into C. */
static int set_value(struct config *c, const struct key_def *k, const char *value, char *reason,
                     size_t rlen)
{
    char *field = (char *)c + k->offset;
    char expected[160];
    char q[72];

    describe(k, expected, sizeof expected);
    if (*value == '\0' && (k->flags & KF_REQUIRED || k->type == KT_UINT || k->type == KT_BOOL ||
                           k->type == KT_ENUM)) {
        snprintf(reason, rlen, "empty value (expected %s%s)",
                 k->type == KT_STRING ? "non-empty " : "", expected);
        return -1;
    }
    switch (k->type) {
    case KT_UINT: {
        uint64_t v;
        int rc = parse_u64(value, &v);
        if (rc == -1) {
            snprintf(reason, rlen, "'%s' is not an integer (expected %s)", shown(value, q),
                     expected);
            return -1;
        }
        if (rc != 0 || v < k->min || v > k->max) {
            snprintf(reason, rlen, "%s is out of range (expected %s)", shown(value, q),
                     expected);
            return -1;
        }
        if (k->size == sizeof(uint64_t)) {
            memcpy(field, &v, sizeof v);
        } else {
            unsigned u = (unsigned)v; /* max bounds of unsigned fields fit in 32 bits */
            memcpy(field, &u, sizeof u);
        }
        return 0;
    }
    case KT_BOOL: {
        bool b;
        if (parse_bool(value, &b) != 0) {
            snprintf(reason, rlen, "'%s' is not a boolean (expected true or false)",
                     shown(value, q));
            return -1;
        }
        memcpy(field, &b, sizeof b);
        return 0;
    }
    case KT_ENUM:
        for (int i = 0; k->names[i] != NULL; i++) {
            if (strcasecmp(value, k->names[i]) == 0) {
                memcpy(field, &i, sizeof i);
                return 0;
            }
        }
        snprintf(reason, rlen, "'%s' is not valid (expected %s)", shown(value, q), expected);
        return -1;
    case KT_CLUSTER:
        return parse_cluster(c, value, reason, rlen);
    case KT_ADDRESS:
    case KT_HOSTPORT:
    case KT_STRING:
        if (strlen(value) >= k->size) {
            snprintf(reason, rlen, "value is %zu bytes long (expected at most %zu)",
                     strlen(value), k->size - 1);
            return -1;
        }
        if (*value != '\0' && k->type == KT_ADDRESS && parse_address(value, reason, rlen) != 0) {
            return -1;
        }
        if (*value != '\0' && k->type == KT_HOSTPORT && parse_hostport(value, reason, rlen) != 0) {
            return -1;
        }
        memcpy(field, value, strlen(value) + 1);
        return 0;
    }
    return -1;
}

/* ---- errors ---- */

/* Writes "PREFIX[key: ]reason" into ld->err, PREFIX naming where the setting came from:
 * "FILE:LINE: ", "-D key=value: ", or "FILE: " for a key that was never set. */
static int fail(struct loader *ld, const struct origin *o, const char *key, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static int fail(struct loader *ld, const struct origin *o, const char *key, const char *fmt, ...)
{
    char reason[1024];
    size_t used = 0;
    va_list ap;

    if (ld->err == NULL || ld->errlen == 0) {
        return -1;
    }
    va_start(ap, fmt);
    if (vsnprintf(reason, sizeof reason, fmt, ap) < 0) {
        reason[0] = '\0';
    }
    va_end(ap);
    ld->err[0] = '\0';
    if (o != NULL && o->set && o->override_index >= 0) {
        append(ld->err, ld->errlen, &used, "-D %s: ", ld->overrides[o->override_index]);
    } else if (o != NULL && o->set) {
        append(ld->err, ld->errlen, &used, "%s:%u: ", ld->file, o->line);
    } else {
        append(ld->err, ld->errlen, &used, "%s: ", ld->file != NULL ? ld->file : "command line");
    }
    if (key != NULL) {
        append(ld->err, ld->errlen, &used, "%s: ", key);
    }
    append(ld->err, ld->errlen, &used, "%s", reason);
    return -1;
}

/* ---- applying key=value ---- */

static int apply(struct loader *ld, const char *key, const char *value, const struct origin *o)
{
    char reason[768];

    for (int i = 0; i < K_COUNT; i++) {
        if (strcmp(config_keys[i].name, key) == 0) {
            if (set_value(ld->c, &config_keys[i], value, reason, sizeof reason) != 0) {
                return fail(ld, o, key, "%s", reason);
            }
            ld->origins[i] = *o; /* a later setting of the same key wins, as in Java */
            return 0;
        }
    }
    return fail(ld, o, key, "unknown key; see raftnode --help-config");
}

/* Drops trailing whitespace that no backslash escapes. */
static void trim_end(char *s)
{
    size_t n = strlen(s);

    while (n > 0 && is_ws(s[n - 1])) {
        size_t bs = 0;
        while (bs + 1 < n && s[n - 2 - bs] == '\\') {
            bs++;
        }
        if (bs % 2 == 1) {
            break;
        }
        s[--n] = '\0';
    }
}

static int hex4(const char *s, unsigned *out)
{
    unsigned v = 0;

    for (int i = 0; i < 4; i++) {
        char ch = s[i];
        v <<= 4;
        if (ch >= '0' && ch <= '9') {
            v |= (unsigned)(ch - '0');
        } else if (ch >= 'a' && ch <= 'f') {
            v |= (unsigned)(ch - 'a' + 10);
        } else if (ch >= 'A' && ch <= 'F') {
            v |= (unsigned)(ch - 'A' + 10);
        } else {
            return -1;
        }
    }
    *out = v;
    return 0;
}

/* Java's escapes, in place (the result is never longer): \t \n \r \f, \uXXXX (written as
 * UTF-8; a surrogate pair makes one character), and \c for any other c. */
static int unescape(char *s, char *reason, size_t rlen)
{
    char *out = s;

    while (*s != '\0') {
        unsigned cp, low;
        if (*s != '\\') {
            *out++ = *s++;
            continue;
        }
        s++;
        switch (*s) {
        case '\0':
            continue; /* a lone backslash at the very end: Java drops it */
        case 't': *out++ = '\t'; s++; continue;
        case 'n': *out++ = '\n'; s++; continue;
        case 'r': *out++ = '\r'; s++; continue;
        case 'f': *out++ = '\f'; s++; continue;
        case 'u': break;
        default: *out++ = *s++; continue;
        }
        if (hex4(s + 1, &cp) != 0 || cp == 0) {
            snprintf(reason, rlen, "malformed \\u escape (expected \\u and 4 hex digits, not "
                     "\\u0000)");
            return -1;
        }
        s += 5;
        if (cp >= 0xd800 && cp <= 0xdbff) {
            if (s[0] != '\\' || s[1] != 'u' || hex4(s + 2, &low) != 0 || low < 0xdc00 ||
                low > 0xdfff) {
                snprintf(reason, rlen, "\\u%04X is half a surrogate pair (expected a \\uDC00.."
                         "\\uDFFF escape after it)", cp);
                return -1;
            }
            s += 6;
            cp = 0x10000 + ((cp - 0xd800) << 10) + (low - 0xdc00);
        } else if (cp >= 0xdc00 && cp <= 0xdfff) {
            snprintf(reason, rlen, "\\u%04X is half a surrogate pair", cp);
            return -1;
        }
        if (cp < 0x80) {
            *out++ = (char)cp;
        } else if (cp < 0x800) {
            *out++ = (char)(0xc0 | cp >> 6);
            *out++ = (char)(0x80 | (cp & 0x3f));
        } else if (cp < 0x10000) {
            *out++ = (char)(0xe0 | cp >> 12);
            *out++ = (char)(0x80 | (cp >> 6 & 0x3f));
            *out++ = (char)(0x80 | (cp & 0x3f));
        } else {
            *out++ = (char)(0xf0 | cp >> 18);
            *out++ = (char)(0x80 | (cp >> 12 & 0x3f));
            *out++ = (char)(0x80 | (cp >> 6 & 0x3f));
            *out++ = (char)(0x80 | (cp & 0x3f));
        }
    }
    *out = '\0';
    return 0;
}

/* One logical line (continuations joined, leading whitespace gone, not a comment):
 * KEY, optional whitespace, '=' or ':', optional whitespace, VALUE. Unlike Java, whitespace
 * alone does not separate key and value: "raft.node.id 1" is refused as a likely typo. */
static int apply_line(struct loader *ld, char *text, unsigned line)
{
    struct origin o = {.set = true, .override_index = -1, .line = line};
    char reason[256];
    char *key = text;
    char *p = text;
    char *value;

    while (*p != '\0' && !is_ws(*p) && *p != '=' && *p != ':') {
        p++;
    }
    value = p;
    while (is_ws(*value)) {
        value++;
    }
    if (p == key) {
        return fail(ld, &o, NULL, "line has no key before '%c' (expected key=value)", *value);
    }
    if (*value != '=' && *value != ':') {
        *p = '\0';
        return fail(ld, &o, key, "line has no '=' or ':' after the key (expected key=value or "
                    "key: value)");
    }
    value++;
    *p = '\0';
    while (is_ws(*value)) {
        value++;
    }
    trim_end(value);
    if (unescape(value, reason, sizeof reason) != 0) {
        return fail(ld, &o, key, "%s", reason);
    }
    return apply(ld, key, value, &o);
}

static int load_file(struct loader *ld)
{
    char logical[LINE_MAX_BYTES];
    size_t len = 0;
    unsigned lineno = 0, start = 0;
    bool continuing = false;
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    int rc = 0;
    FILE *f = fopen(ld->file, "r");

    if (f == NULL) {
        return fail(ld, NULL, NULL, "cannot read: %s", strerror(errno));
    }
    while ((n = getline(&line, &cap, f)) != -1) {
        char *p = line;
        size_t plen = (size_t)n, bs = 0;

        lineno++;
        while (plen > 0 && (p[plen - 1] == '\n' || p[plen - 1] == '\r')) {
            p[--plen] = '\0';
        }
        while (is_ws(*p)) {
            p++;
        }
        plen = strlen(p); /* also stops at a NUL byte inside the line */
        if (!continuing) {
            if (*p == '\0' || *p == '#' || *p == '!') {
                continue; /* blank or comment: a comment never continues */
            }
            start = lineno;
            len = 0;
        }
        /* An odd number of trailing backslashes continues the line on the next one. */
        while (bs < plen && p[plen - 1 - bs] == '\\') {
            bs++;
        }
        continuing = bs % 2 == 1;
        plen -= continuing;
        if (len + plen >= sizeof logical) {
            struct origin o = {.set = true, .override_index = -1, .line = start};
            rc = fail(ld, &o, NULL, "line is longer than %zu bytes", sizeof logical - 1);
            break;
        }
        memcpy(logical + len, p, plen);
        len += plen;
        logical[len] = '\0';
        if (!continuing && apply_line(ld, logical, start) != 0) {
            rc = -1;
            break;
        }
    }
    if (rc == 0 && ferror(f)) {
        rc = fail(ld, NULL, NULL, "cannot read: %s", strerror(errno));
    } else if (rc == 0 && continuing) {
        rc = apply_line(ld, logical, start); /* the file ended inside a continued line */
    }
    free(line);
    if (fclose(f) != 0 && rc == 0) {
        rc = fail(ld, NULL, NULL, "cannot read: %s", strerror(errno));
    }
    return rc;
}

/* "-D key=value": key and value trimmed, no escapes (the shell already did the quoting). */
static int apply_override(struct loader *ld, int index)
{
    struct origin o = {.set = true, .override_index = index, .line = 0};
    const char *arg = ld->overrides[index];
    char copy[LINE_MAX_BYTES];
    char *eq, *key, *end, *value;

    if (strlen(arg) >= sizeof copy) {
        return fail(ld, &o, NULL, "longer than %zu bytes", sizeof copy - 1);
    }
    memcpy(copy, arg, strlen(arg) + 1);
    eq = strchr(copy, '=');
    if (eq == NULL) {
        return fail(ld, &o, NULL, "no '=' (expected -D key=value)");
    }
    *eq = '\0';
    key = copy;
    while (is_ws(*key)) {
        key++;
    }
    end = eq;
    while (end > key && is_ws(end[-1])) {
        *--end = '\0';
    }
    if (*key == '\0') {
        return fail(ld, &o, NULL, "no key before '=' (expected -D key=value)");
    }
    value = eq + 1;
    while (is_ws(*value)) {
        value++;
    }
    end = value + strlen(value);
    while (end > value && is_ws(end[-1])) {
        *--end = '\0';
    }
    return apply(ld, key, value, &o);
}

/* ---- checks after every setting was read ---- */

/* The key of A and B whose setting came last (an override beats a file line), so that a
 * conflict is reported where the operator most recently touched it. */
static int later(const struct loader *ld, int a, int b)
{
    const struct origin *x = &ld->origins[a], *y = &ld->origins[b];

    if (!x->set || !y->set) {
        return x->set ? a : y->set ? b : a;
    }
    if (x->override_index != y->override_index) {
        return x->override_index > y->override_index ? a : b;
    }
    return x->line >= y->line ? a : b;
}

static int fail_key(struct loader *ld, int k, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int fail_key(struct loader *ld, int k, const char *fmt, ...)
{
    char reason[768];
    va_list ap;

    va_start(ap, fmt);
    if (vsnprintf(reason, sizeof reason, fmt, ap) < 0) {
        reason[0] = '\0';
    }
    va_end(ap);
    return fail(ld, &ld->origins[k], config_keys[k].name, "%s", reason);
}

static int check_required(struct loader *ld)
{
    const struct config *c = ld->c;

    for (int i = 0; i < K_COUNT; i++) {
        if (config_keys[i].flags & KF_REQUIRED && !ld->origins[i].set) {
            return fail(ld, NULL, config_keys[i].name, "required key missing");
        }
    }
    if (c->n_peers == 0 && c->join[0] == '\0') {
        return fail(ld, NULL, config_keys[K_INITIAL_CLUSTER].name, "required key missing (set "
                    "raft.initial-cluster on the founding members, raft.join on members added "
                    "later)");
    }
    return 0;
}

/* A TLS triple (cert-file, key-file, trusted-ca-file): all three or none, each readable. */
static int check_tls_files(struct loader *ld, const int keys[3], const char *const files[3])
{
    int set = 0, first_set = -1, first_unset = -1;

    for (int i = 0; i < 3; i++) {
        if (files[i][0] != '\0') {
            set++;
            first_set = first_set < 0 ? i : first_set;
        } else if (first_unset < 0) {
            first_unset = i;
        }
    }
    if (set != 0 && set != 3) {
        return fail_key(ld, keys[first_set], "set without %s (set %s, %s and %s together, or none)",
                        config_keys[keys[first_unset]].name, config_keys[keys[0]].name,
                        config_keys[keys[1]].name, config_keys[keys[2]].name);
    }
    for (int i = 0; i < set; i++) {
        FILE *f = fopen(files[i], "r");
        if (f == NULL) {
            return fail_key(ld, keys[i], "cannot read %s: %s", files[i], strerror(errno));
        }
        fclose(f);
    }
    return 0;
}

/* raft.influxdb.url and raft.influxdb.database: both or neither; an http(s) URL with no query
 * (influx.c appends /write?db=...); a database name that needs no URL escaping. */
static int check_influxdb(struct loader *ld, const struct config *c)
{
    const char *u = c->influxdb_url, *db = c->influxdb_database;
    char shown_url[72];

    if (u[0] == '\0') {
        return fail_key(ld, K_INFLUX_DB, "set without raft.influxdb.url (set both, or neither)");
    }
    if ((strncasecmp(u, "http://", 7) != 0 && strncasecmp(u, "https://", 8) != 0) ||
        u[strcspn(u, "?#")] != '\0' || u[strcspn(u, " \t")] != '\0' || u[strncasecmp(u, "https", 5) == 0 ? 8 : 7] == '\0') {
        return fail_key(ld, K_INFLUX_URL, "'%s' is not an http:// or https:// URL without a query (expected e.g. "
                        "http://127.0.0.1:8086)", shown(u, shown_url));
    }
    const char *authority = strstr(u, "//") + 2;
    if (memchr(authority, '@', strcspn(authority, "/")) != NULL) {
        return fail_key(ld, K_INFLUX_URL, "user and password in the URL are not supported (they would show in logs "
                        "and error messages); give InfluxDB's address only");
    }
    if (db[0] == '\0') {
        return fail_key(ld, K_INFLUX_URL, "set without raft.influxdb.database (name the database to write to)");
    }
    for (const char *p = db; *p != '\0'; p++) {
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') || *p == '_' ||
              *p == '.' || *p == '-')) {
            return fail_key(ld, K_INFLUX_DB, "'%s' has a character other than letters, digits, '_', '.' and '-'",
                            shown(db, shown_url));
        }
    }
    return 0;
}

/* raft.peer.* and raft.api.* TLS files; raft.api.admins only with API TLS. */
static int check_tls(struct loader *ld)
{
    static const int peer_keys[3] = {K_PEER_CERT, K_PEER_KEY, K_PEER_CA};
    static const int api_keys[3] = {K_API_CERT, K_API_KEY, K_API_CA};
    const struct config *c = ld->c;
    const char *const peer_files[3] = {c->peer_cert_file, c->peer_key_file, c->peer_ca_file};
    const char *const api_files[3] = {c->api_cert_file, c->api_key_file, c->api_ca_file};

    if (check_tls_files(ld, peer_keys, peer_files) != 0 || check_tls_files(ld, api_keys, api_files) != 0) {
        return -1;
    }
    if (c->api_admins[0] != '\0' && c->api_cert_file[0] == '\0') {
        return fail_key(ld, K_API_ADMINS, "set without raft.api.cert-file: admins are certificate "
                        "names, so they need API TLS (set the three raft.api.*-file keys)");
    }
    return 0;
}

static int check_cross(struct loader *ld)
{
    const struct config *c = ld->c;
    const struct config_peer *self = NULL;
    int k;

    if (strcmp(c->node_address, c->api_address) == 0) {
        return fail_key(ld, later(ld, K_NODE_ADDRESS, K_API_ADDRESS), "raft.node.address and "
                        "raft.api.address are both %s (expected two different ports)",
                        c->api_address);
    }
    if (c->heartbeat_timeout_ms >= c->election_timeout_ms) {
        k = later(ld, K_HEARTBEAT_MS, K_ELECTION_MS);
        return k == K_HEARTBEAT_MS
            ? fail_key(ld, k, "%u is not less than raft.election-timeout-ms (%u)",
                       c->heartbeat_timeout_ms, c->election_timeout_ms)
            : fail_key(ld, k, "%u is not greater than raft.heartbeat-timeout-ms (%u)",
                       c->election_timeout_ms, c->heartbeat_timeout_ms);
    }
    if (c->heartbeat_interval_s >= c->heartbeat_timeout_s) {
        k = later(ld, K_HB_INTERVAL_S, K_HB_TIMEOUT_S);
        return k == K_HB_INTERVAL_S
            ? fail_key(ld, k, "%u is not less than kylin.server.leader-race.heart-beat-timeout "
                       "(%u)", c->heartbeat_interval_s, c->heartbeat_timeout_s)
            : fail_key(ld, k, "%u is not greater than "
                       "kylin.server.leader-race.heart-beat-interval (%u)",
                       c->heartbeat_timeout_s, c->heartbeat_interval_s);
    }
    if (c->autopilot_cleanup_ms < c->autopilot_dead_ms) {
        return fail_key(ld, K_AUTOPILOT_CLEANUP_MS, "%u is less than raft.autopilot.dead-member-timeout-ms "
                        "(%u); raise it", c->autopilot_cleanup_ms, c->autopilot_dead_ms);
    }
    if (config_kylin_attached(c)) {
        char kerr[256];
        if (kylin_api_base_check(c->kylin_url, kerr, sizeof kerr) != KYLIN_OK) {
            return fail_key(ld, K_KYLIN_URL, "%s (expected none or e.g. http://127.0.0.1:7070/kylin)", kerr);
        }
    }
    if (c->influxdb_url[0] != '\0' || c->influxdb_database[0] != '\0') {
        int rv = check_influxdb(ld, c);
        if (rv != 0) {
            return rv;
        }
    }
    if (c->n_peers > 0 && c->join[0] != '\0') {
        return fail_key(ld, later(ld, K_INITIAL_CLUSTER, K_JOIN), "raft.initial-cluster and "
                        "raft.join are both set (use raft.initial-cluster on the initial members, "
                        "raft.join on members added later)");
    }
    for (unsigned i = 0; i < c->n_peers; i++) {
        if (c->peers[i].id == c->node_id) {
            self = &c->peers[i];
        }
    }
    if (c->n_peers > 0 && self == NULL) {
        /* Bootstrapping a configuration without this member would give it a log that
         * conflicts with the cluster's; a member added later uses raft.join. */
        k = later(ld, K_INITIAL_CLUSTER, K_NODE_ID);
        return k == K_NODE_ID
            ? fail_key(ld, k, "%" PRIu64 " is not listed in raft.initial-cluster (list it, or use "
                       "raft.join on a member added later)", c->node_id)
            : fail_key(ld, k, "does not list raft.node.id %" PRIu64 " (list it, or use raft.join "
                       "on a member added later)", c->node_id);
    }
    if (self != NULL && strcmp(self->address, c->node_address) != 0) {
        return fail_key(ld, later(ld, K_INITIAL_CLUSTER, K_NODE_ADDRESS), "raft.initial-cluster "
                        "gives member %" PRIu64 " the address %s but raft.node.address is %s "
                        "(expected the same address)", c->node_id, self->address,
                        c->node_address);
    }
    if (check_tls(ld) != 0) {
        return -1;
    }
    if (strcmp(c->join, c->api_address) == 0) {
        return fail_key(ld, K_JOIN, "%s is this member's own raft.api.address (expected the API "
                        "address of a running member)", c->join);
    }
    return 0;
}

/* ---- public ---- */

void config_defaults(struct config *c)
{
    char reason[256];

    memset(c, 0, sizeof *c);
    for (int i = 0; i < K_COUNT; i++) {
        if (config_keys[i].default_value != NULL) {
            /* Cannot fail: test_config checks every default against its own key. */
            (void)set_value(c, &config_keys[i], config_keys[i].default_value, reason,
                            sizeof reason);
        }
    }
}

int config_load(struct config *c, const char *file, char *const overrides[], int n_overrides,
                char *err, size_t errlen)
{
    struct loader ld = {.c = c, .file = file, .overrides = overrides, .err = err,
                        .errlen = errlen};

    if (err != NULL && errlen > 0) {
        err[0] = '\0';
    }
    config_defaults(c);
    if (file != NULL && load_file(&ld) != 0) {
        return -1;
    }
    for (int i = 0; i < n_overrides; i++) {
        if (apply_override(&ld, i) != 0) {
            return -1;
        }
    }
    if (check_required(&ld) != 0 || check_cross(&ld) != 0) {
        return -1;
    }
    if (c->identity[0] == '\0') {
        memcpy(c->identity, c->api_address, sizeof c->identity);
    }
    return 0;
}

bool config_kylin_attached(const struct config *c)
{
    return c->kylin_url[0] != '\0' && strcasecmp(c->kylin_url, "none") != 0;
}

/* Properties-format reference: doc lines, a type line, then "#key=default". Stops at the
 * first write error; the caller sees it with ferror(OUT). */
void config_print_reference(FILE *out)
{
    char expected[160];

    if (fputs("# raftnode configuration reference: every key with its default, generated by\n"
              "# `raftnode --help-config` from the key table in raftnode/config.c (regenerate,\n"
              "# do not edit). Format as kylin.properties: key=value or key: value; lines that\n"
              "# start with '#' or '!' are comments; a trailing '\\' continues a line; a key\n"
              "# given twice takes its later value. Unknown keys and bad values are refused at\n"
              "# start. Override any key on the command line: raftnode -c FILE -D key=value\n",
              out) < 0) {
        return;
    }
    for (int i = 0; i < K_COUNT; i++) {
        const struct key_def *k = &config_keys[i];
        const char *doc = k->doc;

        if (fputs("\n", out) < 0) {
            return;
        }
        while (*doc != '\0') {
            size_t n = strcspn(doc, "\n");
            if (fprintf(out, "# %.*s\n", (int)n, doc) < 0) {
                return;
            }
            doc += n + (doc[n] == '\n');
        }
        describe(k, expected, sizeof expected);
        if (fprintf(out, "# Type: %s%s. %s%s%s\n#%s=%s\n", k->type == KT_UINT ? "integer " : "",
                    expected, k->flags & KF_REQUIRED ? "Required." : "Default: ",
                    k->flags & KF_REQUIRED ? "" : k->default_value != NULL ? k->default_value
                                                                          : "empty",
                    k->flags & KF_REQUIRED ? "" : ".", k->name,
                    k->default_value != NULL ? k->default_value : "") < 0) {
            return;
        }
    }
}

const char *config_role_name(int role)
{
    return role >= 0 && role <= CONFIG_ROLE_SPARE ? role_names[role] : "unknown";
}

const char *config_mode_name(int mode)
{
    return mode >= 0 && mode <= CONFIG_MODE_QUERY ? mode_names[mode] : "unknown";
}
