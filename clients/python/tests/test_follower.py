"""The Follower against fake agents serving GET /v1/failover state
sequences, with a real Producer and Consumer on the fake Kafka backend
(port of client/follow_test.go TestFollowerPlannedSwitch, plus an
unplanned failover with the old region gone)."""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

import pytest
from conftest import make_mesh, wait_for
from fakeagent import FakeAgent, ap_state
from fakekafka import FakeBackend, FakeCluster, copy_headers

from geomesh_client import Consumer, FollowEvent, Follower, FollowKind, GeomeshError, PausedError, Producer


class Events:
    def __init__(self) -> None:
        self.mu = threading.Lock()
        self.got: list[FollowEvent] = []

    def __call__(self, ev: FollowEvent) -> None:
        with self.mu:
            self.got.append(ev)

    def index(self, kind: str, client: str) -> int:
        with self.mu:
            for i, ev in enumerate(self.got):
                if ev.kind == kind and ev.client == client:
                    return i
        return -1

    def wait(self, kind: str, client: str, timeout: float = 15.0) -> FollowEvent:
        i = wait_for(lambda: self.index(kind, client) + 1, timeout, f"a {kind} event of {client!r}: {self.got}")
        with self.mu:
            return self.got[i - 1]

    def kinds(self, client: str) -> list[str]:
        with self.mu:
            return [ev.kind for ev in self.got if ev.client == client]


class App:
    """A producer writing 0, 1, 2 ... (each acknowledged before the next),
    a consumer counting what it reads, and the agents' copier us → eu
    (same offsets, provenance headers), each in a thread of the test."""

    def __init__(self, prod: Producer, cons: Consumer, us: FakeCluster, eu: FakeCluster) -> None:
        self.prod, self.cons, self.us, self.eu = prod, cons, us, eu
        self.acked = 0
        self.errors: list[BaseException] = []
        self.seen: Counter[bytes] = Counter()
        self.by_region: Counter[str] = Counter()
        self.mu = threading.Lock()
        self.stop_prod, self.stop_cons, self.stop_copy = threading.Event(), threading.Event(), threading.Event()
        self.threads = [threading.Thread(target=f, daemon=True) for f in (self._produce, self._consume, self._copy)]
        for t in self.threads:
            t.start()

    def _produce(self) -> None:
        i = 0
        while not self.stop_prod.is_set():
            try:
                self.prod.produce("orders", str(i).encode(), timeout=20)
                if self.prod.flush(5):
                    raise AssertionError(f"record {i} not acknowledged")
            except BaseException as e:  # noqa: BLE001 - the test reports it
                self.errors.append(e)
                return
            with self.mu:
                self.acked += 1
            i += 1
            time.sleep(0.002)  # the application's pace, not a wait for a state

    def _consume(self) -> None:
        while not self.stop_cons.is_set():
            try:
                msgs = self.cons.consume(100, 0.1)
            except BaseException as e:  # noqa: BLE001
                self.errors.append(e)
                return
            region = self.cons.region
            with self.mu:
                for m in msgs:
                    self.seen[m.value()] += 1
                    self.by_region[region] += 1

    def _copy(self) -> None:
        while not self.stop_copy.is_set():
            n = self.eu.end("orders")
            if n < self.us.end("orders") and not self.us.down:
                with self.us.cv:
                    m = self.us.logs["orders"][0][n]
                self.eu.append("orders", 0, m.value(), headers=copy_headers("us", "orders", 0, n))
            else:
                time.sleep(0.002)

    def acks(self) -> int:
        with self.mu:
            return self.acked

    def distinct(self) -> int:
        with self.mu:
            return len(self.seen)

    def stop(self) -> None:
        for e in (self.stop_copy, self.stop_prod, self.stop_cons):
            e.set()
        for t in self.threads:
            t.join(30)


def setup(agent_factory: Callable[..., FakeAgent], backend: FakeBackend) -> tuple[Any, FakeAgent, FakeAgent, FakeCluster, FakeCluster]:
    us_agent, eu_agent = agent_factory(), agent_factory()
    us, eu = backend.cluster("us"), backend.cluster("eu")
    for c in (us, eu):
        c.create("orders")
    m = make_mesh("active-passive", [("us", us.bootstrap, [us_agent.addr]), ("eu", eu.bootstrap, [eu_agent.addr])],
                  "naming: identity\n", "primary: us, standby: [eu]")
    eu_agent.from_cluster = us
    return m, us_agent, eu_agent, us, eu


def test_planned_switch(agent_factory: Callable[..., FakeAgent], backend: FakeBackend) -> None:
    """At switchover-started the producer pauses (nothing more reaches us,
    and a produce whose timeout ends fails with PausedError); after the flip
    both switch to eu, the producer resumes there only after the consumer
    switched, and the consumer reads every record exactly once across the
    two regions. Then us's agent is gone and the follower reads eu's."""
    m, us_agent, eu_agent, us, eu = setup(agent_factory, backend)

    def set_state(st: dict[str, Any]) -> None:
        us_agent.set_state(st)
        eu_agent.set_state(st)

    set_state(ap_state(1, "init", "us", "eu"))
    prod = Producer(m, backend=backend)
    cons = Consumer(m, "app", ["orders"], backend=backend)
    ev = Events()
    app: App | None = None
    try:
        with Follower(m, [prod, cons], interval=0.05, on_event=ev) as f:
            first = ev.wait(FollowKind.EPOCH, "")
            assert (first.epoch, first.decision) == (1, "init")
            app = App(prod, cons, us, eu)
            wait_for(lambda: app.acks() >= 200, what="the producer getting going")

            started = time.monotonic()
            set_state(ap_state(2, "switchover-started", "us", "eu", {"from": "us", "to": "eu", "clients": "us"}))
            paused = ev.wait(FollowKind.PAUSED, "producer")
            assert paused.epoch == 2 and paused.from_ == "us" and paused.decision == "switchover-started"
            assert time.monotonic() - started < 2
            us_end, n = us.end("orders"), app.acks()
            with pytest.raises(PausedError):
                prod.produce("orders", b"late", timeout=0.3)
            assert us.end("orders") == us_end and app.acks() == n, "records went to us while paused"
            # Drained: every record of us is in eu; the copier stops at the flip.
            wait_for(lambda: eu.end("orders") == us_end, what="the copier draining")
            app.stop_copy.set()

            set_state(ap_state(3, "switchover", "eu", "us"))
            sw = ev.wait(FollowKind.SWITCHED, "producer")
            ev.wait(FollowKind.RESUMED, "producer")
            csw = ev.wait(FollowKind.SWITCHED, "consumer group app")
            assert ev.index(FollowKind.RESUMED, "producer") > ev.index(FollowKind.SWITCHED, "consumer group app"), ev.got
            assert (sw.from_, sw.to, sw.epoch, sw.decision) == ("us", "eu", 3, "switchover")
            assert (csw.from_, csw.to) == ("us", "eu") and csw.took > 0
            assert prod.region == "eu" and cons.region == "eu" and f.epoch == 3
            assert ev.kinds("producer") == [FollowKind.PAUSED, FollowKind.SWITCHED, FollowKind.RESUMED]
            assert ev.kinds("consumer group app") == [FollowKind.SWITCHED]

            # us's agent is gone: the follower skips it.
            us_agent.close()
            asked = eu_agent.asked
            wait_for(lambda: eu_agent.asked >= asked + 3, what="the follower asking eu's agent")
            base = app.acks()
            wait_for(lambda: app.acks() >= base + 200, what="the producer resuming in eu")
            app.stop_prod.set()
            app.threads[0].join(10)
            total = app.acks()
            wait_for(lambda: app.distinct() >= total, what=f"the consumer reading all {total} records")
            time.sleep(0.3)  # more reading, not a wait for a state: duplicates show
            app.stop()
        assert not app.errors, app.errors
        assert us.end("orders") == us_end, "us took records after the pause"
        dups = {v: k for v, k in app.seen.items() if k > 1}
        missing = [i for i in range(total) if str(i).encode() not in app.seen]
        assert not dups and not missing and len(app.seen) == total, (dups, missing)
        assert app.by_region["us"] > 0 and app.by_region["eu"] > 0, app.by_region
    finally:
        if app is not None:
            app.stop()
        prod.close()
        cons.close()


def test_failover_old_region_gone(agent_factory: Callable[..., FakeAgent], backend: FakeBackend) -> None:
    """An unplanned failover: us is gone (its broker hangs, its agent is
    gone); both clients switch without a pause, the consumer resumes from
    the offsets group sync put in eu and drops the copies of what it had
    read in us, so every record is read once."""
    m, us_agent, eu_agent, us, eu = setup(agent_factory, backend)
    st1 = ap_state(1, "init", "us", "eu")
    us_agent.set_state(st1)
    eu_agent.set_state(st1)
    prod = Producer(m, backend=backend)
    cons = Consumer(m, "app", ["orders"], backend=backend, commit_timeout=0.5)
    ev = Events()
    app: App | None = None
    try:
        with Follower(m, [prod, cons], interval=0.05, on_event=ev, agent_timeout=0.5):
            ev.wait(FollowKind.EPOCH, "")
            app = App(prod, cons, us, eu)
            wait_for(lambda: app.acks() >= 100, what="100 records acknowledged")
            app.stop_prod.set()
            app.threads[0].join(10)
            total = app.acks()
            wait_for(lambda: app.distinct() >= total and eu.end("orders") == total, what="everything read and copied")
            # eu's group sync committed the group at 60 before us failed.
            eu.committed["app"] = {("orders", 0): 60}
            us.down, us.hang = True, 3.0
            us_agent.close()
            eu_agent.set_state({"epoch": 2, "decision": "failover", "from": "us", "to": "eu", "reason": "us down",
                                "regions": {"us": {"role": "fenced"}, "eu": {"role": "primary"}}})
            t0 = time.monotonic()
            psw = ev.wait(FollowKind.SWITCHED, "producer")
            csw = ev.wait(FollowKind.SWITCHED, "consumer group app")
            assert time.monotonic() - t0 < 5
            assert (psw.decision, psw.to, csw.to) == ("failover", "eu", "eu")
            assert ev.kinds("producer") == [FollowKind.SWITCHED], "no pause in a failover"
            for i in range(total, total + 10):
                prod.produce("orders", str(i).encode())
            assert prod.flush(5) == 0
            wait_for(lambda: app.distinct() >= total + 10, what="the records written in eu")
            time.sleep(0.3)
            app.stop()
        assert not app.errors, app.errors
        assert all(k == 1 for k in app.seen.values()), {v: k for v, k in app.seen.items() if k > 1}
        assert len(app.seen) == total + 10
        assert eu.values("orders")[total:] == [str(i).encode() for i in range(total, total + 10)]
    finally:
        if app is not None:
            app.stop()
        prod.close()
        us.down = False


def test_close_resumes_paused_producer(agent_factory: Callable[..., FakeAgent], backend: FakeBackend) -> None:
    m, us_agent, eu_agent, us, eu = setup(agent_factory, backend)
    us_agent.set_state(ap_state(2, "switchover-started", "us", "eu", {"from": "us", "to": "eu", "clients": "us"}))
    prod = Producer(m, backend=backend)
    ev = Events()
    f = Follower(m, [prod], interval=0.05, on_event=ev)
    f.start()
    f.start()  # idempotent
    ev.wait(FollowKind.PAUSED, "producer")
    assert prod.paused
    f.close()
    f.close()  # idempotent
    assert not prod.paused, "nothing would resume a producer its follower left paused"
    prod.produce("orders", b"after")
    assert prod.flush(1) == 0


def test_follower_checks(backend: FakeBackend, agent_factory: Callable[..., FakeAgent]) -> None:
    m, *_ = setup(agent_factory, backend)
    prod = Producer(m, backend=backend)
    with pytest.raises(GeomeshError, match="no client to follow"):
        Follower(m, [])
    with pytest.raises(GeomeshError, match="not positive"):
        Follower(m, [prod], interval=0)
    with pytest.raises(GeomeshError, match="is not a Producer or Consumer"):
        Follower(m, [object()])  # type: ignore[list-item]


def test_on_event_exception_is_logged(agent_factory: Callable[..., FakeAgent], backend: FakeBackend) -> None:
    m, us_agent, *_ = setup(agent_factory, backend)
    us_agent.set_state(ap_state(1, "init", "us", "eu"))
    prod = Producer(m, backend=backend)
    calls: list[FollowEvent] = []

    def bad(e: FollowEvent) -> None:
        calls.append(e)
        raise RuntimeError("boom")

    with Follower(m, [prod], interval=0.05, on_event=bad) as f:
        wait_for(lambda: f.epoch == 1 and calls, what="the first epoch")
    assert calls[0].kind == FollowKind.EPOCH
