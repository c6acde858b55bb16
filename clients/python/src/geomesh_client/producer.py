"""A producer that writes only where the mesh takes writes (Go client/producer.go)."""

from __future__ import annotations

import logging
import secrets
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

from ._rwlock import RWLock
from .decide import FollowedClient, Move, follows_writer
from .errors import ClientClosedError, GeomeshError, PausedError
from .headers import HEADER_RECORD_ID, header
from .kafka import PRODUCER_OWNED, KafkaBackend, ProducerLike, default_backend, kafka_config, merge_config
from .topics import check_write, data_region, default_writer
from .topology import Kind, Mesh, plan

log = logging.getLogger("geomesh_client")

#: How long a pause or a producer switch waits for the records in flight to
#: the region the producer leaves (Go flushTimeout).
FLUSH_TIMEOUT = 10.0
#: The same wait when the producer switches without a pause first: a
#: failover, away from a region the mesh found down; the records still in
#: flight then fail, and the application may write them again (Go downFlush).
DOWN_FLUSH = 1.0

DeliveryCallback = Callable[[Any, Any], None]


class Producer:
    """Writes records to the region that takes writes for their topic right
    now, and refuses (NotPrimaryError) a record for a region that does not:
    a standby, or a topic that is another region's copy there. Nothing is
    dropped silently: every record's ``on_delivery`` gets its result.

    ``switch`` moves the producer when the primary changes; records in
    flight to the old region that are not answered within the switch's
    timeout are purged, and their ``on_delivery`` gets the purge error
    (librdkafka ``_PURGE_QUEUE`` / ``_PURGE_INFLIGHT``): the application
    produces them again (with ``record_ids``, under the same id).

    A Follower pauses the producer while a planned switch drains the
    region it writes to: ``produce`` then blocks until it resumes, or raises
    PausedError when its ``timeout`` ends first.

    As with confluent_kafka, delivery callbacks are served by ``poll`` and
    ``flush``; those of the records to a region the producer leaves are
    served by the switch, in the thread that switches (a Follower's).
    All methods may be called from any thread.

    :param region: the region to write to; default: the primary of an
        active-passive mesh, the hub of a hub-spoke mesh. Required for an
        active-active mesh (the region near the application).
    :param kafka_config: extra librdkafka settings for every client built
        (batching, compression, acks ...); ``bootstrap.servers`` comes from
        the topology.
    :param record_ids: give every record without a ``geomesh-record-id``
        header a random one (16 bytes, hex).
    :param backend: where Kafka clients come from (tests); default
        confluent-kafka.
    """

    def __init__(
        self,
        mesh: Mesh,
        *,
        region: str | None = None,
        kafka_config: Mapping[str, Any] | None = None,
        record_ids: bool = False,
        backend: KafkaBackend | None = None,
    ) -> None:
        self.mesh = mesh
        self._flows = plan(mesh)
        self._user_conf = dict(kafka_config or {})
        merge_config({}, self._user_conf, PRODUCER_OWNED, "producer")
        self._record_ids = record_ids
        self._backend = backend or default_backend()
        self._primary = default_writer(mesh)
        reg = region or self._primary
        if not reg:
            raise GeomeshError(f"producer of active-active mesh {mesh.name}: region is required")
        self.home = reg
        # _gate is set while records may go; cleared while paused. Lock
        # order: _gmu is never held while taking _mu.
        self._gmu = threading.Lock()
        self._gate = threading.Event()
        self._gate.set()
        self._done = threading.Event()  # set by close: paused produce calls fail
        # _mu is held for reading while a record is handed to the client and
        # for writing while switch replaces the client.
        self._mu = RWLock()
        self._region = reg
        self._closed = False
        self._cl = self._new_client(reg)

    def _new_client(self, region: str) -> ProducerLike:
        r = data_region(self.mesh, region)
        assert r.kafka is not None
        conf = merge_config(kafka_config(region, r.kafka), self._user_conf, PRODUCER_OWNED, "producer")
        try:
            return self._backend.new_producer(conf)
        except Exception as e:
            raise GeomeshError(f"producer in region {region}: {e}") from e

    @property
    def region(self) -> str:
        """The region the producer writes to now."""
        return self._region

    @property
    def paused(self) -> bool:
        return not self._gate.is_set()

    def produce(
        self,
        topic: str,
        value: bytes | str | None = None,
        key: bytes | str | None = None,
        *,
        partition: int | None = None,
        headers: Any = None,
        on_delivery: DeliveryCallback | None = None,
        timestamp: int | None = None,
        timeout: float | None = None,
    ) -> None:
        """Hands a record to the current region's client, asynchronously
        (confluent_kafka's ``produce``; call ``poll`` to serve delivery
        callbacks). Raises NotPrimaryError at once for a record the region
        must not take. While a Follower holds the producer paused, it
        blocks until the producer resumes; if ``timeout`` (seconds) ends
        first it raises PausedError. BufferError (the local queue is full)
        passes through, as from confluent_kafka."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            self._wait_open(deadline)
            with self._mu.read():
                # Checked again under _mu: pause takes _mu once after
                # clearing the gate, so no record passes it after pause.
                if self.paused and not self._closed:
                    continue
                hs = self._check(topic, headers)
                kwargs: dict[str, Any] = {"value": value, "key": key}
                if partition is not None:
                    kwargs["partition"] = partition
                if hs is not None:
                    kwargs["headers"] = hs
                if on_delivery is not None:
                    kwargs["on_delivery"] = on_delivery
                if timestamp is not None:
                    kwargs["timestamp"] = timestamp
                self._cl.produce(topic, **kwargs)
                return

    def _wait_open(self, deadline: float | None) -> None:
        while not self._gate.is_set():
            if self._done.is_set():
                return  # _check reports the close
            wait = 0.05 if deadline is None else min(0.05, deadline - time.monotonic())
            if wait <= 0:
                raise PausedError(f"producer in region {self._region}: producer paused for a planned switch: timed out")
            self._gate.wait(wait)

    def _check(self, topic: str, headers: Any) -> Any:
        if self._closed:
            raise ClientClosedError(f"producer in region {self._region}: closed")
        if not topic:
            raise GeomeshError(f"producer in region {self._region}: the record names no topic")
        check_write(self.mesh, self._flows, self._primary, self._region, topic)
        if self._record_ids and header(headers, HEADER_RECORD_ID) is None:
            hs = list(headers.items()) if isinstance(headers, dict) else list(headers or [])
            hs.append((HEADER_RECORD_ID, secrets.token_hex(16).encode()))
            return hs
        return headers

    def poll(self, timeout: float = 0.0) -> int:
        """Serves delivery callbacks (confluent_kafka Producer.poll)."""
        return self._cl.poll(timeout)

    def flush(self, timeout: float | None = None) -> int:
        """Waits until every record produced so far has its result, within
        timeout; returns how many still wait (0: all answered)."""
        cl = self._cl
        return cl.flush(timeout) if timeout is not None else cl.flush()

    def __len__(self) -> int:
        return len(self._cl)

    def _pause(self, timeout: float) -> int:
        """Holds back every record not handed to the client yet, then waits,
        within timeout, for the answers to those in flight. Once it returns
        the region gets nothing more until _resume. Returns how many
        records were still unanswered."""
        with self._gmu:
            self._gate.clear()
        with self._mu.write():
            pass  # waits out every produce past the gate
        return self.flush(timeout)

    def _resume(self) -> None:
        with self._gmu:
            self._gate.set()

    def switch(self, region: str, *, timeout: float = FLUSH_TIMEOUT) -> None:
        """Makes region the one the producer writes to. In an active-passive
        mesh region becomes the primary, in a hub-spoke mesh the hub if it is
        the hub or the standby hub. It first waits, within timeout, for the
        records in flight to the old region; those still unanswered are
        purged and fail."""
        data_region(self.mesh, region)
        with self._mu.write():
            if self._closed:
                raise ClientClosedError("producer: closed")
            if self.mesh.kind == Kind.ACTIVE_PASSIVE:
                self._primary = region
            elif self.mesh.kind == Kind.HUB_SPOKE and region in (self.mesh.roles.hub, self.mesh.roles.standby_hub):
                self._primary = region
            if region == self._region:
                return
            cl = self._new_client(region)
            old, old_region = self._cl, self._region
            self._cl, self._region = cl, region
        # Outside the lock: the new client takes records while the old one
        # drains (the region changed, so they are in the new one's order).
        _drain(old, timeout, f"producer switched from {old_region} to {region}")

    def close(self, timeout: float = FLUSH_TIMEOUT) -> None:
        """Waits within timeout for the records in flight, fails the rest
        (purged) and closes. Idempotent."""
        with self._mu.write():
            if self._closed:
                return
            self._closed = True
            self._done.set()
            cl = self._cl
        _drain(cl, timeout, f"producer in region {self._region} closed")

    def __enter__(self) -> Producer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- followed by a Follower ---

    def _followed(self) -> FollowedClient:
        return FollowedClient(
            producer=True,
            home=self.home,
            writer=follows_writer(self.mesh, True, self.home),
            region=self._region,
            paused=self.paused,
        )

    def _follow_name(self) -> str:
        return "producer"

    def _apply(self, m: Move, stop: threading.Event | None = None) -> None:
        bound = FLUSH_TIMEOUT
        if m.switch_to and not m.pause and not self.paused:
            bound = DOWN_FLUSH
        if m.pause:
            left = self._pause(bound)
            if left:
                # Paused all the same: what is in flight is answered by the
                # region or fails, and nothing new goes.
                log.warning(
                    "producer paused before every record in flight was answered: region %s, %d unanswered", self._region, left
                )
        if m.switch_to:
            self.switch(m.switch_to, timeout=bound)
        if m.resume:
            self._resume()


def _drain(cl: ProducerLike, timeout: float, what: str) -> None:
    left = cl.flush(timeout)
    if left:
        log.warning("%s before %d record(s) in flight were answered; those fail", what, left)
        cl.purge(in_queue=True, in_flight=True, blocking=False)
        cl.flush(0)
