package io.geomesh.client;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Reading the topology file: what the client needs, and the Kafka security settings as kafka-clients properties. */
class TopologyFileTest {
    @Test
    void examples() {
        GeomeshMesh ap = MeshTest.example("active-passive");
        assertEquals("shop", ap.name());
        assertEquals(Kind.ACTIVE_PASSIVE, ap.kind());
        assertEquals("us-east", ap.primary());
        assertEquals(List.of("eu-west"), ap.standby());
        assertEquals(List.of("us-east", "eu-west"), ap.dataRegions());
        GeomeshMesh.Region w = ap.region("witness").orElseThrow();
        assertTrue(w.witness());
        assertEquals(List.of(new GeomeshMesh.Agent("witness-1", "127.0.0.1:18082")), w.agents());
        assertEquals(Map.of("bootstrap.servers", "127.0.0.1:19092"), ap.region("us-east").orElseThrow().kafkaProperties());
        assertEquals(Naming.IDENTITY, ap.naming());
        assertFalse(ap.apiTls());
        assertNull(ap.readToken());

        GeomeshMesh hs = MeshTest.example("hub-spoke");
        assertEquals("central", hs.hub());
        assertEquals("central-2", hs.standbyHub());
        assertEquals(List.of("store-a", "store-b", "store-c"), hs.spokes());
        assertEquals(Naming.PREFIX, hs.naming());
    }

    @Test
    void security(@TempDir Path dir) throws Exception {
        Path pw = dir.resolve("pw");
        Files.writeString(pw, "first\n");
        Path cert = dir.resolve("c.pem");
        Files.writeString(cert, "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n");
        Path key = dir.resolve("k.pem");
        Files.writeString(key, "-----BEGIN PRIVATE KEY-----\nBBBB\n-----END PRIVATE KEY-----\n");
        GeomeshMesh m = TopologyFile.parse("t.yaml", String.join("\n",
                "mesh: t",
                "topology: {kind: active-passive, primary: east, standby: [west]}",
                "api:",
                "  read_token: env:GM_READ_TOKEN",
                "  admin_token: env:GM_ADMIN_TOKEN",
                "  tls: {cert_file: /x.pem, key_file: /x-key.pem}",
                "regions:",
                "  - name: east",
                "    kafka:",
                "      bootstrap: [k1:9093, k2:9093]",
                "      tls: {ca_file: /etc/ca.pem, cert_file: " + cert + ", key_file: " + key + "}",
                "      sasl: {mechanism: SCRAM-SHA-512, username: geo\"mesh, password: file:" + pw + "}",
                "    agents: [{id: east-1, gossip: 1.1.1.1:7946, api: 1.1.1.1:8080}]",
                "  - name: west",
                "    kafka:",
                "      bootstrap: [k3:9092]",
                "      sasl: {mechanism: GSSAPI, username: geomesh, keytab: /etc/geo.keytab, realm: EXAMPLE.COM}",
                "    agents: [{id: west-1, gossip: 2.2.2.2:7946, api: 2.2.2.2:8080}]",
                "control_plane: {embedded: true}",
                "")).build();
        assertTrue(m.apiTls());
        assertEquals("env:GM_READ_TOKEN", m.readToken().ref());
        Map<String, Object> east = m.region("east").orElseThrow().kafkaProperties();
        assertEquals("k1:9093,k2:9093", east.get("bootstrap.servers"));
        assertEquals("SASL_SSL", east.get("security.protocol"));
        assertEquals("PEM", east.get("ssl.truststore.type"));
        assertEquals("/etc/ca.pem", east.get("ssl.truststore.location"));
        assertEquals("PEM", east.get("ssl.keystore.type"));
        assertTrue(((String) east.get("ssl.keystore.key")).contains("BBBB"));
        assertEquals("SCRAM-SHA-512", east.get("sasl.mechanism"));
        assertEquals("org.apache.kafka.common.security.scram.ScramLoginModule required username=\"geo\\\"mesh\" password=\"first\";",
                east.get("sasl.jaas.config"));
        // The password is read for every new client: a rotated file is used.
        Files.writeString(pw, "second\n");
        assertTrue(((String) m.region("east").orElseThrow().kafkaProperties().get("sasl.jaas.config")).contains("password=\"second\""));

        Map<String, Object> west = m.region("west").orElseThrow().kafkaProperties();
        assertEquals("SASL_PLAINTEXT", west.get("security.protocol"));
        assertEquals("GSSAPI", west.get("sasl.mechanism"));
        assertEquals("kafka", west.get("sasl.kerberos.service.name"));
        assertEquals("com.sun.security.auth.module.Krb5LoginModule required useKeyTab=true storeKey=true keyTab=\"/etc/geo.keytab\" "
                + "principal=\"geomesh@EXAMPLE.COM\";", west.get("sasl.jaas.config"));
    }

    /**
     * OAUTHBEARER becomes kafka-clients' own client credentials login, the secret read for
     * every new client; without the JVM allowing the endpoint, a message that says what to
     * add; AWS_MSK_IAM is refused with what to do instead.
     */
    @Test
    void oauth(@TempDir Path dir) throws Exception {
        Path secret = dir.resolve("secret");
        Files.writeString(secret, "s3cret\n");
        String endpoint = "https://idp.example.com/oauth2/token";
        GeomeshMesh m = TopologyFile.parse("t.yaml", String.join("\n",
                "mesh: t",
                "topology: {kind: active-passive, primary: east, standby: [west]}",
                "regions:",
                "  - name: east",
                "    kafka:",
                "      bootstrap: [k1:9093]",
                "      tls: {}",
                "      sasl:",
                "        mechanism: OAUTHBEARER",
                "        oauth: {token_endpoint: \"" + endpoint + "\", client_id: geomesh, client_secret: file:" + secret
                        + ", scope: [kafka, admin], extensions: {logicalCluster: lkc-1}}",
                "    agents: [{id: east-1, gossip: 1.1.1.1:7946, api: 1.1.1.1:8080}]",
                "  - name: west",
                "    kafka: {bootstrap: [k2:9092]}",
                "    agents: [{id: west-1, gossip: 2.2.2.2:7946, api: 2.2.2.2:8080}]",
                "")).build();
        String before = System.getProperty(TopologyFile.ALLOWED_URLS);
        try {
            System.clearProperty(TopologyFile.ALLOWED_URLS);
            GeomeshException refused = assertThrows(GeomeshException.class, () -> m.region("east").orElseThrow().kafkaProperties());
            assertEquals("region east: kafka sasl OAUTHBEARER: kafka-clients fetches tokens only from URLs the JVM property "
                    + TopologyFile.ALLOWED_URLS + " lists; start the JVM with -D" + TopologyFile.ALLOWED_URLS + "=" + endpoint,
                    refused.getMessage());
            System.setProperty(TopologyFile.ALLOWED_URLS, "https://other.example.com/jwks, " + endpoint);
            Map<String, Object> east = m.region("east").orElseThrow().kafkaProperties();
            assertEquals("SASL_SSL", east.get("security.protocol"));
            assertEquals("OAUTHBEARER", east.get("sasl.mechanism"));
            assertEquals(endpoint, east.get("sasl.oauthbearer.token.endpoint.url"));
            assertEquals("org.apache.kafka.common.security.oauthbearer.OAuthBearerLoginCallbackHandler",
                    east.get("sasl.login.callback.handler.class"));
            assertEquals("org.apache.kafka.common.security.oauthbearer.OAuthBearerLoginModule required clientId=\"geomesh\" "
                    + "clientSecret=\"s3cret\" scope=\"kafka admin\" extension_logicalCluster=\"lkc-1\";", east.get("sasl.jaas.config"));
            Files.writeString(secret, "rotated\n");
            assertTrue(((String) m.region("east").orElseThrow().kafkaProperties().get("sasl.jaas.config")).contains("clientSecret=\"rotated\""));
        } finally {
            if (before == null) {
                System.clearProperty(TopologyFile.ALLOWED_URLS);
            } else {
                System.setProperty(TopologyFile.ALLOWED_URLS, before);
            }
        }

        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> TopologyFile.parse("t.yaml", String.join("\n",
                "mesh: t",
                "topology: {kind: active-active}",
                "regions:",
                "  - {name: a, kafka: {bootstrap: [b-1.x.kafka.eu-west-1.amazonaws.com:9098], tls: {}, sasl: {mechanism: AWS_MSK_IAM}}, "
                        + "agents: [{id: a, api: x}]}",
                "")));
        assertTrue(e.getMessage().startsWith("t.yaml: regions[0].kafka.sasl.mechanism: sasl AWS_MSK_IAM needs Amazon's aws-msk-iam-auth library"),
                e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> TopologyFile.parse("t.yaml", String.join("\n",
                "mesh: t",
                "topology: {kind: active-active}",
                "regions:",
                "  - {name: a, kafka: {bootstrap: [k:1], sasl: {mechanism: OAUTHBEARER}}, agents: [{id: a, api: x}]}",
                "")));
        assertEquals("t.yaml: regions[0].kafka.sasl.oauth: sasl OAUTHBEARER needs oauth: {token_endpoint, client_id, client_secret}", e.getMessage());
    }

    @Test
    void errors() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> TopologyFile.parse("t.yaml", "mesh: t\n"));
        assertEquals("t.yaml: topology: missing required mapping \"topology\"", e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> TopologyFile.parse("t.yaml",
                "mesh: t\ntopology: {kind: ring}\nregions: [{name: a, agents: [{id: a, api: x}]}]\n"));
        assertTrue(e.getMessage().startsWith("t.yaml: topology.kind: unknown topology kind \"ring\""), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> TopologyFile.parse("t.yaml", String.join("\n",
                "mesh: t",
                "topology: {kind: active-active}",
                "regions:",
                "  - {name: a, kafka: {bootstrap: [k:1], sasl: {mechanism: PLAIN, username: u, password: hunter2}}, agents: [{id: a, api: x}]}",
                "")));
        assertFalse(e.getMessage().contains("hunter2"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> TopologyFile.parse("t.yaml", String.join("\n",
                "mesh: t",
                "topology: {kind: active-active}",
                "regions:",
                "  - {name: a, agents: [{id: a, api: x}]}",
                "")));
        assertEquals("t.yaml: regions[0].kafka: data region a needs kafka", e.getMessage());
    }
}
