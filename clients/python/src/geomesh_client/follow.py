"""Following the mesh's failover decisions (Go client/follow.go)."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from .agents import AGENT_TIMEOUT, AgentClient
from .decide import FollowedClient, Move, decide
from .errors import GeomeshError
from .state import State
from .topology import Mesh

log = logging.getLogger("geomesh_client")

#: How long a producer that switched at a flip waits for the consumers of
#: the same Follower before it resumes (Go resumeWait).
RESUME_WAIT = 30.0


@runtime_checkable
class Followed(Protocol):
    """A client a Follower keeps where the mesh state wants it: Producer and
    Consumer implement it."""

    def _followed(self) -> FollowedClient: ...

    def _follow_name(self) -> str: ...

    def _apply(self, m: Move, stop: threading.Event | None = None) -> None: ...


class FollowKind:
    """What a FollowEvent reports."""

    EPOCH = "epoch"  # a state at a new epoch was read
    PAUSED = "paused"  # a planned switch started; the producer holds its records
    SWITCHED = "switched"  # the client moved to another region
    RESUMED = "resumed"  # the producer writes again
    FAILED = "failed"  # a pause or switch failed; retried on the next read


@dataclass(frozen=True)
class FollowEvent:
    """One transition of a followed client, or a new epoch."""

    kind: str
    #: "producer", "consumer group billing"; "" for an epoch event.
    client: str
    #: The mesh epoch of the state that caused the event.
    epoch: int
    #: That state's decision (switchover-started, switchover, failover ...)
    #: and why it was made.
    decision: str
    reason: str
    #: The regions of a switch; the region of a pause or resume is in from_.
    from_: str
    to: str
    #: How long the pause, switch or resume took, in seconds.
    took: float = 0.0
    error: BaseException | None = None


class Follower:
    """Keeps consumers and producers on the regions the mesh state wants
    them in. It reads the state from the agents' GET /v1/failover every
    ``interval`` seconds (asking the agents in file order; the first that
    reaches the control plane wins, else the newest epoch), and for each
    client decides (``decide``) from the state it last acted on and the new
    one: pause a producer when a planned switch drains its region, switch a
    client to the new writer after a flip or a failover, resume the
    producer there, or move an active-active region's clients while it is
    evacuated. A move is applied in order: pause, switch, resume.

    Threads: one that polls, and one per client, so that a consumer's
    switch (which waits for translated offsets) does not hold back a
    producer's pause. All are the Follower's: ``close`` stops and joins
    them, then resumes any producer it still holds paused (nothing else
    would). After a flip a producer resumes only once the consumers of the
    same Follower have switched (at most RESUME_WAIT): see docs/offsets.md.

    ``on_event`` is called with every FollowEvent, from one thread at a
    time; it should return quickly, as the client it reports on waits.
    An exception it raises is logged and ignored.

    Use as a context manager (``with Follower(...) as f:``) or call
    ``start`` and ``close``. The constructor does no I/O.
    """

    def __init__(
        self,
        mesh: Mesh,
        clients: Sequence[Followed],
        *,
        interval: float = 0.5,
        on_event: Callable[[FollowEvent], None] | None = None,
        agents: AgentClient | None = None,
        agent_timeout: float = AGENT_TIMEOUT,
        resume_wait: float = RESUME_WAIT,
    ) -> None:
        if not clients:
            raise GeomeshError(f"follower of mesh {mesh.name}: no client to follow")
        if interval <= 0:
            raise GeomeshError(f"follower of mesh {mesh.name}: interval {interval} is not positive")
        for c in clients:
            if not isinstance(c, Followed):
                raise GeomeshError(f"follower of mesh {mesh.name}: {c!r} is not a Producer or Consumer")
        self.mesh = mesh
        self.interval = interval
        self.agent_timeout = agent_timeout
        self.resume_wait = resume_wait
        self._on_event = on_event
        self._agents = agents or AgentClient(mesh)
        self._targets = list(clients)
        self._mu = threading.Lock()
        self._emu = threading.Lock()  # serialises on_event
        self._state: State | None = None
        self._started = False
        self._closed = False
        self._stop = threading.Event()
        self._wakes = [threading.Event() for _ in clients]
        self._settled = [0 for _ in clients]  # per client: the epoch it last carried out
        self._threads: list[threading.Thread] = []

    @property
    def epoch(self) -> int:
        """The epoch of the newest mesh state read, 0 before the first."""
        with self._mu:
            return self._state.epoch if self._state is not None else 0

    @property
    def state(self) -> State | None:
        """The newest mesh state read."""
        with self._mu:
            return self._state

    def start(self) -> None:
        """Begins following in threads the Follower owns. Idempotent."""
        with self._mu:
            if self._started or self._closed:
                return
            self._started = True
            self._threads.append(threading.Thread(target=self._poll, name=f"geomesh-follow-{self.mesh.name}", daemon=True))
            for i, t in enumerate(self._targets):
                self._threads.append(
                    threading.Thread(target=self._drive, args=(i, t), name=f"geomesh-follow-{t._follow_name()}", daemon=True)
                )
        for th in self._threads:
            th.start()

    def close(self) -> None:
        """Stops following, joins the threads and resumes the producers it
        paused. Idempotent. A client in the middle of a switch finishes or
        abandons it first (a consumer's waits end at once)."""
        with self._mu:
            if self._closed:
                return
            self._closed = True
        self._stop.set()
        for w in self._wakes:
            w.set()
        for th in self._threads:
            th.join()
        for t in self._targets:
            resume = getattr(t, "_resume", None)
            if callable(resume):
                resume()

    def __enter__(self) -> Follower:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _latest(self) -> State | None:
        with self._mu:
            return self._state

    def _poll(self) -> None:
        """Reads the state every interval, keeps the newest and wakes every
        client's thread."""
        next_at = time.monotonic()
        while not self._stop.is_set():
            try:
                st = self._agents.read_state(agent_timeout=self.agent_timeout, stop=self._stop)
            except (GeomeshError, OSError) as e:
                log.debug("follow: read the state of mesh %s: %s", self.mesh.name, e)
            else:
                with self._mu:
                    old = self._state
                    newer = old is None or st.epoch >= old.epoch
                    if newer:
                        self._state = st
                if newer and (old is None or st.epoch > old.epoch):
                    self._emit(FollowEvent(FollowKind.EPOCH, "", st.epoch, st.decision, st.reason, st.from_, st.to))
                for w in self._wakes:
                    w.set()
            next_at += self.interval
            now = time.monotonic()
            if next_at < now:
                next_at = now  # a slow read: the next one at once, no burst
            self._stop.wait(next_at - now)

    def _drive(self, i: int, t: Followed) -> None:
        """Carries out, for one client, what decide asks on each read."""
        applied: State | None = None
        wake = self._wakes[i]
        while True:
            wake.wait()
            if self._stop.is_set():
                return
            wake.clear()
            cur = self._latest()
            c = t._followed()
            m = decide(self.mesh.kind, c, applied, cur)
            if not m:
                applied = cur
                self._settle(i, cur)
                continue
            assert cur is not None
            start = time.monotonic()
            err: BaseException | None = None
            try:
                if m.switch_to and m.resume:
                    t._apply(Move(pause=m.pause, switch_to=m.switch_to), self._stop)
                    self._wait_consumers(cur.epoch)
                    t._apply(Move(resume=True), self._stop)
                else:
                    t._apply(m, self._stop)
            except Exception as e:
                err = e
            took = time.monotonic() - start
            name = t._follow_name()
            if err is not None:
                if self._stop.is_set():
                    return
                self._emit(FollowEvent(FollowKind.FAILED, name, cur.epoch, cur.decision, cur.reason, c.region, m.switch_to, took, err))
                continue  # retried on the next read
            applied = cur
            self._settle(i, cur)
            if m.pause:
                self._emit(FollowEvent(FollowKind.PAUSED, name, cur.epoch, cur.decision, cur.reason, c.region, "", took))
            if m.switch_to:
                self._emit(FollowEvent(FollowKind.SWITCHED, name, cur.epoch, cur.decision, cur.reason, c.region, m.switch_to, took))
            if m.resume:
                self._emit(FollowEvent(FollowKind.RESUMED, name, cur.epoch, cur.decision, cur.reason, t._followed().region, "", took))

    def _settle(self, i: int, s: State | None) -> None:
        if s is None:
            return
        with self._mu:
            self._settled[i] = max(self._settled[i], s.epoch)

    def _wait_consumers(self, epoch: int) -> None:
        """Waits, within resume_wait, until every consumer of the Follower
        has carried out the state at epoch."""
        deadline = time.monotonic() + self.resume_wait
        while True:
            with self._mu:
                behind = any(not _is_producer(t) and self._settled[i] < epoch for i, t in enumerate(self._targets))
            if not behind or self._stop.is_set() or time.monotonic() >= deadline:
                return
            self._stop.wait(0.02)

    def _emit(self, ev: FollowEvent) -> None:
        if ev.error is not None:
            log.warning(
                "follow: %s could not follow: mesh %s, epoch %d, decision %s, from %s to %s: %s",
                ev.client, self.mesh.name, ev.epoch, ev.decision, ev.from_, ev.to, ev.error,
            )
        elif ev.kind == FollowKind.EPOCH:
            log.info(
                "follow: new mesh state: mesh %s, epoch %d, decision %s, from %s to %s, reason %s",
                self.mesh.name, ev.epoch, ev.decision, ev.from_, ev.to, ev.reason,
            )
        else:
            log.info(
                "follow: %s %s: mesh %s, epoch %d, decision %s, from %s to %s, took %.3fs",
                ev.client, ev.kind, self.mesh.name, ev.epoch, ev.decision, ev.from_, ev.to, ev.took,
            )
        if self._on_event is None:
            return
        with self._emu:
            try:
                self._on_event(ev)
            except Exception:
                log.exception("follow: on_event raised")


def _is_producer(t: Followed) -> bool:
    return t._followed().producer
