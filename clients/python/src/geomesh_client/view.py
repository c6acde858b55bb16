"""The keyed view: the latest version of every key of topics that several
regions write, resolved the same way in every region (Go client/view.go).
The table client/testdata/view.json pins it for Go, Java and Python alike."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from .errors import GeomeshError
from .headers import HEADER_ORIGIN_OFFSET, HEADER_ORIGIN_PARTITION, HEADER_ORIGIN_REGION, HEADER_RECORD_ID, header
from .topics import data_region
from .topology import Mesh

DEDUPE_WINDOW = 100_000


class Outcome:
    """What KeyedView.apply did with a record."""

    APPLIED = "applied"  # the record is now its key's version
    STALE = "stale"  # the key holds a newer version; the record lost
    # A record with the same geomesh-record-id was applied before, within
    # the dedupe window: the application must not act on it again. It still
    # took part in resolving its key, so every region ends the same.
    DUPLICATE = "duplicate"


@dataclass(frozen=True)
class Version:
    """One version of a key. region, partition and offset say where it was
    first written: from a copy's provenance headers, else where it was read."""

    key: Any
    value: Any  # None: a tombstone
    timestamp: int  # ms, which a copy keeps from its origin
    region: str
    partition: int
    offset: int

    @property
    def deleted(self) -> bool:
        return self.value is None


class KeyedView:
    """The latest version of every key of topics that several regions write
    (active-active with identity naming, or a local topic and its prefixed
    copies read together). Versions of a key resolve last-writer-wins by
    origin timestamp; equal timestamps by the region order (the mesh's data
    regions in file order, or ``region_order``); equal regions by origin
    partition, then offset. The result depends only on the set of records
    applied, not on their order, so the views of all regions agree once each
    has applied every record.

    ``apply`` takes what confluent_kafka's poll returns (key, value,
    timestamp, headers, partition, offset). Not thread-safe: feed it from
    the poll loop.

    :param region: the region the application reads in: records without
        provenance headers were written there.
    :param dedupe_window: how many record ids the view remembers, oldest
        forgotten first; default 100,000.
    """

    def __init__(self, mesh: Mesh, region: str, *, region_order: Sequence[str] | None = None,
                 dedupe_window: int = DEDUPE_WINDOW) -> None:
        try:
            data_region(mesh, region)
        except GeomeshError as e:
            raise GeomeshError(f"keyed view: {e}") from None
        if dedupe_window < 0:
            raise GeomeshError(f"keyed view in region {region}: dedupe window {dedupe_window} is negative")
        self._local = region
        self._rank: dict[str, int] = {}
        for i, r in enumerate(mesh.data_regions() if region_order is None else region_order):
            self._rank.setdefault(r, i)
        self._keys: dict[Any, Version] = {}
        self._live = 0
        self._ids: set[bytes] = set()
        self._ring: list[bytes | None] = [None] * dedupe_window
        self._next = 0

    def apply(self, msg: Any) -> str:
        """Resolves msg against its key's current version and returns the
        Outcome. Raises GeomeshError for a record without a key or a copy
        whose provenance headers do not parse."""
        where = f"topic {msg.topic()} partition {msg.partition()} offset {msg.offset()}"
        key = msg.key()
        if key is None:
            raise GeomeshError(f"keyed view: {where}: record has no key")
        ver = self._version(msg, where)
        dup = False
        rid = header(msg.headers(), HEADER_RECORD_ID)
        if rid and self._ring:
            dup = self._seen(rid)
        cur = self._keys.get(key)
        won = cur is None or self._newer(ver, cur)
        if won:
            if cur is None or cur.deleted:
                self._live += 1
            if ver.deleted:
                self._live -= 1
            self._keys[key] = ver
        if dup:
            return Outcome.DUPLICATE
        return Outcome.APPLIED if won else Outcome.STALE

    def _version(self, msg: Any, where: str) -> Version:
        _, ts = msg.timestamp()
        hs = msg.headers()
        origin = header(hs, HEADER_ORIGIN_REGION)
        if origin is None:
            return Version(msg.key(), msg.value(), ts, self._local, msg.partition(), msg.offset())
        p, o = header(hs, HEADER_ORIGIN_PARTITION), header(hs, HEADER_ORIGIN_OFFSET)
        try:
            part, off = int(p or b""), int(o or b"")
        except ValueError:
            raise GeomeshError(f"keyed view: {where}: bad provenance headers: partition {p!r}, offset {o!r}") from None
        return Version(msg.key(), msg.value(), ts, origin.decode(), part, off)

    def _newer(self, a: Version, b: Version) -> bool:
        if a.timestamp != b.timestamp:
            return a.timestamp > b.timestamp
        if a.region != b.region:
            ra, rb = self._rank.get(a.region), self._rank.get(b.region)
            if ra is not None and rb is not None:
                return ra < rb
            if (ra is None) != (rb is None):
                return ra is not None
            return a.region < b.region
        if a.partition != b.partition:
            return a.partition > b.partition
        return a.offset > b.offset

    def _seen(self, rid: bytes) -> bool:
        if rid in self._ids:
            return True
        old = self._ring[self._next]
        if old is not None:
            self._ids.discard(old)
        self._ring[self._next] = rid
        self._next = (self._next + 1) % len(self._ring)
        self._ids.add(rid)
        return False

    def get(self, key: Any) -> Version | None:
        """The key's version; None when it was never written or is deleted."""
        cur = self._keys.get(key)
        return None if cur is None or cur.deleted else cur

    def __len__(self) -> int:
        """The number of keys with a live (not deleted) version."""
        return self._live

    def __iter__(self) -> Iterator[Version]:
        """Every live version, in no particular order."""
        return (v for v in self._keys.values() if not v.deleted)
