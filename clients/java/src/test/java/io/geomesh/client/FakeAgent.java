package io.geomesh.client;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;

import java.io.IOException;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReference;
import java.util.function.Function;

/**
 * An agent's HTTP API as a follower and a consumer see it: GET /v1/failover with the
 * state the test sets, GET /v1/translate answered by a function of the query. It
 * records each request's Authorization header.
 */
final class FakeAgent implements AutoCloseable {
    static final ObjectMapper JSON = new ObjectMapper();

    final HttpServer server;
    final AtomicReference<MeshState> state = new AtomicReference<>();
    final AtomicReference<String> controlPlane = new AtomicReference<>("reachable");
    final AtomicReference<String> token = new AtomicReference<>();
    final AtomicInteger failovers = new AtomicInteger();
    final List<String> auth = new CopyOnWriteArrayList<>();
    volatile Function<String, Answer> translate = q -> new Answer(404, "{\"error\":\"no translate here\"}");

    record Answer(int status, String body) {
    }

    FakeAgent() throws IOException {
        this(HttpServer.create(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0), 0));
    }

    FakeAgent(HttpServer server) {
        this.server = server;
        server.createContext("/v1/failover", ex -> {
            if (!authorized(ex)) {
                return;
            }
            failovers.incrementAndGet();
            ObjectNode n = JSON.createObjectNode();
            n.put("mesh", "t");
            n.put("control_plane", controlPlane.get());
            n.putArray("views");
            MeshState s = state.get();
            if (s != null) {
                n.set("state", JSON.valueToTree(s));
                n.put("epoch", s.epoch());
            }
            send(ex, 200, n.toString());
        });
        server.createContext("/v1/translate", ex -> {
            if (!authorized(ex)) {
                return;
            }
            Answer a = translate.apply(ex.getRequestURI().getRawQuery());
            send(ex, a.status(), a.body());
        });
        server.start();
    }

    String addr() {
        return "127.0.0.1:" + server.getAddress().getPort();
    }

    private boolean authorized(HttpExchange ex) throws IOException {
        String h = ex.getRequestHeaders().getFirst("Authorization");
        auth.add(h == null ? "" : h);
        String want = token.get();
        if (want != null && !("Bearer " + want).equals(h)) {
            send(ex, 401, "{\"error\":\"a valid read bearer token is required\"}");
            return false;
        }
        return true;
    }

    static void send(HttpExchange ex, int status, String body) throws IOException {
        byte[] b = body.getBytes(StandardCharsets.UTF_8);
        ex.getResponseHeaders().set("Content-Type", "application/json");
        ex.sendResponseHeaders(status, b.length);
        try (OutputStream out = ex.getResponseBody()) {
            out.write(b);
        }
    }

    private final java.util.concurrent.atomic.AtomicBoolean stopped = new java.util.concurrent.atomic.AtomicBoolean();

    @Override
    public void close() {
        if (stopped.compareAndSet(false, true)) {
            server.stop(0);
        }
    }

    /** An active-passive state: primary and standby, a switch when from is not null. */
    static MeshState ap(long epoch, String decision, String primary, String standby, String switchFrom, String switchTo) {
        MeshState.Switch sw = switchFrom == null ? null : new MeshState.Switch(switchFrom, switchTo, switchFrom, "");
        return new MeshState(epoch, java.util.Map.of(primary, new MeshState.RegionState(MeshState.ROLE_PRIMARY, ""),
                standby, new MeshState.RegionState(MeshState.ROLE_STANDBY, "")), sw, decision, "", "", "", "");
    }
}
