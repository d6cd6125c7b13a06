/* Unit tests for raftnode/config.c: properties syntax, every value type, error messages and
 * their order, -D overrides, cross-key checks, defaults, and conf/raftnode.properties.example
 * against config_print_reference. Run from the repository root. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "raftnode/config.h"

#define EXAMPLE_PATH "conf/raftnode.properties.example"

/* The five lines every good file needs; a test appends its own lines from line 6 on. */
#define BASE                                                                  \
    "raft.node.id=1\n"                                                        \
    "raft.node.address=127.0.0.1:7101\n"                                      \
    "raft.api.address=127.0.0.1:7201\n"                                       \
    "raft.data-dir=var/node1\n"                                               \
    "raft.initial-cluster=1=127.0.0.1:7101,2=127.0.0.1:7102,3=127.0.0.1:7103\n"

static const char *const all_keys[] = {
    "raft.node.id", "raft.node.address", "raft.api.address", "raft.data-dir",
    "raft.initial-cluster", "raft.join", "raft.election-timeout-ms", "raft.heartbeat-timeout-ms",
    "raft.tick-ms", "raft.snapshot-threshold", "raft.snapshot-trailing", "raft.apply.group-commit-ms", "raft.background-nice", "raft.metastore.url",
    "raft.log-level",
    "raft.api.max-frame-bytes", "raft.api.max-connections", "raft.api.idle-timeout-ms",
    "raft.api.slow-client-timeout-ms", "raft.api.max-pending-bytes", "raft.join-timeout-ms",
    "raft.metastore.password-file", "raft.engine.weight", "kylin.server.mode",
    "kylin.server.leader-race.enabled", "kylin.server.leader-race.heart-beat-timeout",
    "kylin.server.leader-race.heart-beat-interval", "kylin.metadata.url",
    "kylin.server.identity", "raft.peer.max-message-bytes", "raft.peer.cert-file",
    "raft.peer.key-file", "raft.peer.trusted-ca-file",
    "raft.api.cert-file", "raft.api.admins", "raft.api.key-file", "raft.api.trusted-ca-file",
    "raft.kylin.url", "raft.kylin.health-interval-ms", "raft.kylin.repair-ms", "raft.kylin.timeout-ms",
    "raft.kylin.follow-projects",
    "raft.http.address", "raft.influxdb.url", "raft.influxdb.database", "raft.influxdb.interval-ms",
    "raft.influxdb.max-buffered-points",
    "raft.autopilot.voters", "raft.autopilot.dead-member-timeout-ms", "raft.autopilot.cleanup-dead-members",
    "raft.autopilot.cleanup-after-ms", "raft.autopilot.readmit-spares",
};
#define N_KEYS (sizeof all_keys / sizeof all_keys[0])

static struct config cfg; /* large (about 30 KB): keep it off the stack */
static char path[64];
static char err[2048];

static void write_temp(const char *content)
{
    size_t len = strlen(content);
    int fd;

    snprintf(path, sizeof path, "/tmp/test_config.XXXXXX");
    fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, content, len), (ssize_t)len);
    assert_int_equal(close(fd), 0);
}

/* Loads CONTENT (NULL: no file) with the given overrides; returns config_load's result. */
static int load(const char *content, char *const *overrides, int n)
{
    int rc;

    memset(err, 'x', sizeof err); /* config_load must terminate what it writes */
    err[sizeof err - 1] = '\0';
    if (content == NULL) {
        return config_load(&cfg, NULL, overrides, n, err, sizeof err);
    }
    write_temp(content);
    rc = config_load(&cfg, path, overrides, n, err, sizeof err);
    assert_int_equal(unlink(path), 0);
    return rc;
}

/* Asserts that loading fails with EXPECTED, where a leading '@' stands for the temp path. */
static void expect_error(const char *content, char *const *overrides, int n, const char *expected)
{
    char want[2048];

    assert_int_equal(load(content, overrides, n), -1);
    if (expected[0] == '@') {
        snprintf(want, sizeof want, "%s%s", path, expected + 1);
    } else {
        snprintf(want, sizeof want, "%s", expected);
    }
    assert_string_equal(err, want);
}

static void expect_ok(const char *content, char *const *overrides, int n)
{
    int rc = load(content, overrides, n);
    if (rc != 0) {
        fail_msg("config_load failed: %s", err);
    }
}

/* ---- good files and defaults ---- */

static void test_defaults(void **state)
{
    (void)state;
    memset(&cfg, 0x5a, sizeof cfg);
    config_defaults(&cfg);
    assert_int_equal(cfg.node_id, 0);
    assert_string_equal(cfg.node_address, "");
    assert_string_equal(cfg.api_address, "");
    assert_string_equal(cfg.data_dir, "");
    assert_int_equal(cfg.n_peers, 0);
    assert_string_equal(cfg.join, "");
    assert_int_equal(cfg.election_timeout_ms, 1000);
    assert_int_equal(cfg.heartbeat_timeout_ms, 100);
    assert_int_equal(cfg.tick_ms, 10);
    assert_int_equal(cfg.snapshot_threshold, 1024);
    assert_int_equal(cfg.snapshot_trailing, 128);
    assert_int_equal(cfg.background_nice, 10);
    assert_int_equal(cfg.api_max_connections, 1024);
    assert_int_equal(cfg.api_idle_timeout_ms, 300000);
    assert_int_equal(cfg.api_slow_client_timeout_ms, 30000);
    assert_int_equal(cfg.api_max_pending_bytes, 4194304);
    assert_int_equal(cfg.join_timeout_ms, 60000);
    assert_string_equal(cfg.metastore_url, "");
    assert_int_equal(cfg.log_level, LOG_LEVEL_INFO);
    assert_int_equal(cfg.max_frame_bytes, 1048576);
    assert_int_equal(cfg.engine_weight, 1);
    assert_int_equal(cfg.server_mode, CONFIG_MODE_ALL);
    assert_true(cfg.leader_race_enabled);
    assert_int_equal(cfg.heartbeat_timeout_s, 60);
    assert_int_equal(cfg.heartbeat_interval_s, 30);
    assert_string_equal(cfg.metadata_url, "");
    assert_string_equal(cfg.identity, "");
    assert_string_equal(cfg.kylin_url, "none");
    assert_false(config_kylin_attached(&cfg));
    assert_int_equal(cfg.kylin_health_interval_ms, 1000);
    assert_int_equal(cfg.kylin_repair_ms, 2000);
    assert_int_equal(cfg.kylin_timeout_ms, 2000);
    /* projects follow Kylin by default; it only runs with raft.kylin.url set (docs/kylin.md) */
    assert_true(cfg.kylin_follow_projects);
}

static void test_minimal_file_gets_defaults(void **state)
{
    (void)state;
    expect_ok(BASE, NULL, 0);
    assert_int_equal(cfg.node_id, 1);
    assert_int_equal(cfg.election_timeout_ms, 1000);
    assert_int_equal(cfg.heartbeat_timeout_ms, 100);
    assert_int_equal(cfg.log_level, LOG_LEVEL_INFO);
    assert_true(cfg.leader_race_enabled);
    assert_int_equal(cfg.heartbeat_timeout_s, 60);
    assert_int_equal(cfg.heartbeat_interval_s, 30);
    assert_string_equal(cfg.join, "");
    /* kylin.server.identity defaults to the API address */
    assert_string_equal(cfg.identity, "127.0.0.1:7201");
    assert_string_equal(err, "");
}

static void test_good_full_file(void **state)
{
    (void)state;
    expect_ok("# a comment\n"
              "! another comment\n"
              "\n"
              "   \t\n"
              "raft.node.id=2\n"
              "raft.node.address = 10.0.0.2:7101\n"
              "raft.api.address: 10.0.0.2:7201\n"
              "   raft.data-dir   =   /var/lib/raftnode   \n"
              "raft.initial-cluster = 1=10.0.0.1:7101, \\\n"
              "                       2=10.0.0.2:7101,\\\n"
              "    3=10.0.0.3:7101/standby,4=10.0.0.4:7101/spare\n"
              "raft.election-timeout-ms=2000\n"
              "raft.heartbeat-timeout-ms=200\n"
              "raft.tick-ms=0\n"
              "raft.background-nice=19\n"
              "raft.snapshot-threshold=4096\n"
              "raft.snapshot-trailing=0\n"
              "raft.metastore.url=kylin_metadata@jdbc,url=jdbc:postgresql://db:5432/kylin\n"
              "raft.log-level=DEBUG\n"
              "raft.api.max-frame-bytes=67108864\n"
              "raft.engine.weight=3\n"
              "kylin.server.mode=job\n"
              "kylin.server.leader-race.enabled=off\n"
              "kylin.server.leader-race.heart-beat-timeout=3\n"
              "kylin.server.leader-race.heart-beat-interval=1\n"
              "kylin.metadata.url=kylin_metadata@jdbc,driverClassName=org.postgresql.Driver,"
              "url=jdbc:postgresql://h:5432/kylin,username=u,password=p\n"
              "kylin.server.identity=kylin-2.example.com:7070\n",
              NULL, 0);
    assert_int_equal(cfg.node_id, 2);
    assert_string_equal(cfg.node_address, "10.0.0.2:7101");
    assert_string_equal(cfg.api_address, "10.0.0.2:7201");
    assert_string_equal(cfg.data_dir, "/var/lib/raftnode");
    assert_int_equal(cfg.n_peers, 4);
    assert_int_equal(cfg.peers[0].id, 1);
    assert_string_equal(cfg.peers[0].address, "10.0.0.1:7101");
    assert_int_equal(cfg.peers[0].role, CONFIG_ROLE_VOTER);
    assert_int_equal(cfg.peers[1].id, 2);
    assert_string_equal(cfg.peers[1].address, "10.0.0.2:7101");
    assert_int_equal(cfg.peers[2].role, CONFIG_ROLE_STANDBY);
    assert_string_equal(cfg.peers[2].address, "10.0.0.3:7101");
    assert_int_equal(cfg.peers[3].id, 4);
    assert_int_equal(cfg.peers[3].role, CONFIG_ROLE_SPARE);
    assert_string_equal(cfg.peers[3].address, "10.0.0.4:7101");
    assert_int_equal(cfg.election_timeout_ms, 2000);
    assert_int_equal(cfg.heartbeat_timeout_ms, 200);
    assert_int_equal(cfg.tick_ms, 0);
    assert_int_equal(cfg.background_nice, 19);
    assert_int_equal(cfg.snapshot_threshold, 4096);
    assert_int_equal(cfg.snapshot_trailing, 0);
    assert_string_equal(cfg.metastore_url, "kylin_metadata@jdbc,url=jdbc:postgresql://db:5432/kylin");
    assert_int_equal(cfg.log_level, LOG_LEVEL_DEBUG);
    assert_int_equal(cfg.max_frame_bytes, 67108864);
    assert_int_equal(cfg.engine_weight, 3);
    assert_int_equal(cfg.server_mode, CONFIG_MODE_JOB);
    assert_false(cfg.leader_race_enabled);
    assert_int_equal(cfg.heartbeat_timeout_s, 3);
    assert_int_equal(cfg.heartbeat_interval_s, 1);
    assert_string_equal(cfg.metadata_url,
                        "kylin_metadata@jdbc,driverClassName=org.postgresql.Driver,"
                        "url=jdbc:postgresql://h:5432/kylin,username=u,password=p");
    assert_string_equal(cfg.identity, "kylin-2.example.com:7070");
}

static void test_join_instead_of_initial_cluster(void **state)
{
    (void)state;
    expect_ok("raft.node.id=4\n"
              "raft.node.address=127.0.0.1:7104\n"
              "raft.api.address=127.0.0.1:7204\n"
              "raft.data-dir=var/node4\n"
              "raft.join=127.0.0.1:7201\n",
              NULL, 0);
    assert_int_equal(cfg.n_peers, 0);
    assert_string_equal(cfg.join, "127.0.0.1:7201");
}

static void test_syntax_details(void **state)
{
    (void)state;
    /* CRLF endings, a later duplicate wins, escapes, trailing spaces trimmed unless escaped,
     * a continued comment is no continuation, EOF inside a continuation. */
    expect_ok("raft.node.id=1\r\n"
              "raft.node.address=127.0.0.1:7101\r\n"
              "raft.api.address=127.0.0.1:7201\r\n"
              "raft.data-dir=var/x\r\n"
              "raft.data-dir=var/node\\u00e9\\\\a\\:b\\ \r\n"
              "raft.initial-cluster=1=127.0.0.1:7101\n"
              "raft.engine.weight=2\n"
              "# a comment ending in a backslash \\\n"
              "raft.engine.weight=5   \t\n"
              "kylin.metadata.url=a\\\n"
              "   b\\\n",
              NULL, 0);
    assert_string_equal(cfg.data_dir, "var/node\xc3\xa9\\a:b ");
    assert_int_equal(cfg.n_peers, 1);
    assert_int_equal(cfg.engine_weight, 5);
    assert_string_equal(cfg.metadata_url, "ab");
}

static void test_bool_spellings(void **state)
{
    static const char *const trues[] = {"true", "TRUE", "yes", "On", "1"};
    static const char *const falses[] = {"false", "False", "no", "OFF", "0"};
    char arg[80];
    char *ov[1] = {arg};

    (void)state;
    for (size_t i = 0; i < 5; i++) {
        snprintf(arg, sizeof arg, "kylin.server.leader-race.enabled=%s", trues[i]);
        expect_ok(BASE, ov, 1);
        assert_true(cfg.leader_race_enabled);
        snprintf(arg, sizeof arg, "kylin.server.leader-race.enabled=%s", falses[i]);
        expect_ok(BASE, ov, 1);
        assert_false(cfg.leader_race_enabled);
    }
}

/* ---- bad values, one kind each ---- */

static void test_bad_int(void **state)
{
    (void)state;
    expect_error(BASE "raft.election-timeout-ms=abc\n", NULL, 0,
                 "@:6: raft.election-timeout-ms: 'abc' is not an integer (expected 50..60000)");
    expect_error(BASE "raft.election-timeout-ms=-1\n", NULL, 0,
                 "@:6: raft.election-timeout-ms: '-1' is not an integer (expected 50..60000)");
    expect_error(BASE "raft.election-timeout-ms=1000ms\n", NULL, 0,
                 "@:6: raft.election-timeout-ms: '1000ms' is not an integer (expected 50..60000)");
    expect_error(BASE "raft.engine.weight=\n", NULL, 0,
                 "@:6: raft.engine.weight: empty value (expected 1..1000000)");
}

static void test_out_of_bounds(void **state)
{
    (void)state;
    expect_error(BASE "raft.election-timeout-ms=49\n", NULL, 0,
                 "@:6: raft.election-timeout-ms: 49 is out of range (expected 50..60000)");
    expect_error(BASE "raft.election-timeout-ms=60001\n", NULL, 0,
                 "@:6: raft.election-timeout-ms: 60001 is out of range (expected 50..60000)");
    expect_error(BASE "raft.background-nice=20\n", NULL, 0,
                 "@:6: raft.background-nice: 20 is out of range (expected 0..19)");
    expect_error(BASE "raft.api.max-frame-bytes=1023\n", NULL, 0,
                 "@:6: raft.api.max-frame-bytes: 1023 is out of range (expected 1024..67108864)");
    expect_error(BASE "raft.snapshot-threshold=99999999999999999999999\n", NULL, 0,
                 "@:6: raft.snapshot-threshold: 99999999999999999999999 is out of range "
                 "(expected 2..1000000000)");
    expect_error("raft.node.id=0\n", NULL, 0,
                 "@:1: raft.node.id: 0 is out of range (expected 1..9223372036854775807)");
    /* bounds themselves are accepted */
    char *ov[] = {"raft.election-timeout-ms=60000", "raft.heartbeat-timeout-ms=10",
                  "raft.snapshot-trailing=0", "kylin.server.leader-race.heart-beat-timeout=86400"};
    expect_ok(BASE, ov, 4);
    assert_int_equal(cfg.election_timeout_ms, 60000);
    assert_int_equal(cfg.heartbeat_timeout_ms, 10);
}

/* The client API's limits (issue 12): -D overrides, bounds named in the message. */
static void test_api_limits(void **state)
{
    char *ov[] = {"raft.api.max-connections=1", "raft.api.idle-timeout-ms=100",
                  "raft.api.slow-client-timeout-ms=3600000", "raft.api.max-pending-bytes=65536"};
    char *bad[] = {"raft.api.max-pending-bytes=65535"};

    (void)state;
    expect_ok(BASE, ov, 4);
    assert_int_equal(cfg.api_max_connections, 1);
    assert_int_equal(cfg.api_idle_timeout_ms, 100);
    assert_int_equal(cfg.api_slow_client_timeout_ms, 3600000);
    assert_int_equal(cfg.api_max_pending_bytes, 65536);
    expect_error(BASE "raft.api.max-connections=0\n", NULL, 0,
                 "@:6: raft.api.max-connections: 0 is out of range (expected 1..1000000)");
    expect_error(BASE, bad, 1, "-D raft.api.max-pending-bytes=65535: raft.api.max-pending-bytes: 65535 is out "
                 "of range (expected 65536..1073741824)");
}

/* raft.influxdb.*: defaults, both url and database or neither, URL and name checks. */
static void test_influxdb_keys(void **state)
{
    char *ov[] = {"raft.influxdb.url=http://127.0.0.1:8086/", "raft.influxdb.database=kylin_metrics-1.x",
                  "raft.influxdb.interval-ms=250", "raft.influxdb.max-buffered-points=100"};

    (void)state;
    expect_ok(BASE, NULL, 0);
    assert_string_equal(cfg.influxdb_url, "");
    assert_int_equal(cfg.influxdb_interval_ms, 10000);
    assert_int_equal(cfg.influxdb_max_points, 100000);
    expect_ok(BASE, ov, 4);
    assert_string_equal(cfg.influxdb_url, "http://127.0.0.1:8086/");
    assert_string_equal(cfg.influxdb_database, "kylin_metrics-1.x");
    assert_int_equal(cfg.influxdb_interval_ms, 250);
    assert_int_equal(cfg.influxdb_max_points, 100);
    expect_error(BASE "raft.influxdb.url=http://127.0.0.1:8086\n", NULL, 0,
                 "@:6: raft.influxdb.url: set without raft.influxdb.database (name the database to write to)");
    expect_error(BASE "raft.influxdb.database=raft\n", NULL, 0,
                 "@:6: raft.influxdb.database: set without raft.influxdb.url (set both, or neither)");
    expect_error(BASE "raft.influxdb.url=127.0.0.1:8086\nraft.influxdb.database=raft\n", NULL, 0,
                 "@:6: raft.influxdb.url: '127.0.0.1:8086' is not an http:// or https:// URL without a query "
                 "(expected e.g. http://127.0.0.1:8086)");
    expect_error(BASE "raft.influxdb.url=http://h:8086/write?db=x\nraft.influxdb.database=raft\n", NULL, 0,
                 "@:6: raft.influxdb.url: 'http://h:8086/write?db=x' is not an http:// or https:// URL without a "
                 "query (expected e.g. http://127.0.0.1:8086)");
    expect_error(BASE "raft.influxdb.url=http://\nraft.influxdb.database=raft\n", NULL, 0,
                 "@:6: raft.influxdb.url: 'http://' is not an http:// or https:// URL without a query "
                 "(expected e.g. http://127.0.0.1:8086)");
    expect_error(BASE "raft.influxdb.url=http://u:secret@h:8086\nraft.influxdb.database=raft\n", NULL, 0,
                 "@:6: raft.influxdb.url: user and password in the URL are not supported (they would show in logs "
                 "and error messages); give InfluxDB's address only");
    expect_ok(BASE "raft.influxdb.url=http://h:8086/a@b\nraft.influxdb.database=raft\n", NULL, 0);
    expect_error(BASE "raft.influxdb.url=http://h:8086\nraft.influxdb.database=a&b\n", NULL, 0,
                 "@:7: raft.influxdb.database: 'a&b' has a character other than letters, digits, '_', '.' and '-'");
    expect_error(BASE "raft.influxdb.interval-ms=99\n", NULL, 0,
                 "@:6: raft.influxdb.interval-ms: 99 is out of range (expected 100..3600000)");
}

static void test_bad_address(void **state)
{
    (void)state;
    expect_error(BASE "raft.api.address=localhost:7201\n", NULL, 0,
                 "@:6: raft.api.address: 'localhost:7201' is not an IPv4 address (expected "
                 "IPv4:port with a dotted-quad address, e.g. 127.0.0.1:7101: libraft's TCP "
                 "transport takes no host names)");
    expect_error(BASE "raft.api.address=127.0.0.1\n", NULL, 0,
                 "@:6: raft.api.address: '127.0.0.1' has no port (expected IPv4:port, e.g. "
                 "127.0.0.1:7101)");
    expect_error(BASE "raft.api.address=127.0.0.1:0\n", NULL, 0,
                 "@:6: raft.api.address: '127.0.0.1:0' has no valid port (expected a port "
                 "1..65535 without leading zeros)");
    expect_error(BASE "raft.api.address=127.0.0.1:65536\n", NULL, 0,
                 "@:6: raft.api.address: '127.0.0.1:65536' has no valid port (expected a port "
                 "1..65535 without leading zeros)");
    expect_error(BASE "raft.api.address=127.0.0.1:07201\n", NULL, 0,
                 "@:6: raft.api.address: '127.0.0.1:07201' has no valid port (expected a port "
                 "1..65535 without leading zeros)");
    expect_error(BASE "raft.join=1.2.3:7201\n", NULL, 0,
                 "@:6: raft.join: '1.2.3:7201' is not an IPv4 address (expected IPv4:port with a "
                 "dotted-quad address, e.g. 127.0.0.1:7101: libraft's TCP transport takes no "
                 "host names)");
    expect_error(BASE "raft.api.address=0.0.0.0:7201\n", NULL, 0,
                 "@:6: raft.api.address: '0.0.0.0:7201': 0.0.0.0 is not an address others can "
                 "connect to (expected this host's IPv4 address, e.g. 127.0.0.1:7101)");
    expect_error(BASE "raft.node.address=\n", NULL, 0,
                 "@:6: raft.node.address: empty value (expected IPv4:port, e.g. 127.0.0.1:7101)");
    expect_error(BASE "raft.data-dir=\n", NULL, 0,
                 "@:6: raft.data-dir: empty value (expected non-empty text of at most 1023 "
                 "bytes)");
}

static void test_bad_identity(void **state)
{
    (void)state;
    expect_error(BASE "kylin.server.identity=:7070\n", NULL, 0,
                 "@:6: kylin.server.identity: ':7070' is not host:port (expected a non-empty "
                 "host, ':' and a port, e.g. 10.0.0.5:7070)");
    expect_error(BASE "kylin.server.identity=host\n", NULL, 0,
                 "@:6: kylin.server.identity: 'host' is not host:port (expected a non-empty "
                 "host, ':' and a port, e.g. 10.0.0.5:7070)");
    expect_error(BASE "kylin.server.identity=a|b:7070\n", NULL, 0,
                 "@:6: kylin.server.identity: 'a|b:7070': the host contains a space, control "
                 "character or '|' (expected host:port, e.g. 10.0.0.5:7070)");
    expect_error(BASE "kylin.server.identity=host:x\n", NULL, 0,
                 "@:6: kylin.server.identity: 'host:x' has no valid port (expected a port "
                 "1..65535 without leading zeros)");
    /* empty means "unset": the API address */
    expect_ok(BASE "kylin.server.identity=\n", NULL, 0);
    assert_string_equal(cfg.identity, "127.0.0.1:7201");
}

static void test_bad_bool(void **state)
{
    (void)state;
    expect_error(BASE "kylin.server.leader-race.enabled=maybe\n", NULL, 0,
                 "@:6: kylin.server.leader-race.enabled: 'maybe' is not a boolean (expected true "
                 "or false)");
}

static void test_bad_enum(void **state)
{
    (void)state;
    expect_error(BASE "kylin.server.mode=leader\n", NULL, 0,
                 "@:6: kylin.server.mode: 'leader' is not valid (expected one of all, job, "
                 "query)");
    expect_error(BASE "raft.log-level=verbose\n", NULL, 0,
                 "@:6: raft.log-level: 'verbose' is not valid (expected one of debug, info, "
                 "warn, error)");
}

static void test_bad_initial_cluster(void **state)
{
    (void)state;
#define HEAD                                                                  \
    "raft.node.id=1\n"                                                        \
    "raft.node.address=127.0.0.1:7101\n"                                      \
    "raft.api.address=127.0.0.1:7201\n"                                       \
    "raft.data-dir=var/node1\n"
    expect_error(HEAD "raft.initial-cluster=1=127.0.0.1:7101,1=127.0.0.1:7102\n", NULL, 0,
                 "@:5: raft.initial-cluster: entry 2: id 1 is already entry 1 (ids must be "
                 "unique)");
    expect_error(HEAD "raft.initial-cluster=1=127.0.0.1:7101,2=127.0.0.1:7101\n", NULL, 0,
                 "@:5: raft.initial-cluster: entry 2: address 127.0.0.1:7101 is already entry 1 "
                 "(addresses must be unique)");
    expect_error(HEAD "raft.initial-cluster=1=127.0.0.1:7101,2=127.0.0.1:7102/observer\n", NULL,
                 0,
                 "@:5: raft.initial-cluster: entry 2: unknown role '/observer' (expected "
                 "/standby or /spare after the address, nothing for a voter)");
    expect_error(HEAD "raft.initial-cluster=1=127.0.0.1:7101,127.0.0.1:7102\n", NULL, 0,
                 "@:5: raft.initial-cluster: entry 2 '127.0.0.1:7102' has no '=' (expected "
                 "ID=IPv4:port[/standby|/spare])");
    expect_error(HEAD "raft.initial-cluster=0=127.0.0.1:7101\n", NULL, 0,
                 "@:5: raft.initial-cluster: entry 1: id '0' is not an integer "
                 "1..9223372036854775807 (expected ID=IPv4:port[/standby|/spare])");
    expect_error(HEAD "raft.initial-cluster=x=127.0.0.1:7101\n", NULL, 0,
                 "@:5: raft.initial-cluster: entry 1: id 'x' is not an integer "
                 "1..9223372036854775807 (expected ID=IPv4:port[/standby|/spare])");
    expect_error(HEAD "raft.initial-cluster=1=127.0.0.1:7101,\n", NULL, 0,
                 "@:5: raft.initial-cluster: entry 2 is empty (expected "
                 "ID=IPv4:port[/standby|/spare],...)");
    expect_error(HEAD "raft.initial-cluster=1=host:7101\n", NULL, 0,
                 "@:5: raft.initial-cluster: entry 1: 'host:7101' is not an IPv4 address "
                 "(expected IPv4:port with a dotted-quad address, e.g. 127.0.0.1:7101: libraft's "
                 "TCP transport takes no host names)");
    expect_error(HEAD "raft.initial-cluster=1=127.0.0.1:7101/spare,2=127.0.0.1:7102/standby\n",
                 NULL, 0,
                 "@:5: raft.initial-cluster: lists no voter (at least one entry needs no "
                 "/standby or /spare)");
#undef HEAD
}

static void test_too_many_peers(void **state)
{
    static char text[8192];
    size_t used;

    (void)state;
    used = (size_t)snprintf(text, sizeof text, "raft.initial-cluster=");
    for (int i = 1; i <= CONFIG_MAX_PEERS + 1; i++) {
        used += (size_t)snprintf(text + used, sizeof text - used, "%s%d=127.0.0.1:%d",
                                 i > 1 ? "," : "", i, 7100 + i);
    }
    char *ov[] = {text};
    assert_int_equal(load(BASE, ov, 1), -1);
    /* "-D <the whole override>: raft.initial-cluster: reason" */
    assert_int_equal(strncmp(err, "-D ", 3), 0);
    assert_int_equal(strncmp(err + 3, text, used), 0);
    assert_string_equal(err + 3 + used,
                        ": raft.initial-cluster: more than 64 entries (at most 64 members)");
    /* 64 fit */
    *strrchr(text, ',') = '\0';
    expect_ok(BASE, ov, 1);
    assert_int_equal(cfg.n_peers, CONFIG_MAX_PEERS);
}

/* ---- syntax errors and unknown keys ---- */

static void test_unknown_key_line_number(void **state)
{
    (void)state;
    expect_error(BASE "raft.nodes.id=1\n", NULL, 0,
                 "@:6: raft.nodes.id: unknown key; see raftnode --help-config");
    /* a continued value spans lines 2-4; the unknown key is on line 5 */
    expect_error("# comment\n"
                 "raft.initial-cluster=1=127.0.0.1:7101,\\\n"
                 "  2=127.0.0.1:7102,\\\n"
                 "  3=127.0.0.1:7103\n"
                 "raft.election.timeout=100\n",
                 NULL, 0, "@:5: raft.election.timeout: unknown key; see raftnode --help-config");
    /* an error inside a continued value names its first line */
    expect_error("\n"
                 "raft.initial-cluster=1=127.0.0.1:7101,\\\n"
                 "  2=127.0.0.1:7102/foo\n",
                 NULL, 0,
                 "@:2: raft.initial-cluster: entry 2: unknown role '/foo' (expected /standby or "
                 "/spare after the address, nothing for a voter)");
}

static void test_line_without_separator(void **state)
{
    (void)state;
    expect_error(BASE "raft.engine.weight 3\n", NULL, 0,
                 "@:6: raft.engine.weight: line has no '=' or ':' after the key (expected "
                 "key=value or key: value)");
    expect_error(BASE "just-a-word\n", NULL, 0,
                 "@:6: just-a-word: line has no '=' or ':' after the key (expected key=value or "
                 "key: value)");
    expect_error(BASE "=3\n", NULL, 0, "@:6: line has no key before '=' (expected key=value)");
    expect_error(BASE "kylin.metadata.url=\\u12G4\n", NULL, 0,
                 "@:6: kylin.metadata.url: malformed \\u escape (expected \\u and 4 hex digits, "
                 "not \\u0000)");
}

static void test_line_too_long(void **state)
{
    static char text[20000];

    (void)state;
    memcpy(text, BASE "kylin.metadata.url=", strlen(BASE "kylin.metadata.url="));
    size_t used = strlen(BASE "kylin.metadata.url=");
    memset(text + used, 'a', 9000);
    memcpy(text + used + 9000, "\n", 2);
    expect_error(text, NULL, 0, "@:6: line is longer than 8191 bytes");
    /* a URL that fits the line but not the field */
    memcpy(text + used + 3000, "\n", 2);
    expect_error(text, NULL, 0,
                 "@:6: kylin.metadata.url: value is 3000 bytes long (expected at most 2047)");
}

static void test_unreadable_file(void **state)
{
    (void)state;
    assert_int_equal(config_load(&cfg, "/nonexistent/raftnode.properties", NULL, 0, err,
                                 sizeof err), -1);
    assert_string_equal(err, "/nonexistent/raftnode.properties: cannot read: No such file or "
                             "directory");
    assert_int_equal(config_load(&cfg, "/tmp", NULL, 0, err, sizeof err), -1);
    assert_string_equal(err, "/tmp: cannot read: Is a directory");
}

/* ---- required keys and error order ---- */

static void test_missing_required(void **state)
{
    (void)state;
    expect_error("raft.node.address=127.0.0.1:7101\n"
                 "raft.api.address=127.0.0.1:7201\n"
                 "raft.data-dir=var/node1\n"
                 "raft.initial-cluster=1=127.0.0.1:7101\n",
                 NULL, 0, "@: raft.node.id: required key missing");
    expect_error("raft.node.id=1\n"
                 "raft.node.address=127.0.0.1:7101\n"
                 "raft.api.address=127.0.0.1:7201\n"
                 "raft.initial-cluster=1=127.0.0.1:7101\n",
                 NULL, 0, "@: raft.data-dir: required key missing");
    expect_error("raft.node.id=1\n"
                 "raft.node.address=127.0.0.1:7101\n"
                 "raft.api.address=127.0.0.1:7201\n"
                 "raft.data-dir=var/node1\n",
                 NULL, 0,
                 "@: raft.initial-cluster: required key missing (set raft.initial-cluster on "
                 "the founding members, raft.join on members added later)");
    expect_error("", NULL, 0, "@: raft.node.id: required key missing");
    /* without a file the prefix says where the settings came from */
    expect_error(NULL, NULL, 0, "command line: raft.node.id: required key missing");
}

static void test_unknown_key_before_missing_key(void **state)
{
    (void)state;
    /* raft.node.id is missing, but the unknown key on line 3 is reported first */
    expect_error("raft.node.address=127.0.0.1:7101\n"
                 "raft.api.address=127.0.0.1:7201\n"
                 "raft.nodeid=1\n",
                 NULL, 0, "@:3: raft.nodeid: unknown key; see raftnode --help-config");
    /* the first bad line wins over later ones */
    expect_error("raft.engine.weight=0\n"
                 "bogus=1\n",
                 NULL, 0, "@:1: raft.engine.weight: 0 is out of range (expected 1..1000000)");
    /* a bad override is also reported before a missing key */
    char *ov[] = {"raft.log-level=loud"};
    expect_error("raft.node.address=127.0.0.1:7101\n", ov, 1,
                 "-D raft.log-level=loud: raft.log-level: 'loud' is not valid (expected one of "
                 "debug, info, warn, error)");
}

/* ---- -D overrides ---- */

static void test_override_wins(void **state)
{
    char *ov[] = {"raft.election-timeout-ms=3000", " raft.engine.weight = 7 ",
                  "raft.initial-cluster=", "raft.join=127.0.0.1:7202",
                  "raft.metastore.url=a=b:c"};

    (void)state;
    expect_ok(BASE "raft.election-timeout-ms=500\n", ov, 5);
    assert_int_equal(cfg.election_timeout_ms, 3000);
    assert_int_equal(cfg.engine_weight, 7);
    assert_int_equal(cfg.n_peers, 0);
    assert_string_equal(cfg.join, "127.0.0.1:7202");
    assert_string_equal(cfg.metastore_url, "a=b:c");
    /* the later of two overrides wins */
    char *ov2[] = {"raft.engine.weight=2", "raft.engine.weight=9"};
    expect_ok(BASE, ov2, 2);
    assert_int_equal(cfg.engine_weight, 9);
    /* overrides alone make a configuration */
    char *ov3[] = {"raft.node.id=1", "raft.node.address=127.0.0.1:7101",
                   "raft.api.address=127.0.0.1:7201", "raft.data-dir=d",
                   "raft.join=127.0.0.1:7202"};
    expect_ok(NULL, ov3, 5);
    assert_int_equal(cfg.node_id, 1);
}

static void test_override_errors(void **state)
{
    (void)state;
    char *bad_value[] = {"raft.engine.weight=2", "raft.election-timeout-ms=abc"};
    expect_error(BASE, bad_value, 2,
                 "-D raft.election-timeout-ms=abc: raft.election-timeout-ms: 'abc' is not an "
                 "integer (expected 50..60000)");
    char *unknown[] = {"raft.weight=2"};
    expect_error(BASE, unknown, 1,
                 "-D raft.weight=2: raft.weight: unknown key; see raftnode --help-config");
    char *no_eq[] = {"raft.engine.weight"};
    expect_error(BASE, no_eq, 1, "-D raft.engine.weight: no '=' (expected -D key=value)");
    char *no_key[] = {" =3"};
    expect_error(BASE, no_key, 1, "-D  =3: no key before '=' (expected -D key=value)");
}

/* ---- cross-key checks ---- */

static void test_cross_heartbeat_vs_election(void **state)
{
    (void)state;
    expect_error(BASE "raft.heartbeat-timeout-ms=1000\n", NULL, 0,
                 "@:6: raft.heartbeat-timeout-ms: 1000 is not less than raft.election-timeout-ms "
                 "(1000)");
    expect_error(BASE "raft.heartbeat-timeout-ms=300\nraft.election-timeout-ms=200\n", NULL, 0,
                 "@:7: raft.election-timeout-ms: 200 is not greater than "
                 "raft.heartbeat-timeout-ms (300)");
    char *ov[] = {"raft.election-timeout-ms=100"};
    expect_error(BASE, ov, 1,
                 "-D raft.election-timeout-ms=100: raft.election-timeout-ms: 100 is not greater "
                 "than raft.heartbeat-timeout-ms (100)");
}

static void test_cross_kylin_heartbeat(void **state)
{
    (void)state;
    expect_error(BASE "kylin.server.leader-race.heart-beat-interval=60\n", NULL, 0,
                 "@:6: kylin.server.leader-race.heart-beat-interval: 60 is not less than "
                 "kylin.server.leader-race.heart-beat-timeout (60)");
    expect_error(BASE "kylin.server.leader-race.heart-beat-timeout=30\n", NULL, 0,
                 "@:6: kylin.server.leader-race.heart-beat-timeout: 30 is not greater than "
                 "kylin.server.leader-race.heart-beat-interval (30)");
}

/* raft.kylin.url: none (any case) or empty = no Kylin; otherwise kylin_api_base_check's rules. */
static void test_kylin_url(void **state)
{
    (void)state;
    expect_ok(BASE, NULL, 0);
    assert_false(config_kylin_attached(&cfg));
    expect_ok(BASE "raft.kylin.url=NONE\n", NULL, 0);
    assert_false(config_kylin_attached(&cfg));
    expect_ok(BASE "raft.kylin.url=http://127.0.0.1:7070/kylin\nraft.kylin.repair-ms=500\n", NULL, 0);
    assert_true(config_kylin_attached(&cfg));
    assert_string_equal(cfg.kylin_url, "http://127.0.0.1:7070/kylin");
    assert_int_equal(cfg.kylin_repair_ms, 500);
    assert_int_equal(load(BASE "raft.kylin.url=ftp://127.0.0.1/kylin\n", NULL, 0), -1);
    assert_non_null(strstr(err, ":6: raft.kylin.url: "));
    assert_non_null(strstr(err, "expected none or e.g. http://127.0.0.1:7070/kylin"));
    assert_int_equal(load(BASE "raft.kylin.url=http://h:7070/kylin?x=1\n", NULL, 0), -1);
    assert_non_null(strstr(err, "raft.kylin.url"));
    assert_int_equal(load(BASE "raft.kylin.timeout-ms=10\n", NULL, 0), -1);
    assert_non_null(strstr(err, "raft.kylin.timeout-ms"));
}

static void test_autopilot_keys(void **state)
{
    (void)state;
    expect_ok(BASE, NULL, 0);
    assert_int_equal(cfg.autopilot_voters, 0);
    assert_int_equal(cfg.autopilot_dead_ms, 10000);
    assert_false(cfg.autopilot_cleanup);
    assert_int_equal(cfg.autopilot_cleanup_ms, 600000);
    assert_true(cfg.autopilot_readmit);
    expect_ok(BASE "raft.autopilot.voters=5\nraft.autopilot.dead-member-timeout-ms=3000\n"
                   "raft.autopilot.cleanup-dead-members=true\nraft.autopilot.cleanup-after-ms=3000\n"
                   "raft.autopilot.readmit-spares=false\n", NULL, 0);
    assert_false(cfg.autopilot_readmit);
    assert_int_equal(cfg.autopilot_voters, 5);
    assert_int_equal(cfg.autopilot_dead_ms, 3000);
    assert_true(cfg.autopilot_cleanup);
    assert_int_equal(cfg.autopilot_cleanup_ms, 3000);
    expect_error(BASE "raft.autopilot.cleanup-after-ms=5000\n", NULL, 0,
                 "@:6: raft.autopilot.cleanup-after-ms: 5000 is less than raft.autopilot.dead-member-timeout-ms "
                 "(10000); raise it");
    assert_int_equal(load(BASE "raft.autopilot.voters=65\n", NULL, 0), -1);
    assert_non_null(strstr(err, "raft.autopilot.voters"));
    assert_int_equal(load(BASE "raft.autopilot.dead-member-timeout-ms=99\n", NULL, 0), -1);
    assert_non_null(strstr(err, "raft.autopilot.dead-member-timeout-ms"));
}

static void test_cross_membership(void **state)
{
    (void)state;
    expect_error(BASE "raft.join=127.0.0.1:7202\n", NULL, 0,
                 "@:6: raft.join: raft.initial-cluster and raft.join are both set (use "
                 "raft.initial-cluster on the initial members, raft.join on members added "
                 "later)");
    expect_error(BASE "raft.node.address=127.0.0.1:7102\n", NULL, 0,
                 "@:6: raft.node.address: raft.initial-cluster gives member 1 the address "
                 "127.0.0.1:7101 but raft.node.address is 127.0.0.1:7102 (expected the same "
                 "address)");
    expect_error(BASE "raft.node.id=4\n", NULL, 0,
                 "@:6: raft.node.id: 4 is not listed in raft.initial-cluster (list it, or use "
                 "raft.join on a member added later)");
    expect_error(BASE "raft.api.address=127.0.0.1:7101\n", NULL, 0,
                 "@:6: raft.api.address: raft.node.address and raft.api.address are both "
                 "127.0.0.1:7101 (expected two different ports)");
    char *ov[] = {"raft.initial-cluster=", "raft.join=127.0.0.1:7201"};
    expect_error(BASE, ov, 2,
                 "-D raft.join=127.0.0.1:7201: raft.join: 127.0.0.1:7201 is this member's own "
                 "raft.api.address (expected the API address of a running member)");
}

/* ---- errors never overflow ERR ---- */

static void test_small_err_buffer(void **state)
{
    char small[16];

    (void)state;
    write_temp(BASE "raft.election-timeout-ms=abc\n");
    memset(small, 'x', sizeof small);
    assert_int_equal(config_load(&cfg, path, NULL, 0, small, sizeof small), -1);
    assert_int_equal(strlen(small), sizeof small - 1);
    assert_int_equal(config_load(&cfg, path, NULL, 0, NULL, 0), -1);
    assert_int_equal(unlink(path), 0);
}

/* ---- the reference and conf/raftnode.properties.example ---- */

static char *reference_text(size_t *len)
{
    char *buf = NULL;
    FILE *out = open_memstream(&buf, len);

    assert_non_null(out);
    config_print_reference(out);
    assert_false(ferror(out));
    assert_int_equal(fclose(out), 0);
    return buf;
}

static void test_reference_lists_every_key(void **state)
{
    size_t len, lines = 0;
    char *text = reference_text(&len);
    char needle[128];

    (void)state;
    for (size_t i = 0; i < N_KEYS; i++) {
        snprintf(needle, sizeof needle, "\n#%s=", all_keys[i]);
        const char *hit = strstr(text, needle);
        assert_non_null(hit);
        assert_null(strstr(hit + 1, needle)); /* exactly once */
    }
    /* and nothing else: one "#key=" line per key */
    for (const char *p = text; (p = strstr(p, "\n#")) != NULL; p++) {
        if (p[2] != ' ' && p[2] != '\n') {
            lines++;
        }
    }
    assert_int_equal(lines, N_KEYS);
    /* every default printed is accepted by its own key */
    for (const char *p = text; (p = strstr(p, "\n#")) != NULL; p++) {
        char arg[256];
        const char *end = strchr(p + 1, '\n');
        const char *eq = strchr(p + 1, '=');
        if (p[2] == ' ' || p[2] == '\n') {
            continue; /* a comment line */
        }
        assert_non_null(end);
        assert_true(eq != NULL && eq < end);
        if (eq + 1 == end) {
            continue; /* no default */
        }
        snprintf(arg, sizeof arg, "%.*s", (int)(end - p - 2), p + 2);
        char *ov[] = {arg};
        expect_ok(BASE, ov, 1);
    }
    free(text);
}

static void test_example_matches_reference(void **state)
{
    size_t len;
    char *text = reference_text(&len);
    FILE *f = fopen(EXAMPLE_PATH, "r");
    char *file_text;
    long file_len;

    (void)state;
    if (f == NULL) {
        free(text);
        skip(); /* not run from the repository root */
    }
    assert_int_equal(fseek(f, 0, SEEK_END), 0);
    file_len = ftell(f);
    assert_true(file_len >= 0);
    assert_int_equal(fseek(f, 0, SEEK_SET), 0);
    file_text = calloc(1, (size_t)file_len + 1);
    assert_non_null(file_text);
    assert_int_equal(fread(file_text, 1, (size_t)file_len, f), (size_t)file_len);
    assert_int_equal(fclose(f), 0);
    /* every key appears in the example ... */
    for (size_t i = 0; i < N_KEYS; i++) {
        char needle[128];
        snprintf(needle, sizeof needle, "\n#%s=", all_keys[i]);
        if (strstr(file_text, needle) == NULL) {
            fail_msg("%s lacks %s; regenerate it with raftnode --help-config", EXAMPLE_PATH,
                     all_keys[i]);
        }
    }
    /* ... and the whole file is what --help-config prints today */
    if ((size_t)file_len != len || memcmp(file_text, text, len) != 0) {
        fail_msg("%s differs from config_print_reference; regenerate it with "
                 "raftnode --help-config > %s", EXAMPLE_PATH, EXAMPLE_PATH);
    }
    /* it is a valid properties file: all comments */
    char *ov[] = {"raft.node.id=1", "raft.node.address=127.0.0.1:7101",
                  "raft.api.address=127.0.0.1:7201", "raft.data-dir=d",
                  "raft.join=127.0.0.1:7202"};
    assert_int_equal(config_load(&cfg, EXAMPLE_PATH, ov, 5, err, sizeof err), 0);
    free(file_text);
    free(text);
}

static void test_local_configs(void **state)
{
    static const char *const files[] = {"conf/local-1.properties", "conf/local-2.properties",
                                        "conf/local-3.properties"};
    char want[32];

    (void)state;
    if (access(files[0], R_OK) != 0) {
        skip();
    }
    for (unsigned i = 0; i < 3; i++) {
        if (config_load(&cfg, files[i], NULL, 0, err, sizeof err) != 0) {
            fail_msg("%s", err);
        }
        assert_int_equal(cfg.node_id, i + 1);
        assert_int_equal(cfg.n_peers, 3);
        assert_int_equal(cfg.election_timeout_ms, 1000);
        assert_int_equal(cfg.heartbeat_timeout_ms, 100);
        assert_int_equal(cfg.heartbeat_interval_s, 1);
        assert_int_equal(cfg.heartbeat_timeout_s, 3);
        snprintf(want, sizeof want, "127.0.0.1:%u", 7201 + i);
        assert_string_equal(cfg.api_address, want);
        snprintf(want, sizeof want, "127.0.0.1:%u", 7071 + i);
        assert_string_equal(cfg.identity, want);
        snprintf(want, sizeof want, "127.0.0.1:%u", 7281 + i);
        assert_string_equal(cfg.http_address, want);
        snprintf(want, sizeof want, "var/node%u", i + 1);
        assert_string_equal(cfg.data_dir, want);
    }
}

static void test_names(void **state)
{
    (void)state;
    assert_string_equal(config_role_name(CONFIG_ROLE_VOTER), "voter");
    assert_string_equal(config_role_name(CONFIG_ROLE_STANDBY), "standby");
    assert_string_equal(config_role_name(CONFIG_ROLE_SPARE), "spare");
    assert_string_equal(config_role_name(7), "unknown");
    assert_string_equal(config_mode_name(CONFIG_MODE_ALL), "all");
    assert_string_equal(config_mode_name(CONFIG_MODE_JOB), "job");
    assert_string_equal(config_mode_name(CONFIG_MODE_QUERY), "query");
    assert_string_equal(config_mode_name(-1), "unknown");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_api_limits),
        cmocka_unit_test(test_influxdb_keys),
        cmocka_unit_test(test_minimal_file_gets_defaults),
        cmocka_unit_test(test_good_full_file),
        cmocka_unit_test(test_join_instead_of_initial_cluster),
        cmocka_unit_test(test_syntax_details),
        cmocka_unit_test(test_bool_spellings),
        cmocka_unit_test(test_bad_int),
        cmocka_unit_test(test_out_of_bounds),
        cmocka_unit_test(test_bad_address),
        cmocka_unit_test(test_bad_identity),
        cmocka_unit_test(test_bad_bool),
        cmocka_unit_test(test_bad_enum),
        cmocka_unit_test(test_bad_initial_cluster),
        cmocka_unit_test(test_too_many_peers),
        cmocka_unit_test(test_unknown_key_line_number),
        cmocka_unit_test(test_line_without_separator),
        cmocka_unit_test(test_line_too_long),
        cmocka_unit_test(test_unreadable_file),
        cmocka_unit_test(test_missing_required),
        cmocka_unit_test(test_unknown_key_before_missing_key),
        cmocka_unit_test(test_override_wins),
        cmocka_unit_test(test_override_errors),
        cmocka_unit_test(test_cross_heartbeat_vs_election),
        cmocka_unit_test(test_cross_kylin_heartbeat),
        cmocka_unit_test(test_cross_membership),
        cmocka_unit_test(test_small_err_buffer),
        cmocka_unit_test(test_kylin_url),
        cmocka_unit_test(test_reference_lists_every_key),
        cmocka_unit_test(test_example_matches_reference),
        cmocka_unit_test(test_local_configs),
        cmocka_unit_test(test_names),
        cmocka_unit_test(test_autopilot_keys),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
