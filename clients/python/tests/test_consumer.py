"""The Consumer on the fake Kafka backend and fake agents: translation by
the new region's agent, the resume hint, the read-back after an "end"
answer, and the fallback when the old region is gone (ported from
client/translate_test.go and client/fallback_test.go)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest
from conftest import make_mesh
from fakeagent import FakeAgent, refused_addr
from fakekafka import FakeBackend, FakeMessage, copy_headers

from geomesh_client import Consumer, NoFlowError, SwitchError, TranslateResponse, Translation
from geomesh_client.consumer import translated


def read(c: Consumer, n: int, timeout: float = 10.0) -> list[Any]:
    out: list[Any] = []
    deadline = time.monotonic() + timeout
    while len(out) < n:
        assert time.monotonic() < deadline, f"read {len(out)} of {n}: {[m.value() for m in out]}"
        out += c.consume(n - len(out), 0.2)
    return [m.value() for m in out]


def test_translate_asks_agent(agent_factory: Callable[..., FakeAgent], backend: FakeBackend, monkeypatch: pytest.MonkeyPatch) -> None:
    """The consumer sends the read token, asks again while a partition is
    "behind", keeps only its own topics, and gives up at once when the
    agent has no flow from the old region."""
    monkeypatch.setenv("GM_READ_TOKEN", "s3cret")
    calls = []

    def answer(group: str, from_: str) -> tuple[int, Any]:
        if from_ != "east":
            return 400, {"error": f"no flow from region {from_!r} into west"}
        calls.append(1)
        state = "behind" if len(calls) <= 2 else "copied"
        return 200, {"group": "g", "from": "east", "to": "west", "partitions": [
            {"topic": "orders", "partition": 0, "source_offset": 7, "target_topic": "orders", "target_offset": 9, "state": "end"},
            {"topic": "orders", "partition": 1, "source_offset": 5, "target_topic": "orders", "target_offset": 6, "state": state},
            {"topic": "other", "partition": 0, "source_offset": 1, "target_topic": "other", "target_offset": 1, "state": "behind"},
        ]}

    a = agent_factory()
    a.translate_fn = answer
    east, west = backend.cluster("east"), backend.cluster("west")
    m = make_mesh("active-active", [("east", east.bootstrap, [refused_addr()]), ("west", west.bootstrap, [refused_addr(), a.addr])],
                  'api: {read_token: "env:GM_READ_TOKEN", admin_token: "env:GM_ADMIN_TOKEN"}\n')
    c = Consumer(m, "g", ["orders"], region="east", backend=backend)
    got = c._translate("east", "west", {"orders"}, time.monotonic() + 10, None)
    assert got == {("orders", 0): 9, ("orders", 1): 6} and len(calls) == 3
    assert set(a.auth) == {"Bearer s3cret"}
    with pytest.raises(NoFlowError):
        c._translate("nowhere", "west", {"orders"}, time.monotonic() + 10, None)


def copy_of(offset: int, region: str, origin_offset: int) -> FakeMessage:
    p = offset % 3
    return FakeMessage("orders", p, offset, b"", headers=copy_headers(region, "orders", p, origin_offset) if region else None)


def test_resume_hint(backend: FakeBackend) -> None:
    """A partition whose last record consumed is a copy of a record of the
    region the consumer moves to resumes right after the original; the
    others keep the agent's answer, and so does a partition another member
    read further."""
    east, west = backend.cluster("east"), backend.cluster("west")
    m = make_mesh("active-passive", [("east", east.bootstrap, [refused_addr()]), ("west", west.bootstrap, [refused_addr()])],
                  roles="primary: east, standby: [west]")
    c = Consumer(m, "g", ["orders"], backend=backend)
    c._last.note(copy_of(30, "east", 70))  # partition 0: a copy of east's 70
    c._last.note(copy_of(31, "", 0))  # partition 1: produced in west
    c._last.note(copy_of(32, "east", 12))  # partition 2: a copy, but another member read on to 40
    res = TranslateResponse("g", "west", "east", (
        Translation("orders", 0, 31, "orders", 55, "behind"),
        Translation("orders", 1, 32, "orders", 90, "copied"),
        Translation("orders", 2, 40, "orders", 20, "end"),
    ))
    got, ends = translated(res, {"orders"}, c._resume_hint("east"))
    assert got == {("orders", 0): 71, ("orders", 1): 90, ("orders", 2): 20}
    assert [e.partition for e in ends] == [2]
    with pytest.raises(Exception, match="partition 0 at 31: behind"):
        translated(res, {"orders"}, c._resume_hint("west"))


def two_regions(backend: FakeBackend, eu_agent: str, naming: str = "identity") -> Any:
    us, eu = backend.cluster("us"), backend.cluster("eu")
    for c in (us, eu):
        c.create("orders")
    return make_mesh("active-passive", [("us", us.bootstrap, [refused_addr()]), ("eu", eu.bootstrap, [eu_agent])],
                     f"naming: {naming}\n", "primary: us, standby: [eu]")


def test_switch_translated(agent_factory: Callable[..., FakeAgent], backend: FakeBackend) -> None:
    """A planned switch: final commit in us, translation by eu's agent,
    commit in eu, join at the translated offsets; every record once."""
    a = agent_factory()
    m = two_regions(backend, a.addr)
    us, eu = backend.clusters["us.kafka.test:9092"], backend.clusters["eu.kafka.test:9092"]
    a.from_cluster = us
    for i in range(20):
        us.append("orders", 0, str(i).encode())
        eu.append("orders", 0, str(i).encode(), headers=copy_headers("us", "orders", 0, i))
    c = Consumer(m, "app", ["orders"], backend=backend)
    got = read(c, 12)
    c.switch("eu")
    assert c.region == "eu"
    # The final commit in us is what was read, exactly.
    assert ("commit", "us", "app", {("orders", 0): 12}) in backend.events
    rest = read(c, 8)
    assert got + rest == [str(i).encode() for i in range(20)]
    assert backend.admin_commits and backend.admin_commits[0][0] == "eu"
    c.close()


def test_switch_after_last_copy(agent_factory: Callable[..., FakeAgent], backend: FakeBackend) -> None:
    """The new primary took records of its own before the consumer moved;
    the agent answers "end" (past them), and the consumer resumes right
    after the last copy from the old region instead, so it reads them."""
    a = agent_factory()
    m = two_regions(backend, a.addr)
    us, eu = backend.clusters["us.kafka.test:9092"], backend.clusters["eu.kafka.test:9092"]
    a.from_cluster = us
    a.end = 15
    for i in range(15):
        if i < 10:
            us.append("orders", 0, str(i).encode())
            eu.append("orders", 0, str(i).encode(), headers=copy_headers("us", "orders", 0, i))
        else:
            eu.append("orders", 0, str(i).encode())
    c = Consumer(m, "app", ["orders"], backend=backend)
    got = read(c, 10)
    c.switch("eu")
    got += read(c, 5)
    assert got == [str(i).encode() for i in range(15)]
    c.close()


def test_switch_old_region_gone(backend: FakeBackend) -> None:
    """The old region does not take the final commit within commit_timeout
    (it hangs): the group resumes from the offsets synced to the new region,
    and the copies of what this instance read in the old region are
    dropped by their provenance headers; nothing is read twice, nothing
    skipped."""
    m = two_regions(backend, refused_addr())
    us, eu = backend.clusters["us.kafka.test:9092"], backend.clusters["eu.kafka.test:9092"]
    for i in range(100):
        us.append("orders", 0, str(i).encode())
        eu.append("orders", 0, str(i).encode(), headers=copy_headers("us", "orders", 0, i))
    c = Consumer(m, "app", ["orders"], backend=backend, commit_timeout=0.5)
    got = read(c, 100)
    # eu's agent synced the group's commit at 60 before us failed.
    eu.committed["app"] = {("orders", 0): 60}
    us.down, us.hang = True, 5.0
    t0 = time.monotonic()
    c.switch("eu")
    assert time.monotonic() - t0 < 3
    assert c.region == "eu"
    for i in range(100, 110):
        eu.append("orders", 0, str(i).encode())  # written in eu after the failover
    got += read(c, 10)
    assert got == [str(i).encode() for i in range(110)]


def test_switch_old_region_gone_without_provenance(backend: FakeBackend) -> None:
    """Port of TestSwitchOldRegionGone: records without provenance headers
    cannot be recognised, so what was consumed after the synced commit is
    read again (60..99), and nothing is skipped."""
    m = two_regions(backend, refused_addr())
    us, eu = backend.clusters["us.kafka.test:9092"], backend.clusters["eu.kafka.test:9092"]
    for i in range(100):
        us.append("orders", 0, str(i).encode())
        eu.append("orders", 0, str(i).encode())
    c = Consumer(m, "app", ["orders"], backend=backend, commit_timeout=0.5)
    read(c, 100)
    eu.committed["app"] = {("orders", 0): 60}
    us.down = True
    c.switch("eu")
    assert read(c, 40) == [str(i).encode() for i in range(60, 100)]


def test_switch_fails_and_rejoins(backend: FakeBackend, agent_factory: Callable[..., FakeAgent]) -> None:
    """No flow from the old region: the switch fails at once and the
    consumer goes on in the old region where it was."""
    a = agent_factory()  # no from_cluster: answers 400
    m = two_regions(backend, a.addr)
    us = backend.clusters["us.kafka.test:9092"]
    for i in range(10):
        us.append("orders", 0, str(i).encode())
    c = Consumer(m, "app", ["orders"], backend=backend)
    got = read(c, 5)
    with pytest.raises(SwitchError, match="cannot translate from this region"):
        c.switch("eu")
    assert c.region == "us"
    got += read(c, 10 - len(got))
    # Rejoined at the committed offsets: nothing skipped or repeated.
    assert sorted(set(got)) == sorted(got) and len(got) == 10


def test_prefix_naming_reads_the_copy(backend: FakeBackend, agent_factory: Callable[..., FakeAgent]) -> None:
    a = agent_factory()
    m = two_regions(backend, a.addr, naming="prefix")
    c = Consumer(m, "app", ["orders"], backend=backend)
    assert c.topics_in("us") == ["orders"] and c.topics_in("eu") == ["us.orders"]
    with pytest.raises(ValueError, match="group.id"):
        Consumer(m, "app", ["orders"], backend=backend, kafka_config={"group.id": "other"})
