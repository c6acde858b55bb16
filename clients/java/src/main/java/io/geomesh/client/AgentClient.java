package io.geomesh.client;

import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;

import java.io.IOException;
import java.io.InputStream;
import java.net.URI;
import java.net.URLEncoder;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import javax.net.ssl.SSLContext;

/**
 * Calls the agents' HTTP API (Go {@code api.Client}) at the addresses the mesh
 * lists: over HTTPS when the mesh's api has TLS, with the read token as bearer
 * token when one is set, resolved from its reference on every request so that a
 * rotated token file is used at once. Safe for concurrent use.
 */
public final class AgentClient {
    /** The most read of an agent's answer. */
    static final int MAX_ANSWER = 4 << 20;

    static final ObjectMapper JSON = new ObjectMapper()
            .configure(DeserializationFeature.FAIL_ON_UNKNOWN_PROPERTIES, false);

    private final GeomeshMesh mesh;
    private final HttpClient http;
    private final String scheme;
    private final SecretRef token;

    /** A client of the mesh's agents with a 5s connect timeout. */
    public AgentClient(GeomeshMesh mesh) {
        this(mesh, Duration.ofSeconds(5));
    }

    /** A client of the mesh's agents; connectTimeout bounds each connection. */
    public AgentClient(GeomeshMesh mesh, Duration connectTimeout) {
        this.mesh = mesh;
        this.scheme = mesh.apiTls() ? "https" : "http";
        this.token = mesh.readToken();
        HttpClient.Builder b = HttpClient.newBuilder().connectTimeout(connectTimeout)
                .followRedirects(HttpClient.Redirect.NEVER).version(HttpClient.Version.HTTP_1_1);
        SSLContext ctx = mesh.apiSslContext();
        if (ctx != null) {
            b.sslContext(ctx);
        }
        this.http = b.build();
    }

    /** The mesh the client calls the agents of. */
    public GeomeshMesh mesh() {
        return mesh;
    }

    /**
     * Sends GET path to the agent at addr (host:port) within timeout and returns its
     * JSON answer; an answer that is not 2xx is an {@link AgentException}, a
     * connection failure or a timeout a {@link GeomeshException}.
     */
    public JsonNode get(String addr, String path, Duration timeout) {
        HttpRequest.Builder rb = HttpRequest.newBuilder(URI.create(scheme + "://" + addr + path))
                .timeout(timeout).GET().header("Accept", "application/json");
        if (token != null) {
            rb.header("Authorization", "Bearer " + token.resolve());
        }
        HttpResponse<InputStream> resp;
        try {
            resp = http.send(rb.build(), HttpResponse.BodyHandlers.ofInputStream());
        } catch (IOException e) {
            throw new GeomeshException("GET " + scheme + "://" + addr + path + ": " + describe(e), e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new GeomeshException("GET " + scheme + "://" + addr + path + ": interrupted", e);
        }
        byte[] data;
        try (InputStream in = resp.body()) {
            data = in.readNBytes(MAX_ANSWER);
        } catch (IOException e) {
            throw new GeomeshException("GET " + path + " at " + addr + ": " + describe(e), e);
        }
        if (resp.statusCode() / 100 != 2) {
            String msg = "";
            try {
                JsonNode n = JSON.readTree(data);
                if (n != null && n.hasNonNull("error")) {
                    msg = n.get("error").asText();
                }
            } catch (IOException ignored) {
                // not JSON: the status says it
            }
            if (msg.isEmpty()) {
                msg = "HTTP status " + resp.statusCode();
            }
            throw new AgentException(resp.statusCode(), msg);
        }
        try {
            return JSON.readTree(data);
        } catch (IOException e) {
            throw new GeomeshException("GET " + path + " at " + addr + ": bad answer: " + e.getMessage(), e);
        }
    }

    /** The decision plane as the agent at addr sees it ({@code GET /v1/failover}). */
    public FailoverStatus failover(String addr, Duration timeout) {
        return decode(get(addr, "/v1/failover", timeout), FailoverStatus.class, addr, "/v1/failover");
    }

    /**
     * Group's committed offsets in region from, translated into the region of the agent
     * at addr ({@code GET /v1/translate?group=G&from=R}).
     */
    public TranslateResponse translate(String addr, String group, String from, Duration timeout) {
        String path = "/v1/translate?group=" + URLEncoder.encode(group, StandardCharsets.UTF_8)
                + "&from=" + URLEncoder.encode(from, StandardCharsets.UTF_8);
        return decode(get(addr, path, timeout), TranslateResponse.class, addr, "/v1/translate");
    }

    /**
     * The mesh state to follow (Go {@code Follower.read}): the agents are asked in the
     * mesh's order, each within perAgent; the state of the first that reaches the
     * control plane wins; when none does, the newest any agent holds. Throws
     * GeomeshException naming every agent's failure when no agent has a state.
     */
    public MeshState readState(Duration perAgent) {
        MeshState best = null;
        List<String> errs = new ArrayList<>();
        for (GeomeshMesh.Region r : mesh.regions()) {
            for (GeomeshMesh.Agent a : r.agents()) {
                if (Thread.currentThread().isInterrupted()) {
                    throw new GeomeshException("read the mesh state: interrupted");
                }
                FailoverStatus fs;
                try {
                    fs = failover(a.api(), perAgent);
                } catch (GeomeshException e) {
                    errs.add("agent " + a.id() + " of region " + r.name() + ": " + e.getMessage());
                    continue;
                }
                if (fs.state() == null) {
                    errs.add("agent " + a.id() + " of region " + r.name() + ": no state yet (control plane " + fs.controlPlane() + ")");
                    continue;
                }
                if (fs.controlPlane().equals(FailoverStatus.CONTROL_REACHABLE)) {
                    return fs.state();
                }
                if (best == null || fs.state().epoch() > best.epoch()) {
                    best = fs.state();
                }
            }
        }
        if (best != null) {
            return best;
        }
        throw new GeomeshException("no agent of mesh " + mesh.name() + " answered GET /v1/failover: " + String.join("; ", errs));
    }

    private static <T> T decode(JsonNode n, Class<T> type, String addr, String path) {
        try {
            return JSON.treeToValue(n, type);
        } catch (IOException e) {
            throw new GeomeshException("GET " + path + " at " + addr + ": bad answer: " + e.getMessage(), e);
        }
    }

    private static String describe(IOException e) {
        String m = e.getMessage();
        return m == null || m.isEmpty() ? e.getClass().getSimpleName() : e.getClass().getSimpleName() + ": " + m;
    }
}
