package io.geomesh.client;

import org.apache.kafka.clients.producer.MockProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.clients.producer.RecordMetadata;
import org.apache.kafka.common.serialization.StringSerializer;
import org.junit.jupiter.api.Test;

import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;
import java.util.function.Predicate;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

/** The Follower against fake agents serving sequences of mesh states. */
class FollowerTest {
    static final Duration INTERVAL = Duration.ofMillis(50);
    static final Duration WAIT = Duration.ofSeconds(10);

    /** A client the Follower drives, recording what it was told in a shared log. */
    static final class FakeTarget implements Follower.Target {
        final String name;
        final boolean producer;
        final String home;
        final boolean writer;
        final List<String> log;
        volatile String region;
        volatile boolean paused;
        volatile int failures;
        volatile long delayMillis;

        FakeTarget(String name, boolean producer, String home, boolean writer, List<String> log) {
            this.name = name;
            this.producer = producer;
            this.home = home;
            this.writer = writer;
            this.region = home;
            this.log = log;
        }

        @Override
        public FollowDecision.Client followed() {
            return new FollowDecision.Client(producer, home, writer, region, paused);
        }

        @Override
        public String followName() {
            return name;
        }

        @Override
        public void apply(FollowDecision.Move m) throws InterruptedException {
            if (failures > 0) {
                failures--;
                throw new GeomeshException(name + ": planned failure");
            }
            Thread.sleep(delayMillis);
            if (m.pause()) {
                paused = true;
                log.add(name + " pause");
            }
            if (!m.switchTo().isEmpty()) {
                log.add(name + " switch " + region + ">" + m.switchTo());
                region = m.switchTo();
            }
            if (m.resume()) {
                paused = false;
                log.add(name + " resume");
            }
        }

        @Override
        public boolean consumer() {
            return !producer;
        }

        @Override
        public void release() {
            paused = false;
        }
    }

    /** The events a listener got, in order. */
    static final class Events implements FollowListener {
        final List<FollowEvent> got = new CopyOnWriteArrayList<>();

        @Override
        public void onEvent(FollowEvent e) {
            got.add(e);
        }

        FollowEvent await(String what, Predicate<FollowEvent> p) throws InterruptedException {
            long deadline = System.nanoTime() + WAIT.toNanos();
            while (System.nanoTime() < deadline) {
                for (FollowEvent e : got) {
                    if (p.test(e)) {
                        return e;
                    }
                }
                Thread.sleep(10);
            }
            fail("no event " + what + "; got " + got);
            return null;
        }

        FollowEvent await(FollowEvent.Kind kind, String client) throws InterruptedException {
            return await(kind + " of " + client, e -> e.kind() == kind && e.client().equals(client));
        }

        FollowEvent awaitEpoch(long epoch) throws InterruptedException {
            return await("epoch " + epoch, e -> e.kind() == FollowEvent.Kind.EPOCH && e.epoch() == epoch);
        }

        int index(FollowEvent.Kind kind, String client) {
            for (int i = 0; i < got.size(); i++) {
                if (got.get(i).kind() == kind && got.get(i).client().equals(client)) {
                    return i;
                }
            }
            return -1;
        }
    }

    static GeomeshMesh mesh(Kind kind, String... agents) {
        GeomeshMesh.Builder b = GeomeshMesh.builder("t", kind);
        if (kind == Kind.ACTIVE_PASSIVE) {
            b.primary("us").standby("eu");
        }
        b.region("us", "us-kafka:9092", agents[0]).region("eu", "eu-kafka:9092", agents[1]);
        return b.build();
    }

    /**
     * A planned switch: at switchover-started the producer pauses and the consumer stays;
     * after the flip the consumer switches, the producer switches, and resumes only
     * once the consumer has switched.
     */
    @Test
    void plannedSwitch() throws Exception {
        try (FakeAgent us = new FakeAgent(); FakeAgent eu = new FakeAgent()) {
            GeomeshMesh m = mesh(Kind.ACTIVE_PASSIVE, us.addr(), eu.addr());
            List<String> log = Collections.synchronizedList(new ArrayList<>());
            FakeTarget prod = new FakeTarget("producer", true, "us", true, log);
            FakeTarget cons = new FakeTarget("consumer group app", false, "us", true, log);
            cons.delayMillis = 300; // a switch that takes a while: the producer must wait for it
            setBoth(us, eu, FakeAgent.ap(1, "init", "us", "eu", null, null));
            Events ev = new Events();
            try (Follower f = Follower.builder(m).follow(prod).follow(cons).interval(INTERVAL).listener(ev).build()) {
                f.start();
                f.start(); // idempotent
                ev.awaitEpoch(1);
                setBoth(us, eu, FakeAgent.ap(2, "switchover-started", "us", "eu", "us", "eu"));
                FollowEvent paused = ev.await(FollowEvent.Kind.PAUSED, "producer");
                assertEquals(2, paused.epoch());
                assertEquals("switchover-started", paused.decision());
                assertEquals("us", paused.from());
                assertTrue(prod.paused);
                assertEquals(List.of("producer pause"), List.copyOf(log), "the consumer keeps reading in us");

                setBoth(us, eu, FakeAgent.ap(3, "switchover", "eu", "us", null, null));
                FollowEvent resumed = ev.await(FollowEvent.Kind.RESUMED, "producer");
                assertEquals("eu", resumed.from(), "resumed in the new primary");
                FollowEvent switched = ev.await(FollowEvent.Kind.SWITCHED, "consumer group app");
                assertEquals("us", switched.from());
                assertEquals("eu", switched.to());
                assertEquals(3, switched.epoch());
                assertTrue(switched.took().toMillis() >= 300, switched.toString());
                FollowEvent prodSwitched = ev.await(FollowEvent.Kind.SWITCHED, "producer");
                assertEquals("eu", prodSwitched.to());
                assertTrue(ev.index(FollowEvent.Kind.PAUSED, "producer") < ev.index(FollowEvent.Kind.SWITCHED, "producer"));
                assertTrue(ev.index(FollowEvent.Kind.SWITCHED, "producer") < ev.index(FollowEvent.Kind.RESUMED, "producer"));
                assertTrue(log.indexOf("consumer group app switch us>eu") < log.indexOf("producer resume"),
                        "the producer resumes after the consumer switched: " + log);
                assertEquals(3, f.epoch());
                assertFalse(prod.paused);
                assertEquals("eu", cons.region);
            }
        }
    }

    /** A failover: both clients move at once, nothing pauses; the epoch event names the decision. */
    @Test
    @SuppressWarnings("try")
    void failover() throws Exception {
        try (FakeAgent us = new FakeAgent(); FakeAgent eu = new FakeAgent()) {
            GeomeshMesh m = mesh(Kind.ACTIVE_PASSIVE, us.addr(), eu.addr());
            List<String> log = Collections.synchronizedList(new ArrayList<>());
            FakeTarget prod = new FakeTarget("producer", true, "us", true, log);
            FakeTarget cons = new FakeTarget("consumer group app", false, "us", true, log);
            FakeTarget standbyReader = new FakeTarget("consumer group audit", false, "eu", false, log);
            setBoth(us, eu, FakeAgent.ap(1, "init", "us", "eu", null, null));
            Events ev = new Events();
            try (Follower f = Follower.builder(m).follow(prod).follow(cons).follow(standbyReader).interval(INTERVAL).listener(ev).build()) {
                f.start();
                ev.awaitEpoch(1);
                us.close(); // the primary's agent is gone with its region
                MeshState fo = new MeshState(2, Map.of("us", new MeshState.RegionState("fenced", ""),
                        "eu", new MeshState.RegionState("primary", "")), null, "failover", "us", "eu", "us down", "");
                eu.state.set(fo);
                FollowEvent epoch = ev.awaitEpoch(2);
                assertEquals("failover", epoch.decision());
                assertEquals("us", epoch.from());
                assertEquals("eu", epoch.to());
                assertEquals("us down", epoch.reason());
                ev.await(FollowEvent.Kind.SWITCHED, "producer");
                ev.await(FollowEvent.Kind.SWITCHED, "consumer group app");
                Thread.sleep(5 * INTERVAL.toMillis());
                assertEquals(-1, ev.index(FollowEvent.Kind.PAUSED, "producer"));
                assertEquals("eu", standbyReader.region, "a consumer of the standby stays");
                assertEquals(List.of(), log.stream().filter(s -> s.startsWith("consumer group audit")).toList());
            }
        }
    }

    /** An agent that refuses connections is skipped; a state older than the one followed is ignored. */
    @Test
    void unreachableAgentAndStaleState() throws Exception {
        try (FakeAgent eu = new FakeAgent()) {
            GeomeshMesh m = mesh(Kind.ACTIVE_PASSIVE, Repo.refusedAddr(), eu.addr());
            List<String> log = Collections.synchronizedList(new ArrayList<>());
            FakeTarget cons = new FakeTarget("consumer group app", false, "us", true, log);
            eu.state.set(FakeAgent.ap(3, "failover", "eu", "us", null, null));
            Events ev = new Events();
            try (Follower f = Follower.builder(m).follow(cons).interval(INTERVAL).listener(ev).build()) {
                f.start();
                ev.await(FollowEvent.Kind.SWITCHED, "consumer group app");
                int reads = eu.failovers.get();
                eu.state.set(FakeAgent.ap(2, "init", "us", "eu", null, null)); // an agent behind
                long deadline = System.nanoTime() + WAIT.toNanos();
                while (eu.failovers.get() < reads + 5 && System.nanoTime() < deadline) {
                    Thread.sleep(10);
                }
                assertEquals(3, f.epoch());
                assertEquals(List.of("consumer group app switch us>eu"), List.copyOf(log));
            }
        }
    }

    /** A failed switch is reported and retried on the next read. */
    @Test
    void retry() throws Exception {
        try (FakeAgent us = new FakeAgent(); FakeAgent eu = new FakeAgent()) {
            GeomeshMesh m = mesh(Kind.ACTIVE_PASSIVE, us.addr(), eu.addr());
            List<String> log = Collections.synchronizedList(new ArrayList<>());
            FakeTarget cons = new FakeTarget("consumer group app", false, "us", true, log);
            cons.failures = 2;
            setBoth(us, eu, FakeAgent.ap(2, "failover", "eu", "us", null, null));
            Events ev = new Events();
            try (Follower f = Follower.builder(m).follow(cons).interval(INTERVAL).listener(ev).build()) {
                f.start();
                FollowEvent failed = ev.await(FollowEvent.Kind.FAILED, "consumer group app");
                assertEquals("eu", failed.to());
                assertEquals("consumer group app: planned failure", failed.error().getMessage());
                ev.await(FollowEvent.Kind.SWITCHED, "consumer group app");
                assertEquals(2, ev.got.stream().filter(e -> e.kind() == FollowEvent.Kind.FAILED).count());
            }
        }
    }

    /** Active-active: an evacuated region's clients go where its clients_to says, and home again. */
    @Test
    void evacuateAndBack() throws Exception {
        try (FakeAgent us = new FakeAgent(); FakeAgent eu = new FakeAgent()) {
            GeomeshMesh m = mesh(Kind.ACTIVE_ACTIVE, us.addr(), eu.addr());
            List<String> log = Collections.synchronizedList(new ArrayList<>());
            FakeTarget prod = new FakeTarget("producer", true, "us", false, log);
            FakeTarget euProd = new FakeTarget("eu producer", true, "eu", false, log);
            setBoth(us, eu, aa(1, "init", "active", ""));
            Events ev = new Events();
            try (Follower f = Follower.builder(m).follow(prod).follow(euProd).interval(INTERVAL).listener(ev).build()) {
                f.start();
                ev.awaitEpoch(1);
                setBoth(us, eu, aa(2, "evacuate", "evacuated", "eu"));
                ev.await(FollowEvent.Kind.SWITCHED, "producer");
                assertEquals("eu", prod.region);
                setBoth(us, eu, aa(3, "switchover", "active", ""));
                ev.await("back home", e -> e.kind() == FollowEvent.Kind.SWITCHED && e.epoch() == 3);
                assertEquals("us", prod.region);
                assertEquals(List.of("producer switch us>eu", "producer switch eu>us"), List.copyOf(log));
            }
        }
    }

    static MeshState aa(long epoch, String decision, String usRole, String clientsTo) {
        return new MeshState(epoch, Map.of("us", new MeshState.RegionState(usRole, clientsTo),
                "eu", new MeshState.RegionState("active", "")), null, decision, "", "", "", "");
    }

    /** Close lets go of a producer the Follower holds paused. */
    @Test
    void closeReleases() throws Exception {
        try (FakeAgent us = new FakeAgent(); FakeAgent eu = new FakeAgent()) {
            GeomeshMesh m = mesh(Kind.ACTIVE_PASSIVE, us.addr(), eu.addr());
            FakeTarget prod = new FakeTarget("producer", true, "us", true, Collections.synchronizedList(new ArrayList<>()));
            setBoth(us, eu, FakeAgent.ap(2, "switchover-started", "us", "eu", "us", "eu"));
            Events ev = new Events();
            Follower f = Follower.builder(m).follow(prod).interval(INTERVAL).listener(ev).build();
            f.start();
            ev.await(FollowEvent.Kind.PAUSED, "producer");
            f.close();
            f.close();
            assertFalse(prod.paused);
        }
    }

    /**
     * A real GeomeshProducer (on kafka-clients' MockProducer) under a Follower: sends
     * wait while it is paused, the flip builds a producer against eu's bootstrap, and the
     * held records go there.
     */
    @Test
    void producerFollowsPlannedSwitch() throws Exception {
        try (FakeAgent us = new FakeAgent(); FakeAgent eu = new FakeAgent()) {
            GeomeshMesh m = mesh(Kind.ACTIVE_PASSIVE, us.addr(), eu.addr());
            Map<String, MockProducer<String, String>> made = new java.util.concurrent.ConcurrentHashMap<>();
            GeomeshProducer<String, String> p = GeomeshProducer.<String, String>builder(m)
                    .factory(props -> {
                        MockProducer<String, String> mp = new MockProducer<>(true, null, new StringSerializer(), new StringSerializer());
                        made.put((String) props.get("bootstrap.servers"), mp);
                        return mp;
                    }).build();
            setBoth(us, eu, FakeAgent.ap(1, "init", "us", "eu", null, null));
            Events ev = new Events();
            try (Follower f = Follower.builder(m).follow(p).interval(INTERVAL).listener(ev).build()) {
                f.start();
                ev.awaitEpoch(1);
                p.send(new ProducerRecord<>("orders", "k", "before")).get(5, TimeUnit.SECONDS);
                setBoth(us, eu, FakeAgent.ap(2, "switchover-started", "us", "eu", "us", "eu"));
                ev.await(FollowEvent.Kind.PAUSED, "producer");
                AtomicReference<Future<RecordMetadata>> held = new AtomicReference<>();
                Thread sender = new Thread(() -> held.set(p.send(new ProducerRecord<>("orders", "k", "held"))));
                sender.start();
                sender.join(300);
                assertTrue(sender.isAlive(), "send waits while paused");
                assertEquals(1, made.get("us-kafka:9092").history().size());

                setBoth(us, eu, FakeAgent.ap(3, "switchover", "eu", "us", null, null));
                ev.await(FollowEvent.Kind.RESUMED, "producer");
                sender.join(WAIT.toMillis());
                held.get().get(5, TimeUnit.SECONDS);
                assertEquals("eu", p.region());
                assertEquals(List.of("held"), made.get("eu-kafka:9092").history().stream().map(ProducerRecord::value).toList());
                assertTrue(made.get("us-kafka:9092").closed(), "the old region's producer is closed");
            } finally {
                p.close();
            }
        }
    }

    static void setBoth(FakeAgent a, FakeAgent b, MeshState s) {
        a.state.set(s);
        b.state.set(s);
    }
}
