"""Wire types of the agents' HTTP API (Go package api): the mesh state of
GET /v1/failover and the translations of GET /v1/translate.

Parsing is lenient by default (a newer agent may add keys); ``strict=True``
refuses unknown keys, which the shared decision table's test uses so that a
key added for one language is not ignored by another unnoticed.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from .topology import Kind


class Role:
    """What a region does in the mesh at an epoch (Go api.Role)."""

    PRIMARY = "primary"
    STANDBY = "standby"
    FENCED = "fenced"
    ACTIVE = "active"
    EVACUATED = "evacuated"
    HUB = "hub"
    STANDBY_HUB = "standby-hub"
    SPOKE = "spoke"
    WITNESS = "witness"


class Decision:
    """The kind of a state change (Go api.Decision)."""

    INIT = "init"
    FAILOVER = "failover"
    EVACUATE = "evacuate"
    SWITCH_START = "switchover-started"
    SWITCHOVER = "switchover"
    SWITCH_ABORT = "switchover-aborted"
    REJOIN = "rejoin"


class ControlPlane:
    """The values of FailoverStatus.control_plane."""

    REACHABLE = "reachable"
    UNREACHABLE = "unreachable"
    CONNECTING = "connecting"
    STOPPED = "stopped"


class TranslationState:
    """How far a translated offset can be trusted (docs/offsets.md)."""

    COPIED = "copied"
    END = "end"
    BEHIND = "behind"
    TRUNCATED = "truncated"


def writer_role(kind: str) -> str:
    """The role that takes the writes a quorum hands between the regions
    of a mesh of this kind; "" for an unknown kind."""
    return {Kind.ACTIVE_PASSIVE: Role.PRIMARY, Kind.HUB_SPOKE: Role.HUB, Kind.ACTIVE_ACTIVE: Role.ACTIVE}.get(kind, "")


def single_writer(kind: str) -> bool:
    """Whether a mesh of this kind has one writer at a time: active-passive
    (the primary) and hub-spoke (the hub)."""
    return kind in (Kind.ACTIVE_PASSIVE, Kind.HUB_SPOKE)


class _Fields:
    """Reads the keys of one JSON object, refusing unknown ones when strict."""

    def __init__(self, obj: Any, where: str, known: tuple[str, ...], strict: bool) -> None:
        if not isinstance(obj, Mapping):
            raise ValueError(f"{where}: want an object, got {type(obj).__name__}")
        if strict:
            unknown = sorted(set(obj) - set(known))
            if unknown:
                raise ValueError(f"{where}: unknown key(s) {', '.join(map(repr, unknown))}")
        self.obj = obj
        self.where = where

    def text(self, key: str) -> str:
        v = self.obj.get(key)
        if v is None:
            return ""
        if not isinstance(v, str):
            raise ValueError(f"{self.where}.{key}: want a string, got {v!r}")
        return v

    def integer(self, key: str, default: int = 0) -> int:
        v = self.obj.get(key)
        if v is None:
            return default
        if isinstance(v, bool) or not isinstance(v, int):
            raise ValueError(f"{self.where}.{key}: want an integer, got {v!r}")
        return v

    def flag(self, key: str) -> bool:
        v = self.obj.get(key)
        if v is None:
            return False
        if not isinstance(v, bool):
            raise ValueError(f"{self.where}.{key}: want true or false, got {v!r}")
        return v


@dataclass(frozen=True)
class RegionState:
    """One region's entry in the mesh state."""

    role: str
    #: For an evacuated region, the region that serves its clients meanwhile.
    clients_to: str = ""

    @classmethod
    def from_dict(cls, d: Any, *, strict: bool = False, where: str = "region") -> RegionState:
        f = _Fields(d, where, ("role", "clients_to"), strict)
        return cls(role=f.text("role"), clients_to=f.text("clients_to"))


@dataclass(frozen=True)
class Switch:
    """A planned move of writes from ``from_`` to ``to`` in progress: the
    producers of ``clients`` (the clients whose home is that region) that
    write to ``from_`` pause until replication has drained."""

    from_: str
    to: str
    clients: str = ""
    #: RFC 3339 time, as the agent sent it.
    started: str = ""

    @classmethod
    def from_dict(cls, d: Any, *, strict: bool = False, where: str = "switch") -> Switch:
        f = _Fields(d, where, ("from", "to", "clients", "started"), strict)
        return cls(from_=f.text("from"), to=f.text("to"), clients=f.text("clients"), started=f.text("started"))


@dataclass(frozen=True)
class State:
    """The mesh state kept in the control plane (Go api.State): one value,
    changed only by compare-and-set, each change one epoch higher."""

    epoch: int
    regions: Mapping[str, RegionState] = field(default_factory=dict)
    switch: Switch | None = None
    decision: str = ""
    from_: str = ""
    to: str = ""
    reason: str = ""
    #: RFC 3339 time of the decision, as the agent sent it.
    time: str = ""

    def role(self, region: str) -> str:
        """The role of region, "" if it is not in the state."""
        rs = self.regions.get(region)
        return rs.role if rs is not None else ""

    def writers(self, kind: str) -> list[str]:
        """The regions this state lets take writes in a mesh of kind, sorted:
        those in the kind's writer role."""
        w = writer_role(kind)
        return sorted(r for r, rs in self.regions.items() if w and rs.role == w)

    def sole_writer(self, kind: str) -> str:
        """The region holding the one writer role of an active-passive or
        hub-spoke mesh (the primary or the hub); "" if nobody holds it
        (or more than one region does), or in an active-active mesh."""
        ws = self.writers(kind)
        if single_writer(kind) and len(ws) == 1:
            return ws[0]
        return ""

    @classmethod
    def from_dict(cls, d: Any, *, strict: bool = False, where: str = "state") -> State:
        f = _Fields(d, where, ("epoch", "regions", "switch", "decision", "from", "to", "reason", "time"), strict)
        raw_regions = d.get("regions") or {}
        if not isinstance(raw_regions, Mapping):
            raise ValueError(f"{where}.regions: want an object")
        regions = {
            str(name): RegionState.from_dict(rs, strict=strict, where=f"{where}.regions.{name}")
            for name, rs in raw_regions.items()
        }
        sw = d.get("switch")
        return cls(
            epoch=f.integer("epoch"),
            regions=regions,
            switch=Switch.from_dict(sw, strict=strict, where=f"{where}.switch") if sw is not None else None,
            decision=f.text("decision"),
            from_=f.text("from"),
            to=f.text("to"),
            reason=f.text("reason"),
            time=f.text("time"),
        )


@dataclass(frozen=True)
class FailoverStatus:
    """The decision plane as one agent sees it: the body of GET /v1/failover.

    The fields a client needs are typed; ``raw`` holds the whole answer
    (views, flows, events, alerts, stranded records ...).
    """

    control_plane: str
    state: State | None
    mesh: str = ""
    region: str = ""
    agent: str = ""
    revision: int = 0
    role: str = ""
    epoch: int = 0
    fenced: bool = False
    raw: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_dict(cls, d: Any) -> FailoverStatus:
        f = _Fields(d, "failover status", (), False)
        st = d.get("state")
        return cls(
            control_plane=f.text("control_plane"),
            state=State.from_dict(st) if st is not None else None,
            mesh=f.text("mesh"),
            region=f.text("region"),
            agent=f.text("agent"),
            revision=f.integer("revision"),
            role=f.text("role"),
            epoch=f.integer("epoch"),
            fenced=f.flag("fenced"),
            raw=dict(d),
        )


@dataclass(frozen=True)
class Translation:
    """One partition of a group's offsets translated from a source region
    into the agent's region. ``error`` is set, and ``state`` empty, when the
    partition could not be translated."""

    topic: str
    partition: int
    source_offset: int
    target_topic: str
    target_offset: int
    state: str = ""
    origin_offset: int = 0
    error: str = ""

    @classmethod
    def from_dict(cls, d: Any, *, where: str = "partition") -> Translation:
        f = _Fields(d, where, (), False)
        return cls(
            topic=f.text("topic"),
            partition=f.integer("partition"),
            source_offset=f.integer("source_offset"),
            target_topic=f.text("target_topic"),
            target_offset=f.integer("target_offset"),
            state=f.text("state"),
            origin_offset=f.integer("origin_offset"),
            error=f.text("error"),
        )


@dataclass(frozen=True)
class TranslateResponse:
    """The body of GET /v1/translate?group=G&from=R."""

    group: str
    from_: str
    to: str
    partitions: tuple[Translation, ...] = ()

    @classmethod
    def from_dict(cls, d: Any) -> TranslateResponse:
        f = _Fields(d, "translation", (), False)
        parts = d.get("partitions") or []
        if not isinstance(parts, list):
            raise ValueError("translation.partitions: want a list")
        return cls(
            group=f.text("group"),
            from_=f.text("from"),
            to=f.text("to"),
            partitions=tuple(Translation.from_dict(p, where=f"translation.partitions[{i}]") for i, p in enumerate(parts)),
        )
