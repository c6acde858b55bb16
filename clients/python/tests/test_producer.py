"""The Producer on the fake Kafka backend: refusals, pause, switch, close."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest
from conftest import make_mesh, wait_for
from fakeagent import refused_addr
from fakekafka import FakeBackend

from geomesh_client import ClientClosedError, GeomeshError, HEADER_RECORD_ID, Move, NotPrimaryError, PausedError, Producer
from geomesh_client.headers import header


def ap_mesh(backend: FakeBackend) -> Any:
    us, eu = backend.cluster("us"), backend.cluster("eu")
    for c in (us, eu):
        c.create("orders")
    return make_mesh(
        "active-passive",
        [("us", us.bootstrap, [refused_addr()]), ("eu", eu.bootstrap, [refused_addr()]), ("w", None, [refused_addr()])],
        roles="primary: us, standby: [eu]",
    )


def test_refuses_standby_until_switch(backend: FakeBackend) -> None:
    """Port of TestProducerRefusesStandby: the standby takes no writes until
    a switch makes it the primary, and then the old primary takes none."""
    m = ap_mesh(backend)
    p = Producer(m, backend=backend)
    assert p.region == "us"
    standby = Producer(m, region="eu", backend=backend)
    with pytest.raises(NotPrimaryError, match="us is the primary of mesh t"):
        standby.produce("orders", b"x")
    p.produce("orders", b"0")
    assert p.flush(1) == 0
    p.switch("eu")
    assert p.region == "eu"
    p.produce("orders", b"1")
    assert p.flush(1) == 0
    assert backend.clusters["us.kafka.test:9092"].values("orders") == [b"0"]
    assert backend.clusters["eu.kafka.test:9092"].values("orders") == [b"1"]
    with pytest.raises(GeomeshError, match="witness"):
        p.switch("w")
    with pytest.raises(GeomeshError, match="no region 'mars'"):
        p.switch("mars")


def test_pause_blocks_until_resume(backend: FakeBackend) -> None:
    """A paused producer hands nothing to the client: produce waits, fails
    with PausedError when its timeout ends, and goes once resumed."""
    m = ap_mesh(backend)
    p = Producer(m, backend=backend)
    acked: list[bytes] = []
    p.produce("orders", b"before", on_delivery=lambda err, msg: acked.append(msg.value()))
    p._apply(Move(pause=True))
    assert p.paused and acked == [b"before"], "pause answers the records in flight"
    t0 = time.monotonic()
    with pytest.raises(PausedError):
        p.produce("orders", b"late", timeout=0.2)
    assert time.monotonic() - t0 >= 0.19
    assert isinstance(PausedError("x"), TimeoutError)
    done = threading.Event()

    def blocked() -> None:
        p.produce("orders", b"waited", on_delivery=lambda err, msg: acked.append(msg.value()))
        done.set()

    th = threading.Thread(target=blocked)
    th.start()
    assert not done.wait(0.2), "produce went through a pause"
    us = backend.clusters["us.kafka.test:9092"]
    assert us.values("orders") == [b"before"]
    p._apply(Move(resume=True))
    assert done.wait(5)
    th.join()
    p.flush(1)
    assert us.values("orders") == [b"before", b"waited"] and acked == [b"before", b"waited"]


def test_failover_switch_purges_unanswered(backend: FakeBackend) -> None:
    """A switch away from a region that does not answer waits the down
    bound (1s) and fails the records still in flight; new records go to the
    new region."""
    m = ap_mesh(backend)
    p = Producer(m, backend=backend)
    us = backend.clusters["us.kafka.test:9092"]
    us.down = True
    results: list[tuple[Any, bytes]] = []
    p.produce("orders", b"lost", on_delivery=lambda err, msg: results.append((err, msg.value())))
    t0 = time.monotonic()
    p._apply(Move(switch_to="eu"))
    took = time.monotonic() - t0
    assert 0.9 < took < 3, took
    assert len(results) == 1 and results[0][0] is not None and results[0][1] == b"lost"
    p.produce("orders", b"new")
    assert p.flush(1) == 0
    assert backend.clusters["eu.kafka.test:9092"].values("orders") == [b"new"]


def test_record_ids(backend: FakeBackend) -> None:
    m = ap_mesh(backend)
    p = Producer(m, backend=backend, record_ids=True)
    p.produce("orders", b"a")
    p.produce("orders", b"b", headers=[(HEADER_RECORD_ID, b"mine")])
    p.flush(1)
    us = backend.clusters["us.kafka.test:9092"]
    ids = [header(msg.headers(), HEADER_RECORD_ID) for msg in us.logs["orders"][0]]
    assert ids[1] == b"mine" and ids[0] is not None and len(ids[0]) == 32


def test_close_fails_paused_and_later_records(backend: FakeBackend) -> None:
    m = ap_mesh(backend)
    p = Producer(m, backend=backend)
    p._apply(Move(pause=True))
    errs: list[BaseException] = []

    def blocked() -> None:
        try:
            p.produce("orders", b"x")
        except BaseException as e:  # noqa: BLE001 - recorded for the test
            errs.append(e)

    th = threading.Thread(target=blocked)
    th.start()
    wait_for(lambda: th.is_alive(), what="a blocked produce")
    p.close()
    th.join(5)
    assert not th.is_alive() and len(errs) == 1 and isinstance(errs[0], ClientClosedError)
    with pytest.raises(ClientClosedError):
        p.produce("orders", b"y")
    p.close()  # idempotent


def test_active_active_needs_region(backend: FakeBackend) -> None:
    a, b = backend.cluster("a"), backend.cluster("b")
    m = make_mesh("active-active", [("a", a.bootstrap, [refused_addr()]), ("b", b.bootstrap, [refused_addr()])])
    with pytest.raises(GeomeshError, match="region is required"):
        Producer(m, backend=backend)
    p = Producer(m, region="b", backend=backend)
    with pytest.raises(NotPrimaryError, match="copy of region a's topic"):
        p.produce("a.posts", b"x")
    with pytest.raises(ValueError, match="bootstrap.servers"):
        Producer(m, region="b", backend=backend, kafka_config={"bootstrap.servers": "elsewhere:9092"})


def test_purge_with_real_librdkafka() -> None:
    """The switch away from a region that does not answer, on the real
    confluent-kafka binding (no broker: the bootstrap refuses connections):
    after the 1s bound the record in flight is purged and its delivery
    callback gets librdkafka's purge error."""
    from confluent_kafka import KafkaError

    dead = refused_addr()
    m = make_mesh(
        "active-passive",
        [("us", dead, [refused_addr()]), ("eu", dead, [refused_addr()])],
        roles="primary: us, standby: [eu]",
    )
    p = Producer(m, kafka_config={"log_level": 0})
    errs: list[Any] = []
    p.produce("orders", b"x", on_delivery=lambda err, msg: errs.append(err))
    t0 = time.monotonic()
    p._apply(Move(switch_to="eu"))
    assert 0.9 < time.monotonic() - t0 < 5
    assert p.region == "eu" and len(errs) == 1 and errs[0].code() == KafkaError._PURGE_QUEUE
