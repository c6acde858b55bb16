package io.geomesh.client;

import org.apache.kafka.clients.producer.Callback;
import org.apache.kafka.clients.producer.MockProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.clients.producer.RecordMetadata;
import org.apache.kafka.common.KafkaException;
import org.apache.kafka.common.errors.InterruptException;
import org.apache.kafka.common.header.Header;
import org.apache.kafka.common.serialization.StringSerializer;
import org.junit.jupiter.api.Test;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicReference;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** GeomeshProducer on kafka-clients' MockProducer: where it writes, pauses and switches. */
class ProducerTest {
    final Map<String, MockProducer<String, String>> made = new ConcurrentHashMap<>();
    final List<Map<String, Object>> props = new ArrayList<>();

    GeomeshProducer.Builder<String, String> builder(GeomeshMesh m, boolean autoComplete) {
        return GeomeshProducer.<String, String>builder(m).factory(p -> {
            props.add(p);
            MockProducer<String, String> mp = new MockProducer<>(autoComplete, null, new StringSerializer(), new StringSerializer());
            made.put((String) p.get("bootstrap.servers"), mp);
            return mp;
        });
    }

    static GeomeshMesh ap() {
        return GeomeshMesh.builder("t", Kind.ACTIVE_PASSIVE).primary("us").standby("eu")
                .region("us", r -> r.bootstrap("us-kafka:9092").agent("a:1").kafkaProperty("security.protocol", "SSL"))
                .region("eu", "eu-kafka:9092", "b:1").build();
    }

    @Test
    void writesToThePrimary() throws Exception {
        try (GeomeshProducer<String, String> p = builder(ap(), true).property("bootstrap.servers", "ignored:1")
                .property("acks", "all").build()) {
            assertEquals("us", p.region());
            p.send(new ProducerRecord<>("orders", "k", "v")).get(5, TimeUnit.SECONDS);
            assertEquals(1, made.get("us-kafka:9092").history().size());
            Map<String, Object> used = props.get(0);
            assertEquals("us-kafka:9092", used.get("bootstrap.servers"), "the region's connection wins");
            assertEquals("SSL", used.get("security.protocol"));
            assertEquals("all", used.get("acks"));
        }
    }

    @Test
    void refusesTheStandby() {
        try (GeomeshProducer<String, String> p = builder(ap(), true).region("eu").build()) {
            AtomicReference<Exception> cb = new AtomicReference<>();
            Future<RecordMetadata> f = p.send(new ProducerRecord<>("orders", "v"), (md, e) -> cb.set(e));
            ExecutionException e = assertThrows(ExecutionException.class, () -> f.get(1, TimeUnit.SECONDS));
            assertInstanceOf(NotPrimaryException.class, e.getCause());
            assertEquals("produce to orders in region eu: region is not primary for the topic: us is the primary of mesh t",
                    e.getCause().getMessage());
            assertInstanceOf(NotPrimaryException.class, cb.get());
            assertEquals(0, made.get("eu-kafka:9092").history().size());
        }
    }

    @Test
    void activeActiveNeedsRegion() {
        GeomeshMesh aa = GeomeshMesh.builder("t", Kind.ACTIVE_ACTIVE).region("us", "u:1", "a:1").region("eu", "e:1", "b:1").build();
        assertThrows(IllegalArgumentException.class, () -> builder(aa, true).build());
        try (GeomeshProducer<String, String> p = builder(aa, true).region("eu").build()) {
            ExecutionException e = assertThrows(ExecutionException.class,
                    () -> p.send(new ProducerRecord<>("us.orders", "v")).get(1, TimeUnit.SECONDS));
            assertInstanceOf(NotPrimaryException.class, e.getCause(), "us.orders in eu is the copy the mesh writes");
        }
    }

    /** While paused a send waits; past maxPauseWait it fails with PausedException; resume lets the rest go. */
    @Test
    void pause() throws Exception {
        try (GeomeshProducer<String, String> p = builder(ap(), true).maxPauseWait(Duration.ofMillis(200)).build()) {
            p.pause(Duration.ofSeconds(1));
            long start = System.nanoTime();
            ExecutionException e = assertThrows(ExecutionException.class,
                    () -> p.send(new ProducerRecord<>("orders", "v")).get(5, TimeUnit.SECONDS));
            assertInstanceOf(PausedException.class, e.getCause());
            assertTrue(TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - start) >= 190);
            Thread t = new Thread(() -> p.send(new ProducerRecord<>("orders", "late")));
            t.start();
            Thread.sleep(50);
            p.resume();
            t.join(5000);
            assertEquals(List.of("late"), made.get("us-kafka:9092").history().stream().map(ProducerRecord::value).toList());
        }
    }

    /** A pause waits for the records in flight (a flush), within its bound. */
    @Test
    void pauseWaitsForInFlight() throws Exception {
        java.util.concurrent.CountDownLatch answered = new java.util.concurrent.CountDownLatch(1);
        GeomeshProducer<String, String> p = GeomeshProducer.<String, String>builder(ap()).factory(props ->
                new MockProducer<>(false, null, new StringSerializer(), new StringSerializer()) {
                    @Override
                    public void flush() {
                        try {
                            answered.await();
                        } catch (InterruptedException e) {
                            Thread.currentThread().interrupt();
                        }
                        super.flush();
                    }
                }).build();
        try (p) {
            Future<RecordMetadata> f = p.send(new ProducerRecord<>("orders", "v"));
            assertThrows(TimeoutException.class, () -> p.pause(Duration.ofMillis(100)), "nothing answers the record");
            assertTrue(p.paused(), "paused all the same");
            answered.countDown();
            p.pause(Duration.ofSeconds(5));
            assertNotNull(f.get(1, TimeUnit.SECONDS));
            p.resume();
        }
    }

    /** switchTo makes the new region the primary, builds its producer and closes the old one. */
    @Test
    void switchTo() throws Exception {
        try (GeomeshProducer<String, String> p = builder(ap(), true).build()) {
            p.switchTo("eu", Duration.ofSeconds(1));
            assertEquals("eu", p.region());
            assertTrue(made.get("us-kafka:9092").closed());
            p.send(new ProducerRecord<>("orders", "v")).get(1, TimeUnit.SECONDS);
            assertEquals(1, made.get("eu-kafka:9092").history().size());
            assertThrows(IllegalArgumentException.class, () -> p.switchTo("nowhere", Duration.ofSeconds(1)));
        }
    }

    /**
     * A send blocked in the old region's client (KafkaProducer.send waits up to
     * max.block.ms for the metadata of a cluster that is gone) does not hold the switch:
     * after the bound the old client is closed, the blocked send fails, and the switch
     * completes.
     */
    @Test
    void switchToUnblocksAStuckSend() throws Exception {
        CountDownLatch closed = new CountDownLatch(1);
        GeomeshProducer.Builder<String, String> b = GeomeshProducer.<String, String>builder(ap()).factory(p -> {
            String bs = (String) p.get("bootstrap.servers");
            MockProducer<String, String> mp = new MockProducer<>(true, null, new StringSerializer(), new StringSerializer()) {
                @Override
                public synchronized Future<RecordMetadata> send(ProducerRecord<String, String> r, Callback cb) {
                    if (bs.startsWith("us")) {
                        try {
                            if (closed.await(60, TimeUnit.SECONDS)) {
                                throw new KafkaException("Requested metadata update after close");
                            }
                        } catch (InterruptedException e) {
                            throw new InterruptException(e);
                        }
                    }
                    return super.send(r, cb);
                }

                @Override
                public void close(Duration timeout) {
                    closed.countDown();
                    super.close(timeout);
                }
            };
            made.put(bs, mp);
            return mp;
        });
        try (GeomeshProducer<String, String> p = b.build()) {
            CompletableFuture<Throwable> stuck = CompletableFuture.supplyAsync(() -> {
                try {
                    p.send(new ProducerRecord<>("orders", "v"));
                    return null;
                } catch (RuntimeException e) {
                    return e;
                }
            });
            Thread.sleep(200); // the send is blocked in us
            long start = System.nanoTime();
            p.switchTo("eu", Duration.ofMillis(500));
            long took = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - start);
            assertTrue(took < 5000, "switch took " + took + " ms");
            assertInstanceOf(KafkaException.class, stuck.get(5, TimeUnit.SECONDS), "the blocked send fails");
            assertEquals("eu", p.region());
            p.send(new ProducerRecord<>("orders", "w")).get(1, TimeUnit.SECONDS);
            assertEquals(1, made.get("eu-kafka:9092").history().size());
        }
    }

    @Test
    void recordIds() throws Exception {
        try (GeomeshProducer<String, String> p = builder(ap(), true).recordIds().build()) {
            ProducerRecord<String, String> r = new ProducerRecord<>("orders", "v");
            p.send(r).get(1, TimeUnit.SECONDS);
            Header h = r.headers().lastHeader(Provenance.HEADER_RECORD_ID);
            assertNotNull(h);
            assertEquals(32, h.value().length);
            ProducerRecord<String, String> given = new ProducerRecord<>("orders", "v");
            given.headers().add(Provenance.HEADER_RECORD_ID, "mine".getBytes());
            p.send(given).get(1, TimeUnit.SECONDS);
            assertEquals(1, given.headers().toArray().length, "an id the application set is kept");
        }
    }

    @Test
    void closed() {
        GeomeshProducer<String, String> p = builder(ap(), true).build();
        p.close();
        p.close();
        ExecutionException e = assertThrows(ExecutionException.class, () -> p.send(new ProducerRecord<>("orders", "v")).get());
        assertEquals("producer in region us: closed", e.getCause().getMessage());
    }
}
