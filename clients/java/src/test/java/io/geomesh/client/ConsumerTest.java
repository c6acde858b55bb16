package io.geomesh.client;

import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.ConsumerRecords;
import org.apache.kafka.clients.consumer.MockConsumer;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.errors.WakeupException;
import org.apache.kafka.common.header.internals.RecordHeaders;
import org.apache.kafka.common.record.TimestampType;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Deque;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * GeomeshConsumer on kafka-clients' MockConsumer, a fake group admin and a fake agent:
 * the translation it asks for, the answers it corrects itself, and both kinds of switch.
 */
class ConsumerTest {
    static final TopicPartition ORDERS0 = new TopicPartition("orders", 0);

    /** A region's group admin: whether the group is idle, its committed offsets, what was committed. */
    static final class FakeAdmin implements GroupAdmin {
        volatile int busyAnswers;
        final Map<TopicPartition, Long> committed = new ConcurrentHashMap<>();
        final List<Map<TopicPartition, Long>> commits = new CopyOnWriteArrayList<>();

        @Override
        public boolean idle(String group, Duration timeout) {
            if (busyAnswers > 0) {
                busyAnswers--;
                throw new GeomeshException("group " + group + " is Stable: other members still consume there");
            }
            return true;
        }

        @Override
        public Map<TopicPartition, Long> committed(String group, Duration timeout) {
            return Map.copyOf(committed);
        }

        @Override
        public void commit(String group, Map<TopicPartition, Long> offsets, Duration timeout) {
            commits.add(Map.copyOf(offsets));
            committed.putAll(offsets);
        }

        @Override
        public void close() {
        }
    }

    /** The clients a consumer made, by bootstrap, and queued ones to hand out first. */
    static final class Clients {
        final Map<String, List<MockConsumer<String, String>>> made = new ConcurrentHashMap<>();
        final Map<String, Deque<MockConsumer<String, String>>> queued = new ConcurrentHashMap<>();
        final Map<String, FakeAdmin> admins = new ConcurrentHashMap<>();
        final Map<String, MockConsumer<byte[], byte[]>> scanners = new ConcurrentHashMap<>();
        final List<Map<String, Object>> props = new CopyOnWriteArrayList<>();

        MockConsumer<String, String> consumer(Map<String, Object> p) {
            props.add(p);
            String bs = (String) p.get("bootstrap.servers");
            Deque<MockConsumer<String, String>> q = queued.get(bs);
            MockConsumer<String, String> c = q != null && !q.isEmpty() ? q.poll() : new MockConsumer<>("earliest");
            made.computeIfAbsent(bs, k -> new CopyOnWriteArrayList<>()).add(c);
            return c;
        }

        void queue(String bootstrap, MockConsumer<String, String> c) {
            queued.computeIfAbsent(bootstrap, k -> new ArrayDeque<>()).add(c);
        }

        MockConsumer<String, String> latest(String bootstrap) {
            List<MockConsumer<String, String>> l = made.get(bootstrap);
            return l.get(l.size() - 1);
        }

        FakeAdmin admin(String bootstrap) {
            return admins.computeIfAbsent(bootstrap, k -> new FakeAdmin());
        }

        GeomeshConsumer.Builder<String, String> builder(GeomeshMesh m) {
            return GeomeshConsumer.<String, String>builder(m, "app").topics("orders")
                    .consumerFactory(this::consumer)
                    .adminFactory(p -> admin((String) p.get("bootstrap.servers")))
                    .scannerFactory(p -> {
                        MockConsumer<byte[], byte[]> s = scanners.get((String) p.get("bootstrap.servers"));
                        if (s == null) {
                            throw new AssertionError("no scanner for " + p.get("bootstrap.servers"));
                        }
                        return s;
                    })
                    .switchTimeout(Duration.ofSeconds(5)).commitTimeout(Duration.ofSeconds(1));
        }
    }

    static GeomeshMesh ap(String usAgent, String euAgent) {
        return GeomeshMesh.builder("t", Kind.ACTIVE_PASSIVE).primary("us").standby("eu")
                .region("us", "us-kafka:9092", usAgent).region("eu", "eu-kafka:9092", euAgent).build();
    }

    static ConsumerRecord<String, String> rec(String topic, int p, long offset, String region, long originOffset) {
        RecordHeaders hs = new RecordHeaders();
        if (region != null) {
            hs.add(Provenance.HEADER_ORIGIN_REGION, region.getBytes(StandardCharsets.UTF_8));
            hs.add(Provenance.HEADER_ORIGIN_TOPIC, topic.getBytes(StandardCharsets.UTF_8));
            hs.add(Provenance.HEADER_ORIGIN_PARTITION, String.valueOf(p).getBytes(StandardCharsets.UTF_8));
            hs.add(Provenance.HEADER_ORIGIN_OFFSET, String.valueOf(originOffset).getBytes(StandardCharsets.UTF_8));
        }
        return new ConsumerRecord<>(topic, p, offset, 0L, TimestampType.CREATE_TIME, 0, 0, "k", "v" + offset, hs, Optional.empty());
    }

    /** Assigns partitions and adds records in the MockConsumer's next poll. */
    @SafeVarargs
    static <K, V> void onNextPoll(MockConsumer<K, V> c, List<TopicPartition> assign, ConsumerRecord<K, V>... recs) {
        c.schedulePollTask(() -> {
            if (assign != null) {
                c.rebalance(assign);
            }
            for (ConsumerRecord<K, V> r : recs) {
                c.addRecord(r);
            }
        });
    }

    /** A MockConsumer that keeps its committed offsets when it is closed. */
    static final class AtClose extends MockConsumer<String, String> {
        volatile Map<TopicPartition, OffsetAndMetadata> atClose;

        AtClose() {
            super("earliest");
        }

        @Override
        public synchronized void close(org.apache.kafka.clients.consumer.CloseOptions o) {
            atClose = committed(assignment());
            super.close(o);
        }
    }

    /** The agent's partitions: a partition answered from what the consumer read last (Go TestResumeHint). */
    @Test
    void resumeHint() {
        Map<TopicPartition, GeomeshConsumer.LastRecord> last = new HashMap<>();
        for (ConsumerRecord<String, String> r : List.of(
                rec("orders", 0, 30, "east", 70),  // partition 0: a copy of east's 70
                rec("orders", 1, 31, null, 0),     // partition 1: produced in west
                rec("orders", 2, 32, "east", 12))) { // partition 2: a copy, but another member read on to 40
            last.put(new TopicPartition(r.topic(), r.partition()), GeomeshConsumer.lastOf(r));
        }
        TranslateResponse res = new TranslateResponse("app", "west", "east", List.of(
                new TranslateResponse.Translation("orders", 0, 31, "orders", 55, "behind", -1, ""),
                new TranslateResponse.Translation("orders", 1, 32, "orders", 90, "copied", 32, ""),
                new TranslateResponse.Translation("orders", 2, 40, "orders", 20, "end", -1, "")));
        GeomeshConsumer.Translated t = GeomeshConsumer.translated(res, Set.of("orders"),
                GeomeshConsumer.resumeHint(last, Set.of("orders"), "east"));
        assertEquals(Map.of(ORDERS0, 71L, new TopicPartition("orders", 1), 90L, new TopicPartition("orders", 2), 20L), t.out());
        assertEquals(1, t.ends().size());
        assertEquals(2, t.ends().get(0).partition());
        // Moving elsewhere, the copies of east's records say nothing.
        GeomeshException e = assertThrows(GeomeshException.class, () -> GeomeshConsumer.translated(res, Set.of("orders"),
                GeomeshConsumer.resumeHint(last, Set.of("orders"), "west")));
        assertEquals("topic orders partition 0 at 31: behind", e.getMessage());
        // A partition that failed names the agent's error; topics not read are ignored.
        TranslateResponse failed = new TranslateResponse("app", "west", "east", List.of(
                new TranslateResponse.Translation("audit", 0, 1, "audit", -1, "behind", -1, ""),
                new TranslateResponse.Translation("orders", 3, 1, "orders", -1, "", -1, "cluster east: boom")));
        e = assertThrows(GeomeshException.class, () -> GeomeshConsumer.translated(failed, Set.of("orders"), null));
        assertEquals("topic orders partition 3: cluster east: boom", e.getMessage());
    }

    /** After a switch away from an unreachable east, the copies of what was read there are dropped (Go TestReadBeforeFilter). */
    @Test
    void readBeforeFilter() {
        Map<TopicPartition, GeomeshConsumer.LastRecord> last = new HashMap<>();
        last.put(ORDERS0, GeomeshConsumer.lastOf(rec("orders", 0, 40, null, 0)));                            // east's own 40
        last.put(new TopicPartition("orders", 1), GeomeshConsumer.lastOf(rec("orders", 1, 12, "west", 7))); // a copy of west's 7
        Map<GeomeshConsumer.Origin, Long> before = GeomeshConsumer.readBefore(last, "east");
        assertEquals(Map.of(new GeomeshConsumer.Origin("east", "orders", 0), 40L, new GeomeshConsumer.Origin("west", "orders", 1), 7L), before);
        record C(String name, List<ConsumerRecord<String, String>> in, String kept, int dropped) {
        }
        for (C c : List.of(
                new C("copies up to the last read", List.of(rec("orders", 0, 100, "east", 39), rec("orders", 0, 101, "east", 40)), "", 2),
                new C("west's own records up to the copy read", List.of(rec("orders", 1, 6, null, 0), rec("orders", 1, 7, null, 0)), "", 2),
                new C("past the last read", List.of(rec("orders", 0, 102, "east", 41), rec("orders", 1, 8, null, 0)), "orders/0@102 orders/1@8 ", 0),
                new C("forgotten once past", List.of(rec("orders", 0, 103, "east", 5)), "orders/0@103 ", 0),
                new C("other partitions", List.of(rec("orders", 2, 3, "east", 1), rec("payments", 0, 1, null, 0)), "orders/2@3 payments/0@1 ", 0))) {
            Map<TopicPartition, List<ConsumerRecord<String, String>>> byTp = new LinkedHashMap<>();
            for (ConsumerRecord<String, String> r : c.in()) {
                byTp.computeIfAbsent(new TopicPartition(r.topic(), r.partition()), k -> new ArrayList<>()).add(r);
            }
            GeomeshConsumer.Filtered<String, String> f = GeomeshConsumer.filter(before, "west", new ConsumerRecords<>(byTp, Map.of()));
            StringBuilder got = new StringBuilder();
            for (ConsumerRecord<String, String> r : f.records()) {
                got.append(r.topic()).append('/').append(r.partition()).append('@').append(r.offset()).append(' ');
            }
            assertEquals(c.kept(), got.toString(), c.name());
            assertEquals(c.dropped(), f.dropped(), c.name());
        }
        assertEquals(Map.of(), before, "partitions still filtered after records past them");
    }

    /**
     * The consumer sends the read token, asks again while a partition is behind, keeps
     * only its own topics, and gives up at once when the agent has no flow from the old
     * region (Go TestTranslateAsksAgent).
     */
    @Test
    void translateAsksAgent(@TempDir Path dir) throws Exception {
        Path tok = dir.resolve("tok");
        Files.writeString(tok, "s3cret\n");
        AtomicInteger calls = new AtomicInteger();
        try (FakeAgent west = new FakeAgent()) {
            west.token.set("s3cret");
            west.translate = q -> {
                if (!q.contains("from=east")) {
                    return new FakeAgent.Answer(400, "{\"error\":\"no flow from region \\\"nowhere\\\" into west\"}");
                }
                String state = calls.incrementAndGet() > 2 ? "copied" : "behind";
                return new FakeAgent.Answer(200, "{\"group\":\"g\",\"from\":\"east\",\"to\":\"west\",\"partitions\":["
                        + "{\"topic\":\"orders\",\"partition\":0,\"source_offset\":7,\"target_topic\":\"orders\",\"target_offset\":9,\"state\":\"end\"},"
                        + "{\"topic\":\"orders\",\"partition\":1,\"source_offset\":5,\"target_topic\":\"orders\",\"target_offset\":6,\"state\":\"" + state + "\"},"
                        + "{\"topic\":\"other\",\"partition\":0,\"source_offset\":1,\"target_topic\":\"other\",\"target_offset\":1,\"state\":\"behind\"}]}");
            };
            GeomeshMesh m = GeomeshMesh.builder("t", Kind.HUB_SPOKE).hub("east").spokes("west")
                    .region("east", "east-kafka:1", Repo.refusedAddr())
                    .region("west", "west-kafka:1", Repo.refusedAddr(), west.addr())
                    .readToken("file:" + tok).build();
            Clients cl = new Clients();
            try (GeomeshConsumer<String, String> c = cl.builder(m).build()) {
                long deadline = System.nanoTime() + Duration.ofSeconds(10).toNanos();
                Map<TopicPartition, Long> got = c.translate("east", "west", Set.of("orders"), deadline);
                assertEquals(Map.of(ORDERS0, 9L, new TopicPartition("orders", 1), 6L), got);
                assertEquals(3, calls.get());
                assertTrue(west.auth.stream().allMatch("Bearer s3cret"::equals), west.auth.toString());
                GeomeshException e = assertThrows(GeomeshException.class, () -> c.translate("nowhere", "west", Set.of("orders"), deadline));
                assertTrue(e.getMessage().contains("the agent cannot translate from this region"), e.getMessage());
            }
        }
    }

    /**
     * A planned switch: final commit in us, wait for the group to leave us, translation
     * by eu's agent, commit in eu, join in eu at the translated offset.
     */
    @Test
    void switchTranslated() throws Exception {
        try (FakeAgent eu = new FakeAgent()) {
            List<String> asked = new CopyOnWriteArrayList<>();
            eu.translate = q -> {
                asked.add(q);
                return new FakeAgent.Answer(200, "{\"partitions\":[{\"topic\":\"orders\",\"partition\":0,\"source_offset\":3,"
                        + "\"target_topic\":\"orders\",\"target_offset\":13,\"state\":\"copied\",\"origin_offset\":3}]}");
            };
            GeomeshMesh m = ap(Repo.refusedAddr(), eu.addr());
            Clients cl = new Clients();
            cl.admin("us-kafka:9092").busyAnswers = 2; // another instance is still leaving
            cl.admin("eu-kafka:9092").committed.put(ORDERS0, 11L); // group sync's last commit, behind the translation
            AtClose us = new AtClose();
            cl.queue("us-kafka:9092", us);
            try (GeomeshConsumer<String, String> c = cl.builder(m).build()) {
                assertEquals(List.of("orders"), us.subscription().stream().toList());
                assertEquals("read_committed", cl.props.get(0).get("isolation.level"));
                assertEquals("app", cl.props.get(0).get("group.id"));
                onNextPoll(us, List.of(ORDERS0), rec("orders", 0, 0, null, 0), rec("orders", 0, 1, null, 0), rec("orders", 0, 2, null, 0));
                us.updateBeginningOffsets(Map.of(ORDERS0, 0L));
                assertEquals(3, c.poll(Duration.ofMillis(100)).count());

                c.switchTo("eu");
                assertEquals("eu", c.region());
                assertEquals(3L, us.atClose.get(ORDERS0).offset(), "final commit in us");
                assertTrue(us.closed());
                assertEquals(List.of("group=app&from=us"), asked);
                assertEquals(List.of(Map.of(ORDERS0, 13L)), cl.admin("eu-kafka:9092").commits, "translated offsets committed in eu");

                MockConsumer<String, String> euc = cl.latest("eu-kafka:9092");
                euc.schedulePollTask(() -> {
                    // group sync's stale commit lands between the switch's commit and the join
                    euc.commitSync(Map.of(ORDERS0, new OffsetAndMetadata(11)));
                    euc.rebalance(List.of(ORDERS0));
                    for (long o = 11; o < 15; o++) {
                        euc.addRecord(rec("orders", 0, o, "us", o - 10));
                    }
                });
                ConsumerRecords<String, String> got = c.poll(Duration.ofMillis(100));
                assertEquals(List.of(13L, 14L), offsets(got), "the group starts at the translated offset in eu");
            }
        }
    }

    /** A group that consumed further in eu already keeps its own committed offset. */
    @Test
    void switchKeepsHigherCommit() throws Exception {
        try (FakeAgent eu = new FakeAgent()) {
            eu.translate = q -> new FakeAgent.Answer(200, "{\"partitions\":[{\"topic\":\"orders\",\"partition\":0,\"source_offset\":0,"
                    + "\"target_topic\":\"orders\",\"target_offset\":5,\"state\":\"copied\"}]}");
            Clients cl = new Clients();
            cl.admin("eu-kafka:9092").committed.put(ORDERS0, 8L);
            try (GeomeshConsumer<String, String> c = cl.builder(ap(Repo.refusedAddr(), eu.addr())).build()) {
                c.switchTo("eu");
                assertEquals(List.of(), cl.admin("eu-kafka:9092").commits);
                MockConsumer<String, String> euc = cl.latest("eu-kafka:9092");
                euc.schedulePollTask(() -> {
                    euc.commitSync(Map.of(ORDERS0, new OffsetAndMetadata(8))); // the group read up to 8 in eu
                    euc.rebalance(List.of(ORDERS0));
                    for (long o = 5; o < 9; o++) {
                        euc.addRecord(rec("orders", 0, o, null, 0));
                    }
                });
                assertEquals(List.of(8L), offsets(c.poll(Duration.ofMillis(100))));
            }
        }
    }

    /**
     * "end" in an active-passive mesh: the consumer reads back from the answer and
     * resumes right after the last copy from the old region, so that what the new
     * primary took before it arrived is read.
     */
    @Test
    void endResumesAfterLastCopy() throws Exception {
        try (FakeAgent eu = new FakeAgent()) {
            eu.translate = q -> new FakeAgent.Answer(200, "{\"partitions\":[{\"topic\":\"orders\",\"partition\":0,\"source_offset\":10,"
                    + "\"target_topic\":\"orders\",\"target_offset\":20,\"state\":\"end\",\"origin_offset\":-1}]}");
            Clients cl = new Clients();
            MockConsumer<byte[], byte[]> scan = new MockConsumer<>("earliest");
            cl.scanners.put("eu-kafka:9092", scan);
            scan.schedulePollTask(() -> {
                for (long o = 10; o < 20; o++) {
                    ConsumerRecord<String, String> r = rec("orders", 0, o, o < 15 ? "us" : null, o - 5);
                    scan.addRecord(new ConsumerRecord<>("orders", 0, o, 0L, TimestampType.CREATE_TIME, 0, 0,
                            new byte[0], new byte[0], r.headers(), Optional.empty()));
                }
            });
            try (GeomeshConsumer<String, String> c = cl.builder(ap(Repo.refusedAddr(), eu.addr())).build()) {
                c.switchTo("eu");
                assertEquals(List.of(Map.of(ORDERS0, 15L)), cl.admin("eu-kafka:9092").commits);
                assertTrue(scan.closed());
            }
        }
    }

    /**
     * The old region does not take the final commit: the group resumes in eu from the
     * offsets the agents synced, and poll drops the copies of what this instance read in us.
     */
    @Test
    void switchFromGoneRegion() throws Exception {
        Clients cl = new Clients();
        AtomicBoolean down = new AtomicBoolean();
        cl.queue("us-kafka:9092", new MockConsumer<>("earliest") {
            @Override
            public synchronized void commitSync(Duration timeout) {
                if (down.get()) {
                    throw new org.apache.kafka.common.errors.TimeoutException("us: coordinator unreachable");
                }
                super.commitSync(timeout);
            }
        });
        try (FakeAgent eu = new FakeAgent()) {
            try (GeomeshConsumer<String, String> c = cl.builder(ap(Repo.refusedAddr(), eu.addr())).build()) {
                MockConsumer<String, String> us = cl.latest("us-kafka:9092");
                us.updateBeginningOffsets(Map.of(ORDERS0, 0L));
                onNextPoll(us, List.of(ORDERS0), rec("orders", 0, 0, null, 0), rec("orders", 0, 1, null, 0),
                        rec("orders", 0, 2, null, 0), rec("orders", 0, 3, null, 0), rec("orders", 0, 4, null, 0));
                assertEquals(5, c.poll(Duration.ofMillis(100)).count());
                down.set(true);

                c.switchTo("eu");
                assertEquals("eu", c.region());
                assertEquals(0, eu.auth.size(), "nothing to translate without us");
                assertEquals(Map.of(), cl.admins.getOrDefault("us-kafka:9092", new FakeAdmin()).committed);

                MockConsumer<String, String> euc = cl.latest("eu-kafka:9092");
                euc.schedulePollTask(() -> {
                    euc.rebalance(List.of(ORDERS0));
                    euc.seek(ORDERS0, 2); // group sync committed 2 in eu
                    for (long o = 2; o < 7; o++) {
                        euc.addRecord(rec("orders", 0, o, "us", o));
                    }
                });
                assertEquals(List.of(5L, 6L), offsets(c.poll(Duration.ofMillis(100))), "the copies of 2..4 were read in us");
                euc.schedulePollTask(() -> euc.addRecord(rec("orders", 0, 7, "us", 7)));
                assertEquals(List.of(7L), offsets(c.poll(Duration.ofMillis(100))));
            }
        }
    }

    /** A translation the agent refuses leaves the consumer in the old region, at the same offsets. */
    @Test
    void failedSwitchStays() throws Exception {
        try (FakeAgent eu = new FakeAgent()) {
            eu.translate = q -> new FakeAgent.Answer(400, "{\"error\":\"no flow from region us into eu\"}");
            Clients cl = new Clients();
            try (GeomeshConsumer<String, String> c = cl.builder(ap(Repo.refusedAddr(), eu.addr())).build()) {
                GeomeshException e = assertThrows(GeomeshException.class, () -> c.switchTo("eu"));
                assertTrue(e.getMessage().startsWith("consumer group app: switch from region us to eu: translate group app from us at agent eu-1: "
                        + "the agent cannot translate from this region: no flow from region us into eu (HTTP 400)"), e.getMessage());
                assertEquals("us", c.region());
                assertEquals(2, cl.made.get("us-kafka:9092").size(), "rejoined in us");
                assertNull(cl.made.get("eu-kafka:9092"));
            }
        }
    }

    @Test
    void applicationWakeup() {
        Clients cl = new Clients();
        try (GeomeshConsumer<String, String> c = cl.builder(ap("a:1", "b:1")).build()) {
            c.wakeup();
            assertThrows(WakeupException.class, () -> c.poll(Duration.ofMillis(10)));
        }
    }

    @Test
    void topicsAndChecks() {
        GeomeshMesh aa = GeomeshMesh.builder("t", Kind.ACTIVE_ACTIVE).region("us", "u:1", "a:1").region("eu", "e:1", "b:1").build();
        Clients cl = new Clients();
        assertThrows(IllegalArgumentException.class, () -> cl.builder(aa).build(), "active-active needs a region");
        try (GeomeshConsumer<String, String> c = cl.builder(aa).region("us").build()) {
            assertEquals(List.of("orders"), c.topics("us"));
            assertEquals(List.of("us.orders"), c.topics("eu"));
        }
        assertEquals(List.of("orders"), cl.latest("u:1").subscription().stream().toList());
        try (GeomeshConsumer<String, String> c = cl.builder(aa).region("eu").origin("us").build()) {
            assertEquals(List.of("us.orders"), cl.latest("e:1").subscription().stream().toList());
            assertEquals("eu", c.home());
        }
        assertThrows(IllegalArgumentException.class, () -> GeomeshConsumer.<String, String>builder(aa, "app").region("us").build(),
                "topics are required");
    }

    /**
     * A Follower drives the consumer through a failover while the application polls on
     * its own thread: the switch takes the client between two polls.
     */
    @Test
    void followedWhilePolling() throws Exception {
        try (FakeAgent us = new FakeAgent(); FakeAgent eu = new FakeAgent()) {
            eu.translate = q -> new FakeAgent.Answer(200, "{\"partitions\":[{\"topic\":\"orders\",\"partition\":0,\"source_offset\":0,"
                    + "\"target_topic\":\"orders\",\"target_offset\":0,\"state\":\"copied\"}]}");
            GeomeshMesh m = ap(us.addr(), eu.addr());
            FollowerTest.setBoth(us, eu, FakeAgent.ap(1, "init", "us", "eu", null, null));
            Clients cl = new Clients();
            FollowerTest.Events ev = new FollowerTest.Events();
            try (GeomeshConsumer<String, String> c = cl.builder(m).build();
                 Follower f = Follower.builder(m).follow(c).interval(Duration.ofMillis(50)).listener(ev).build()) {
                AtomicBoolean stop = new AtomicBoolean();
                List<String> regions = new CopyOnWriteArrayList<>();
                List<Throwable> errors = new CopyOnWriteArrayList<>();
                Thread app = new Thread(() -> {
                    while (!stop.get()) {
                        try {
                            c.poll(Duration.ofMillis(5));
                            regions.add(c.region());
                            Thread.sleep(1);
                        } catch (RuntimeException e) {
                            errors.add(e);
                        } catch (InterruptedException e) {
                            return;
                        }
                    }
                });
                app.start();
                f.start();
                ev.awaitEpoch(1);
                FollowerTest.setBoth(us, eu, new MeshState(2, Map.of("us", new MeshState.RegionState("fenced", ""),
                        "eu", new MeshState.RegionState("primary", "")), null, "failover", "us", "eu", "", ""));
                FollowEvent sw = ev.await(FollowEvent.Kind.SWITCHED, "consumer group app");
                assertEquals("eu", sw.to());
                Thread.sleep(100);
                stop.set(true);
                app.join(5000);
                assertEquals(List.of(), errors);
                assertFalse(regions.isEmpty());
                assertEquals("eu", regions.get(regions.size() - 1));
            }
        }
    }

    static List<Long> offsets(ConsumerRecords<String, String> rs) {
        List<Long> out = new ArrayList<>();
        for (ConsumerRecord<String, String> r : rs) {
            out.add(r.offset());
        }
        return out;
    }
}
