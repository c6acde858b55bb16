package io.geomesh.client;

import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The mesh model: builder checks, planned flows, names of copies and who takes writes (Go topics_test.go). */
class MeshTest {
    static GeomeshMesh example(String name) {
        return TopologyFile.load(Repo.path("configs/examples/" + name + ".yaml"));
    }

    @Test
    void topicIn() {
        GeomeshMesh ap = example("active-passive");
        GeomeshMesh aa = example("active-active");
        assertEquals("orders", ap.topicIn("us-east", "us-east", "orders"));
        assertEquals("orders", ap.topicIn("us-east", "eu-west", "orders"));
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> ap.topicIn("us-east", "eu-west", "billing"));
        assertEquals("mesh shop does not copy topic billing from region us-east to eu-west", e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> ap.topicIn("eu-west", "us-east", "orders"));
        assertEquals("mesh shop has no flow from region eu-west to us-east, so region us-east holds no copy of topic orders", e.getMessage());
        assertEquals("us-east.posts", aa.topicIn("us-east", "eu-west", "posts"));
        assertEquals("posts", aa.topicIn("eu-west", "eu-west", "posts"));
    }

    @Test
    void checkWrite() {
        GeomeshMesh ap = example("active-passive");
        GeomeshMesh aa = example("active-active");
        GeomeshMesh hs = example("hub-spoke");
        GeomeshMesh aaID = TopologyFile.builder(Repo.path("configs/examples/active-active.yaml")).naming(Naming.IDENTITY).build();
        String hub = hs.hub();
        String spoke = hs.spokes().get(0);
        record C(String name, GeomeshMesh m, String writer, String region, String topic, boolean ok) {
        }
        List<C> cases = List.of(
                new C("ap primary", ap, "us-east", "us-east", "orders", true),
                new C("ap standby", ap, "us-east", "eu-west", "orders", false),
                new C("ap promoted standby", ap, "eu-west", "eu-west", "orders", true),
                new C("ap old primary after failover", ap, "eu-west", "us-east", "orders", false),
                new C("aa prefix local", aa, "", "eu-west", "posts", true),
                new C("aa prefix copy", aa, "", "eu-west", "us-east.posts", false),
                new C("aa prefix unselected name with prefix", aa, "", "eu-west", "us-east.other", true),
                new C("aa identity", aaID, "", "eu-west", "posts", true),
                new C("hs hub", hs, hub, hub, "prices", true),
                new C("hs hub aggregated copy", hs, hub, hub, spoke + ".sales", false),
                new C("hs standby hub", hs, hub, hs.standbyHub(), "prices", false),
                new C("hs promoted standby hub", hs, hs.standbyHub(), hs.standbyHub(), "prices", true),
                new C("hs spoke", hs, hub, spoke, "sales", true),
                new C("hs spoke broadcast copy", hs, hub, spoke, "prices", false));
        List<String> wrong = new ArrayList<>();
        for (C c : cases) {
            boolean ok;
            try {
                c.m().checkWrite(c.writer(), c.region(), c.topic());
                ok = true;
            } catch (NotPrimaryException e) {
                ok = false;
            }
            if (ok != c.ok()) {
                wrong.add(c.name());
            }
        }
        assertEquals(List.of(), wrong);
    }

    /** The flows of each example, as `geomesh plan` prints them. */
    @Test
    void plan() {
        List<String> got = new ArrayList<>();
        for (Flow f : example("hub-spoke").flows()) {
            got.add(f.source() + ">" + f.target() + " " + f.kind() + " " + f.naming() + " " + f.targetTopic("t"));
        }
        assertEquals(List.of(
                "store-a>central aggregate prefix store-a.t",
                "store-b>central aggregate prefix store-b.t",
                "store-c>central aggregate prefix store-c.t",
                "central>store-a broadcast identity t",
                "central>store-b broadcast identity t",
                "central>store-c broadcast identity t",
                "central>central-2 standby identity t"), got);
        Flow standby = example("hub-spoke").flows().get(6);
        assertTrue(standby.selects("store-a.sales"), "the standby hub gets the aggregated copies");
        assertTrue(standby.selects("prices"));
        assertFalse(standby.selects("geomesh.progress"));
        assertEquals(6, example("active-active").flows().size());
        GeomeshMesh ap = example("active-passive");
        assertEquals(1, ap.flows().size());
        assertTrue(ap.flows().get(0).selects("orders-eu"));
        assertFalse(ap.flows().get(0).selects("orders.internal"));
    }

    @Test
    void builder() {
        GeomeshMesh m = GeomeshMesh.builder("shop", Kind.ACTIVE_PASSIVE).primary("us").standby("eu")
                .region("us", "k1:9092,k2:9092", "10.0.0.1:8080", "10.0.0.2:8080")
                .region("eu", r -> r.bootstrap("k3:9092").agent("eu-a", "10.1.0.1:8080").kafkaProperty("security.protocol", "SSL"))
                .witness("w", "10.2.0.1:8080")
                .topics(Selection.of(List.of("orders.*"), List.of()))
                .build();
        assertEquals(Naming.IDENTITY, m.naming());
        assertEquals(List.of("us", "eu"), m.dataRegions());
        assertEquals("us-2", m.region("us").orElseThrow().agents().get(1).id());
        assertEquals(Map.of("bootstrap.servers", "k1:9092,k2:9092"), m.region("us").orElseThrow().kafkaProperties());
        assertEquals("SSL", m.region("eu").orElseThrow().kafkaProperties().get("security.protocol"));
        assertEquals("orders", m.topicIn("us", "eu", "orders"));
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> m.dataRegion("w"));
        assertEquals("region w of mesh shop is a witness: it has no Kafka cluster", e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> m.dataRegion("nowhere"));
        assertEquals("mesh shop has no region \"nowhere\" (regions: us, eu)", e.getMessage());

        assertThrows(IllegalArgumentException.class, () -> GeomeshMesh.builder("x", Kind.ACTIVE_PASSIVE)
                .region("us", "k:1", "a:1").build(), "no primary");
        assertThrows(IllegalArgumentException.class, () -> GeomeshMesh.builder("x", Kind.ACTIVE_PASSIVE).primary("w")
                .witness("w", "a:1").build(), "a witness primary");
        assertThrows(IllegalArgumentException.class, () -> GeomeshMesh.builder("x", Kind.ACTIVE_ACTIVE).primary("us")
                .region("us", "k:1", "a:1").build(), "roles in active-active");
        assertThrows(IllegalArgumentException.class, () -> GeomeshMesh.builder("x", Kind.ACTIVE_ACTIVE)
                .region("us", "k:1").build(), "a region without agents");
        assertEquals(Naming.PREFIX, GeomeshMesh.builder("x", Kind.ACTIVE_ACTIVE).region("us", "k:1", "a:1").build().naming());
    }

    @Test
    void selection() {
        Selection s = Selection.of(List.of("orders.*", "payments"), List.of(".*\\.internal"));
        assertTrue(s.matches("orders"));
        assertTrue(s.matches("orders-eu"));
        assertFalse(s.matches("orders.internal"));
        assertFalse(s.matches("xpayments"), "patterns match whole names");
        assertFalse(Selection.none().matches("orders"));
        assertThrows(IllegalArgumentException.class, () -> Selection.of(List.of("a)|(b"), List.of()));
    }

    @Test
    void secretRefs() throws Exception {
        assertEquals("s3cret", SecretRef.of("env:TOKEN", Map.of("TOKEN", "s3cret")).resolve());
        GeomeshException e = assertThrows(GeomeshException.class, () -> SecretRef.of("env:NOPE", Map.of()).resolve());
        assertEquals("secret env:NOPE: environment variable NOPE is not set", e.getMessage());
        IllegalArgumentException bad = assertThrows(IllegalArgumentException.class, () -> SecretRef.of("hunter2"));
        assertFalse(bad.getMessage().contains("hunter2"), "a pasted secret is never repeated");
        java.nio.file.Path f = java.nio.file.Files.createTempFile("token", "");
        java.nio.file.Files.writeString(f, "abc\n");
        assertEquals("abc", SecretRef.of("file:" + f).resolve());
        java.nio.file.Files.delete(f);
    }
}
