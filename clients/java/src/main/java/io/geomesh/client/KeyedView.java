package io.geomesh.client;

import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.HashSet;
import java.util.Set;
import java.util.function.Consumer;
import org.apache.kafka.clients.consumer.ConsumerRecord;

/**
 * The latest version of every key of topics that several regions write (active-active
 * with identity naming, or a local topic and its prefixed copies read together), as Go's
 * {@code client.KeyedView}. Versions of a key resolve last-writer-wins by origin
 * timestamp; equal timestamps by the region order (the mesh's data regions in file
 * order, or {@link #regionOrder}); equal regions by origin partition, then offset. The
 * result depends only on the set of records applied, not on the order they arrive in,
 * so the views of all regions agree once each has applied every record. The table
 * {@code client/testdata/view.json} pins it for Go, Java and Python alike.
 *
 * <p>Not thread-safe: feed it from the poll loop.
 *
 * @param <K> the record key, compared with equals
 * @param <V> the record value; null is a tombstone
 */
public final class KeyedView<K, V> {
    /** What {@link #apply} did with a record. */
    public enum Outcome {
        /** The record is now its key's version. */
        APPLIED,
        /** The key holds a newer version; the record lost. */
        STALE,
        /**
         * A record with the same geomesh-record-id was applied before, within the dedupe
         * window: the application must not act on it again. It still took part in
         * resolving its key, so every region ends with the same version.
         */
        DUPLICATE
    }

    /**
     * One version of a key.
     *
     * @param key       the key
     * @param value     the value; null for a tombstone
     * @param timestamp the record's timestamp in ms, which a copy keeps from its origin
     * @param region    where the version was first written (provenance, or the view's region)
     * @param partition its partition there
     * @param offset    its offset there
     */
    public record Version<K, V>(K key, V value, long timestamp, String region, int partition, long offset) {
        /** A tombstone: the key is gone, and an older version arriving later must not bring it back. */
        public boolean deleted() {
            return value == null;
        }
    }

    private final String local;
    private final Map<String, Integer> rank = new HashMap<>();
    private final Map<K, Version<K, V>> keys = new HashMap<>();
    private int live;
    private final Set<String> ids = new HashSet<>();
    private final String[] ring;
    private int next;

    private KeyedView(String local, List<String> order, int window) {
        this.local = local;
        for (int i = 0; i < order.size(); i++) {
            rank.putIfAbsent(order.get(i), i);
        }
        this.ring = new String[window];
    }

    /** A view for an application reading in region of mesh, with the defaults. */
    public static <K, V> KeyedView<K, V> of(GeomeshMesh mesh, String region) {
        return KeyedView.<K, V>builder(mesh, region).build();
    }

    /** A builder of a view for an application reading in region of mesh. */
    public static <K, V> Builder<K, V> builder(GeomeshMesh mesh, String region) {
        return new Builder<>(mesh, region);
    }

    /**
     * Resolves r against its key's current version.
     *
     * @throws GeomeshException for a record without a key, or a copy whose provenance
     *                          headers do not parse
     */
    public Outcome apply(ConsumerRecord<K, V> r) {
        if (r.key() == null) {
            throw new GeomeshException("keyed view: topic " + r.topic() + " partition " + r.partition() + " offset "
                    + r.offset() + ": record has no key");
        }
        Version<K, V> ver = version(r);
        boolean dup = false;
        String id = Provenance.header(r.headers(), Provenance.HEADER_RECORD_ID);
        if (id != null && !id.isEmpty() && ring.length > 0) {
            dup = seen(id);
        }
        Version<K, V> cur = keys.get(r.key());
        boolean won = cur == null || newer(ver, cur);
        if (won) {
            if (cur == null || cur.deleted()) {
                live++;
            }
            if (ver.deleted()) {
                live--;
            }
            keys.put(r.key(), ver);
        }
        if (dup) {
            return Outcome.DUPLICATE;
        }
        return won ? Outcome.APPLIED : Outcome.STALE;
    }

    private Version<K, V> version(ConsumerRecord<K, V> r) {
        String origin = Provenance.header(r.headers(), Provenance.HEADER_ORIGIN_REGION);
        if (origin == null) {
            return new Version<>(r.key(), r.value(), r.timestamp(), local, r.partition(), r.offset());
        }
        String p = Provenance.header(r.headers(), Provenance.HEADER_ORIGIN_PARTITION);
        String o = Provenance.header(r.headers(), Provenance.HEADER_ORIGIN_OFFSET);
        try {
            return new Version<>(r.key(), r.value(), r.timestamp(), origin, Integer.parseInt(String.valueOf(p)),
                    Long.parseLong(String.valueOf(o)));
        } catch (NumberFormatException e) {
            throw new GeomeshException("keyed view: topic " + r.topic() + " partition " + r.partition() + " offset "
                    + r.offset() + ": bad provenance headers: partition " + p + ", offset " + o, e);
        }
    }

    private boolean newer(Version<K, V> a, Version<K, V> b) {
        if (a.timestamp() != b.timestamp()) {
            return a.timestamp() > b.timestamp();
        }
        if (!a.region().equals(b.region())) {
            Integer ra = rank.get(a.region());
            Integer rb = rank.get(b.region());
            if (ra != null && rb != null) {
                return ra < rb;
            }
            if ((ra == null) != (rb == null)) {
                return ra != null;
            }
            return a.region().compareTo(b.region()) < 0;
        }
        if (a.partition() != b.partition()) {
            return a.partition() > b.partition();
        }
        return a.offset() > b.offset();
    }

    private boolean seen(String id) {
        if (ids.contains(id)) {
            return true;
        }
        if (ring[next] != null) {
            ids.remove(ring[next]);
        }
        ring[next] = id;
        next = (next + 1) % ring.length;
        ids.add(id);
        return false;
    }

    /** The key's version; null when the key was never written or its version is a tombstone. */
    public Version<K, V> get(K key) {
        Version<K, V> cur = keys.get(key);
        return cur == null || cur.deleted() ? null : cur;
    }

    /** The number of keys with a live (not deleted) version. */
    public int size() {
        return live;
    }

    /** Calls fn with every live version, in no particular order. */
    public void forEach(Consumer<Version<K, V>> fn) {
        for (Version<K, V> v : keys.values()) {
            if (!v.deleted()) {
                fn.accept(v);
            }
        }
    }

    /** Builds a KeyedView. */
    public static final class Builder<K, V> {
        private final GeomeshMesh mesh;
        private final String region;
        private List<String> order;
        private int window = 100_000;

        private Builder(GeomeshMesh mesh, String region) {
            this.mesh = mesh;
            this.region = region;
            this.order = mesh.dataRegions();
        }

        /** The order that breaks timestamp ties, first wins; default the mesh's data regions in file order. */
        public Builder<K, V> regionOrder(List<String> regions) {
            this.order = List.copyOf(regions);
            return this;
        }

        /**
         * How many record ids the view remembers, oldest forgotten first; a duplicate
         * arriving after more than that many other ids counts as new. Default 100,000.
         */
        public Builder<K, V> dedupeWindow(int n) {
            if (n < 0) {
                throw new IllegalArgumentException("keyed view in region " + region + ": dedupe window " + n + " is negative");
            }
            this.window = n;
            return this;
        }

        public KeyedView<K, V> build() {
            mesh.dataRegion(region);
            return new KeyedView<>(region, order, window);
        }
    }
}
