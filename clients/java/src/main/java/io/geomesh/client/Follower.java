package io.geomesh.client;

import java.lang.System.Logger.Level;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;
import java.util.concurrent.ArrayBlockingQueue;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.TimeUnit;

/**
 * Keeps producers and consumers on the regions the mesh state wants them in (Go
 * {@code client.Follower}). Every interval (default 500ms) it reads the state from
 * the agents' {@code GET /v1/failover}, asking them in the mesh's order, each within
 * the agent timeout (2s), and taking the first answer from an agent that reaches the
 * control plane (else the newest epoch any agent holds). A state older than the one
 * followed is ignored. On every read it decides, for each client
 * ({@link FollowDecision#decide}), and applies in order: pause a producer while a
 * planned switch drains its region, switch clients to the new writer after the flip
 * or a failover, resume the producer there; in an active-active mesh, move an
 * evacuated region's clients to the region that serves them, and back.
 *
 * <p>Each client has a thread of its own, so a consumer's switch (which waits for
 * translated offsets) does not hold back a producer's pause. After a flip a producer
 * resumes only once the consumers of the same Follower have switched (at most 30s):
 * their translations are exact about the copies in the new primary, not about records
 * written there before they arrive. A failed pause or switch is reported
 * ({@link FollowEvent.Kind#FAILED}) and retried on the next read.
 *
 * <p>{@link #close()} stops following and lets go of every producer it holds paused.
 */
public final class Follower implements AutoCloseable {
    private static final System.Logger LOG = System.getLogger(Follower.class.getName());

    /** What a Follower drives: a producer's or a consumer's side of following. */
    interface Target {
        FollowDecision.Client followed();

        String followName();

        /** Carries out m; throws when it could not. */
        void apply(FollowDecision.Move m) throws Exception;

        boolean consumer();

        /** Lets go of a pause the Follower holds (on close). */
        void release();
    }

    private final GeomeshMesh mesh;
    private final AgentClient agents;
    private final List<Target> targets;
    private final Duration interval;
    private final Duration agentTimeout;
    private final Duration resumeWait;
    private final FollowListener listener;

    private final Object mu = new Object();
    private MeshState state;
    private boolean started;
    private boolean closed;
    private final long[] settled;
    private final List<BlockingQueue<Boolean>> wakes = new ArrayList<>();
    private final List<Thread> threads = new ArrayList<>();
    private final Object emitLock = new Object();

    private Follower(Builder b) {
        this.mesh = b.mesh;
        this.agents = b.agents != null ? b.agents : new AgentClient(b.mesh);
        this.targets = List.copyOf(b.targets);
        this.interval = b.interval;
        this.agentTimeout = b.agentTimeout;
        this.resumeWait = b.resumeWait;
        this.listener = b.listener;
        this.settled = new long[targets.size()];
        for (int i = 0; i < targets.size(); i++) {
            wakes.add(new ArrayBlockingQueue<>(1));
        }
    }

    /** A builder of a Follower of clients of mesh. */
    public static Builder builder(GeomeshMesh mesh) {
        return new Builder(mesh);
    }

    /** Begins following in threads the Follower owns, until {@link #close()}. Idempotent. */
    public void start() {
        synchronized (mu) {
            if (started || closed) {
                return;
            }
            started = true;
            Thread p = new Thread(this::poll, "geomesh-follow-" + mesh.name());
            p.setDaemon(true);
            threads.add(p);
            for (int i = 0; i < targets.size(); i++) {
                int idx = i;
                Thread t = new Thread(() -> drive(idx), "geomesh-follow-" + mesh.name() + "-" + targets.get(i).followName());
                t.setDaemon(true);
                threads.add(t);
            }
            for (Thread t : threads) {
                t.start();
            }
        }
    }

    /**
     * Stops following, waits for the Follower's threads (each at most 30s) and resumes
     * the producers it paused: without a follower nothing would resume them. Idempotent.
     */
    @Override
    public void close() {
        List<Thread> ts;
        synchronized (mu) {
            if (closed) {
                return;
            }
            closed = true;
            ts = new ArrayList<>(threads);
        }
        for (Thread t : ts) {
            t.interrupt();
        }
        for (Thread t : ts) {
            try {
                t.join(30_000);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                break;
            }
        }
        for (Target t : targets) {
            t.release();
        }
    }

    /** The epoch of the newest mesh state read, 0 before the first. */
    public long epoch() {
        synchronized (mu) {
            return state == null ? 0 : state.epoch();
        }
    }

    /** The newest mesh state read, null before the first. */
    public MeshState state() {
        synchronized (mu) {
            return state;
        }
    }

    private boolean isClosed() {
        synchronized (mu) {
            return closed;
        }
    }

    /** Reads the state every interval, keeps the newest and wakes every client's thread. */
    private void poll() {
        long next = System.nanoTime();
        while (!isClosed()) {
            try {
                MeshState st = agents.readState(agentTimeout);
                MeshState old;
                boolean newer;
                synchronized (mu) {
                    old = state;
                    newer = old == null || st.epoch() >= old.epoch();
                    if (newer) {
                        state = st;
                    }
                }
                if (newer && (old == null || st.epoch() > old.epoch())) {
                    emit(new FollowEvent(FollowEvent.Kind.EPOCH, "", st.epoch(), st.decision(), st.reason(), st.from(), st.to(), null, null));
                }
                for (BlockingQueue<Boolean> w : wakes) {
                    w.offer(Boolean.TRUE); // a wake pending already is enough
                }
            } catch (GeomeshException e) {
                if (isClosed()) {
                    return;
                }
                LOG.log(Level.DEBUG, "follow: read the state of mesh {0}: {1}", mesh.name(), e.getMessage());
            }
            // A tick at once, then every interval; ticks missed while reading are dropped.
            long now = System.nanoTime();
            next += interval.toNanos();
            if (next < now) {
                next = now + interval.toNanos() - ((now - next) % interval.toNanos());
            }
            try {
                TimeUnit.NANOSECONDS.sleep(next - now);
            } catch (InterruptedException e) {
                return;
            }
        }
    }

    /** Carries out, for one client, what decide asks on each read. */
    private void drive(int i) {
        Target t = targets.get(i);
        BlockingQueue<Boolean> wake = wakes.get(i);
        MeshState applied = null;
        while (true) {
            try {
                wake.take();
            } catch (InterruptedException e) {
                return;
            }
            if (isClosed()) {
                return;
            }
            MeshState cur = state();
            FollowDecision.Client c = t.followed();
            FollowDecision.Move m = FollowDecision.decide(mesh.kind(), c, applied, cur);
            if (m.isNone()) {
                applied = cur;
                settle(i, cur);
                continue;
            }
            long start = System.nanoTime();
            Throwable err = null;
            try {
                if (!m.switchTo().isEmpty() && m.resume()) {
                    t.apply(new FollowDecision.Move(m.pause(), m.switchTo(), false));
                    waitConsumers(cur.epoch());
                    t.apply(new FollowDecision.Move(false, "", true));
                } else {
                    t.apply(m);
                }
            } catch (InterruptedException e) {
                return;
            } catch (Exception e) {
                err = e;
            }
            Duration took = Duration.ofNanos(System.nanoTime() - start);
            if (err != null) {
                if (isClosed()) {
                    return;
                }
                emit(new FollowEvent(FollowEvent.Kind.FAILED, t.followName(), cur.epoch(), cur.decision(), cur.reason(),
                        c.region(), m.switchTo(), took, err));
                continue; // retried on the next read
            }
            applied = cur;
            settle(i, cur);
            if (m.pause()) {
                emit(new FollowEvent(FollowEvent.Kind.PAUSED, t.followName(), cur.epoch(), cur.decision(), cur.reason(),
                        c.region(), "", took, null));
            }
            if (!m.switchTo().isEmpty()) {
                emit(new FollowEvent(FollowEvent.Kind.SWITCHED, t.followName(), cur.epoch(), cur.decision(), cur.reason(),
                        c.region(), m.switchTo(), took, null));
            }
            if (m.resume()) {
                emit(new FollowEvent(FollowEvent.Kind.RESUMED, t.followName(), cur.epoch(), cur.decision(), cur.reason(),
                        t.followed().region(), "", took, null));
            }
        }
    }

    private void settle(int i, MeshState s) {
        if (s == null) {
            return;
        }
        synchronized (mu) {
            settled[i] = Math.max(settled[i], s.epoch());
        }
    }

    /** Waits, within resumeWait, until every consumer of the Follower has carried out the state at epoch. */
    private void waitConsumers(long epoch) throws InterruptedException {
        long deadline = System.nanoTime() + resumeWait.toNanos();
        while (System.nanoTime() < deadline) {
            boolean behind = false;
            synchronized (mu) {
                for (int i = 0; i < targets.size(); i++) {
                    if (targets.get(i).consumer() && settled[i] < epoch) {
                        behind = true;
                    }
                }
            }
            if (!behind) {
                return;
            }
            Thread.sleep(20);
        }
    }

    private void emit(FollowEvent ev) {
        if (ev.error() != null) {
            LOG.log(Level.WARNING, "follow: mesh {0} epoch {1} ({2}): {3} could not follow from {4} to {5}: {6}",
                    mesh.name(), ev.epoch(), ev.decision(), ev.client(), ev.from(), ev.to(), ev.error().toString());
        } else if (ev.kind() == FollowEvent.Kind.EPOCH) {
            LOG.log(Level.INFO, "follow: mesh {0} state at epoch {1}: {2}{3}{4}{5}", mesh.name(), ev.epoch(), ev.decision(),
                    ev.from().isEmpty() ? "" : " from " + ev.from(), ev.to().isEmpty() ? "" : " to " + ev.to(),
                    ev.reason().isEmpty() ? "" : " (" + ev.reason() + ")");
        } else {
            LOG.log(Level.INFO, "follow: mesh {0} epoch {1} ({2}): {3} {4} {5}{6} in {7} ms", mesh.name(), ev.epoch(), ev.decision(),
                    ev.client(), ev.kind().name().toLowerCase(java.util.Locale.ROOT), ev.kind() == FollowEvent.Kind.SWITCHED ? "from " : "in ",
                    ev.kind() == FollowEvent.Kind.SWITCHED ? ev.from() + " to " + ev.to() : ev.from(), ev.took().toMillis());
        }
        if (listener == null) {
            return;
        }
        synchronized (emitLock) {
            try {
                listener.onEvent(ev);
            } catch (RuntimeException e) {
                LOG.log(Level.WARNING, "follow: the listener failed: " + e, e);
            }
        }
    }

    /** Builds a {@link Follower}. */
    public static final class Builder {
        private final GeomeshMesh mesh;
        private final List<Target> targets = new ArrayList<>();
        private Duration interval = Duration.ofMillis(500);
        private Duration agentTimeout = Duration.ofSeconds(2);
        private Duration resumeWait = Duration.ofSeconds(30);
        private FollowListener listener;
        private AgentClient agents;

        private Builder(GeomeshMesh mesh) {
            this.mesh = Objects.requireNonNull(mesh);
        }

        /** Follows a producer: paused during a planned switch, moved to the new writer. */
        public Builder follow(GeomeshProducer<?, ?> p) {
            requireMesh(p.mesh());
            targets.add(p.followTarget());
            return this;
        }

        /** Follows a consumer: moved with translated offsets. */
        public Builder follow(GeomeshConsumer<?, ?> c) {
            requireMesh(c.mesh());
            targets.add(c.followTarget());
            return this;
        }

        /** For tests: a client of the Follower's own kind. */
        Builder follow(Target t) {
            targets.add(t);
            return this;
        }

        /**
         * How often the agents are read. It bounds how late a producer pauses after a
         * planned switch starts; keep it well below the agents' pause grace (2s).
         * Default: 500ms.
         */
        public Builder interval(Duration d) {
            this.interval = d;
            return this;
        }

        /** How long one agent may take to answer before the next is asked. Default: 2s. */
        public Builder agentTimeout(Duration d) {
            this.agentTimeout = d;
            return this;
        }

        /** How long a producer that switched at a flip waits for the consumers to switch. Default: 30s. */
        public Builder resumeWait(Duration d) {
            this.resumeWait = d;
            return this;
        }

        /** Gets every event. Default: none (every event is logged through System.Logger). */
        public Builder listener(FollowListener l) {
            this.listener = l;
            return this;
        }

        /** The client of the agents' API. Default: new AgentClient(mesh). */
        public Builder agentClient(AgentClient c) {
            this.agents = c;
            return this;
        }

        /** The Follower; it does no I/O until {@link Follower#start()}. */
        public Follower build() {
            if (targets.isEmpty()) {
                throw new IllegalArgumentException("follower of mesh " + mesh.name() + ": no client to follow");
            }
            if (interval.isZero() || interval.isNegative()) {
                throw new IllegalArgumentException("follower of mesh " + mesh.name() + ": interval " + interval + " is not positive");
            }
            return new Follower(this);
        }

        private void requireMesh(GeomeshMesh m) {
            if (m != mesh) {
                throw new IllegalArgumentException("follower of mesh " + mesh.name() + ": the client belongs to another mesh object");
            }
        }
    }
}
