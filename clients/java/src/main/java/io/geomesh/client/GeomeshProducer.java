package io.geomesh.client;

import org.apache.kafka.clients.producer.Callback;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.Producer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.clients.producer.RecordMetadata;
import org.apache.kafka.common.errors.InterruptException;
import org.apache.kafka.common.serialization.Serializer;

import java.lang.System.Logger.Level;
import java.nio.charset.StandardCharsets;
import java.security.SecureRandom;
import java.time.Duration;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Objects;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.locks.ReentrantReadWriteLock;
import java.util.function.Function;
import java.util.function.Supplier;

/**
 * Writes records to the region that takes writes for their topic right now, and
 * refuses, with {@link NotPrimaryException}, a record for a region that does not: a
 * standby, or a topic that is another region's copy there (Go {@code client.Producer}).
 * It wraps a {@link KafkaProducer}; nothing is dropped silently: every record's future
 * and callback get either its metadata or an exception.
 *
 * <p>{@link #switchTo} moves the producer when the writer changes (a failover): it
 * builds a KafkaProducer against the new region's cluster and closes the old one
 * within a bound, failing the records still unanswered there; the application sends
 * those again (with {@link Builder#recordIds()}, under the same id).
 *
 * <p>A {@link Follower} pauses the producer while a planned switch drains the region it
 * writes to: {@link #send} then waits, at most {@link Builder#maxPauseWait}, and a
 * record whose wait ends first fails with {@link PausedException}.
 *
 * <p>All methods may be called from any thread.
 */
public final class GeomeshProducer<K, V> implements AutoCloseable {
    private static final System.Logger LOG = System.getLogger(GeomeshProducer.class.getName());
    /** Bounds how long a pause or a producer switch waits for the records in flight. */
    static final Duration FLUSH_TIMEOUT = Duration.ofSeconds(10);
    /**
     * Bounds the same wait when the producer switches without a pause first: a
     * failover, away from a region the mesh found down.
     */
    static final Duration DOWN_FLUSH = Duration.ofSeconds(1);

    private static final SecureRandom RANDOM = new SecureRandom();

    private final GeomeshMesh mesh;
    private final Map<String, Object> props;
    private final Function<Map<String, Object>, Producer<K, V>> factory;
    private final boolean recordIds;
    private final Duration maxPauseWait;
    private final String home;

    // gate is null while records may go, otherwise counted down on resume.
    private final Object gmu = new Object();
    private CountDownLatch gate;

    // Held for reading while a record is handed to the client, for writing while
    // switchTo replaces it.
    private final ReentrantReadWriteLock rw = new ReentrantReadWriteLock();
    private volatile String region;
    private String writer; // active-passive: the primary; hub-spoke: the hub
    // Written under the write lock; read without it only by switchTo, to unblock a send.
    private volatile Producer<K, V> producer;
    private volatile boolean closed;

    private GeomeshProducer(Builder<K, V> b) {
        this.mesh = b.mesh;
        this.props = new LinkedHashMap<>(b.props);
        this.recordIds = b.recordIds;
        this.maxPauseWait = b.maxPauseWait;
        Supplier<Serializer<K>> ks = b.keySerializer;
        Supplier<Serializer<V>> vs = b.valueSerializer;
        this.factory = b.factory != null ? b.factory
                : p -> ks == null ? new KafkaProducer<>(p) : new KafkaProducer<>(p, ks.get(), vs.get());
        this.writer = mesh.defaultWriter();
        String r = b.region != null ? b.region : writer;
        if (r.isEmpty()) {
            throw new IllegalArgumentException("producer of active-active mesh " + mesh.name() + ": region is required");
        }
        this.home = r;
        this.producer = newClient(r);
        this.region = r;
    }

    /** A builder of a producer for mesh. */
    public static <K, V> Builder<K, V> builder(GeomeshMesh mesh) {
        return new Builder<>(mesh);
    }

    GeomeshMesh mesh() {
        return mesh;
    }

    private Producer<K, V> newClient(String r) {
        GeomeshMesh.Region reg = mesh.dataRegion(r);
        Map<String, Object> p = new LinkedHashMap<>(props);
        p.putAll(reg.kafkaProperties());
        p.putIfAbsent("client.id", "geomesh-" + mesh.name() + "-producer-" + r);
        return factory.apply(p);
    }

    /** The region the producer writes to now. */
    public String region() {
        return region;
    }

    /** The region it started in. */
    public String home() {
        return home;
    }

    /** Sends record without a callback; see {@link #send(ProducerRecord, Callback)}. */
    public Future<RecordMetadata> send(ProducerRecord<K, V> record) {
        return send(record, null);
    }

    /**
     * Sends record asynchronously to its topic in the current region, as
     * {@link KafkaProducer#send(ProducerRecord, Callback)}. A record the region must not
     * take fails at once with NotPrimaryException. While a Follower holds the producer
     * paused, send waits until it resumes; if maxPauseWait passes first, the record fails
     * with PausedException.
     */
    public Future<RecordMetadata> send(ProducerRecord<K, V> record, Callback callback) {
        Objects.requireNonNull(record, "record");
        long deadline = System.nanoTime() + maxPauseWait.toNanos();
        while (true) {
            try {
                waitOpen(deadline);
            } catch (GeomeshException e) {
                return fail(e, callback);
            }
            rw.readLock().lock();
            try {
                // Checked again under the lock: pause takes the write lock once after
                // closing the gate, so no record passes it after pause returns.
                if (paused() && !closed) {
                    continue;
                }
                check(record);
                return producer.send(record, callback);
            } catch (GeomeshException e) {
                return fail(e, callback);
            } finally {
                rw.readLock().unlock();
            }
        }
    }

    private static Future<RecordMetadata> fail(Exception e, Callback cb) {
        if (cb != null) {
            cb.onCompletion(null, e);
        }
        return CompletableFuture.failedFuture(e);
    }

    private void waitOpen(long deadline) {
        CountDownLatch g;
        synchronized (gmu) {
            g = gate;
        }
        if (g == null) {
            return;
        }
        try {
            long left = deadline - System.nanoTime();
            if (left <= 0 || !g.await(left, TimeUnit.NANOSECONDS)) {
                throw new PausedException("producer in region " + region + ": producer paused for a planned switch; waited "
                        + maxPauseWait);
            }
        } catch (InterruptedException e) {
            throw new InterruptException(e);
        }
    }

    boolean paused() {
        synchronized (gmu) {
            return gate != null;
        }
    }

    /** Refuses what the current region must not take and sets the record id. */
    private void check(ProducerRecord<K, V> r) {
        if (closed) {
            throw new GeomeshException("producer in region " + region + ": closed");
        }
        mesh.checkWrite(writer, region, r.topic());
        if (recordIds && r.headers().lastHeader(Provenance.HEADER_RECORD_ID) == null) {
            byte[] id = new byte[16];
            RANDOM.nextBytes(id);
            r.headers().add(Provenance.HEADER_RECORD_ID, HexFormat.of().formatHex(id).getBytes(StandardCharsets.UTF_8));
        }
    }

    /**
     * Holds back every record not handed to the client yet, then waits, within bound,
     * for the answers to those in flight: once it returns, the region gets nothing more
     * from this producer until resume. Throws TimeoutException when the bound passed
     * first (paused all the same).
     */
    void pause(Duration bound) throws TimeoutException, InterruptedException {
        synchronized (gmu) {
            if (gate == null) {
                gate = new CountDownLatch(1);
            }
        }
        rw.writeLock().lockInterruptibly(); // waits out every send past the gate
        rw.writeLock().unlock();
        flush(bound);
    }

    /** Lets the records held back by pause go. */
    void resume() {
        synchronized (gmu) {
            if (gate != null) {
                gate.countDown();
                gate = null;
            }
        }
    }

    /** Waits until every record sent so far has its answer, as {@link KafkaProducer#flush()}. */
    public void flush() {
        rw.readLock().lock();
        try {
            producer.flush();
        } finally {
            rw.readLock().unlock();
        }
    }

    /**
     * Waits, at most bound, until every record sent so far has its answer; throws
     * TimeoutException when some have none by then.
     */
    public void flush(Duration bound) throws TimeoutException, InterruptedException {
        rw.readLock().lock();
        try {
            Producer<K, V> p = producer;
            CompletableFuture<Void> f = CompletableFuture.runAsync(p::flush, r -> {
                Thread t = new Thread(r, "geomesh-producer-flush");
                t.setDaemon(true);
                t.start();
            });
            try {
                f.get(bound.toNanos(), TimeUnit.NANOSECONDS);
            } catch (ExecutionException e) {
                throw new GeomeshException("producer in region " + region + ": flush: " + e.getCause(), e.getCause());
            }
        } finally {
            rw.readLock().unlock();
        }
    }

    /**
     * Makes region the one the producer writes to: in an active-passive mesh region
     * becomes the primary, in a hub-spoke mesh the hub if it is the hub or the standby
     * hub. It builds the new region's KafkaProducer, then closes the old one, waiting at
     * most bound for the records in flight there; those still unanswered then fail.
     */
    public void switchTo(String newRegion, Duration bound) {
        mesh.dataRegion(newRegion);
        lockUnblocking(bound);
        try {
            if (closed) {
                throw new GeomeshException("producer: closed");
            }
            switch (mesh.kind()) {
                case ACTIVE_PASSIVE:
                    writer = newRegion;
                    break;
                case HUB_SPOKE:
                    if (newRegion.equals(mesh.hub()) || newRegion.equals(mesh.standbyHub())) {
                        writer = newRegion;
                    }
                    break;
                default:
                    break;
            }
            if (newRegion.equals(region)) {
                return;
            }
            Producer<K, V> next = newClient(newRegion);
            Producer<K, V> old = producer;
            producer = next;
            String from = region;
            region = newRegion;
            long start = System.nanoTime();
            old.close(bound);
            LOG.log(Level.INFO, "producer of mesh {0} switched from {1} to {2} (old region closed in {3} ms)",
                    mesh.name(), from, newRegion, TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - start));
        } finally {
            rw.writeLock().unlock();
        }
    }

    /**
     * Takes the write lock for a switch. A send holds the read lock while KafkaProducer.send
     * blocks, up to max.block.ms (60 s by default), for the metadata of a region that is
     * gone or for buffer space: after bound, the current client is closed at once, which
     * ends that wait with an error for the record being sent (the application sends it
     * again), so that the switch never waits out max.block.ms.
     */
    private void lockUnblocking(Duration bound) {
        try {
            if (rw.writeLock().tryLock(bound.toNanos(), TimeUnit.NANOSECONDS)) {
                return;
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new InterruptException(e);
        }
        Producer<K, V> stuck = producer;
        LOG.log(Level.WARNING, "producer of mesh {0}: a send has blocked in region {1} for {2} ms; closing that client",
                mesh.name(), region, bound.toMillis());
        stuck.close(Duration.ZERO);
        rw.writeLock().lock();
    }

    /** Closes the producer, waiting for the records in flight as {@link KafkaProducer#close()}. Idempotent. */
    @Override
    public void close() {
        close(Duration.ofMillis(Long.MAX_VALUE));
    }

    /** Closes the producer within timeout; records not answered by then fail. Idempotent. */
    public void close(Duration timeout) {
        rw.writeLock().lock();
        try {
            if (closed) {
                return;
            }
            closed = true;
            synchronized (gmu) {
                if (gate != null) {
                    gate.countDown(); // paused records fail: check reports the close
                    gate = null;
                }
            }
            producer.close(timeout);
        } finally {
            rw.writeLock().unlock();
        }
    }

    /** The Follower's side of the producer. */
    Follower.Target followTarget() {
        return new Follower.Target() {
            @Override
            public FollowDecision.Client followed() {
                return new FollowDecision.Client(true, home, FollowDecision.followsWriter(mesh, true, home), region, paused());
            }

            @Override
            public String followName() {
                return "producer";
            }

            @Override
            public void apply(FollowDecision.Move m) throws InterruptedException {
                Duration bound = FLUSH_TIMEOUT;
                if (!m.switchTo().isEmpty() && !m.pause() && !paused()) {
                    bound = DOWN_FLUSH;
                }
                long deadline = System.nanoTime() + bound.toNanos();
                if (m.pause()) {
                    try {
                        pause(bound);
                    } catch (TimeoutException | GeomeshException e) {
                        // Paused all the same: what is in flight is answered by the
                        // region or fails, and nothing new goes.
                        LOG.log(Level.WARNING, "producer paused in region {0} before every record in flight was answered: {1}",
                                region, e.toString());
                    }
                }
                if (!m.switchTo().isEmpty()) {
                    switchTo(m.switchTo(), Duration.ofNanos(Math.max(0, deadline - System.nanoTime())));
                }
                if (m.resume()) {
                    resume();
                }
            }

            @Override
            public boolean consumer() {
                return false;
            }

            @Override
            public void release() {
                resume();
            }
        };
    }

    /** Builds a {@link GeomeshProducer}. */
    public static final class Builder<K, V> {
        private final GeomeshMesh mesh;
        private final Map<String, Object> props = new LinkedHashMap<>();
        private String region;
        private boolean recordIds;
        private Duration maxPauseWait = Duration.ofSeconds(60);
        private Supplier<Serializer<K>> keySerializer;
        private Supplier<Serializer<V>> valueSerializer;
        private Function<Map<String, Object>, Producer<K, V>> factory;

        private Builder(GeomeshMesh mesh) {
            this.mesh = Objects.requireNonNull(mesh);
        }

        /**
         * kafka-clients producer properties for every region (serializers, acks, linger.ms,
         * ...). The region's connection (bootstrap.servers, security) comes from the mesh
         * and wins.
         */
        public Builder<K, V> properties(Map<String, ?> p) {
            props.putAll(p);
            return this;
        }

        /** One kafka-clients producer property. */
        public Builder<K, V> property(String key, Object value) {
            props.put(key, value);
            return this;
        }

        /**
         * Serializers, made anew for every KafkaProducer (a switch closes the old one and
         * its serializers). Default: the key.serializer and value.serializer properties.
         */
        public Builder<K, V> serializers(Supplier<Serializer<K>> key, Supplier<Serializer<V>> value) {
            this.keySerializer = Objects.requireNonNull(key);
            this.valueSerializer = Objects.requireNonNull(value);
            return this;
        }

        /**
         * The region to start in. Default: the primary of an active-passive mesh, the hub
         * of a hub-spoke mesh; required for active-active, where every region takes writes.
         */
        public Builder<K, V> region(String r) {
            this.region = r;
            return this;
        }

        /**
         * Gives every record without a {@code geomesh-record-id} header a random one (16
         * bytes, hex); a record sent again keeps it. Default: off.
         */
        public Builder<K, V> recordIds() {
            this.recordIds = true;
            return this;
        }

        /** How long send waits while the producer is paused. Default: 60s (max.block.ms's default). */
        public Builder<K, V> maxPauseWait(Duration d) {
            this.maxPauseWait = d;
            return this;
        }

        /** For tests: how a Producer is made from its properties. */
        Builder<K, V> factory(Function<Map<String, Object>, Producer<K, V>> f) {
            this.factory = f;
            return this;
        }

        /** The producer; its KafkaProducer connects on the first send. */
        public GeomeshProducer<K, V> build() {
            return new GeomeshProducer<>(this);
        }
    }
}
