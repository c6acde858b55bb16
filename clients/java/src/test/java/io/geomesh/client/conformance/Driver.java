package io.geomesh.client.conformance;

import com.fasterxml.jackson.databind.ObjectMapper;
import io.geomesh.client.FollowEvent;
import io.geomesh.client.Follower;
import io.geomesh.client.GeomeshConsumer;
import io.geomesh.client.GeomeshMesh;
import io.geomesh.client.GeomeshProducer;
import io.geomesh.client.TopologyFile;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.time.temporal.ChronoUnit;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicBoolean;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.ConsumerRecords;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.clients.producer.RecordMetadata;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.apache.kafka.common.serialization.StringSerializer;

/**
 * The conformance application for Java: a producer and a consumer group that follow
 * the mesh with this library, run by the conformance scenario of the Go test suite
 * (test/chaos/conformance_test.go), which judges what it reports. It speaks the driver
 * protocol that file describes: JSON lines on stdout (batch, poll, follow,
 * producer-stopped), commands on stdin (stop-producer, then stop or end of input).
 *
 * <pre>Driver --topology FILE --topic T --group G --name N</pre>
 *
 * Records are ids N/&lt;batch&gt;-&lt;i&gt;, in batches of 5, each batch given 3 s.
 */
public final class Driver {
    private static final ObjectMapper JSON = new ObjectMapper();

    private Driver() {
    }

    static synchronized void emit(Map<String, Object> line) {
        Instant now = Instant.now();
        line.put("t", ChronoUnit.MICROS.between(Instant.EPOCH, now));
        try {
            System.out.println(JSON.writeValueAsString(line));
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        System.out.flush();
    }

    static Map<String, Object> line(String kind) {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("e", kind);
        return m;
    }

    public static void main(String[] argv) throws Exception {
        Map<String, String> args = new HashMap<>();
        for (int i = 0; i + 1 < argv.length; i += 2) {
            args.put(argv[i].replaceFirst("^--", ""), argv[i + 1]);
        }
        for (String k : List.of("topology", "topic", "group", "name")) {
            if (!args.containsKey(k)) {
                System.err.println("driver: --" + k + " is required");
                System.exit(2);
            }
        }
        String topic = args.get("topic");
        String name = args.get("name");
        GeomeshMesh mesh = TopologyFile.load(Path.of(args.get("topology")));
        // As the Go application of the suite: records in flight get 2 s, an unreachable
        // old region 1 s for the final commit, commits every 500 ms.
        GeomeshProducer<String, String> producer = GeomeshProducer.<String, String>builder(mesh)
                .property("key.serializer", StringSerializer.class.getName())
                .property("value.serializer", StringSerializer.class.getName())
                .property("request.timeout.ms", 1500)
                .property("delivery.timeout.ms", 2000)
                .property("metadata.max.age.ms", 500)
                .maxPauseWait(Duration.ofSeconds(3))
                .build();
        GeomeshConsumer<String, String> consumer = GeomeshConsumer.<String, String>builder(mesh, args.get("group"))
                .topics(topic)
                .property("key.deserializer", StringDeserializer.class.getName())
                .property("value.deserializer", StringDeserializer.class.getName())
                .property("auto.commit.interval.ms", 500)
                .commitTimeout(Duration.ofSeconds(1))
                .build();
        Follower follower = Follower.builder(mesh).follow(producer).follow(consumer)
                .interval(Duration.ofMillis(200))
                .listener(Driver::followed)
                .build();
        follower.start();

        AtomicBoolean haltProducer = new AtomicBoolean();
        AtomicBoolean halt = new AtomicBoolean();
        Thread prod = new Thread(() -> produce(producer, topic, name, haltProducer), "produce");
        Thread cons = new Thread(() -> consume(consumer, halt), "consume");
        prod.start();
        cons.start();
        emit(line("ready"));
        BufferedReader in = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));
        for (String cmd; (cmd = in.readLine()) != null; ) {
            if (cmd.trim().equals("stop-producer")) {
                haltProducer.set(true);
                prod.join();
            } else if (cmd.trim().equals("stop")) {
                break;
            }
        }
        haltProducer.set(true);
        halt.set(true);
        prod.join();
        cons.join();
        follower.close();
        producer.close();
        consumer.close();
        emit(line("stopped"));
        System.exit(0);
    }

    private static void followed(FollowEvent ev) {
        Map<String, Object> m = line("follow");
        m.put("kind", ev.kind().name().toLowerCase());
        m.put("client", ev.client());
        m.put("epoch", ev.epoch());
        m.put("decision", ev.decision());
        m.put("from", ev.from());
        m.put("to", ev.to());
        m.put("took_ms", ev.took().toNanos() / 1e6);
        m.put("error", ev.error() == null ? "" : ev.error().toString());
        emit(m);
    }

    private static void produce(GeomeshProducer<String, String> producer, String topic, String name, AtomicBoolean halt) {
        for (int batch = 0; !halt.get(); batch++) {
            String before = producer.region();
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(3);
            List<String> ids = new ArrayList<>();
            List<Future<RecordMetadata>> sent = new ArrayList<>();
            for (int j = 0; j < 5; j++) {
                String id = name + "/" + batch + "-" + j;
                try {
                    sent.add(producer.send(new ProducerRecord<>(topic, id, id)));
                    ids.add(id);
                } catch (RuntimeException e) {
                    error("produce", e);
                    break;
                }
            }
            List<Map<String, Object>> recs = new ArrayList<>();
            boolean any = false;
            for (int i = 0; i < sent.size(); i++) {
                Map<String, Object> r = new LinkedHashMap<>();
                r.put("id", ids.get(i));
                r.put("partition", -1);
                r.put("offset", -1L);
                r.put("acked", false);
                try {
                    RecordMetadata md = sent.get(i).get(Math.max(0, deadline - System.nanoTime()), TimeUnit.NANOSECONDS);
                    r.put("partition", md.partition());
                    r.put("offset", md.offset());
                    r.put("acked", true);
                    any = true;
                } catch (ExecutionException | TimeoutException e) {
                    // Not acknowledged: it may exist or not; the judge reads the logs.
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                    return;
                }
                recs.add(r);
            }
            Map<String, Object> m = line("batch");
            m.put("before", before);
            m.put("after", producer.region());
            m.put("records", recs);
            emit(m);
            sleep(any ? 20 : 70);
        }
        producer.flush();
        emit(line("producer-stopped"));
    }

    private static void consume(GeomeshConsumer<String, String> consumer, AtomicBoolean halt) {
        while (!halt.get()) {
            String before = consumer.region();
            ConsumerRecords<String, String> rs;
            try {
                rs = consumer.poll(Duration.ofMillis(250));
            } catch (RuntimeException e) {
                error("poll", e);
                sleep(100);
                continue;
            }
            polled(before, consumer.region(), rs);
        }
    }

    /** Reports what a poll returned, with the consumer's region before and after it. */
    static void polled(String before, String after, ConsumerRecords<String, String> rs) {
        if (rs.isEmpty()) {
            return;
        }
        List<Map<String, Object>> recs = new ArrayList<>();
        for (ConsumerRecord<String, String> r : rs) {
            Map<String, Object> x = new LinkedHashMap<>();
            x.put("topic", r.topic());
            x.put("partition", r.partition());
            x.put("offset", r.offset());
            x.put("id", r.value());
            recs.add(x);
        }
        Map<String, Object> m = line("poll");
        m.put("before", before);
        m.put("after", after);
        m.put("records", recs);
        emit(m);
    }

    private static void error(String what, Exception e) {
        Map<String, Object> m = line("error");
        m.put("what", what);
        m.put("error", e.toString());
        emit(m);
    }

    private static void sleep(long ms) {
        try {
            Thread.sleep(ms);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
