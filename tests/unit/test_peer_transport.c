/* Unit tests for raftnode/peer_transport.c on a real libuv loop and 127.0.0.1 sockets, with the
 * test playing libraft (accept and connect callbacks, reading and writing its pipe ends):
 * well-formed messages reach libraft byte-identical however the socket cuts them, a malformed
 * one closes only that connection, an outgoing connection carries libraft's handshake and bytes
 * unchanged, and close fires its callback once every handle is closed. Plaintext only (TLS is
 * covered by tests/cluster/test_peer_security.py). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "raftnode/peer_msg.h"
#include "raftnode/peer_transport.h"

static uv_loop_t loop;
static struct raft_uv_transport T;
static int port;
static char address[32];

/* What "libraft" received on the accepted pipe. */
static struct {
    uv_stream_t *stream;
    raft_id id;
    char addr[64];
    char buf[16384];
    size_t n;
    bool eof;
    int accepts;
} R;

static bool closed_cb_ran;

static int free_port(void)
{
    struct sockaddr_in sa;
    uv_tcp_t s;
    int len = sizeof sa;
    assert_int_equal(uv_tcp_init(&loop, &s), 0);
    assert_int_equal(uv_ip4_addr("127.0.0.1", 0, &sa), 0);
    assert_int_equal(uv_tcp_bind(&s, (struct sockaddr *)&sa, 0), 0);
    assert_int_equal(uv_tcp_getsockname(&s, (struct sockaddr *)&sa, &len), 0);
    uv_close((uv_handle_t *)&s, NULL);
    (void)uv_run(&loop, UV_RUN_NOWAIT);
    return ntohs(sa.sin_port);
}

static void run_until(bool *flag, int ms)
{
    uint64_t deadline = uv_now(&loop) + (uint64_t)ms;
    while (!*flag && uv_now(&loop) < deadline) {
        (void)uv_run(&loop, UV_RUN_NOWAIT);
        uv_sleep(1);
        uv_update_time(&loop);
    }
}

/* Runs the loop until *N >= WANT or MS milliseconds passed (a loaded machine is slow). */
static void run_until_n(const size_t *n, size_t want, int ms)
{
    uint64_t deadline = uv_now(&loop) + (uint64_t)ms;
    while (*n < want && uv_now(&loop) < deadline) {
        (void)uv_run(&loop, UV_RUN_NOWAIT);
        uv_sleep(1);
        uv_update_time(&loop);
    }
}

static size_t rejected(void)
{
    struct peer_transport_stats st;
    peer_transport_stats(&T, &st);
    return st.rejected;
}

static void raft_free_handle(uv_handle_t *h)
{
    raft_free(h);
}

static void r_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    (void)h;
    (void)suggested;
    *buf = uv_buf_init(R.buf + R.n, (unsigned)(sizeof R.buf - R.n));
}

static void r_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
    (void)buf;
    if (nread > 0) {
        R.n += (size_t)nread;
    } else if (nread < 0) {
        R.eof = true;
        uv_close((uv_handle_t *)s, raft_free_handle);
    }
}

static void accept_cb(struct raft_uv_transport *t, raft_id id, const char *addr, uv_stream_t *stream)
{
    (void)t;
    R.accepts++;
    R.id = id;
    snprintf(R.addr, sizeof R.addr, "%s", addr);
    R.stream = stream;
    assert_int_equal(uv_read_start(stream, r_alloc, r_read), 0);
}

static void transport_closed(struct raft_uv_transport *t)
{
    (void)t;
    closed_cb_ran = true;
}

static int setup(void **state)
{
    struct peer_transport_config cfg = {.max_message_bytes = 1 << 20};
    (void)state;
    memset(&R, 0, sizeof R);
    memset(&T, 0, sizeof T);
    closed_cb_ran = false;
    assert_int_equal(uv_loop_init(&loop), 0);
    port = free_port();
    snprintf(address, sizeof address, "127.0.0.1:%d", port);
    assert_int_equal(peer_transport_init(&T, &loop, &cfg), 0);
    assert_int_equal(T.init(&T, 1, address), 0);
    assert_int_equal(T.listen(&T, accept_cb), 0);
    return 0;
}

static void walk_close(uv_handle_t *h, void *arg)
{
    (void)arg;
    if (!uv_is_closing(h)) {
        uv_close(h, NULL);
    }
}

static int teardown(void **state)
{
    (void)state;
    T.close(&T, transport_closed);
    run_until(&closed_cb_ran, 2000);
    assert_true(closed_cb_ran);
    peer_transport_close(&T);
    assert_null(T.impl);
    if (R.stream != NULL && !uv_is_closing((uv_handle_t *)R.stream)) {
        uv_close((uv_handle_t *)R.stream, raft_free_handle); /* as libraft would */
    }
    uv_walk(&loop, walk_close, NULL); /* the test's own client and server handles */
    (void)uv_run(&loop, UV_RUN_DEFAULT);
    assert_int_equal(uv_loop_close(&loop), 0);
    return 0;
}

/* ---- message builders (libraft 0.22.1's encoding) ---- */

static size_t put64(uint8_t *b, size_t n, uint64_t v)
{
    for (int i = 0; i < 8; i++) {
        b[n++] = (uint8_t)(v >> (8 * i));
    }
    return n;
}

static size_t preamble(uint8_t *b, size_t n, uint8_t type, uint8_t version, uint64_t hlen)
{
    uint8_t p[8] = {type, 0, version, 0, 0, 0, 0, 0};
    memcpy(b + n, p, 8);
    return put64(b, n + 8, hlen);
}

static size_t handshake(uint8_t *b, size_t n, uint64_t id, const char *addr)
{
    size_t len = strlen(addr) + 1, padded = (len + 7) / 8 * 8;
    n = put64(b, n, 1);
    n = put64(b, n, id);
    n = put64(b, n, padded);
    memset(b + n, 0, padded);
    memcpy(b + n, addr, len);
    return n + padded;
}

static size_t good_messages(uint8_t *b, size_t n)
{
    n = preamble(b, n, 3, 2, 40); /* RequestVote */
    for (uint64_t v = 0; v < 5; v++) {
        n = put64(b, n, v + 3);
    }
    n = preamble(b, n, 1, 0, 48 + 32); /* AppendEntries, two entries of 16 and 8 bytes */
    n = put64(b, n, 3);
    n = put64(b, n, 7);
    n = put64(b, n, 3);
    n = put64(b, n, 7);
    n = put64(b, n, 2);
    n = put64(b, n, 3);
    n = put64(b, n, 1 | ((uint64_t)16 << 32));
    n = put64(b, n, 3);
    n = put64(b, n, 2 | ((uint64_t)8 << 32));
    n = put64(b, n, 0);
    for (int i = 0; i < 24; i++) {
        b[n++] = (uint8_t)(0xa0 + i);
    }
    n = preamble(b, n, 2, 2, 32); /* AppendEntriesResult */
    for (int i = 0; i < 4; i++) {
        n = put64(b, n, (uint64_t)i + 1);
    }
    n = preamble(b, n, 6, 0, 24); /* TimeoutNow */
    for (int i = 0; i < 3; i++) {
        n = put64(b, n, 4);
    }
    return n;
}

/* ---- a raw client ---- */

static struct {
    uv_tcp_t tcp;
    uv_connect_t connect;
    bool connected;
} C;

static void client_connected(uv_connect_t *req, int status)
{
    (void)req;
    assert_int_equal(status, 0);
    C.connected = true;
}

static bool client_closed;

static void client_closed_cb(uv_handle_t *h)
{
    (void)h;
    client_closed = true;
}

static void client_written(uv_write_t *req, int status)
{
    assert_int_equal(status, 0);
    free(req);
}

static void client_open(void)
{
    struct sockaddr_in sa;
    memset(&C, 0, sizeof C);
    assert_int_equal(uv_tcp_init(&loop, &C.tcp), 0);
    assert_int_equal(uv_ip4_addr("127.0.0.1", port, &sa), 0);
    assert_int_equal(uv_tcp_connect(&C.connect, &C.tcp, (struct sockaddr *)&sa, client_connected), 0);
    run_until(&C.connected, 2000);
    assert_true(C.connected);
}

/* Writes BYTES in pieces of CHUNK bytes, letting the loop run between them. */
static void client_send(const uint8_t *bytes, size_t len, size_t chunk)
{
    for (size_t off = 0; off < len; off += chunk) {
        size_t k = len - off < chunk ? len - off : chunk;
        uv_write_t *w = malloc(sizeof *w);
        uv_buf_t buf = uv_buf_init((char *)bytes + off, (unsigned)k);
        bool never = false;
        assert_non_null(w);
        assert_int_equal(uv_write(w, (uv_stream_t *)&C.tcp, &buf, 1, client_written), 0);
        run_until(&never, 5);
    }
}

static void test_good_messages_reach_libraft_byte_identical(void **state)
{
    static uint8_t b[4096];
    size_t hs, n;
    bool never = false;
    (void)state;
    hs = handshake(b, 0, 2, "127.0.0.1:7102");
    n = good_messages(b, hs);
    n = good_messages(b, n); /* twice: messages back to back */
    client_open();
    client_send(b, n, 7); /* cut everywhere, including inside the handshake */
    run_until_n(&R.n, n - hs, 5000);
    run_until(&never, 50);
    assert_int_equal(R.accepts, 1);
    assert_int_equal(R.id, 2);
    assert_string_equal(R.addr, "127.0.0.1:7102");
    assert_int_equal(R.n, n - hs);
    assert_memory_equal(R.buf, b + hs, n - hs);
    assert_false(R.eof);

    struct peer_transport_stats st;
    peer_transport_stats(&T, &st);
    assert_int_equal(st.accepted, 1);
    assert_int_equal(st.messages, 8);
    assert_int_equal(st.rejected, 0);
}

static void test_malformed_message_closes_that_connection_only(void **state)
{
    static uint8_t b[4096];
    size_t hs, n, good_len;
    bool never = false;
    (void)state;
    hs = handshake(b, 0, 2, "127.0.0.1:7102");
    good_len = good_messages(b, hs);
    n = preamble(b, good_len, 3, 2, 1); /* issue 12: RequestVote with a 1-byte header */
    b[n++] = 0xff;
    n = good_messages(b, n); /* never reaches libraft */
    client_open();
    client_send(b, good_len, 1000);
    run_until_n(&R.n, good_len - hs, 5000);
    /* what arrives in the same read as a malformed message is dropped with it */
    client_send(b + good_len, n - good_len, 1000);
    run_until(&R.eof, 5000);
    assert_true(R.eof);
    assert_int_equal(R.n, good_len - hs);
    assert_memory_equal(R.buf, b + hs, good_len - hs);

    struct peer_transport_stats st;
    peer_transport_stats(&T, &st);
    assert_int_equal(st.rejected, 1);
    assert_int_equal(st.messages, 4);

    /* the listener still accepts: a new connection from "member 3" works */
    client_closed = false;
    uv_close((uv_handle_t *)&C.tcp, client_closed_cb);
    run_until(&client_closed, 1000);
    memset(&R, 0, sizeof R);
    n = handshake(b, 0, 3, "127.0.0.1:7103");
    n = good_messages(b, n);
    client_open();
    client_send(b, n, 4096);
    run_until_n(&R.n, 1, 5000);
    assert_int_equal(R.accepts, 1);
    assert_int_equal(R.id, 3);
    (void)never;
}

static void test_bad_handshake_never_reaches_libraft(void **state)
{
    static uint8_t b[256];
    size_t n;
    bool never = false;
    (void)state;
    n = handshake(b, 0, 0, "127.0.0.1:7102"); /* id 0 */
    client_open();
    client_send(b, n, n);
    for (int i = 0; i < 500 && rejected() == 0; i++) {
        run_until(&never, 10);
    }
    assert_int_equal(R.accepts, 0);
    struct peer_transport_stats st;
    peer_transport_stats(&T, &st);
    assert_int_equal(st.rejected, 1);
}

/* ---- outgoing ---- */

static struct {
    uv_tcp_t listener, conn;
    bool accepted;
    char buf[4096];
    size_t n;
    struct raft_uv_connect req;
    uv_stream_t *stream;
    int status;
    bool answered;
} S;

static void s_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    (void)h;
    (void)suggested;
    *buf = uv_buf_init(S.buf + S.n, (unsigned)(sizeof S.buf - S.n));
}

static void s_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
    (void)s;
    (void)buf;
    if (nread > 0) {
        S.n += (size_t)nread;
    }
}

static void s_connection(uv_stream_t *l, int status)
{
    assert_int_equal(status, 0);
    assert_int_equal(uv_tcp_init(&loop, &S.conn), 0);
    assert_int_equal(uv_accept(l, (uv_stream_t *)&S.conn), 0);
    assert_int_equal(uv_read_start((uv_stream_t *)&S.conn, s_alloc, s_read), 0);
    S.accepted = true;
}

static void connect_cb(struct raft_uv_connect *req, uv_stream_t *stream, int status)
{
    (void)req;
    S.stream = stream;
    S.status = status;
    S.answered = true;
}

static void test_outgoing_connection_carries_handshake_and_bytes(void **state)
{
    struct sockaddr_in sa;
    char peer[32];
    int sport = free_port();
    static char payload[] = "0123456789abcdef0123456789abcdef";
    uv_write_t w;
    uv_buf_t buf = uv_buf_init(payload, 32);
    uint8_t want[64];
    size_t wn;
    bool never = false;
    (void)state;

    memset(&S, 0, sizeof S);
    assert_int_equal(uv_tcp_init(&loop, &S.listener), 0);
    assert_int_equal(uv_ip4_addr("127.0.0.1", sport, &sa), 0);
    assert_int_equal(uv_tcp_bind(&S.listener, (struct sockaddr *)&sa, 0), 0);
    assert_int_equal(uv_listen((uv_stream_t *)&S.listener, 8, s_connection), 0);
    snprintf(peer, sizeof peer, "127.0.0.1:%d", sport);
    assert_int_equal(T.connect(&T, &S.req, 5, peer, connect_cb), 0);
    run_until(&S.answered, 2000);
    assert_true(S.answered);
    assert_int_equal(S.status, 0);
    assert_non_null(S.stream);
    assert_int_equal(uv_write(&w, S.stream, &buf, 1, NULL), 0);
    wn = handshake(want, 0, 1, address);
    run_until_n(&S.n, wn + 32, 5000);
    run_until(&never, 50);
    assert_int_equal(S.n, wn + 32);
    assert_memory_equal(S.buf, want, wn);
    assert_memory_equal(S.buf + wn, payload, 32);
    uv_close((uv_handle_t *)S.stream, raft_free_handle); /* libraft closes its end */
}

static void test_connect_to_a_closed_port_fails_through_the_callback(void **state)
{
    char peer[32];
    (void)state;
    memset(&S, 0, sizeof S);
    snprintf(peer, sizeof peer, "127.0.0.1:%d", free_port());
    assert_int_equal(T.connect(&T, &S.req, 5, peer, connect_cb), 0);
    run_until(&S.answered, 2000);
    assert_true(S.answered);
    assert_int_equal(S.status, RAFT_NOCONNECTION);
    assert_null(S.stream);
    assert_int_not_equal(T.connect(&T, &S.req, 5, "not-an-address", connect_cb), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_good_messages_reach_libraft_byte_identical, setup, teardown),
        cmocka_unit_test_setup_teardown(test_malformed_message_closes_that_connection_only, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_handshake_never_reaches_libraft, setup, teardown),
        cmocka_unit_test_setup_teardown(test_outgoing_connection_carries_handshake_and_bytes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_connect_to_a_closed_port_fails_through_the_callback, setup,
                                        teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
