package org.apache.kylin.emu;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.Base64;
import java.util.LinkedHashMap;
import java.util.Map;

import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpHandler;

/** Request/response helpers and QueryNodeFilter-style routing of a request to another node. */
final class Http {
    static final String KYLIN_JSON = "application/vnd.apache.kylin-v4-public+json;charset=UTF-8";
    private static final HttpClient CLIENT = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(5)).build();

    private Http() {
    }

    static String body(HttpExchange ex) throws IOException {
        try (InputStream in = ex.getRequestBody()) {
            return new String(in.readAllBytes(), StandardCharsets.UTF_8);
        }
    }

    @SuppressWarnings("unchecked")
    static Map<String, Object> jsonBody(String text) {
        Object o = Json.parse(text);
        return o instanceof Map ? (Map<String, Object>) o : new LinkedHashMap<>();
    }

    static void send(HttpExchange ex, int status, String contentType, String text) throws IOException {
        byte[] b = text.getBytes(StandardCharsets.UTF_8);
        ex.getResponseHeaders().set("Content-Type", contentType);
        ex.sendResponseHeaders(status, b.length == 0 ? -1 : b.length);
        if (b.length > 0) {
            try (OutputStream out = ex.getResponseBody()) {
                out.write(b);
            }
        }
        ex.close();
    }

    static void json(HttpExchange ex, int status, Object v) throws IOException {
        send(ex, status, "application/json", Json.write(v));
    }

    /** Kylin's EnvelopeResponse. */
    static Map<String, Object> envelope(String code, Object data, String msg) {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("code", code);
        m.put("data", data);
        m.put("msg", msg);
        return m;
    }

    /** A Kylin error answer: code 999 and the error text (error_code: the ErrorCode enum name). */
    static void kylinError(HttpExchange ex, int status, String errorCode, String msg) throws IOException {
        Map<String, Object> m = envelope("999", null, msg);
        m.put("error_code", errorCode);
        send(ex, status, KYLIN_JSON, Json.write(m));
    }

    /** The user of a Basic Authorization header if its password is right (ADMIN/KYLIN, Kylin's default), else null. */
    static String basicUser(HttpExchange ex) {
        String h = ex.getRequestHeaders().getFirst("Authorization");
        if (h == null || !h.startsWith("Basic ")) {
            return null;
        }
        String up = new String(Base64.getDecoder().decode(h.substring(6).trim()), StandardCharsets.UTF_8);
        return up.equals("ADMIN:KYLIN") ? "ADMIN" : null;
    }

    /** QueryNodeFilter routing: replay the request on TARGET (host:port) with header routed: true. */
    static void forward(HttpExchange ex, String target, String body) throws IOException {
        HttpRequest.Builder b = HttpRequest.newBuilder(URI.create("http://" + target + ex.getRequestURI()))
                .timeout(Duration.ofSeconds(30)).header("routed", "true")
                .method(ex.getRequestMethod(), body == null || body.isEmpty() ? HttpRequest.BodyPublishers.noBody()
                        : HttpRequest.BodyPublishers.ofString(body));
        String ct = ex.getRequestHeaders().getFirst("Content-Type");
        if (ct != null) {
            b.header("Content-Type", ct);
        }
        String auth = ex.getRequestHeaders().getFirst("Authorization");
        if (auth != null) {
            b.header("Authorization", auth);
        }
        try {
            HttpResponse<String> r = CLIENT.send(b.build(), HttpResponse.BodyHandlers.ofString());
            send(ex, r.statusCode(), r.headers().firstValue("Content-Type").orElse("application/json"), r.body());
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IOException(e);
        } catch (IOException e) {
            kylinError(ex, 500, "FAILED_CONNECT_OTHER_NODE", "Failed to route the request to " + target + ": " + e);
        }
    }

    /** A handler whose unexpected failure still gets an answer (500, Kylin's error envelope). */
    static HttpHandler safe(HttpHandler h) {
        return ex -> {
            try {
                h.handle(ex);
            } catch (Exception e) {
                Log.warn(ex.getRequestMethod() + " " + ex.getRequestURI() + " failed: " + e);
                try {
                    kylinError(ex, e instanceof IllegalArgumentException ? 400 : 500, "INTERNAL", String.valueOf(e));
                } catch (Exception ignored) {
                    ex.close(); // the answer had already begun
                }
            }
        };
    }

    static boolean routed(HttpExchange ex) {
        return "true".equalsIgnoreCase(ex.getRequestHeaders().getFirst("routed"));
    }
}
