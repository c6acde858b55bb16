package io.geomesh.client.conformance;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.concurrent.atomic.AtomicBoolean;
import org.apache.kafka.clients.consumer.ConsumerRecords;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.common.errors.WakeupException;
import org.apache.kafka.common.serialization.StringDeserializer;

/**
 * An application that cannot change its code: a plain KafkaConsumer, with nothing of
 * geomesh, that bootstraps from a DNS name a failover hook moves
 * (deploy/hooks/dns-bootstrap.sh). Its settings are the ones docs/clients.md gives such
 * applications: read_committed, and a rebootstrap once no known broker answers. The Go
 * suite (test/chaos/dns_test.go) runs it and judges what it reads, reported in the
 * driver protocol's poll lines (test/chaos/conformance_test.go), its region "dns": it
 * cannot tell which cluster the name led to.
 *
 * <pre>PlainConsumer --bootstrap NAME:PORT --group G --topic T --user U --password-file F</pre>
 */
public final class PlainConsumer {
    private PlainConsumer() {
    }

    public static void main(String[] argv) throws Exception {
        Map<String, String> args = new HashMap<>();
        for (int i = 0; i + 1 < argv.length; i += 2) {
            args.put(argv[i].replaceFirst("^--", ""), argv[i + 1]);
        }
        String password = Files.readString(Path.of(args.get("password-file"))).trim();
        Properties p = new Properties();
        p.put("bootstrap.servers", args.get("bootstrap"));
        p.put("group.id", args.get("group"));
        p.put("key.deserializer", StringDeserializer.class.getName());
        p.put("value.deserializer", StringDeserializer.class.getName());
        p.put("security.protocol", "SASL_PLAINTEXT");
        p.put("sasl.mechanism", "PLAIN");
        p.put("sasl.jaas.config", "org.apache.kafka.common.security.plain.PlainLoginModule required username=\""
                + args.get("user") + "\" password=\"" + password + "\";");
        // Copies are written in transactions: an aborted one must not be read.
        p.put("isolation.level", "read_committed");
        p.put("auto.offset.reset", "earliest");
        p.put("auto.commit.interval.ms", "500");
        // Bootstrap again, resolving the name anew, once no broker of the last metadata
        // has answered for 3 s (Kafka 4's default strategy, its default wait 5 min).
        p.put("metadata.recovery.strategy", "rebootstrap");
        p.put("metadata.recovery.rebootstrap.trigger.ms", "3000");
        p.put("reconnect.backoff.max.ms", "1000");
        p.put("session.timeout.ms", "10000");

        AtomicBoolean halt = new AtomicBoolean();
        try (KafkaConsumer<String, String> c = new KafkaConsumer<>(p)) {
            c.subscribe(List.of(args.get("topic")));
            Thread stdin = new Thread(() -> {
                try (BufferedReader in = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8))) {
                    String l;
                    do {
                        l = in.readLine();
                    } while (l != null && !l.trim().equals("stop"));
                } catch (IOException e) {
                    // stop all the same
                }
                halt.set(true);
                c.wakeup();
            }, "stdin");
            stdin.setDaemon(true);
            stdin.start();
            Driver.emit(Driver.line("ready"));
            while (!halt.get()) {
                ConsumerRecords<String, String> rs;
                try {
                    rs = c.poll(Duration.ofMillis(250));
                } catch (WakeupException e) {
                    break;
                }
                Driver.polled("dns", "dns", rs);
            }
        }
        Driver.emit(Driver.line("stopped"));
    }
}
