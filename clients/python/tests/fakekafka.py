"""An in-memory stand-in for Kafka clusters behind the KafkaBackend seam.

It models what the library relies on, no more: topics of partitions with
offsets from 0, consumer groups with committed offsets and members,
subscribe with an on_assign callback, assign at explicit offsets, offsets
stored as records are returned, commits, delivery callbacks served by
poll/flush, purge. A cluster can be taken down: then every call to it
fails, after ``hang`` seconds (a broker that does not answer). It is not
a proof of any Kafka behaviour; the e2e conformance run against real
clusters is (README).
"""

from __future__ import annotations

import itertools
import threading
import time
from typing import Any

from confluent_kafka import TopicPartition

OFFSET_INVALID = -1001


class FakeError(Exception):
    def __init__(self, code: str, msg: str = "") -> None:
        super().__init__(f"{code}: {msg}" if msg else code)
        self.code = code


class FakeMessage:
    def __init__(self, topic: str, partition: int, offset: int, value: Any, key: Any = None, headers: Any = None) -> None:
        self._t, self._p, self._o, self._v, self._k = topic, partition, offset, value, key
        self._h = list(headers) if headers else None

    def topic(self) -> str:
        return self._t

    def partition(self) -> int:
        return self._p

    def offset(self) -> int:
        return self._o

    def value(self) -> Any:
        return self._v

    def key(self) -> Any:
        return self._k

    def headers(self) -> Any:
        return self._h

    def error(self) -> Any:
        return None

    def __repr__(self) -> str:
        return f"{self._t}/{self._p}@{self._o}={self._v!r}"


class FakeCluster:
    def __init__(self, name: str) -> None:
        self.name = name
        self.bootstrap = f"{name}.kafka.test:9092"
        self.cv = threading.Condition()
        self.logs: dict[str, list[list[FakeMessage]]] = {}
        self.committed: dict[str, dict[tuple[str, int], int]] = {}
        self.members: dict[str, set[int]] = {}
        self.down = False
        self.hang = 0.0

    def create(self, topic: str, partitions: int = 1) -> None:
        with self.cv:
            self.logs.setdefault(topic, [[] for _ in range(partitions)])

    def append(self, topic: str, partition: int, value: Any, key: Any = None, headers: Any = None) -> int:
        with self.cv:
            log = self.logs[topic][partition]
            off = len(log)
            log.append(FakeMessage(topic, partition, off, value, key, headers))
            self.cv.notify_all()
            return off

    def end(self, topic: str, partition: int = 0) -> int:
        with self.cv:
            return len(self.logs[topic][partition])

    def values(self, topic: str, partition: int = 0) -> list[Any]:
        with self.cv:
            return [m.value() for m in self.logs[topic][partition]]

    def check(self, what: str) -> None:
        if self.down:
            if self.hang:
                time.sleep(self.hang)
            raise FakeError("_TRANSPORT", f"cluster {self.name}: {what}: broker down")


class FakeProducer:
    def __init__(self, cluster: FakeCluster, conf: dict[str, Any]) -> None:
        self.cluster = cluster
        self.conf = conf
        self.mu = threading.Lock()
        self.pending: list[tuple[str, int, Any, Any, Any, Any]] = []

    def produce(self, topic: str, value: Any = None, key: Any = None, partition: int = -1, on_delivery: Any = None,
                headers: Any = None, timestamp: int = 0) -> None:
        with self.mu:
            self.pending.append((topic, max(partition, 0), value, key, headers, on_delivery))

    def _deliver(self) -> int:
        if self.cluster.down:
            return 0
        with self.mu:
            batch, self.pending = self.pending, []
        for topic, p, value, key, headers, cb in batch:
            off = self.cluster.append(topic, p, value, key, headers)
            if cb is not None:
                cb(None, FakeMessage(topic, p, off, value, key, headers))
        return len(batch)

    def poll(self, timeout: float = 0.0) -> int:
        return self._deliver()

    def flush(self, timeout: float | None = None) -> int:
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            self._deliver()
            with self.mu:
                left = len(self.pending)
            if left == 0 or (deadline is not None and time.monotonic() >= deadline):
                return left
            time.sleep(0.01)

    def purge(self, in_queue: bool = True, in_flight: bool = True, blocking: bool = True) -> None:
        with self.mu:
            batch, self.pending = self.pending, []
        for topic, p, value, key, headers, cb in batch:
            if cb is not None:
                cb(FakeError("_PURGE_QUEUE"), FakeMessage(topic, p, -1, value, key, headers))

    def __len__(self) -> int:
        with self.mu:
            return len(self.pending)


_ids = itertools.count(1)


class FakeConsumer:
    def __init__(self, backend: FakeBackend, cluster: FakeCluster, conf: dict[str, Any]) -> None:
        self.backend = backend
        self.cluster = cluster
        self.conf = conf
        self.id = next(_ids)
        self.group = conf["group.id"]
        self.reset = conf.get("auto.offset.reset", "latest")
        self.auto_commit = conf.get("enable.auto.commit", True)
        self.store = conf.get("enable.auto.offset.store", True)
        self.topics: list[str] | None = None
        self.on_assign: Any = None
        self.joined = False
        self.closed = False
        self.assign_called = False
        self.positions: dict[tuple[str, int], int] = {}
        self.stored: dict[tuple[str, int], int] = {}

    def subscribe(self, topics: list[str], on_assign: Any = None, on_revoke: Any = None) -> None:
        self.topics = list(topics)
        self.on_assign = on_assign

    def _join(self) -> None:
        self.cluster.check("join group")
        with self.cluster.cv:
            self.cluster.members.setdefault(self.group, set()).add(self.id)
            parts = [
                TopicPartition(t, p, OFFSET_INVALID)
                for t in self.topics or []
                for p in range(len(self.cluster.logs.get(t, [])))
            ]
        self.joined = True
        self.assign_called = False
        if self.on_assign is not None:
            self.on_assign(self, parts)
        if not self.assign_called:
            self.assign(parts)
        self.backend.events.append(("join", self.cluster.name, self.group, dict(self.positions)))

    def assign(self, partitions: list[Any]) -> None:
        self.assign_called = True
        with self.cluster.cv:
            committed = self.cluster.committed.get(self.group, {})
            for tp in partitions:
                k = (tp.topic, tp.partition)
                if tp.offset >= 0:
                    pos = tp.offset
                elif k in committed:
                    pos = committed[k]
                elif self.reset == "earliest":
                    pos = 0
                else:
                    pos = len(self.cluster.logs[tp.topic][tp.partition])
                self.positions[k] = pos

    incremental_assign = assign

    def committed(self, partitions: list[Any], timeout: float = -1) -> list[Any]:
        self.cluster.check("committed offsets")
        with self.cluster.cv:
            have = self.cluster.committed.get(self.group, {})
            return [TopicPartition(tp.topic, tp.partition, have.get((tp.topic, tp.partition), OFFSET_INVALID)) for tp in partitions]

    def consume(self, num_messages: int = 1, timeout: float = -1) -> list[Any]:
        if self.closed:
            raise RuntimeError("Consumer closed")
        deadline = time.monotonic() + (timeout if timeout >= 0 else 3600)
        if self.topics is not None and not self.joined:
            try:
                self._join()
            except FakeError:
                time.sleep(max(0.0, min(0.05, deadline - time.monotonic())))
                return []
        while True:
            out: list[FakeMessage] = []
            with self.cluster.cv:
                if not self.cluster.down:
                    for k, pos in sorted(self.positions.items()):
                        log = self.cluster.logs[k[0]][k[1]]
                        while pos < len(log) and len(out) < num_messages:
                            out.append(log[pos])
                            pos += 1
                        self.positions[k] = pos
                if out:
                    if self.store:
                        for m in out:
                            self.stored[(m.topic(), m.partition())] = m.offset() + 1
                    return out
                left = deadline - time.monotonic()
                if left <= 0:
                    return []
                self.cluster.cv.wait(min(left, 0.05))

    def poll(self, timeout: float = -1) -> Any:
        ms = self.consume(1, timeout)
        return ms[0] if ms else None

    def commit(self, message: Any = None, offsets: Any = None, asynchronous: bool = True) -> Any:
        self.cluster.check("commit")
        if not self.stored:
            raise FakeError("_NO_OFFSET")
        with self.cluster.cv:
            self.cluster.committed.setdefault(self.group, {}).update(self.stored)
        self.backend.events.append(("commit", self.cluster.name, self.group, dict(self.stored)))
        return None

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        if self.joined:
            if self.auto_commit and self.stored:
                self.commit()
            self.cluster.check("leave group")
            with self.cluster.cv:
                self.cluster.members.get(self.group, set()).discard(self.id)


class FakeBackend:
    """The KafkaBackend of the tests: clusters by bootstrap address."""

    def __init__(self) -> None:
        self.clusters: dict[str, FakeCluster] = {}
        self.events: list[tuple[Any, ...]] = []
        self.admin_commits: list[tuple[str, str, dict[tuple[str, int], int]]] = []

    def cluster(self, name: str) -> FakeCluster:
        c = FakeCluster(name)
        self.clusters[c.bootstrap] = c
        return c

    def _of(self, conf: dict[str, Any]) -> FakeCluster:
        return self.clusters[conf["bootstrap.servers"]]

    def new_producer(self, conf: dict[str, Any]) -> FakeProducer:
        return FakeProducer(self._of(conf), conf)

    def new_consumer(self, conf: dict[str, Any]) -> FakeConsumer:
        return FakeConsumer(self, self._of(conf), conf)

    def topic_partition(self, topic: str, partition: int, offset: int = OFFSET_INVALID) -> Any:
        return TopicPartition(topic, partition, offset)

    def group_state(self, conf: dict[str, Any], group: str, timeout: float) -> str | None:
        c = self._of(conf)
        c.check("list groups")
        with c.cv:
            if group not in c.members and group not in c.committed:
                return None
            return "STABLE" if c.members.get(group) else "EMPTY"

    def committed_offsets(self, conf: dict[str, Any], group: str, partitions: Any, timeout: float) -> dict[tuple[str, int], int]:
        c = self._of(conf)
        c.check("fetch offsets")
        with c.cv:
            have = c.committed.get(group, {})
            return {k: have[k] for k in partitions if k in have}

    def commit_offsets(self, conf: dict[str, Any], group: str, offsets: Any, timeout: float) -> None:
        c = self._of(conf)
        c.check("commit offsets")
        with c.cv:
            if c.members.get(group):
                raise FakeError("UNKNOWN_MEMBER_ID", "the group has members")
            c.committed.setdefault(group, {}).update(offsets)
        self.admin_commits.append((c.name, group, dict(offsets)))

    def is_no_offset(self, err: BaseException) -> bool:
        return isinstance(err, FakeError) and err.code == "_NO_OFFSET"


def copy_headers(region: str, topic: str, partition: int, offset: int) -> list[tuple[str, bytes]]:
    """The provenance headers the mirror engine writes on a copy."""
    return [
        ("geomesh-origin-region", region.encode()),
        ("geomesh-origin-topic", topic.encode()),
        ("geomesh-origin-partition", str(partition).encode()),
        ("geomesh-origin-offset", str(offset).encode()),
    ]
