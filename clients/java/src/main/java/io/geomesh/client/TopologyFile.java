package io.geomesh.client;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.dataformat.yaml.YAMLFactory;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Reads what the client library needs from a geomesh topology file: the mesh's name,
 * kind and roles, every region's Kafka connection (bootstrap, tls, sasl) and agents'
 * API addresses, the topics, naming and flows (for the names of copies), and the api
 * section (tls, read_token).
 *
 * <p>It needs {@code com.fasterxml.jackson.dataformat:jackson-dataformat-yaml} on the
 * class path (an optional dependency of geomesh-client). It reads leniently: keys the
 * library does not use are ignored, and the file is not validated; {@code geomesh
 * validate FILE} is the strict checker, run it on the file you deploy.
 *
 * <p>The Kafka settings become kafka-clients properties: {@code tls} gives
 * {@code security.protocol} SSL (SASL_SSL with sasl), {@code ca_file} a PEM trust store,
 * {@code cert_file}/{@code key_file} a PEM key store (the key must be PKCS#8,
 * "BEGIN PRIVATE KEY"; both files are read again for every new client);
 * {@code sasl} PLAIN and SCRAM a JAAS config with the password resolved from its
 * reference for every new client, GSSAPI Krb5LoginModule with the keytab (the JVM
 * reads krb5.conf from {@code -Djava.security.krb5.conf}, not from {@code krb5_conf}),
 * OAUTHBEARER kafka-clients' own client credentials login with the secret resolved for
 * every new client (kafka-clients has no {@code audience} parameter, and checks the token
 * endpoint's certificate against the JVM's trust store, not {@code oauth.ca_file}; the JVM
 * must allow the endpoint in {@code -Dorg.apache.kafka.sasl.oauthbearer.allowed.urls}).
 * AWS_MSK_IAM needs Amazon's aws-msk-iam-auth library, which this library does not bring:
 * such a region is refused with that message.
 * {@code server_name} has no kafka-clients equivalent and is ignored;
 * {@code insecure_skip_verify} only turns off host name verification.
 */
public final class TopologyFile {
    private TopologyFile() {
    }

    /** The mesh of the topology file at path. */
    public static GeomeshMesh load(Path path) {
        return builder(path).build();
    }

    /**
     * A mesh builder filled from the topology file at path, for settings the file does
     * not hold: the trust of the agents' API certificates ({@code apiTlsCaFile}, ...) or
     * Kafka properties of a region.
     */
    public static GeomeshMesh.Builder builder(Path path) {
        String text;
        try {
            text = Files.readString(path, StandardCharsets.UTF_8);
        } catch (IOException e) {
            throw new IllegalArgumentException("topology file " + path + ": " + e, e);
        }
        return parse(path.toString(), text);
    }

    /** A mesh builder filled from YAML text; name is the file's name for errors. */
    public static GeomeshMesh.Builder parse(String name, String yaml) {
        try {
            Class.forName("com.fasterxml.jackson.dataformat.yaml.YAMLFactory");
        } catch (ClassNotFoundException e) {
            throw new IllegalStateException("reading a topology file needs com.fasterxml.jackson.dataformat:jackson-dataformat-yaml "
                    + "on the class path; add it, or build the mesh with GeomeshMesh.builder()");
        }
        JsonNode root;
        try {
            root = Yaml.read(yaml);
        } catch (IOException e) {
            throw new IllegalArgumentException(name + ": " + e.getMessage(), e);
        }
        return new Reader(name).read(root);
    }

    /** The only class that names the YAML module, loaded once it is known to be there. */
    private static final class Yaml {
        static JsonNode read(String yaml) throws IOException {
            return new ObjectMapper(new YAMLFactory()).readTree(yaml);
        }
    }

    private static final class Reader {
        private final String file;

        Reader(String file) {
            this.file = file;
        }

        GeomeshMesh.Builder read(JsonNode root) {
            if (root == null || !root.isObject()) {
                throw bad("", "the file is not a mapping");
            }
            String mesh = text(root, "mesh", true);
            JsonNode topo = obj(root, "topology", true);
            Kind kind;
            try {
                kind = Kind.parse(text(topo, "kind", true));
            } catch (IllegalArgumentException e) {
                throw bad("topology.kind", e.getMessage());
            }
            GeomeshMesh.Builder b = GeomeshMesh.builder(mesh, kind);
            String primary = text(topo, "primary", false);
            if (!primary.isEmpty()) {
                b.primary(primary);
            }
            b.standby(list(topo, "standby").toArray(new String[0]));
            String hub = text(topo, "hub", false);
            if (!hub.isEmpty()) {
                b.hub(hub);
            }
            String sh = text(topo, "standby_hub", false);
            if (!sh.isEmpty()) {
                b.standbyHub(sh);
            }
            b.spokes(list(topo, "spokes").toArray(new String[0]));
            if (topo.has("broadcast")) {
                b.broadcast(selection(topo.get("broadcast"), "topology.broadcast", false));
            }
            JsonNode regions = root.get("regions");
            if (regions == null || !regions.isArray() || regions.isEmpty()) {
                throw bad("regions", "a list of regions is required");
            }
            int i = 0;
            for (JsonNode r : regions) {
                region(b, r, "regions[" + i++ + "]");
            }
            if (root.has("topics")) {
                b.topics(selection(root.get("topics"), "topics", true));
            }
            String naming = text(root, "naming", false);
            if (!naming.isEmpty()) {
                try {
                    b.naming(Naming.parse(naming));
                } catch (IllegalArgumentException e) {
                    throw bad("naming", e.getMessage());
                }
            }
            JsonNode flows = root.get("flows");
            if (flows != null && flows.isArray()) {
                int j = 0;
                for (JsonNode f : flows) {
                    String at = "flows[" + j++ + "]";
                    b.flowOverride(text(f, "source", true), text(f, "target", true), selection(f.get("topics"), at + ".topics", false));
                }
            }
            JsonNode api = root.get("api");
            if (api != null && api.isObject()) {
                String tok = text(api, "read_token", false);
                if (!tok.isEmpty()) {
                    try {
                        b.readToken(tok);
                    } catch (IllegalArgumentException e) {
                        throw bad("api.read_token", e.getMessage());
                    }
                }
                if (api.hasNonNull("tls")) {
                    b.apiTls();
                }
            }
            return b;
        }

        private void region(GeomeshMesh.Builder b, JsonNode r, String at) {
            String name = text(r, "name", true);
            boolean witness = r.path("witness").asBoolean(false);
            List<String[]> agents = new ArrayList<>();
            JsonNode as = r.get("agents");
            if (as == null || !as.isArray() || as.isEmpty()) {
                throw bad(at + ".agents", "region " + name + " needs at least one agent");
            }
            for (JsonNode a : as) {
                agents.add(new String[]{text(a, "id", true), text(a, "api", true)});
            }
            JsonNode kafka = r.get("kafka");
            if (!witness && (kafka == null || !kafka.isObject())) {
                throw bad(at + ".kafka", "data region " + name + " needs kafka");
            }
            b.regionFromFile(name, witness, rb -> {
                for (String[] a : agents) {
                    rb.agent(a[0], a[1]);
                }
                if (witness) {
                    return;
                }
                rb.bootstrap(list(kafka, "bootstrap").toArray(new String[0]));
                JsonNode tls = kafka.get("tls");
                JsonNode sasl = kafka.get("sasl");
                if ((tls == null || tls.isNull()) && (sasl == null || sasl.isNull())) {
                    return;
                }
                JsonNode oauth = sasl != null && sasl.isObject() ? obj(sasl, "oauth", false) : null;
                Security sec = new Security(name,
                        tls != null && tls.isObject() ? new String[]{text(tls, "ca_file", false), text(tls, "cert_file", false),
                                text(tls, "key_file", false), tls.path("insecure_skip_verify").asBoolean(false) ? "true" : ""} : null,
                        sasl != null && sasl.isObject() ? new String[]{text(sasl, "mechanism", true), text(sasl, "username", false),
                                text(sasl, "password", false), text(sasl, "keytab", false), text(sasl, "realm", false),
                                text(sasl, "service_name", false)} : null,
                        oauth == null ? null : new OAuth(text(oauth, "token_endpoint", false), text(oauth, "client_id", false),
                                text(oauth, "client_secret", false), list(oauth, "scope"), extensions(oauth)));
                sec.check(this, at + ".kafka");
                rb.kafkaProperties(sec::properties);
            });
        }

        private Selection selection(JsonNode n, String at, boolean defaultAll) {
            if (n == null || n.isNull()) {
                return defaultAll ? Selection.all() : Selection.none();
            }
            List<String> inc = list(n, "include");
            if (inc.isEmpty() && defaultAll) {
                inc = List.of(".*");
            }
            try {
                return Selection.of(inc, list(n, "exclude"));
            } catch (IllegalArgumentException e) {
                throw bad(at, e.getMessage());
            }
        }

        private String text(JsonNode n, String key, boolean required) {
            JsonNode v = n == null ? null : n.get(key);
            if (v == null || v.isNull()) {
                if (required) {
                    throw bad(key, "missing required key \"" + key + "\"");
                }
                return "";
            }
            if (!v.isValueNode()) {
                throw bad(key, "\"" + key + "\" must be a string");
            }
            return v.asText();
        }

        private Map<String, String> extensions(JsonNode oauth) {
            Map<String, String> out = new LinkedHashMap<>();
            JsonNode e = oauth.get("extensions");
            if (e != null && e.isObject()) {
                e.fields().forEachRemaining(f -> out.put(f.getKey(), f.getValue().asText()));
            }
            return out;
        }

        private JsonNode obj(JsonNode n, String key, boolean required) {
            JsonNode v = n.get(key);
            if (v == null || !v.isObject()) {
                if (required) {
                    throw bad(key, "missing required mapping \"" + key + "\"");
                }
                return null;
            }
            return v;
        }

        private List<String> list(JsonNode n, String key) {
            JsonNode v = n == null ? null : n.get(key);
            List<String> out = new ArrayList<>();
            if (v == null || v.isNull()) {
                return out;
            }
            if (!v.isArray()) {
                throw bad(key, "\"" + key + "\" must be a list");
            }
            for (JsonNode x : v) {
                out.add(x.asText());
            }
            return out;
        }

        IllegalArgumentException bad(String at, String msg) {
            return new IllegalArgumentException(file + (at.isEmpty() ? "" : ": " + at) + ": " + msg);
        }
    }

    /** The JVM property that lists the URLs kafka-clients 4 may fetch OAuth tokens from. */
    static final String ALLOWED_URLS = "org.apache.kafka.sasl.oauthbearer.allowed.urls";

    /** A region's sasl.oauth settings: the client credentials grant. */
    record OAuth(String tokenEndpoint, String clientId, String clientSecret, List<String> scope, Map<String, String> extensions) {
    }

    /** A region's tls and sasl settings, turned into kafka-clients properties on each use. */
    static final class Security {
        private final String region;
        private final String caFile;
        private final String certFile;
        private final String keyFile;
        private final boolean skipVerify;
        private final boolean tls;
        private final String mechanism;
        private final String username;
        private final SecretRef password;
        private final String keytab;
        private final String realm;
        private final String serviceName;
        private final OAuth oauth;

        Security(String region, String[] tls, String[] sasl, OAuth oauth) {
            this.oauth = oauth;
            this.region = region;
            this.tls = tls != null;
            this.caFile = tls == null ? "" : tls[0];
            this.certFile = tls == null ? "" : tls[1];
            this.keyFile = tls == null ? "" : tls[2];
            this.skipVerify = tls != null && !tls[3].isEmpty();
            this.mechanism = sasl == null ? "" : sasl[0];
            this.username = sasl == null ? "" : sasl[1];
            this.password = sasl == null || sasl[2].isEmpty() ? null : SecretRef.of(sasl[2]);
            this.keytab = sasl == null ? "" : sasl[3];
            this.realm = sasl == null ? "" : sasl[4];
            this.serviceName = sasl == null || sasl[5].isEmpty() ? "kafka" : sasl[5];
        }

        void check(Reader r, String at) {
            switch (mechanism) {
                case "":
                    break;
                case "PLAIN":
                case "SCRAM-SHA-256":
                case "SCRAM-SHA-512":
                    if (username.isEmpty()) {
                        throw r.bad(at + ".sasl", "sasl " + mechanism + " needs username");
                    }
                    if (password == null) {
                        throw r.bad(at + ".sasl.password", "sasl " + mechanism + " needs a password reference");
                    }
                    break;
                case "GSSAPI":
                    if (username.isEmpty() || keytab.isEmpty() || realm.isEmpty()) {
                        throw r.bad(at + ".sasl", "sasl GSSAPI needs username, keytab and realm");
                    }
                    break;
                case "OAUTHBEARER":
                    if (oauth == null || oauth.tokenEndpoint().isEmpty() || oauth.clientId().isEmpty() || oauth.clientSecret().isEmpty()) {
                        throw r.bad(at + ".sasl.oauth", "sasl OAUTHBEARER needs oauth: {token_endpoint, client_id, client_secret}");
                    }
                    SecretRef.of(oauth.clientSecret());
                    break;
                case "AWS_MSK_IAM":
                    throw r.bad(at + ".sasl.mechanism", "sasl AWS_MSK_IAM needs Amazon's aws-msk-iam-auth library, which geomesh-client "
                            + "does not bring: add it and give this region's Kafka properties to GeomeshMesh.Builder yourself");
                default:
                    throw r.bad(at + ".sasl.mechanism", "unknown sasl mechanism \"" + mechanism + "\"");
            }
            if (certFile.isEmpty() != keyFile.isEmpty()) {
                throw r.bad(at + ".tls", "cert_file and key_file go together");
            }
        }

        Map<String, Object> properties() {
            Map<String, Object> p = new LinkedHashMap<>();
            boolean sasl = !mechanism.isEmpty();
            p.put("security.protocol", tls ? (sasl ? "SASL_SSL" : "SSL") : (sasl ? "SASL_PLAINTEXT" : "PLAINTEXT"));
            if (!caFile.isEmpty()) {
                p.put("ssl.truststore.type", "PEM");
                p.put("ssl.truststore.location", caFile);
            }
            if (!certFile.isEmpty()) {
                p.put("ssl.keystore.type", "PEM");
                p.put("ssl.keystore.certificate.chain", read(certFile));
                p.put("ssl.keystore.key", read(keyFile));
            }
            if (skipVerify) {
                p.put("ssl.endpoint.identification.algorithm", "");
            }
            switch (mechanism) {
                case "PLAIN":
                    p.put("sasl.mechanism", mechanism);
                    p.put("sasl.jaas.config", "org.apache.kafka.common.security.plain.PlainLoginModule required username="
                            + quote(username) + " password=" + quote(password.resolve()) + ";");
                    break;
                case "SCRAM-SHA-256":
                case "SCRAM-SHA-512":
                    p.put("sasl.mechanism", mechanism);
                    p.put("sasl.jaas.config", "org.apache.kafka.common.security.scram.ScramLoginModule required username="
                            + quote(username) + " password=" + quote(password.resolve()) + ";");
                    break;
                case "OAUTHBEARER":
                    oauthProperties(p);
                    break;
                case "GSSAPI":
                    p.put("sasl.mechanism", mechanism);
                    p.put("sasl.kerberos.service.name", serviceName);
                    p.put("sasl.jaas.config", "com.sun.security.auth.module.Krb5LoginModule required useKeyTab=true storeKey=true keyTab="
                            + quote(keytab) + " principal=" + quote(username + "@" + realm) + ";");
                    break;
                default:
                    break;
            }
            return p;
        }

        /**
         * kafka-clients' own client credentials login (KIP-768): it fetches the token and
         * refreshes it before expiry. kafka-clients 4 fetches only from URLs the JVM property
         * ALLOWED_URLS lists; a JVM-wide setting is the application's to make, so its absence
         * is an error that says what to add.
         */
        private void oauthProperties(Map<String, Object> p) {
            String allowed = System.getProperty(ALLOWED_URLS, "");
            boolean ok = false;
            for (String u : allowed.split(",")) {
                ok |= u.trim().equals(oauth.tokenEndpoint());
            }
            if (!ok) {
                throw new GeomeshException("region " + region + ": kafka sasl OAUTHBEARER: kafka-clients fetches tokens only from URLs "
                        + "the JVM property " + ALLOWED_URLS + " lists; start the JVM with -D" + ALLOWED_URLS + "="
                        + oauth.tokenEndpoint());
            }
            StringBuilder jaas = new StringBuilder("org.apache.kafka.common.security.oauthbearer.OAuthBearerLoginModule required");
            jaas.append(" clientId=").append(quote(oauth.clientId()));
            jaas.append(" clientSecret=").append(quote(SecretRef.of(oauth.clientSecret()).resolve()));
            if (!oauth.scope().isEmpty()) {
                jaas.append(" scope=").append(quote(String.join(" ", oauth.scope())));
            }
            oauth.extensions().forEach((k, v) -> jaas.append(" extension_").append(k).append("=").append(quote(v)));
            p.put("sasl.mechanism", "OAUTHBEARER");
            p.put("sasl.login.callback.handler.class", "org.apache.kafka.common.security.oauthbearer.OAuthBearerLoginCallbackHandler");
            p.put("sasl.oauthbearer.token.endpoint.url", oauth.tokenEndpoint());
            p.put("sasl.jaas.config", jaas.append(";").toString());
        }

        private String read(String path) {
            try {
                return Files.readString(Path.of(path), StandardCharsets.UTF_8);
            } catch (IOException e) {
                throw new GeomeshException("region " + region + ": kafka tls: " + path + ": " + e, e);
            }
        }

        static String quote(String s) {
            return "\"" + s.replace("\\", "\\\\").replace("\"", "\\\"") + "\"";
        }
    }
}
