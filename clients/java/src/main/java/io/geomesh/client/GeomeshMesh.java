package io.geomesh.client;

import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.GeneralSecurityException;
import java.security.KeyStore;
import java.security.cert.Certificate;
import java.security.cert.CertificateFactory;
import java.util.ArrayList;
import java.util.Collection;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.function.Consumer;
import java.util.function.Supplier;
import java.util.regex.Pattern;
import javax.net.ssl.SSLContext;
import javax.net.ssl.TrustManagerFactory;

/**
 * What the client library knows of a mesh: its kind and roles as the topology file
 * gives them, every region's Kafka connection and agents' API addresses, the topic
 * selection and naming (for the names of copies), and how to reach the agents' API
 * (TLS, read token).
 *
 * <p>Build it with {@link #builder(String, Kind)}, or load it from the topology file
 * with {@link TopologyFile#load(Path)} (which needs jackson-dataformat-yaml). The
 * builder checks what the library relies on, not everything {@code geomesh validate}
 * checks: validate the file with the CLI.
 */
public final class GeomeshMesh {
    private final String name;
    private final Kind kind;
    private final String primary;
    private final List<String> standby;
    private final String hub;
    private final String standbyHub;
    private final List<String> spokes;
    private final Selection broadcast;
    private final List<Region> regions;
    private final Selection topics;
    private final Naming naming;
    private final List<FlowOverride> overrides;
    private final boolean apiTls;
    private final SecretRef readToken;
    private final Supplier<SSLContext> apiSslContext;
    private final List<Flow> flows;

    /** An agent of a region: its id and the host:port of its HTTP API. */
    public record Agent(String id, String api) {
    }

    /**
     * One region: a data region with a Kafka cluster, or a witness region whose agents
     * only vote.
     */
    public static final class Region {
        private final String name;
        private final boolean witness;
        private final List<String> bootstrap;
        private final Map<String, Object> properties;
        private final Supplier<Map<String, Object>> dynamic;
        private final List<Agent> agents;

        Region(String name, boolean witness, List<String> bootstrap, Map<String, Object> properties,
               Supplier<Map<String, Object>> dynamic, List<Agent> agents) {
            this.name = name;
            this.witness = witness;
            this.bootstrap = List.copyOf(bootstrap);
            this.properties = Map.copyOf(properties);
            this.dynamic = dynamic;
            this.agents = List.copyOf(agents);
        }

        public String name() {
            return name;
        }

        public boolean witness() {
            return witness;
        }

        /** The seed brokers, host:port; empty for a witness. */
        public List<String> bootstrap() {
            return bootstrap;
        }

        public List<Agent> agents() {
            return agents;
        }

        /**
         * The kafka-clients properties that connect to this region's cluster:
         * {@code bootstrap.servers} and the region's security settings, secrets resolved
         * now (each new client resolves them again, so a rotated password is used).
         */
        public Map<String, Object> kafkaProperties() {
            Map<String, Object> p = new LinkedHashMap<>(properties);
            if (dynamic != null) {
                p.putAll(dynamic.get());
            }
            p.put("bootstrap.servers", String.join(",", bootstrap));
            return p;
        }

        @Override
        public String toString() {
            return name;
        }
    }

    /** A flows: entry of the file: a narrower topic selection for one planned flow. */
    public record FlowOverride(String source, String target, Selection topics) {
    }

    private GeomeshMesh(Builder b) {
        this.name = b.name;
        this.kind = b.kind;
        this.primary = b.primary;
        this.standby = List.copyOf(b.standby);
        this.hub = b.hub;
        this.standbyHub = b.standbyHub;
        this.spokes = List.copyOf(b.spokes);
        this.broadcast = b.broadcast;
        this.regions = List.copyOf(b.regions);
        this.topics = b.topics;
        this.naming = b.naming != null ? b.naming : (b.kind == Kind.ACTIVE_PASSIVE ? Naming.IDENTITY : Naming.PREFIX);
        this.overrides = List.copyOf(b.overrides);
        this.apiTls = b.apiTls;
        this.readToken = b.readToken;
        this.apiSslContext = b.sslContext;
        this.flows = plan();
    }

    /** A builder of the mesh called name, of the given kind. */
    public static Builder builder(String name, Kind kind) {
        return new Builder(name, kind);
    }

    public String name() {
        return name;
    }

    public Kind kind() {
        return kind;
    }

    /** active-passive: the file's primary; "" otherwise. */
    public String primary() {
        return primary;
    }

    public List<String> standby() {
        return standby;
    }

    /** hub-spoke: the file's hub; "" otherwise. */
    public String hub() {
        return hub;
    }

    public String standbyHub() {
        return standbyHub;
    }

    public List<String> spokes() {
        return spokes;
    }

    public List<Region> regions() {
        return regions;
    }

    public Selection topics() {
        return topics;
    }

    public Naming naming() {
        return naming;
    }

    /** Whether the agents serve their API over HTTPS. */
    public boolean apiTls() {
        return apiTls;
    }

    /** The read token's reference, or null when the agents need none. */
    public SecretRef readToken() {
        return readToken;
    }

    /** The SSL context that verifies the agents' API certificates (the JVM default unless set). */
    SSLContext apiSslContext() {
        return apiSslContext == null ? null : apiSslContext.get();
    }

    /** The flows the file's roles plan (Go {@code topology.Plan}). */
    public List<Flow> flows() {
        return flows;
    }

    /** The region called name. */
    public Optional<Region> region(String name) {
        for (Region r : regions) {
            if (r.name.equals(name)) {
                return Optional.of(r);
            }
        }
        return Optional.empty();
    }

    /** The names of the regions with a Kafka cluster, in order. */
    public List<String> dataRegions() {
        List<String> out = new ArrayList<>();
        for (Region r : regions) {
            if (!r.witness) {
                out.add(r.name);
            }
        }
        return out;
    }

    /** The data region called name, or IllegalArgumentException naming the regions there are. */
    public Region dataRegion(String name) {
        Region r = region(name).orElseThrow(() -> new IllegalArgumentException(
                "mesh " + this.name + " has no region \"" + name + "\" (regions: " + String.join(", ", dataRegions()) + ")"));
        if (r.witness) {
            throw new IllegalArgumentException("region " + name + " of mesh " + this.name + " is a witness: it has no Kafka cluster");
        }
        return r;
    }

    /**
     * The region a client writes to, and reads the topics of, by default: the primary
     * of an active-passive mesh, the hub of a hub-spoke mesh, "" for active-active.
     */
    public String defaultWriter() {
        switch (kind) {
            case ACTIVE_PASSIVE:
                return primary;
            case HUB_SPOKE:
                return hub;
            default:
                return "";
        }
    }

    /**
     * The name, in region, of the topic that holds the records of topic as produced in
     * origin: the topic itself in the origin region, elsewhere the copy that the planned
     * flow from origin makes ({@code orders}, or {@code us-east.orders} under prefix
     * naming). Throws IllegalArgumentException when no flow copies it there.
     */
    public String topicIn(String origin, String region, String topic) {
        if (region.equals(origin)) {
            return topic;
        }
        for (Flow f : flows) {
            if (f.source().equals(origin) && f.target().equals(region)) {
                if (!f.selects(topic)) {
                    throw new IllegalArgumentException("mesh " + name + " does not copy topic " + topic + " from region " + origin + " to " + region);
                }
                return f.targetTopic(topic);
            }
        }
        throw new IllegalArgumentException("mesh " + name + " has no flow from region " + origin + " to " + region
                + ", so region " + region + " holds no copy of topic " + topic);
    }

    /** The planned flow that writes topic in region as a copy of another region's topic, if any. */
    Optional<Flow> copyOf(String region, String topic) {
        for (Flow f : flows) {
            if (!f.target().equals(region)) {
                continue;
            }
            String src = topic;
            if (f.naming() == Naming.PREFIX) {
                if (!topic.startsWith(f.source() + ".")) {
                    continue;
                }
                src = topic.substring(f.source().length() + 1);
            }
            if (f.selects(src) && f.targetTopic(src).equals(topic)) {
                return Optional.of(f);
            }
        }
        return Optional.empty();
    }

    /**
     * Refuses, with NotPrimaryException, a write of topic to region when writer is the
     * primary (active-passive) or hub (hub-spoke) now (Go {@code checkWrite}):
     * active-passive: only the primary takes writes; active-active: every region, except
     * to the copies of other regions' topics under prefix naming; hub-spoke: the hub
     * except to the spokes' aggregated topics, a spoke except to the topics the hub
     * broadcasts to it, the standby hub (until it is the hub) and a failed hub none.
     */
    void checkWrite(String writer, String region, String topic) {
        switch (kind) {
            case ACTIVE_PASSIVE:
                if (!region.equals(writer)) {
                    throw new NotPrimaryException("produce to " + topic + " in region " + region
                            + ": region is not primary for the topic: " + writer + " is the primary of mesh " + name);
                }
                return;
            case HUB_SPOKE:
                if (region.equals(writer)) {
                    for (String s : spokes) {
                        if (topic.startsWith(s + ".")) {
                            throw new NotPrimaryException("produce to " + topic + " in region " + region
                                    + ": region is not primary for the topic: it holds the copies of spoke " + s);
                        }
                    }
                    return;
                }
                if (!spokes.contains(region)) {
                    throw new NotPrimaryException("produce to " + topic + " in region " + region
                            + ": region is not primary for the topic: " + writer + " is the hub of mesh " + name);
                }
                break;
            default:
                break;
        }
        Optional<Flow> f = copyOf(region, topic);
        if (f.isPresent() && !(kind == Kind.ACTIVE_ACTIVE && f.get().naming() == Naming.IDENTITY)) {
            throw new NotPrimaryException("produce to " + topic + " in region " + region
                    + ": region is not primary for the topic: it is the copy of region " + f.get().source() + "'s topic that the mesh writes");
        }
    }

    /** Go topology.PlanFor(m, m.Roles). */
    private List<Flow> plan() {
        List<String> names = new ArrayList<>();
        for (Region r : regions) {
            names.add(r.name);
        }
        List<Flow> out = new ArrayList<>();
        switch (kind) {
            case ACTIVE_PASSIVE:
                for (String s : standby) {
                    out.add(new Flow(primary, s, Flow.REPLICATE, topics, naming, names));
                }
                break;
            case ACTIVE_ACTIVE:
                List<String> data = dataRegions();
                for (String s : data) {
                    for (String t : data) {
                        if (!s.equals(t)) {
                            out.add(new Flow(s, t, Flow.REPLICATE, topics, naming, names));
                        }
                    }
                }
                break;
            case HUB_SPOKE:
                for (String s : spokes) {
                    out.add(new Flow(s, hub, Flow.AGGREGATE, topics, naming, names));
                }
                if (!broadcast.include().isEmpty()) {
                    List<String> exc = new ArrayList<>(broadcast.exclude());
                    exc.addAll(topics.exclude());
                    Selection b = Selection.of(broadcast.include(), exc);
                    for (String s : spokes) {
                        out.add(new Flow(hub, s, Flow.BROADCAST, b, Naming.IDENTITY, names));
                    }
                }
                if (!standbyHub.isEmpty()) {
                    out.add(new Flow(hub, standbyHub, Flow.STANDBY, standbySelection(), Naming.IDENTITY, names));
                }
                break;
            default:
                break;
        }
        for (FlowOverride o : overrides) {
            for (int i = 0; i < out.size(); i++) {
                Flow f = out.get(i);
                if (f.source().equals(o.source()) && f.target().equals(o.target())) {
                    out.set(i, new Flow(f.source(), f.target(), f.kind(), o.topics(), f.naming(), f.regions()));
                }
            }
        }
        return List.copyOf(out);
    }

    private Selection standbySelection() {
        List<String> include = new ArrayList<>(topics.include());
        include.addAll(broadcast.include());
        List<String> exclude = new ArrayList<>(topics.exclude());
        if (naming == Naming.PREFIX) {
            for (String spoke : spokes) {
                String prefix = Pattern.quote(spoke + ".");
                for (String p : topics.include()) {
                    include.add(prefix + "(?:" + p + ")");
                }
                for (String p : topics.exclude()) {
                    exclude.add(prefix + "(?:" + p + ")");
                }
            }
        }
        return Selection.of(include, exclude);
    }

    @Override
    public String toString() {
        return "mesh " + name + " (" + kind + ")";
    }

    /** Builds a {@link GeomeshMesh}. */
    public static final class Builder {
        private final String name;
        private final Kind kind;
        private String primary = "";
        private final List<String> standby = new ArrayList<>();
        private String hub = "";
        private String standbyHub = "";
        private final List<String> spokes = new ArrayList<>();
        private Selection broadcast = Selection.none();
        private final List<Region> regions = new ArrayList<>();
        private Selection topics = Selection.all();
        private Naming naming;
        private final List<FlowOverride> overrides = new ArrayList<>();
        private boolean apiTls;
        private SecretRef readToken;
        private Supplier<SSLContext> sslContext;

        private Builder(String name, Kind kind) {
            if (name == null || name.isEmpty()) {
                throw new IllegalArgumentException("a mesh needs a name");
            }
            this.name = name;
            this.kind = kind;
        }

        /** active-passive: the region that takes writes. */
        public Builder primary(String region) {
            this.primary = region;
            return this;
        }

        /** active-passive: the regions that receive the primary's topics. */
        public Builder standby(String... regions) {
            standby.addAll(List.of(regions));
            return this;
        }

        /** hub-spoke: the hub. */
        public Builder hub(String region) {
            this.hub = region;
            return this;
        }

        /** hub-spoke: the standby hub. */
        public Builder standbyHub(String region) {
            this.standbyHub = region;
            return this;
        }

        /** hub-spoke: the spokes. */
        public Builder spokes(String... regions) {
            spokes.addAll(List.of(regions));
            return this;
        }

        /** hub-spoke: the hub topics broadcast to every spoke. Default: none. */
        public Builder broadcast(Selection s) {
            this.broadcast = s;
            return this;
        }

        /**
         * A data region with its seed brokers (comma-separated host:port) and its agents'
         * API addresses (host:port), the agents named {@code <region>-1}, {@code <region>-2}, ...
         */
        public Builder region(String name, String bootstrap, String... agentApis) {
            return region(name, r -> {
                r.bootstrap(bootstrap.split(","));
                for (String a : agentApis) {
                    r.agent(a);
                }
            });
        }

        /** A data region configured by fn. */
        public Builder region(String name, Consumer<RegionBuilder> fn) {
            RegionBuilder rb = new RegionBuilder(name, false);
            fn.accept(rb);
            regions.add(rb.build());
            return this;
        }

        /** A witness region (no Kafka) and its agents' API addresses. */
        public Builder witness(String name, String... agentApis) {
            RegionBuilder rb = new RegionBuilder(name, true);
            for (String a : agentApis) {
                rb.agent(a);
            }
            regions.add(rb.build());
            return this;
        }

        /** A region as a topology file lists it: data or witness, configured by fn. */
        Builder regionFromFile(String name, boolean witness, Consumer<RegionBuilder> fn) {
            RegionBuilder rb = new RegionBuilder(name, witness);
            fn.accept(rb);
            regions.add(rb.build());
            return this;
        }

        /** The topics the mesh replicates. Default: every topic. */
        public Builder topics(Selection s) {
            this.topics = s;
            return this;
        }

        /** The naming of copies. Default: identity for active-passive, prefix otherwise. */
        public Builder naming(Naming n) {
            this.naming = n;
            return this;
        }

        /** A narrower topic selection for one planned flow (the file's flows:). */
        public Builder flowOverride(String source, String target, Selection topics) {
            overrides.add(new FlowOverride(source, target, topics));
            return this;
        }

        /** The agents' read token, {@code env:NAME} or {@code file:/path}, resolved per request. */
        public Builder readToken(String ref) {
            this.readToken = ref == null ? null : SecretRef.of(ref);
            return this;
        }

        /** The read token as a reference built elsewhere. */
        public Builder readToken(SecretRef ref) {
            this.readToken = ref;
            return this;
        }

        /** The agents serve HTTPS; their certificates are verified against the JVM's default trust. */
        public Builder apiTls() {
            this.apiTls = true;
            return this;
        }

        /** The agents serve HTTPS with certificates signed by a CA of this PEM bundle. */
        public Builder apiTlsCaFile(Path pemBundle) {
            this.apiTls = true;
            this.sslContext = () -> trustingPem(pemBundle);
            return this;
        }

        /**
         * The agents serve HTTPS with certificates this trust store (JKS or PKCS12) trusts;
         * passwordRef ({@code env:} or {@code file:}) may be null.
         */
        public Builder apiTlsTrustStore(Path store, String type, String passwordRef) {
            this.apiTls = true;
            SecretRef pw = passwordRef == null ? null : SecretRef.of(passwordRef);
            this.sslContext = () -> trustingStore(store, type, pw);
            return this;
        }

        /** The agents serve HTTPS, verified by this context. */
        public Builder apiSslContext(SSLContext ctx) {
            this.apiTls = true;
            this.sslContext = () -> ctx;
            return this;
        }

        /** The mesh; IllegalArgumentException when it lacks what the library needs. */
        public GeomeshMesh build() {
            if (kind == null) {
                throw new IllegalArgumentException("mesh " + name + ": no kind");
            }
            Set<String> names = new LinkedHashSet<>();
            for (Region r : regions) {
                if (!names.add(r.name)) {
                    throw new IllegalArgumentException("mesh " + name + ": region " + r.name + " is listed twice");
                }
                if (r.agents.isEmpty()) {
                    throw new IllegalArgumentException("mesh " + name + ": region " + r.name + " has no agent");
                }
                if (!r.witness && r.bootstrap.isEmpty()) {
                    throw new IllegalArgumentException("mesh " + name + ": region " + r.name + " has no bootstrap servers");
                }
            }
            if (regions.isEmpty()) {
                throw new IllegalArgumentException("mesh " + name + ": no region");
            }
            switch (kind) {
                case ACTIVE_PASSIVE:
                    needData("primary", primary);
                    for (String s : standby) {
                        needData("standby", s);
                    }
                    noRoles(!hub.isEmpty() || !standbyHub.isEmpty() || !spokes.isEmpty(), "hub, standby_hub and spokes");
                    break;
                case HUB_SPOKE:
                    needData("hub", hub);
                    if (!standbyHub.isEmpty()) {
                        needData("standby_hub", standbyHub);
                    }
                    for (String s : spokes) {
                        needData("spoke", s);
                    }
                    noRoles(!primary.isEmpty() || !standby.isEmpty(), "primary and standby");
                    break;
                default:
                    noRoles(!primary.isEmpty() || !standby.isEmpty() || !hub.isEmpty() || !standbyHub.isEmpty() || !spokes.isEmpty(),
                            "roles");
                    break;
            }
            return new GeomeshMesh(this);
        }

        private void needData(String role, String region) {
            if (region == null || region.isEmpty()) {
                throw new IllegalArgumentException("mesh " + name + " (" + kind + "): no " + role);
            }
            Region r = null;
            for (Region x : regions) {
                if (x.name.equals(region)) {
                    r = x;
                }
            }
            if (r == null) {
                throw new IllegalArgumentException("mesh " + name + ": " + role + " " + region + " is not a region of the mesh");
            }
            if (r.witness) {
                throw new IllegalArgumentException("mesh " + name + ": " + role + " " + region + " is a witness");
            }
        }

        private void noRoles(boolean set, String what) {
            if (set) {
                throw new IllegalArgumentException("mesh " + name + ": a " + kind + " mesh has no " + what);
            }
        }
    }

    /** Configures one region of a {@link Builder}. */
    public static final class RegionBuilder {
        private final String name;
        private final boolean witness;
        private final List<String> bootstrap = new ArrayList<>();
        private final Map<String, Object> properties = new LinkedHashMap<>();
        private Supplier<Map<String, Object>> dynamic;
        private final List<Agent> agents = new ArrayList<>();

        RegionBuilder(String name, boolean witness) {
            if (name == null || name.isEmpty()) {
                throw new IllegalArgumentException("a region needs a name");
            }
            this.name = name;
            this.witness = witness;
        }

        /** Seed brokers, host:port. */
        public RegionBuilder bootstrap(String... servers) {
            for (String s : servers) {
                if (!s.isBlank()) {
                    bootstrap.add(s.trim());
                }
            }
            return this;
        }

        /** An agent, named {@code <region>-<n>}, whose API listens at host:port. */
        public RegionBuilder agent(String api) {
            return agent(name + "-" + (agents.size() + 1), api);
        }

        /** An agent and the host:port of its API. */
        public RegionBuilder agent(String id, String api) {
            agents.add(new Agent(id, api));
            return this;
        }

        /**
         * A kafka-clients property for every client of this region (security.protocol,
         * ssl.*, sasl.*, ...).
         */
        public RegionBuilder kafkaProperty(String key, Object value) {
            properties.put(key, value);
            return this;
        }

        /** kafka-clients properties for every client of this region. */
        public RegionBuilder kafkaProperties(Map<String, ?> props) {
            properties.putAll(props);
            return this;
        }

        /**
         * Properties computed each time a client of the region is built, after the static
         * ones: for credentials read from a secret store at connection time.
         */
        public RegionBuilder kafkaProperties(Supplier<Map<String, Object>> props) {
            this.dynamic = props;
            return this;
        }

        Region build() {
            return new Region(name, witness, bootstrap, properties, dynamic, agents);
        }
    }

    static SSLContext trustingPem(Path pem) {
        try (InputStream in = Files.newInputStream(pem)) {
            Collection<? extends Certificate> certs = CertificateFactory.getInstance("X.509").generateCertificates(in);
            if (certs.isEmpty()) {
                throw new GeomeshException("api tls: " + pem + " holds no certificate");
            }
            KeyStore ks = KeyStore.getInstance(KeyStore.getDefaultType());
            ks.load(null, null);
            int i = 0;
            for (Certificate c : certs) {
                ks.setCertificateEntry("ca-" + i++, c);
            }
            return contextOf(ks);
        } catch (IOException | GeneralSecurityException e) {
            throw new GeomeshException("api tls: CA file " + pem + ": " + e.getMessage(), e);
        }
    }

    static SSLContext trustingStore(Path store, String type, SecretRef password) {
        try (InputStream in = Files.newInputStream(store)) {
            KeyStore ks = KeyStore.getInstance(type == null ? KeyStore.getDefaultType() : type);
            ks.load(in, password == null ? null : password.resolve().toCharArray());
            return contextOf(ks);
        } catch (IOException | GeneralSecurityException e) {
            throw new GeomeshException("api tls: trust store " + store + ": " + e.getMessage(), e);
        }
    }

    private static SSLContext contextOf(KeyStore ks) throws GeneralSecurityException {
        TrustManagerFactory tmf = TrustManagerFactory.getInstance(TrustManagerFactory.getDefaultAlgorithm());
        tmf.init(ks);
        SSLContext ctx = SSLContext.getInstance("TLS");
        ctx.init(null, tmf.getTrustManagers(), null);
        return ctx;
    }
}
