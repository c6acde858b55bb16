"""A consumer that moves its group between regions (Go client/consumer.go
and client/translate.go)."""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from .agents import AgentClient
from .decide import FollowedClient, Move, follows_writer
from .errors import AgentError, ClientClosedError, GeomeshError, NoFlowError, SwitchError
from .headers import HEADER_ORIGIN_REGION, LastRecords, ReadBefore, header
from .kafka import (
    CONSUMER_OWNED,
    OFFSET_INVALID,
    ConsumerLike,
    KafkaBackend,
    default_backend,
    kafka_config,
    merge_config,
)
from .state import TranslateResponse, Translation, TranslationState
from .topics import data_region, default_origin, topic_in
from .topology import Kind, Mesh, plan

log = logging.getLogger("geomesh_client")

#: Target topic and partition → offset.
OffsetMap = dict[tuple[str, int], int]

#: How far back after_last_copies looks for the last copy (Go scanLimit).
SCAN_LIMIT = 1 << 16
#: The pause between two rounds of asking (Go sleep).
RETRY = 0.2
#: The longest a poll holds the consumer at a time, so that a switch or a
#: close from another thread gets it within that.
POLL_SLICE = 0.1


class _NotYet(Exception):
    """A translation that is not complete yet: ask again."""


class Consumer:
    """Reads a consumer group's topics from one region of a mesh at a time
    and moves the group to another region with ``switch``, neither skipping
    a record nor reading one twice.

    A record counts as consumed once ``poll`` returns it (librdkafka's
    ``enable.auto.offset.store``): its offset is committed by the next
    ``commit``, by auto-commit (librdkafka's default, every 5 s) and by
    ``switch`` and ``close``. ``poll`` and ``commit`` are for one
    application thread; ``switch`` and ``close`` may be called from any
    thread: they wait for a ``poll`` in progress to finish its current
    slice (at most POLL_SLICE) and then hold the consumer, while a
    ``poll`` called meanwhile waits for them within its timeout.

    :param topics: the topics to read, named as in their origin region; in
        any other region the consumer reads the copy the planned flow makes
        (the same name under identity naming, ``<origin>.<topic>`` under
        prefix naming).
    :param region: the region to start in; default the origin.
    :param origin: the region where the topics are produced; default the
        primary (active-passive), the hub (hub-spoke), the start region
        (active-active).
    :param reset_offset: librdkafka ``auto.offset.reset`` for partitions
        without a committed offset, in every region; default ``earliest``
        so that nothing is skipped.
    :param switch_timeout: how long a switch waits for the translated
        offsets (the other members to leave the old region, the copier to
        reach the final offsets); default 30 s.
    :param commit_timeout: how long a switch tries the final commit in the
        old region; when it cannot, the old region counts as gone and the
        group resumes from the offsets the agents synced. Default 10 s.
    :param agents: the client of the agents' API; default one built from
        the topology (give one with ``ca_file`` for agents on HTTPS with a
        private CA).
    :param kafka_config: extra librdkafka settings; ``group.id``,
        ``isolation.level`` (read_committed), ``auto.offset.reset`` and
        ``enable.auto.offset.store`` are this library's.
    """

    def __init__(
        self,
        mesh: Mesh,
        group: str,
        topics: Sequence[str],
        *,
        region: str | None = None,
        origin: str | None = None,
        reset_offset: str = "earliest",
        switch_timeout: float = 30.0,
        commit_timeout: float = 10.0,
        agents: AgentClient | None = None,
        kafka_config: Mapping[str, Any] | None = None,
        backend: KafkaBackend | None = None,
    ) -> None:
        if not group:
            raise GeomeshError(f"consumer of mesh {mesh.name}: a group is required")
        if not topics:
            raise GeomeshError(f"consumer group {group} of mesh {mesh.name}: topics are required")
        self.mesh = mesh
        self.group = group
        self._flows = plan(mesh)
        self._topics = list(topics)
        self._user_conf = dict(kafka_config or {})
        merge_config({}, self._user_conf, CONSUMER_OWNED, f"consumer group {group}")
        self._reset = reset_offset
        self.switch_timeout = switch_timeout
        self.commit_timeout = commit_timeout
        self._backend = backend or default_backend()
        self._agents = agents or AgentClient(mesh)
        org = origin or default_origin(mesh)
        reg = region or org
        org = org or reg
        if not reg:
            raise GeomeshError(f"consumer group {group} of active-active mesh {mesh.name}: region is required")
        self.origin = org
        self.home = reg
        for r in (org, reg):
            try:
                data_region(mesh, r)
            except GeomeshError as e:
                raise GeomeshError(f"consumer group {group}: {e}") from None
        # _mu serialises poll, commit, switch and close: the client is
        # replaced only between polls. _cv counts the switches and closes
        # waiting, so that poll lets them in first. Lock order: _cv, then _mu.
        self._mu = threading.Lock()
        self._cv = threading.Condition()
        self._waiting = 0
        self._region = reg
        self._closed = False
        # _last: the last record poll returned per partition in _region;
        # where a switch back to the region a copy came from resumes.
        self._last = LastRecords()
        # _before: what was read in the region left last, when it could not
        # be reached; poll drops copies of it.
        self._before = ReadBefore()
        # Old regions' clients still closing in the background.
        self._closers: list[threading.Thread] = []
        self._cl: ConsumerLike | None = self._new_client(reg, None)

    @property
    def region(self) -> str:
        """The region the consumer reads from now."""
        return self._region

    def topics_in(self, region: str) -> list[str]:
        """The names of the consumer's topics in region."""
        try:
            return [topic_in(self.mesh, self._flows, self.origin, region, t) for t in self._topics]
        except GeomeshError as e:
            raise GeomeshError(f"consumer group {self.group}: {e}") from None

    def _conf(self, region: str) -> dict[str, Any]:
        r = data_region(self.mesh, region)
        assert r.kafka is not None
        return merge_config(kafka_config(region, r.kafka), self._user_conf, CONSUMER_OWNED, f"consumer group {self.group}")

    def _new_client(self, region: str, start: OffsetMap | None) -> ConsumerLike:
        """The group consumer for region. start holds offsets the group must
        not start below there: the translation of its final offsets in the
        region it leaves."""
        topics = self.topics_in(region)
        conf = self._conf(region)
        conf.update(
            {
                "group.id": self.group,
                # Copies are written in transactions: an aborted copy must
                # never reach the application.
                "isolation.level": "read_committed",
                "auto.offset.reset": self._reset,
                "enable.auto.offset.store": True,
            }
        )
        try:
            cl = self._backend.new_consumer(conf)
        except Exception as e:
            raise GeomeshError(f"consumer group {self.group} in region {region}: {e}") from e
        cooperative = "cooperative" in str(conf.get("partition.assignment.strategy", ""))
        cl.subscribe(topics, on_assign=self._at_least(start or {}, cooperative))
        return cl

    def _at_least(self, start: OffsetMap, cooperative: bool) -> Callable[[Any, list[Any]], None]:
        """An on_assign callback that raises the offsets the group starts at
        to the translated ones (Go atLeast). It keeps a higher committed
        offset: the group has consumed in this region since the switch. It
        also undoes a stale commit of the target agent's group sync, which
        may land between the switch's own commit and the join."""

        def on_assign(consumer: Any, partitions: list[Any]) -> None:
            if start and any((p.topic, p.partition) in start for p in partitions):
                try:
                    committed = {(c.topic, c.partition): c.offset for c in consumer.committed(partitions, timeout=self.commit_timeout)}
                except Exception as e:  # the join goes on from what the group holds
                    log.warning("consumer group %s: read committed offsets on assignment: %s", self.group, e)
                    committed = None
                if committed is not None:
                    for p in partitions:
                        at = start.get((p.topic, p.partition))
                        if at is None:
                            continue
                        have = committed.get((p.topic, p.partition), OFFSET_INVALID)
                        if have < at:
                            p.offset = at
                        elif have >= 0:
                            p.offset = have
            log.info(
                "consumer group %s: assigned %s",
                self.group, ", ".join(f"{p.topic}[{p.partition}]@{p.offset}" for p in partitions),
            )
            if cooperative:
                consumer.incremental_assign(partitions)
            else:
                consumer.assign(partitions)

        return on_assign

    # --- reading ---

    def _enter(self, deadline: float | None) -> bool:
        """Takes _mu for a poll, letting waiting switches and closes go first."""
        with self._cv:
            left = None if deadline is None else max(0.0, deadline - time.monotonic())
            if not self._cv.wait_for(lambda: self._waiting == 0, timeout=left):
                return False
        left = -1 if deadline is None else max(0.0, deadline - time.monotonic())
        return self._mu.acquire(timeout=left)

    def poll(self, timeout: float | None = None) -> Any:
        """The next record (a confluent_kafka.Message), or None when timeout
        (seconds; None: wait) ends first. Messages whose ``error()`` is set
        are returned as confluent_kafka returns them."""
        msgs = self.consume(1, timeout)
        return msgs[0] if msgs else None

    def consume(self, num_messages: int = 1, timeout: float | None = None) -> list[Any]:
        """Up to num_messages records, as soon as there are some, or [] when
        timeout (seconds; None: wait) ends first."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            if self._closed:
                raise ClientClosedError(f"consumer group {self.group}: closed")
            if not self._enter(deadline):
                return []
            try:
                if self._closed:
                    raise ClientClosedError(f"consumer group {self.group}: closed")
                if self._cl is None:
                    raise GeomeshError(f"consumer group {self.group}: no client in region {self._region} (a switch failed)")
                left = POLL_SLICE if deadline is None else min(POLL_SLICE, max(0.0, deadline - time.monotonic()))
                msgs = self._cl.consume(num_messages, left)
                if msgs:
                    msgs = self._process(msgs)
                    if msgs:
                        return msgs
            finally:
                self._mu.release()
            if deadline is not None and time.monotonic() >= deadline:
                return []

    def _process(self, msgs: list[Any]) -> list[Any]:
        for m in msgs:
            if m.error() is None:
                self._last.note(m)
        if self._before:
            msgs, dropped = self._before.filter(self._region, msgs)
            if dropped:
                log.info(
                    "consumer group %s: dropped %d copies of records read before the switch, in region %s",
                    self.group, dropped, self._region,
                )
        return msgs

    def commit(self) -> None:
        """Commits the offsets of every record poll has returned."""
        with self._mu:
            if self._closed or self._cl is None:
                raise ClientClosedError(f"consumer group {self.group}: closed")
            try:
                self._cl.commit(asynchronous=False)
            except Exception as e:
                if self._backend.is_no_offset(e):
                    return
                raise GeomeshError(f"consumer group {self.group}: commit in region {self._region}: {e}") from e

    # --- switching ---

    def switch(self, region: str, *, stop: threading.Event | None = None) -> None:
        """Moves the group to region, which must hold copies of the
        consumer's topics (a planned flow from their origin):

        1. it commits the offsets of every record poll returned in the old
           region and leaves the group there;
        2. it waits until no member of the group is left in the old region
           (every instance of the application switches);
        3. it asks region's agents (GET /v1/translate) for those offsets
           translated exactly, asking again while the copier catches up;
        4. it commits them in region unless the group has already moved on
           there, and joins the group in region, starting no lower.

        If the old region does not take the final commit within
        commit_timeout, it counts as gone: the group resumes from the
        offsets the agents synced in region, which skips nothing, and poll
        drops the copies of the records this instance read in the old
        region (known by their provenance headers), so it reads none of
        them twice.

        If the translation fails while the old region is up (no flow from
        it, or the copy lags more than switch_timeout), the consumer
        rejoins the old region and SwitchError is raised. ``stop``, when
        set, ends the waits early (a Follower closing).
        """
        data_region(self.mesh, region)
        new_topics = self.topics_in(region)
        with self._cv:
            self._waiting += 1
        try:
            with self._mu:
                self._switch(region, new_topics, stop)
        finally:
            with self._cv:
                self._waiting -= 1
                self._cv.notify_all()

    def _switch(self, region: str, new_topics: list[str], stop: threading.Event | None) -> None:
        if self._closed:
            raise ClientClosedError(f"consumer group {self.group}: closed")
        old = self._region
        if region == old:
            return
        gone = self._leave()
        start: OffsetMap | None = None
        if not gone:
            try:
                start = self._final_offsets(old, region, time.monotonic() + self.switch_timeout, stop)
            except Exception as err:
                try:
                    self._cl = self._new_client(old, None)  # at the same offsets: _last still holds
                except Exception as rerr:
                    raise SwitchError(
                        f"consumer group {self.group}: switch from region {old} to {region}: {err}; rejoin {old}: {rerr}"
                    ) from err
                raise SwitchError(f"consumer group {self.group}: switch from region {old} to {region}: {err}") from err
            self._commit_start(region, start)
        before = ReadBefore()
        if gone:
            before = self._last.read_before(old)
            log.warning(
                "consumer group %s: region %s unreachable: resuming in %s from the offsets the agents synced, "
                "without the copies of records this instance read there (%d partitions)",
                self.group, old, region, len(before),
            )
        self._cl = self._new_client(region, start)
        self._region, self._last, self._before = region, LastRecords(), before
        log.info(
            "consumer group %s: switched from %s to %s: topics %s, %s",
            self.group, old, region, new_topics,
            "from the offsets the agents synced" if gone else f"starting at or after {_offsets(start)}",
        )

    def _leave(self) -> bool:
        """Commits the final offsets in the current region and leaves the
        group there, within commit_timeout; returns whether the region could
        not be reached. A client that does not close in time closes in the
        background (librdkafka bounds that by session.timeout.ms)."""
        cl = self._cl
        self._cl = None
        if cl is None:
            return True
        committed, closed = threading.Event(), threading.Event()
        failure: list[BaseException] = []

        def run() -> None:
            try:
                cl.commit(asynchronous=False)
            except Exception as e:
                if not self._backend.is_no_offset(e):
                    failure.append(e)
            committed.set()
            try:
                cl.close()
            except Exception as e:
                failure.append(e)
            closed.set()

        t = threading.Thread(target=run, name=f"geomesh-leave-{self.group}", daemon=True)
        t.start()
        self._closers = [c for c in self._closers if c.is_alive()] + [t]
        deadline = time.monotonic() + self.commit_timeout
        if not committed.wait(self.commit_timeout) or failure:
            log.warning("consumer group %s: final commit in region %s failed: %s", self.group, self._region, failure or "timed out")
            return True
        if not closed.wait(max(0.0, deadline - time.monotonic())) or failure:
            log.warning("consumer group %s: leaving region %s failed: %s", self.group, self._region, failure or "timed out")
            return True
        return False

    def _final_offsets(self, old: str, to: str, deadline: float, stop: threading.Event | None) -> OffsetMap:
        """Waits until the group has no member left in region old and
        returns its offsets there translated into region to."""
        self._wait_empty(old, deadline, stop)
        return self._translate(old, to, set(self.topics_in(old)), deadline, stop)

    def _wait_empty(self, region: str, deadline: float, stop: threading.Event | None) -> None:
        conf = self._conf(region)
        last: object = None
        while True:
            try:
                st = self._backend.group_state(conf, self.group, max(0.5, min(5.0, deadline - time.monotonic())))
                if st is None or st in ("EMPTY", "DEAD"):
                    return
                last = f"group {self.group} is {st.lower()} in region {region}: other members still consume there"
            except Exception as e:
                last = e
            _sleep(deadline, stop, f"wait for group {self.group} to leave region {region}", last)

    def _translate(self, from_: str, to: str, topics: set[str], deadline: float, stop: threading.Event | None) -> OffsetMap:
        """Asks the agents of region to for the group's committed offsets in
        region from_, translated, until every partition of the consumer's
        topics is translated or the deadline passes. A partition the copier
        has not reached ("behind") is asked again."""
        r = data_region(self.mesh, to)
        last: object = None
        while True:
            for a in r.agents:
                try:
                    res = self._ask_agent(a.api, from_, deadline)
                except NoFlowError:
                    raise
                except (OSError, GeomeshError) as e:
                    last = f"agent {a.id}: {e}"
                    continue
                try:
                    out, ends = translated(res, topics, self._resume_hint(to))
                    self._after_last_copies(from_, to, ends, out, deadline)
                    return out
                except (_NotYet, GeomeshError, OSError) as e:
                    last = f"agent {a.id}: {e}"
                    break  # the agent answered; asking its peers now would not help
            _sleep(deadline, stop, f"translate group {self.group} from region {from_} to {to}", last)

    def _ask_agent(self, addr: str, from_: str, deadline: float) -> TranslateResponse:
        try:
            return self._agents.translate(addr, self.group, from_, timeout=max(0.5, min(self._agents.timeout, deadline - time.monotonic())))
        except AgentError as e:
            if e.status == 400:
                raise NoFlowError(
                    f"translate group {self.group} from {from_} at agent {addr}: the agent cannot translate from this region: {e}"
                ) from None
            raise

    def _resume_hint(self, to: str) -> Callable[[Translation], tuple[str, int, int] | None]:
        """Answers, for a switch to region to, the partitions whose last
        record consumed is a copy of a record of to: the group resumes right
        after the original, in the topic the consumer reads there. The agent
        cannot answer for those when the flow back to to never copied them
        (they came from to)."""
        try:
            reads = set(self.topics_in(to))
        except GeomeshError:
            reads = set()
        last = self._last

        def hint(t: Translation) -> tuple[str, int, int] | None:
            lr = last.get(t.topic, t.partition)
            # Only when this instance read up to the group's final offset:
            # another member's partitions are the agent's to translate.
            if lr is None or lr.region != to or lr.offset + 1 != t.source_offset or lr.topic not in reads:
                return None
            return lr.topic, lr.partition, lr.origin_offset + 1

        return hint

    def _after_last_copies(self, from_: str, to: str, ends: list[Translation], out: OffsetMap, deadline: float) -> None:
        """Corrects the agent's "end" answers of an active-passive mesh:
        "end" is the target's last stable offset, right for a standby, but
        the consumer moves to a region that became primary, and producers
        that followed the flip may already have written there. Those
        records sit after the last copy from the old region; the group
        resumes right after that copy, found by reading back from the
        answer (up to SCAN_LIMIT records). A partition with no copy in that
        range keeps the agent's answer."""
        if self.mesh.kind != Kind.ACTIVE_PASSIVE or not ends:
            return
        pending = ends
        back = 64
        while pending:
            spans = {(t.target_topic, t.partition): (max(t.target_offset - back, 0), t.target_offset) for t in pending}
            found = self._last_copies(to, from_, spans, deadline)
            nxt = []
            for t in pending:
                k = (t.target_topic, t.partition)
                if k in found:
                    out[k] = found[k] + 1
                elif spans[k][0] > 0 and back < SCAN_LIMIT:
                    nxt.append(t)
            pending = nxt
            back *= 4

    def _last_copies(self, to: str, from_: str, spans: Mapping[tuple[str, int], tuple[int, int]], deadline: float) -> dict[tuple[str, int], int]:
        """Reads the span [start, end) of each partition in region to and
        returns, per partition, the offset of the last record there copied
        from region from_."""
        conf = self._conf(to)
        conf.update(
            {
                "group.id": f"geomesh-scan-{uuid.uuid4().hex}",  # never joined: partitions are assigned
                "enable.auto.commit": False,
                "isolation.level": "read_committed",
                "auto.offset.reset": "earliest",
                "enable.auto.offset.store": False,
            }
        )
        cl = self._backend.new_consumer(conf)
        try:
            cl.assign([self._backend.topic_partition(t, p, sp[0]) for (t, p), sp in spans.items()])
            found: dict[tuple[str, int], int] = {}
            done: set[tuple[str, int]] = set()
            wait = 2.0  # the first fetch also connects
            while len(done) < len(spans):
                # A poll that returns nothing has reached the ends: records
                # up to them are stable, and the offsets just below are
                # often transaction markers, never returned.
                left = deadline - time.monotonic()
                if left <= 0:
                    raise GeomeshError(f"region {to}: read back for the last copies from {from_}: timed out")
                msgs = cl.consume(500, min(wait, left))
                wait = 0.3
                n = 0
                for m in msgs:
                    if m.error() is not None:
                        continue
                    k = (m.topic(), m.partition())
                    if k in done or k not in spans:
                        continue
                    n += 1
                    end = spans[k][1]
                    off = m.offset()
                    if off >= end - 1:
                        done.add(k)
                    if off >= end:
                        continue
                    if header(m.headers(), HEADER_ORIGIN_REGION) == from_.encode():
                        found[k] = off
                if n == 0:
                    break
            return found
        finally:
            cl.close()

    def _commit_start(self, region: str, start: OffsetMap) -> None:
        """Commits the translated offsets in region before the group joins
        there, so that its committed offsets (what `geomesh translate`, lag
        monitors and a restart see) are right at once. Offsets the group has
        passed there are left alone; a refusal because other instances are
        already members is expected (the join raises the offsets anyway)."""
        conf = self._conf(region)
        try:
            have = self._backend.committed_offsets(conf, self.group, sorted(start), self.commit_timeout)
            to = {k: at for k, at in start.items() if have.get(k, -1) < at}
            if to:
                self._backend.commit_offsets(conf, self.group, to, self.commit_timeout)
        except Exception as e:
            log.warning("consumer group %s: commit translated offsets in region %s before joining: %s", self.group, region, e)

    # --- lifecycle ---

    def close(self) -> None:
        """Commits the offsets of the records poll returned, leaves the group
        and closes the client, within commit_timeout. Idempotent."""
        with self._cv:
            self._waiting += 1
        try:
            with self._mu:
                if self._closed:
                    return
                self._closed = True
                gone = self._leave()
        finally:
            with self._cv:
                self._waiting -= 1
                self._cv.notify_all()
        deadline = time.monotonic() + (0 if gone else self.commit_timeout)
        for t in self._closers:
            t.join(timeout=max(0.0, deadline - time.monotonic()))
        if gone:
            raise GeomeshError(f"consumer group {self.group}: final commit in region {self._region} failed")

    def __enter__(self) -> Consumer:
        return self

    def __exit__(self, *exc: object) -> None:
        try:
            self.close()
        except GeomeshError as e:
            log.warning("%s", e)

    # --- followed by a Follower ---

    def _followed(self) -> FollowedClient:
        return FollowedClient(producer=False, home=self.home, writer=follows_writer(self.mesh, False, self.home), region=self._region)

    def _follow_name(self) -> str:
        return f"consumer group {self.group}"

    def _apply(self, m: Move, stop: threading.Event | None = None) -> None:
        if m.switch_to:
            self.switch(m.switch_to, stop=stop)


def translated(
    res: TranslateResponse, topics: set[str], hint: Callable[[Translation], tuple[str, int, int] | None] | None
) -> tuple[OffsetMap, list[Translation]]:
    """Keeps the partitions of the consumer's topics, or says (_NotYet)
    which one is not translated yet. hint may answer for a partition
    instead of the agent. Returns the offsets and the partitions the agent
    answered "end" for."""
    out: OffsetMap = {}
    ends: list[Translation] = []
    for t in res.partitions:
        if t.topic not in topics:
            continue
        if hint is not None:
            h = hint(t)
            if h is not None:
                out[(h[0], h[1])] = h[2]
                continue
        if t.state == TranslationState.END:
            ends.append(t)
            out[(t.target_topic, t.partition)] = t.target_offset
        elif t.state in (TranslationState.COPIED, TranslationState.TRUNCATED):
            out[(t.target_topic, t.partition)] = t.target_offset
        elif t.state == "":
            raise _NotYet(f"topic {t.topic} partition {t.partition}: {t.error}")
        else:
            raise _NotYet(f"topic {t.topic} partition {t.partition} at {t.source_offset}: {t.state}")
    return out, ends


def _offsets(start: OffsetMap | None) -> str:
    """start as topic[partition]@offset, in order, for a log line."""
    return ", ".join(f"{t}[{p}]@{o}" for (t, p), o in sorted((start or {}).items())) or "nothing"


def _sleep(deadline: float, stop: threading.Event | None, what: str, last: object) -> None:
    left = deadline - time.monotonic()
    if left <= 0:
        raise GeomeshError(f"{what}: timed out (last: {last})")
    if stop is not None:
        if stop.wait(min(RETRY, left)):
            raise GeomeshError(f"{what}: stopped (last: {last})")
    else:
        time.sleep(min(RETRY, left))
