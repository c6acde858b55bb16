package io.geomesh.client;

import com.sun.net.httpserver.HttpsConfigurator;
import com.sun.net.httpserver.HttpsServer;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.InputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.KeyStore;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import javax.net.ssl.KeyManagerFactory;
import javax.net.ssl.SSLContext;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The agents' API client against fake agents: tokens, errors, which agent's state wins, TLS. */
class AgentClientTest {
    static final Duration T = Duration.ofSeconds(2);

    static GeomeshMesh mesh(String usAgent, String euAgent, String tokenRef) {
        GeomeshMesh.Builder b = GeomeshMesh.builder("t", Kind.ACTIVE_PASSIVE).primary("us").standby("eu")
                .region("us", "127.0.0.1:1", usAgent)
                .region("eu", "127.0.0.1:2", euAgent);
        if (tokenRef != null) {
            b.readToken(tokenRef);
        }
        return b.build();
    }

    /** The read token goes as bearer token, read from its file on every request. */
    @Test
    void tokenPerRequest(@TempDir Path dir) throws Exception {
        Path tok = dir.resolve("read-token");
        Files.writeString(tok, "one\n");
        try (FakeAgent a = new FakeAgent()) {
            a.token.set("one");
            a.state.set(FakeAgent.ap(3, "init", "us", "eu", null, null));
            AgentClient c = new AgentClient(mesh(a.addr(), a.addr(), "file:" + tok));
            FailoverStatus fs = c.failover(a.addr(), T);
            assertEquals(3, fs.state().epoch());
            assertEquals("reachable", fs.controlPlane());
            assertEquals("us", fs.state().soleWriter(Kind.ACTIVE_PASSIVE));
            assertEquals(List.of("Bearer one"), a.auth);

            // Rotated on the agent and in the file: the next request uses the new one.
            a.token.set("two");
            AgentException e = assertThrows(AgentException.class, () -> c.failover(a.addr(), T));
            assertEquals(401, e.status());
            assertEquals("a valid read bearer token is required (HTTP 401)", e.getMessage());
            Files.writeString(tok, "two\n");
            assertEquals(3, c.failover(a.addr(), T).state().epoch());
            assertEquals("Bearer two", a.auth.get(a.auth.size() - 1));
        }
    }

    @Test
    void noTokenNoHeader() throws Exception {
        try (FakeAgent a = new FakeAgent()) {
            a.state.set(FakeAgent.ap(1, "init", "us", "eu", null, null));
            new AgentClient(mesh(a.addr(), a.addr(), null)).failover(a.addr(), T);
            assertEquals(List.of(""), a.auth);
        }
    }

    @Test
    void translate() throws Exception {
        try (FakeAgent a = new FakeAgent()) {
            a.translate = q -> {
                if (!q.equals("group=billing+eu&from=us")) {
                    return new FakeAgent.Answer(400, "{\"error\":\"bad query " + q + "\"}");
                }
                return new FakeAgent.Answer(200, "{\"group\":\"billing eu\",\"from\":\"us\",\"to\":\"eu\",\"partitions\":["
                        + "{\"topic\":\"orders\",\"partition\":1,\"source_offset\":15,\"target_topic\":\"orders\",\"target_offset\":10,"
                        + "\"state\":\"copied\",\"origin_offset\":15,\"committed_offset\":4},"
                        + "{\"topic\":\"orders\",\"partition\":2,\"source_offset\":3,\"target_topic\":\"orders\",\"target_offset\":-1,"
                        + "\"origin_offset\":-1,\"error\":\"cluster us: boom\"}]}");
            };
            AgentClient c = new AgentClient(mesh(a.addr(), a.addr(), null));
            TranslateResponse r = c.translate(a.addr(), "billing eu", "us", T);
            assertEquals("eu", r.to());
            assertEquals(new TranslateResponse.Translation("orders", 1, 15, "orders", 10, "copied", 15, ""), r.partitions().get(0));
            assertEquals("", r.partitions().get(1).state());
            assertEquals("cluster us: boom", r.partitions().get(1).error());
            AgentException e = assertThrows(AgentException.class, () -> c.translate(a.addr(), "g", "nowhere", T));
            assertEquals(400, e.status());
        }
    }

    /**
     * The state of the first agent that reaches the control plane wins, in the mesh's
     * order; an unreachable agent and one without a state are skipped; without a
     * reachable control plane the newest epoch wins.
     */
    @Test
    void readState() throws Exception {
        try (FakeAgent us = new FakeAgent(); FakeAgent eu = new FakeAgent(); FakeAgent eu2 = new FakeAgent()) {
            String refused = Repo.refusedAddr();
            GeomeshMesh m = GeomeshMesh.builder("t", Kind.ACTIVE_PASSIVE).primary("us").standby("eu")
                    .region("us", "127.0.0.1:1", refused, us.addr())
                    .region("eu", "127.0.0.1:2", eu.addr(), eu2.addr())
                    .build();
            AgentClient c = new AgentClient(m, Duration.ofSeconds(1));
            us.controlPlane.set("unreachable");
            us.state.set(FakeAgent.ap(5, "init", "us", "eu", null, null));
            eu.state.set(FakeAgent.ap(4, "init", "us", "eu", null, null));
            eu2.state.set(FakeAgent.ap(3, "init", "us", "eu", null, null));
            assertEquals(4, c.readState(T).epoch(), "eu reaches the control plane");
            assertEquals(0, eu2.failovers.get(), "asked no further than the first reachable agent");

            eu.controlPlane.set("connecting");
            eu2.controlPlane.set("stopped");
            assertEquals(5, c.readState(T).epoch(), "none reaches it: the newest epoch");

            us.state.set(null);
            eu.state.set(null);
            eu2.state.set(null);
            GeomeshException e = assertThrows(GeomeshException.class, () -> c.readState(T));
            assertTrue(e.getMessage().startsWith("no agent of mesh t answered GET /v1/failover: agent us-1 of region us: GET http://"
                    + refused + "/v1/failover: "), e.getMessage());
            assertTrue(e.getMessage().contains("agent us-2 of region us: no state yet (control plane unreachable)"), e.getMessage());
        }
    }

    /** An agent that accepts the connection and never answers costs one agent timeout. */
    @Test
    void silentAgentSkipped() throws Exception {
        try (java.net.ServerSocket silent = new java.net.ServerSocket(0, 50, InetAddress.getLoopbackAddress());
             FakeAgent eu = new FakeAgent()) {
            eu.state.set(FakeAgent.ap(2, "failover", "eu", "us", null, null));
            GeomeshMesh m = mesh("127.0.0.1:" + silent.getLocalPort(), eu.addr(), null);
            long start = System.nanoTime();
            assertEquals(2, new AgentClient(m).readState(Duration.ofMillis(300)).epoch());
            assertTrue(Duration.ofNanos(System.nanoTime() - start).compareTo(Duration.ofSeconds(3)) < 0);
        }
    }

    /** HTTPS with the agents' certificate verified against a PEM CA file. */
    @Test
    void tls(@TempDir Path dir) throws Exception {
        Path ks = dir.resolve("agent.p12");
        Path pem = dir.resolve("ca.pem");
        String keytool = Path.of(System.getProperty("java.home"), "bin", "keytool").toString();
        run(keytool, "-genkeypair", "-alias", "agent", "-keyalg", "EC", "-groupname", "secp256r1", "-dname", "CN=agent",
                "-ext", "SAN=ip:127.0.0.1", "-validity", "2", "-storetype", "PKCS12", "-keystore", ks.toString(),
                "-storepass", "changeit", "-keypass", "changeit");
        run(keytool, "-exportcert", "-rfc", "-alias", "agent", "-keystore", ks.toString(), "-storepass", "changeit",
                "-file", pem.toString());
        KeyStore store = KeyStore.getInstance("PKCS12");
        try (InputStream in = Files.newInputStream(ks)) {
            store.load(in, "changeit".toCharArray());
        }
        KeyManagerFactory kmf = KeyManagerFactory.getInstance(KeyManagerFactory.getDefaultAlgorithm());
        kmf.init(store, "changeit".toCharArray());
        SSLContext server = SSLContext.getInstance("TLS");
        server.init(kmf.getKeyManagers(), null, null);
        HttpsServer https = HttpsServer.create(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0), 0);
        https.setHttpsConfigurator(new HttpsConfigurator(server));
        try (FakeAgent a = new FakeAgent(https)) {
            a.state.set(FakeAgent.ap(7, "init", "us", "eu", null, null));
            GeomeshMesh trusted = GeomeshMesh.builder("t", Kind.ACTIVE_PASSIVE).primary("us").standby("eu")
                    .region("us", "127.0.0.1:1", a.addr()).region("eu", "127.0.0.1:2", a.addr())
                    .apiTlsCaFile(pem).build();
            assertEquals(7, new AgentClient(trusted).failover(a.addr(), T).state().epoch());

            GeomeshMesh store2 = GeomeshMesh.builder("t", Kind.ACTIVE_PASSIVE).primary("us").standby("eu")
                    .region("us", "127.0.0.1:1", a.addr()).region("eu", "127.0.0.1:2", a.addr())
                    .apiTlsTrustStore(trustStore(dir, pem), "PKCS12", "file:" + passFile(dir)).build();
            assertEquals(7, new AgentClient(store2).failover(a.addr(), T).state().epoch());

            GeomeshMesh untrusted = GeomeshMesh.builder("t", Kind.ACTIVE_PASSIVE).primary("us").standby("eu")
                    .region("us", "127.0.0.1:1", a.addr()).region("eu", "127.0.0.1:2", a.addr())
                    .apiTls().build();
            GeomeshException e = assertThrows(GeomeshException.class, () -> new AgentClient(untrusted).failover(a.addr(), T));
            assertNotNull(e.getCause());
            GeomeshMesh plain = mesh(a.addr(), a.addr(), null);
            assertThrows(GeomeshException.class, () -> new AgentClient(plain).failover(a.addr(), T), "http to an https agent");
        }
    }

    private static Path trustStore(Path dir, Path pem) throws Exception {
        KeyStore ts = KeyStore.getInstance("PKCS12");
        ts.load(null, null);
        try (InputStream in = Files.newInputStream(pem)) {
            ts.setCertificateEntry("ca", java.security.cert.CertificateFactory.getInstance("X.509").generateCertificate(in));
        }
        Path out = dir.resolve("trust.p12");
        try (java.io.OutputStream o = Files.newOutputStream(out)) {
            ts.store(o, "changeit".toCharArray());
        }
        return out;
    }

    private static Path passFile(Path dir) throws Exception {
        Path p = dir.resolve("trust-pass");
        Files.writeString(p, "changeit\n");
        return p;
    }

    private static void run(String... cmd) throws Exception {
        Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes());
        assertEquals(0, p.waitFor(), String.join(" ", cmd) + ": " + out);
    }

    @Test
    void stateJson() throws Exception {
        MeshState s = AgentClient.JSON.readValue("{\"epoch\":9,\"regions\":{\"a\":{\"role\":\"evacuated\",\"clients_to\":\"b\"},"
                + "\"b\":{\"role\":\"active\"}},\"switch\":{\"from\":\"a\",\"to\":\"b\",\"clients\":\"a\",\"started\":\"2025-01-01T00:00:00Z\"},"
                + "\"decision\":\"switchover-started\",\"reason\":\"operator\",\"time\":\"2025-01-01T00:00:00Z\",\"new_field\":1}", MeshState.class);
        assertEquals(9, s.epoch());
        assertEquals("b", s.regions().get("a").clientsTo());
        assertEquals("a", s.sw().clients());
        assertEquals(List.of("b"), s.writers(Kind.ACTIVE_ACTIVE));
        assertEquals("", s.soleWriter(Kind.ACTIVE_ACTIVE), "active-active has no sole writer");
        assertEquals("", s.from());
        assertEquals(Map.of(), new MeshState(1, null, null, null, null, null, null, null).regions());
    }
}
