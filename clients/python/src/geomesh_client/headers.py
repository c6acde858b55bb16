"""Provenance headers and what a consumer remembers of what it read
(Go client/headers.go and the provenance part of client/translate.go).

The header names are a wire contract between geomesh versions: the mirror
engine writes them on every copy (Go mirror.HeaderOrigin*; the Go test
TestHeadersMatchMirror pins client's copy of them, and this module's test
pins these to client/headers.go).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple, Protocol

HEADER_ORIGIN_REGION = "geomesh-origin-region"
HEADER_ORIGIN_TOPIC = "geomesh-origin-topic"
HEADER_ORIGIN_PARTITION = "geomesh-origin-partition"
HEADER_ORIGIN_OFFSET = "geomesh-origin-offset"
HEADER_VISITED = "geomesh-visited"

#: The header an application sets, to any unique bytes, on records it may
#: write twice (a retry after an error or a switch of region); the
#: ``record_ids`` producer option sets it.
HEADER_RECORD_ID = "geomesh-record-id"

Headers = Sequence[tuple[str, "bytes | str | None"]]


class MessageLike(Protocol):
    """What this library reads of a confluent_kafka.Message."""

    def topic(self) -> str | None: ...

    def partition(self) -> int | None: ...

    def offset(self) -> int | None: ...

    def headers(self) -> Any: ...

    def error(self) -> Any: ...


def header(headers: Any, key: str) -> bytes | None:
    """The value of the first header named key (None if there is none).
    headers is what confluent_kafka gives: a list of (name, value) pairs or
    None; a str value is encoded as UTF-8."""
    if not headers:
        return None
    items: Iterable[tuple[str, Any]] = headers.items() if isinstance(headers, dict) else headers
    for k, v in items:
        if k == key:
            if v is None:
                return b""
            return v.encode() if isinstance(v, str) else bytes(v)
    return None


class Origin(NamedTuple):
    """The partition a record was first written to."""

    region: str
    topic: str
    partition: int


def provenance(msg: MessageLike) -> tuple[Origin, int] | None:
    """The origin and origin offset a copy carries in its headers; None for
    a record produced where it is (or with malformed headers)."""
    hs = msg.headers()
    region = header(hs, HEADER_ORIGIN_REGION)
    topic = header(hs, HEADER_ORIGIN_TOPIC)
    part = header(hs, HEADER_ORIGIN_PARTITION)
    off = header(hs, HEADER_ORIGIN_OFFSET)
    if region is None or topic is None or part is None or off is None:
        return None
    try:
        p, o = int(part.decode("ascii")), int(off.decode("ascii"))
        return Origin(region.decode(), topic.decode(), p), o
    except (UnicodeDecodeError, ValueError):
        return None


@dataclass(frozen=True)
class LastRecord:
    """The last record returned in one partition, and its origin if it is a
    copy (``region`` "" for a record produced where it is)."""

    offset: int
    region: str = ""
    topic: str = ""
    partition: int = 0
    origin_offset: int = 0


class LastRecords:
    """Per topic and partition, the provenance of the last record returned."""

    def __init__(self) -> None:
        self._last: dict[tuple[str, int], LastRecord] = {}

    def note(self, msg: MessageLike) -> None:
        topic, part, off = msg.topic(), msg.partition(), msg.offset()
        if topic is None or part is None or off is None:
            return
        p = provenance(msg)
        if p is None:
            self._last[(topic, part)] = LastRecord(offset=off)
        else:
            o, origin_offset = p
            self._last[(topic, part)] = LastRecord(off, o.region, o.topic, o.partition, origin_offset)

    def get(self, topic: str, partition: int) -> LastRecord | None:
        return self._last.get((topic, partition))

    def __len__(self) -> int:
        return len(self._last)

    def read_before(self, region: str) -> ReadBefore:
        """The last records read in region (where they were noted), by origin."""
        rb = ReadBefore()
        for (topic, part), lr in self._last.items():
            if lr.region == "":
                rb[Origin(region, topic, part)] = lr.offset
            else:
                rb[Origin(lr.region, lr.topic, lr.partition)] = lr.origin_offset
        return rb


class ReadBefore(dict[Origin, int]):
    """After a switch away from a region that could not be reached: the
    origin offset of the last record this instance read there, per origin
    partition. The group resumes in the new region from offsets synced a
    while before, so the copies of those records, and of the ones before
    them, come again; ``filter`` drops them."""

    def filter(self, region: str, msgs: Iterable[MessageLike]) -> tuple[list[Any], int]:
        """The records of msgs, read in region, that are not copies of
        records read before, and how many were dropped. A copy keeps its
        origin's order, so an origin partition is forgotten at its first
        record past the one read before. Records with an error pass."""
        kept: list[Any] = []
        dropped = 0
        for m in msgs:
            if m.error() is not None:
                kept.append(m)
                continue
            p = provenance(m)
            if p is None:
                o, off = Origin(region, m.topic() or "", m.partition() or 0), m.offset() or 0
            else:
                o, off = p
            last = self.get(o)
            if last is not None:
                if off <= last:
                    dropped += 1
                    continue
                del self[o]
            kept.append(m)
        return kept, dropped
