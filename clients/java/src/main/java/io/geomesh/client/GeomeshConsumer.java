package io.geomesh.client;

import org.apache.kafka.clients.consumer.CloseOptions;
import org.apache.kafka.clients.consumer.Consumer;
import org.apache.kafka.clients.consumer.ConsumerRebalanceListener;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.ConsumerRecords;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.errors.WakeupException;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.Deserializer;

import java.lang.System.Logger.Level;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collection;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Set;
import java.util.concurrent.locks.ReentrantLock;
import java.util.function.Function;
import java.util.function.Supplier;

/**
 * Reads a consumer group's topics from one region of a mesh at a time and moves the
 * group to another region with {@link #switchTo}, neither skipping a record nor
 * reading one twice (Go {@code client.Consumer}). It wraps a {@link KafkaConsumer}
 * that reads with {@code isolation.level=read_committed} (copies are written in
 * transactions: an aborted copy must never reach the application).
 *
 * <p>Topic names follow the mesh's flows: the topics are named as in their origin
 * region (the primary of an active-passive mesh, the hub of a hub-spoke mesh, the
 * start region of an active-active one, or {@link Builder#origin}); in another region
 * the consumer reads the copy, {@code orders} under identity naming,
 * {@code <origin>.orders} under prefix naming.
 *
 * <p>A record counts as consumed once {@link #poll} returns it: its offset is committed
 * by the next {@link #commitSync()}, by kafka-clients' auto commit (when enabled), and
 * by switchTo and close. poll and commitSync are for the application's thread;
 * switchTo, region and close may be called from any thread (a Follower's), and
 * interrupt a poll in progress, which then returns what it has (possibly nothing).
 */
public final class GeomeshConsumer<K, V> implements AutoCloseable {
    private static final System.Logger LOG = System.getLogger(GeomeshConsumer.class.getName());
    /** How far back afterLastCopies looks for the last copy. */
    static final long SCAN_LIMIT = 1 << 16;
    private static final Duration RETRY = Duration.ofMillis(200);

    private final GeomeshMesh mesh;
    private final String group;
    private final List<String> topics;
    private final String origin;
    private final String home;
    private final Map<String, Object> props;
    private final String resetOffset;
    private final Duration switchTimeout;
    private final Duration commitTimeout;
    private final Duration requestTimeout;
    private final AgentClient agents;
    private final Function<Map<String, Object>, Consumer<K, V>> consumers;
    private final Function<Map<String, Object>, Consumer<byte[], byte[]>> scanners;
    private final Function<Map<String, Object>, GroupAdmin> admins;

    // Serialises poll, commitSync, switchTo and close: the client is replaced only
    // between polls. Fair, so that a switch waiting for a poll gets it next.
    private final ReentrantLock lock = new ReentrantLock(true);
    // pmu guards polling and woken: whether a poll is in progress, and whether
    // interrupt woke the client (its next blocking call throws WakeupException once).
    private final Object pmu = new Object();
    private boolean polling;
    private boolean woken;

    private volatile String region;
    private volatile Consumer<K, V> consumer;
    private volatile boolean closed;
    /** The last record poll returned per partition in region: where a switch back resumes. */
    private Map<TopicPartition, LastRecord> last = new HashMap<>();
    /** What was read in the region left last, when it could not be reached; poll drops copies of it. */
    private Map<Origin, Long> before = new HashMap<>();

    /** The partition a record was first written to. */
    record Origin(String region, String topic, int partition) {
    }

    /** The last record read in a partition; region is empty for a record produced where it is. */
    record LastRecord(long offset, String region, String topic, int partition, long originOffset) {
    }

    private GeomeshConsumer(Builder<K, V> b) {
        this.mesh = b.mesh;
        this.group = b.group;
        this.topics = List.copyOf(b.topics);
        this.props = new LinkedHashMap<>(b.props);
        this.resetOffset = b.resetOffset;
        this.switchTimeout = b.switchTimeout;
        this.commitTimeout = b.commitTimeout;
        this.requestTimeout = b.requestTimeout;
        this.agents = b.agents != null ? b.agents : new AgentClient(mesh);
        Supplier<Deserializer<K>> kd = b.keyDeserializer;
        Supplier<Deserializer<V>> vd = b.valueDeserializer;
        this.consumers = b.consumers != null ? b.consumers
                : p -> kd == null ? new KafkaConsumer<>(p) : new KafkaConsumer<>(p, kd.get(), vd.get());
        this.scanners = b.scanners != null ? b.scanners
                : p -> new KafkaConsumer<>(p, new ByteArrayDeserializer(), new ByteArrayDeserializer());
        this.admins = b.admins != null ? b.admins : GroupAdmin.Kafka::new;
        if (group == null || group.isEmpty()) {
            throw new IllegalArgumentException("consumer of mesh " + mesh.name() + ": a group is required");
        }
        if (topics.isEmpty()) {
            throw new IllegalArgumentException("consumer group " + group + " of mesh " + mesh.name() + ": topics are required");
        }
        String o = b.origin != null ? b.origin : mesh.defaultWriter();
        String r = b.region != null ? b.region : o;
        if (o.isEmpty()) {
            o = r;
        }
        if (r.isEmpty()) {
            throw new IllegalArgumentException("consumer group " + group + " of active-active mesh " + mesh.name() + ": region is required");
        }
        this.origin = o;
        this.home = r;
        mesh.dataRegion(o);
        mesh.dataRegion(r);
        this.consumer = newClient(r, Map.of());
        this.region = r;
    }

    /** A builder of a consumer of group in mesh. */
    public static <K, V> Builder<K, V> builder(GeomeshMesh mesh, String group) {
        return new Builder<>(mesh, group);
    }

    GeomeshMesh mesh() {
        return mesh;
    }

    /** The group. */
    public String group() {
        return group;
    }

    /** The region the consumer reads from now. */
    public String region() {
        return region;
    }

    /** The region it started in. */
    public String home() {
        return home;
    }

    /** The names of the consumer's topics in region. */
    public List<String> topics(String inRegion) {
        List<String> out = new ArrayList<>();
        for (String t : topics) {
            try {
                out.add(mesh.topicIn(origin, inRegion, t));
            } catch (IllegalArgumentException e) {
                throw new IllegalArgumentException("consumer group " + group + ": " + e.getMessage(), e);
            }
        }
        return out;
    }

    /** Builds the group consumer for r; start holds offsets the group must not start below there. */
    private Consumer<K, V> newClient(String r, Map<TopicPartition, Long> start) {
        GeomeshMesh.Region reg = mesh.dataRegion(r);
        List<String> names = topics(r);
        Map<String, Object> p = new LinkedHashMap<>(props);
        p.putAll(reg.kafkaProperties());
        p.put("group.id", group);
        p.put("isolation.level", "read_committed");
        p.put("auto.offset.reset", resetOffset);
        p.putIfAbsent("client.id", "geomesh-" + mesh.name() + "-" + group + "-" + r);
        Consumer<K, V> c = consumers.apply(p);
        try {
            c.subscribe(names, new AtLeast(c, Map.copyOf(start)));
        } catch (RuntimeException e) {
            c.close(CloseOptions.timeout(Duration.ZERO));
            throw e;
        }
        return c;
    }

    /**
     * Raises the offsets the group starts from on joining to the translated ones. It
     * keeps a higher committed offset: the group has consumed in this region since the
     * switch (several instances join one after the other). It also undoes a stale commit
     * of the target agent's group sync, which may land between the switch's own commit
     * and the join.
     */
    private static final class AtLeast implements ConsumerRebalanceListener {
        private final Consumer<?, ?> c;
        private final Map<TopicPartition, Long> start;

        AtLeast(Consumer<?, ?> c, Map<TopicPartition, Long> start) {
            this.c = c;
            this.start = start;
        }

        @Override
        public void onPartitionsAssigned(Collection<TopicPartition> parts) {
            Set<TopicPartition> ours = new HashSet<>();
            for (TopicPartition tp : parts) {
                if (start.containsKey(tp)) {
                    ours.add(tp);
                }
            }
            if (ours.isEmpty()) {
                return;
            }
            Map<TopicPartition, OffsetAndMetadata> have = c.committed(ours);
            for (TopicPartition tp : ours) {
                long at = start.get(tp);
                OffsetAndMetadata o = have == null ? null : have.get(tp);
                if (o == null || o.offset() < at) {
                    c.seek(tp, at);
                }
            }
        }

        @Override
        public void onPartitionsRevoked(Collection<TopicPartition> parts) {
        }
    }

    /**
     * Waits up to timeout for records and returns them, as {@link KafkaConsumer#poll}.
     * A switchTo or close during poll makes it return early, possibly with nothing.
     * After a switch away from a region that could not be reached, the copies of the
     * records this instance read there are dropped.
     */
    public ConsumerRecords<K, V> poll(Duration timeout) {
        lock.lock();
        try {
            if (closed) {
                throw new IllegalStateException("consumer group " + group + ": closed");
            }
            synchronized (pmu) {
                polling = true;
            }
            ConsumerRecords<K, V> recs;
            try {
                recs = consumer.poll(timeout);
            } catch (WakeupException e) {
                synchronized (pmu) {
                    if (!woken) {
                        throw e; // the application's own wakeup
                    }
                    woken = false;
                }
                return ConsumerRecords.empty();
            } finally {
                synchronized (pmu) {
                    polling = false;
                }
            }
            for (TopicPartition tp : recs.partitions()) {
                List<ConsumerRecord<K, V>> rs = recs.records(tp);
                if (!rs.isEmpty()) {
                    note(rs.get(rs.size() - 1));
                }
            }
            if (before.isEmpty()) {
                return recs;
            }
            Filtered<K, V> f = filter(before, region, recs);
            if (f.dropped() > 0) {
                LOG.log(Level.INFO, "consumer group {0}: dropped {1} copies of records read before the switch (region {2})",
                        group, f.dropped(), region);
            }
            return f.records();
        } finally {
            lock.unlock();
        }
    }

    private void note(ConsumerRecord<K, V> r) {
        last.put(new TopicPartition(r.topic(), r.partition()), lastOf(r));
    }

    /** What a switch remembers of the last record read in a partition. */
    static LastRecord lastOf(ConsumerRecord<?, ?> r) {
        Provenance p = Provenance.of(r.headers());
        return p == null
                ? new LastRecord(r.offset(), "", "", 0, 0)
                : new LastRecord(r.offset(), p.region(), p.topic(), p.partition(), p.offset());
    }

    record Filtered<K, V>(ConsumerRecords<K, V> records, int dropped) {
    }

    /**
     * The records of recs, read in region, that are not copies of records read before,
     * and how many were dropped. A copy keeps its origin's order, so an origin partition
     * is forgotten (removed from before) at its first record past the one read before.
     */
    static <K, V> Filtered<K, V> filter(Map<Origin, Long> before, String region, ConsumerRecords<K, V> recs) {
        Map<TopicPartition, List<ConsumerRecord<K, V>>> kept = new LinkedHashMap<>();
        int dropped = 0;
        for (TopicPartition tp : recs.partitions()) {
            List<ConsumerRecord<K, V>> out = new ArrayList<>();
            for (ConsumerRecord<K, V> r : recs.records(tp)) {
                Provenance p = Provenance.of(r.headers());
                Origin o = p != null ? new Origin(p.region(), p.topic(), p.partition()) : new Origin(region, r.topic(), r.partition());
                long off = p != null ? p.offset() : r.offset();
                Long lastRead = before.get(o);
                if (lastRead != null && off <= lastRead) {
                    dropped++;
                    continue;
                }
                if (lastRead != null) {
                    before.remove(o);
                }
                out.add(r);
            }
            if (!out.isEmpty()) {
                kept.put(tp, out);
            }
        }
        return new Filtered<>(new ConsumerRecords<>(kept, recs.nextOffsets()), dropped);
    }

    /** Makes a poll in progress return. */
    private void interrupt() {
        synchronized (pmu) {
            if (polling) {
                woken = true;
                consumer.wakeup();
            }
        }
    }

    /** Runs a call on the client, again once if a wakeup of interrupt's was pending. */
    private void guarded(Runnable call) {
        try {
            call.run();
        } catch (WakeupException e) {
            synchronized (pmu) {
                if (!woken) {
                    throw e;
                }
                woken = false;
            }
            call.run();
        }
    }

    /** Commits the offsets of every record poll has returned, as {@link KafkaConsumer#commitSync()}. */
    public void commitSync() {
        lock.lock();
        try {
            if (closed) {
                throw new IllegalStateException("consumer group " + group + ": closed");
            }
            guarded(() -> consumer.commitSync(commitTimeout));
        } catch (RuntimeException e) {
            if (e instanceof IllegalStateException) {
                throw e;
            }
            throw new GeomeshException("consumer group " + group + ": commit in region " + region + ": " + e, e);
        } finally {
            lock.unlock();
        }
    }

    /** Wakes a poll of the application's (as {@link KafkaConsumer#wakeup()}). */
    public void wakeup() {
        consumer.wakeup();
    }

    /**
     * Moves the group to newRegion, which must hold copies of the consumer's topics (a
     * planned flow from their origin):
     * <ol>
     * <li>it commits the offsets of every record poll returned in the old region and
     * leaves the group there;</li>
     * <li>it waits until no member of the group is left in the old region (every
     * instance of the application switches), so the offsets are final;</li>
     * <li>it asks newRegion's agents ({@code GET /v1/translate}) for those offsets
     * translated exactly, waiting while the copier catches up;</li>
     * <li>it commits them in newRegion, unless the group has moved past them there, and
     * joins the group in newRegion, starting no lower than them.</li>
     * </ol>
     * If the old region does not take the final commit within the commit timeout, it
     * counts as gone: the group resumes from the offsets the agents synced in newRegion,
     * which skips nothing, and poll drops the copies of the records this instance read in
     * the old region (known by their provenance headers), so it reads none of them twice.
     *
     * <p>If the translation fails while the old region is up (no flow from it, or the
     * copy lags more than the switch timeout), the consumer rejoins the group in the old
     * region and this throws GeomeshException: it stays where it was.
     */
    public void switchTo(String newRegion) {
        mesh.dataRegion(newRegion);
        List<String> newTopics = topics(newRegion);
        interrupt();
        lock.lock();
        try {
            if (closed) {
                throw new IllegalStateException("consumer group " + group + ": closed");
            }
            String old = region;
            if (newRegion.equals(old)) {
                return;
            }
            boolean gone = leave();
            Map<TopicPartition, Long> start = Map.of();
            if (!gone) {
                long deadline = System.nanoTime() + switchTimeout.toNanos();
                try {
                    start = finalOffsets(old, newRegion, deadline);
                } catch (RuntimeException | InterruptedException e) {
                    if (e instanceof InterruptedException) {
                        Thread.currentThread().interrupt();
                    }
                    GeomeshException err = new GeomeshException("consumer group " + group + ": switch from region " + old
                            + " to " + newRegion + ": " + e.getMessage(), e);
                    try {
                        replace(newClient(old, Map.of()), old); // at the same offsets: last still holds
                    } catch (RuntimeException re) {
                        err.addSuppressed(re);
                    }
                    throw err;
                }
                commitStart(newRegion, start);
            }
            Map<Origin, Long> rb = gone ? readBefore(last, old) : new HashMap<>();
            if (gone) {
                LOG.log(Level.WARNING, "consumer group {0}: region {1} unreachable: resuming in {2} from the offsets the agents synced, "
                        + "without the copies of records this instance read there ({3} partitions)", group, old, newRegion, rb.size());
            }
            replace(newClient(newRegion, start), newRegion);
            last = new HashMap<>();
            before = rb;
            LOG.log(Level.INFO, "consumer group {0} switched from {1} to {2}: topics {3}, translated {4}, start {5}",
                    group, old, newRegion, newTopics, !gone, start);
        } finally {
            lock.unlock();
        }
    }

    private void replace(Consumer<K, V> c, String r) {
        synchronized (pmu) {
            consumer = c;
            woken = false; // a new client has no wakeup pending
        }
        region = r;
    }

    /** Commits the final offsets in the current region and leaves the group there; says whether the region could not be reached. */
    private boolean leave() {
        boolean failed = false;
        try {
            guarded(() -> consumer.commitSync(commitTimeout));
        } catch (RuntimeException e) {
            LOG.log(Level.WARNING, "consumer group {0}: final commit in region {1} failed: {2}", group, region, e.toString());
            failed = true;
        }
        try {
            // A region that is gone gets no time: close returns at once.
            consumer.close(CloseOptions.timeout(failed ? Duration.ZERO : commitTimeout)
                    .withGroupMembershipOperation(CloseOptions.GroupMembershipOperation.LEAVE_GROUP));
        } catch (RuntimeException e) {
            LOG.log(Level.WARNING, "consumer group {0}: leave region {1}: {2}", group, region, e.toString());
        }
        return failed;
    }

    /** Waits until the group has no member left in old and returns its offsets there translated into to. */
    private Map<TopicPartition, Long> finalOffsets(String old, String to, long deadline) throws InterruptedException {
        try (GroupAdmin adm = admins.apply(adminProps(old))) {
            waitIdle(adm, old, deadline);
        }
        return translate(old, to, new HashSet<>(topics(old)), deadline);
    }

    private Map<String, Object> adminProps(String r) {
        Map<String, Object> p = new LinkedHashMap<>();
        props.forEach((k, v) -> {
            if (k.startsWith("security.") || k.startsWith("ssl.") || k.startsWith("sasl.")) {
                p.put(k, v);
            }
        });
        p.putAll(mesh.dataRegion(r).kafkaProperties());
        p.put("client.id", "geomesh-" + mesh.name() + "-" + group + "-admin-" + r);
        return p;
    }

    private void waitIdle(GroupAdmin adm, String old, long deadline) throws InterruptedException {
        String lastErr = "";
        while (true) {
            try {
                if (adm.idle(group, remaining(deadline, commitTimeout))) {
                    return;
                }
            } catch (InterruptedException e) {
                throw e;
            } catch (Exception e) {
                lastErr = e.getMessage();
            }
            if (!sleep(deadline)) {
                throw new GeomeshException("wait for group " + group + " to leave region " + old + ": timed out (last: " + lastErr + ")");
            }
        }
    }

    /**
     * Asks the agents of region to for the group's committed offsets in from,
     * translated, until every partition of the consumer's topics is translated or the
     * deadline passes. A partition the copier has not reached yet ("behind") is asked
     * again: the normal state right after a final commit.
     */
    Map<TopicPartition, Long> translate(String from, String to, Set<String> inFrom, long deadline) throws InterruptedException {
        GeomeshMesh.Region r = mesh.dataRegion(to);
        String lastErr = "";
        while (true) {
            for (GeomeshMesh.Agent a : r.agents()) {
                TranslateResponse res;
                try {
                    res = agents.translate(a.api(), group, from, remaining(deadline, requestTimeout));
                } catch (AgentException e) {
                    if (e.status() == 400) {
                        throw new GeomeshException("translate group " + group + " from " + from + " at agent " + a.id()
                                + ": the agent cannot translate from this region: " + e.getMessage(), e);
                    }
                    lastErr = "agent " + a.id() + ": " + e.getMessage();
                    continue;
                } catch (GeomeshException e) {
                    if (Thread.interrupted()) {
                        throw new InterruptedException("translate group " + group);
                    }
                    lastErr = "agent " + a.id() + ": " + e.getMessage();
                    continue;
                }
                try {
                    Translated t = translated(res, inFrom, resumeHint(to));
                    afterLastCopies(from, to, t.ends, t.out, deadline);
                    return t.out;
                } catch (RuntimeException e) {
                    lastErr = "agent " + a.id() + ": " + e.getMessage();
                    break; // the agent answered; asking its peers now would not help
                }
            }
            if (!sleep(deadline)) {
                throw new GeomeshException("translate group " + group + " from region " + from + " to " + to
                        + ": timed out (last: " + lastErr + ")");
            }
        }
    }

    record Translated(Map<TopicPartition, Long> out, List<TranslateResponse.Translation> ends) {
    }

    /** A hint: where the group resumes in a partition, answered by the consumer itself. */
    record Hint(TopicPartition tp, long offset) {
    }

    /**
     * Keeps the partitions of the consumer's topics, or says which one is not translated
     * yet. hint, if not null, may answer for a partition instead of the agent.
     */
    static Translated translated(TranslateResponse res, Set<String> inFrom, Function<TranslateResponse.Translation, Hint> hint) {
        Map<TopicPartition, Long> out = new HashMap<>();
        List<TranslateResponse.Translation> ends = new ArrayList<>();
        for (TranslateResponse.Translation t : res.partitions()) {
            if (!inFrom.contains(t.topic())) {
                continue;
            }
            if (hint != null) {
                Hint h = hint.apply(t);
                if (h != null) {
                    out.put(h.tp(), h.offset());
                    continue;
                }
            }
            TopicPartition tp = new TopicPartition(t.targetTopic(), t.partition());
            switch (t.state()) {
                case TranslateResponse.END:
                    ends.add(t);
                    out.put(tp, t.targetOffset());
                    break;
                case TranslateResponse.COPIED:
                case TranslateResponse.TRUNCATED:
                    out.put(tp, t.targetOffset());
                    break;
                case "":
                    throw new GeomeshException("topic " + t.topic() + " partition " + t.partition() + ": " + t.error());
                default:
                    throw new GeomeshException("topic " + t.topic() + " partition " + t.partition() + " at " + t.sourceOffset() + ": " + t.state());
            }
        }
        return new Translated(out, ends);
    }

    /**
     * Answers, for a switch to region to, the partitions whose last record consumed is a
     * copy of a record of to: the group resumes right after the original, in the topic
     * the consumer reads there. The agent cannot answer for those when the flow back to
     * to never copied them (they came from to).
     */
    private Function<TranslateResponse.Translation, Hint> resumeHint(String to) {
        Set<String> reads = new HashSet<>();
        try {
            reads.addAll(topics(to));
        } catch (IllegalArgumentException ignored) {
            // no topic there: no hint
        }
        return resumeHint(last, reads, to);
    }

    /** resumeHint for the last records l, reads the consumer's topics in to. */
    static Function<TranslateResponse.Translation, Hint> resumeHint(Map<TopicPartition, LastRecord> l, Set<String> reads, String to) {
        return t -> {
            LastRecord lr = l.get(new TopicPartition(t.topic(), t.partition()));
            // Only when this instance read up to the group's final offset: another
            // member's partitions are the agent's to translate.
            if (lr == null || !lr.region().equals(to) || lr.offset() + 1 != t.sourceOffset() || !reads.contains(lr.topic())) {
                return null;
            }
            return new Hint(new TopicPartition(lr.topic(), lr.partition()), lr.originOffset() + 1);
        };
    }

    /**
     * Corrects the agent's "end" answers of an active-passive mesh after a planned switch
     * or a failover. "end" is the target's last stable offset: right for a standby, but
     * the consumer moves to a region that has become primary, and the producers that
     * followed the flip may already have written there. Those records sit after the last
     * copy from the old region, and the group has not read them: it resumes right after
     * that copy, found by reading back from the answer, up to SCAN_LIMIT records; a
     * partition with no copy in that range keeps the agent's answer.
     */
    private void afterLastCopies(String from, String to, List<TranslateResponse.Translation> ends,
                                 Map<TopicPartition, Long> out, long deadline) {
        if (mesh.kind() != Kind.ACTIVE_PASSIVE || ends.isEmpty()) {
            return;
        }
        List<TranslateResponse.Translation> pending = ends;
        for (long back = 64; !pending.isEmpty(); back *= 4) {
            Map<TopicPartition, long[]> spans = new HashMap<>();
            for (TranslateResponse.Translation t : pending) {
                spans.put(new TopicPartition(t.targetTopic(), t.partition()),
                        new long[]{Math.max(t.targetOffset() - back, 0), t.targetOffset()});
            }
            Map<TopicPartition, Long> found = lastCopies(to, from, spans, deadline);
            List<TranslateResponse.Translation> next = new ArrayList<>();
            for (TranslateResponse.Translation t : pending) {
                TopicPartition tp = new TopicPartition(t.targetTopic(), t.partition());
                Long at = found.get(tp);
                if (at != null) {
                    out.put(tp, at + 1);
                } else if (spans.get(tp)[0] > 0 && back < SCAN_LIMIT) {
                    next.add(t);
                }
            }
            pending = next;
        }
    }

    /**
     * Reads the span [start, end) of each partition in region to and returns, per
     * partition, the offset of the last record there copied from region from.
     */
    Map<TopicPartition, Long> lastCopies(String to, String from, Map<TopicPartition, long[]> spans, long deadline) {
        Map<String, Object> p = new LinkedHashMap<>(props);
        p.remove("group.id");
        p.remove("group.instance.id");
        p.remove("key.deserializer");
        p.remove("value.deserializer");
        p.putAll(mesh.dataRegion(to).kafkaProperties());
        p.put("isolation.level", "read_committed");
        p.put("enable.auto.commit", false);
        p.put("auto.offset.reset", "earliest");
        p.put("fetch.max.wait.ms", 200);
        p.put("client.id", "geomesh-" + mesh.name() + "-" + group + "-scan-" + to);
        Map<TopicPartition, Long> found = new HashMap<>();
        try (Consumer<byte[], byte[]> sc = scanners.apply(p)) {
            sc.assign(spans.keySet());
            spans.forEach((tp, sp) -> sc.seek(tp, sp[0]));
            Set<TopicPartition> done = new HashSet<>();
            Duration wait = Duration.ofSeconds(2); // the first poll also connects
            while (done.size() < spans.size()) {
                if (System.nanoTime() > deadline) {
                    throw new GeomeshException("region " + to + ": read back for the last copies: timed out");
                }
                // A poll that returns nothing has reached the ends: records up to them
                // are stable (an end is a last stable offset), and the offsets just below
                // are often transaction markers, never returned.
                ConsumerRecords<byte[], byte[]> rs = sc.poll(wait);
                wait = Duration.ofMillis(300);
                int n = 0; // records of partitions not done: new writes after an end do not count
                for (ConsumerRecord<byte[], byte[]> rec : rs) {
                    TopicPartition tp = new TopicPartition(rec.topic(), rec.partition());
                    if (done.contains(tp) || !spans.containsKey(tp)) {
                        continue;
                    }
                    n++;
                    long end = spans.get(tp)[1];
                    if (rec.offset() >= end - 1) {
                        done.add(tp);
                    }
                    if (rec.offset() >= end) {
                        continue;
                    }
                    if (from.equals(Provenance.header(rec.headers(), Provenance.HEADER_ORIGIN_REGION))) {
                        found.put(tp, rec.offset());
                    }
                }
                if (n == 0) {
                    break;
                }
            }
        }
        return found;
    }

    /**
     * Commits the translated offsets in r before the group joins there, so that the
     * group's committed offsets are right at once. Offsets the group has passed in r are
     * left alone, and a refusal because other instances are members already is expected:
     * the join raises the start offsets anyway.
     */
    private void commitStart(String r, Map<TopicPartition, Long> start) {
        if (start.isEmpty()) {
            return;
        }
        try (GroupAdmin adm = admins.apply(adminProps(r))) {
            Map<TopicPartition, Long> have = adm.committed(group, commitTimeout);
            Map<TopicPartition, Long> to = new HashMap<>();
            start.forEach((tp, at) -> {
                Long o = have.get(tp);
                if (o == null || o < at) {
                    to.put(tp, at);
                }
            });
            if (!to.isEmpty()) {
                adm.commit(group, to, commitTimeout);
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        } catch (Exception e) {
            LOG.log(Level.WARNING, "consumer group {0}: commit translated offsets in region {1} before joining: {2}", group, r, e.toString());
        }
    }

    /** The last records read in region old, by their origin (copies by the region they came from). */
    static Map<Origin, Long> readBefore(Map<TopicPartition, LastRecord> last, String old) {
        Map<Origin, Long> rb = new HashMap<>();
        last.forEach((tp, lr) -> {
            if (lr.region().isEmpty()) {
                rb.put(new Origin(old, tp.topic(), tp.partition()), lr.offset());
            } else {
                rb.put(new Origin(lr.region(), lr.topic(), lr.partition()), lr.originOffset());
            }
        });
        return rb;
    }

    private static Duration remaining(long deadline, Duration cap) {
        long left = deadline - System.nanoTime();
        return Duration.ofNanos(Math.max(1_000_000L, Math.min(left, cap.toNanos())));
    }

    /** Sleeps RETRY, or until the deadline; false when the deadline has passed. */
    private static boolean sleep(long deadline) throws InterruptedException {
        long left = deadline - System.nanoTime();
        if (left <= 0) {
            return false;
        }
        Thread.sleep(Math.max(1, Math.min(RETRY.toMillis(), left / 1_000_000L)));
        return System.nanoTime() < deadline;
    }

    /**
     * Commits the offsets of the records poll returned, leaves the group and closes the
     * client, within the commit timeout. Idempotent. Throws GeomeshException when the
     * final commit failed (the client is closed all the same).
     */
    @Override
    public void close() {
        interrupt();
        lock.lock();
        try {
            if (closed) {
                return;
            }
            closed = true;
            RuntimeException err = null;
            try {
                guarded(() -> consumer.commitSync(commitTimeout));
            } catch (RuntimeException e) {
                err = e;
            }
            try {
                consumer.close(CloseOptions.timeout(err != null ? Duration.ZERO : commitTimeout));
            } catch (RuntimeException e) {
                LOG.log(Level.WARNING, "consumer group {0}: close in region {1}: {2}", group, region, e.toString());
            }
            if (err != null) {
                throw new GeomeshException("consumer group " + group + ": final commit in region " + region + ": " + err, err);
            }
        } finally {
            lock.unlock();
        }
    }

    /** The Follower's side of the consumer. */
    Follower.Target followTarget() {
        return new Follower.Target() {
            @Override
            public FollowDecision.Client followed() {
                return new FollowDecision.Client(false, home, FollowDecision.followsWriter(mesh, false, home), region, false);
            }

            @Override
            public String followName() {
                return "consumer group " + group;
            }

            @Override
            public void apply(FollowDecision.Move m) {
                if (!m.switchTo().isEmpty()) {
                    switchTo(m.switchTo());
                }
            }

            @Override
            public boolean consumer() {
                return true;
            }

            @Override
            public void release() {
            }
        };
    }

    /** Builds a {@link GeomeshConsumer}. */
    public static final class Builder<K, V> {
        private final GeomeshMesh mesh;
        private final String group;
        private final List<String> topics = new ArrayList<>();
        private final Map<String, Object> props = new LinkedHashMap<>();
        private String origin;
        private String region;
        private String resetOffset = "earliest";
        private Duration switchTimeout = Duration.ofSeconds(30);
        private Duration commitTimeout = Duration.ofSeconds(10);
        private Duration requestTimeout = Duration.ofSeconds(10);
        private AgentClient agents;
        private Supplier<Deserializer<K>> keyDeserializer;
        private Supplier<Deserializer<V>> valueDeserializer;
        private Function<Map<String, Object>, Consumer<K, V>> consumers;
        private Function<Map<String, Object>, Consumer<byte[], byte[]>> scanners;
        private Function<Map<String, Object>, GroupAdmin> admins;

        private Builder(GeomeshMesh mesh, String group) {
            this.mesh = Objects.requireNonNull(mesh);
            this.group = group;
        }

        /** The topics, named as in their origin region. Required. */
        public Builder<K, V> topics(String... names) {
            topics.addAll(List.of(names));
            return this;
        }

        /**
         * kafka-clients consumer properties for every region (deserializers,
         * max.poll.records, ...). The region's connection comes from the mesh, and
         * group.id, isolation.level and auto.offset.reset from this library.
         */
        public Builder<K, V> properties(Map<String, ?> p) {
            props.putAll(p);
            return this;
        }

        /** One kafka-clients consumer property. */
        public Builder<K, V> property(String key, Object value) {
            props.put(key, value);
            return this;
        }

        /** Deserializers, made anew for every KafkaConsumer. Default: the key.deserializer and value.deserializer properties. */
        public Builder<K, V> deserializers(Supplier<Deserializer<K>> key, Supplier<Deserializer<V>> value) {
            this.keyDeserializer = Objects.requireNonNull(key);
            this.valueDeserializer = Objects.requireNonNull(value);
            return this;
        }

        /**
         * The region where the topics are produced. Default: the primary of an
         * active-passive mesh, the hub of a hub-spoke mesh, the start region of an
         * active-active mesh.
         */
        public Builder<K, V> origin(String r) {
            this.origin = r;
            return this;
        }

        /** The region to start in. Default: the origin; required for active-active. */
        public Builder<K, V> region(String r) {
            this.region = r;
            return this;
        }

        /**
         * Where the group starts in a partition it has no committed offset for, in any
         * region (auto.offset.reset). Default: earliest, so that nothing is skipped.
         */
        public Builder<K, V> resetOffset(String reset) {
            this.resetOffset = reset;
            return this;
        }

        /**
         * How long a switch waits for the translated offsets: for the other members to
         * leave the old region and the copier to reach the final offsets. Default: 30s; a
         * longer lag fails the switch rather than skipping records.
         */
        public Builder<K, V> switchTimeout(Duration d) {
            this.switchTimeout = d;
            return this;
        }

        /**
         * How long a switch tries to commit the final offsets in the old region; when it
         * cannot, the old region counts as gone. Default: 10s.
         */
        public Builder<K, V> commitTimeout(Duration d) {
            this.commitTimeout = d;
            return this;
        }

        /** How long one GET /v1/translate may take. Default: 10s. */
        public Builder<K, V> requestTimeout(Duration d) {
            this.requestTimeout = d;
            return this;
        }

        /** The client of the agents' API. Default: new AgentClient(mesh). */
        public Builder<K, V> agentClient(AgentClient c) {
            this.agents = c;
            return this;
        }

        /** For tests: how the group consumer is made. */
        Builder<K, V> consumerFactory(Function<Map<String, Object>, Consumer<K, V>> f) {
            this.consumers = f;
            return this;
        }

        /** For tests: how the read-back consumer of afterLastCopies is made. */
        Builder<K, V> scannerFactory(Function<Map<String, Object>, Consumer<byte[], byte[]>> f) {
            this.scanners = f;
            return this;
        }

        /** For tests: how a region's group admin is made. */
        Builder<K, V> adminFactory(Function<Map<String, Object>, GroupAdmin> f) {
            this.admins = f;
            return this;
        }

        /** The consumer; it joins the group on the first poll. */
        public GeomeshConsumer<K, V> build() {
            return new GeomeshConsumer<>(this);
        }
    }
}
