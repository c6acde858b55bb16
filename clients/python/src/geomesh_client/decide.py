"""The follow decision, ported exactly from Go client/decide.go.

Pure functions over dataclasses: no I/O, no clock. The shared table
client/testdata/decide.json (run by the Go, Java and Python tests) pins
them.
"""

from __future__ import annotations

from dataclasses import dataclass

from .state import Role, State
from .topology import Kind, Mesh


@dataclass(frozen=True)
class FollowedClient:
    """What ``decide`` knows of one client."""

    producer: bool
    #: The region the client started in: in an active-active mesh the
    #: clients of home move together when it is evacuated.
    home: str
    #: The client lives on the writer region of an active-passive or
    #: hub-spoke mesh and follows it (see ``follows_writer``). A consumer
    #: started in a standby or a spoke stays there.
    writer: bool
    #: Where it is now.
    region: str
    paused: bool = False


@dataclass(frozen=True)
class Move:
    """What a client does on a new mesh state: pause first, then switch,
    then resume, so that no record reaches a region the mesh no longer
    writes to. ``switch_to`` "" means stay."""

    pause: bool = False
    switch_to: str = ""
    resume: bool = False

    def __bool__(self) -> bool:
        return self.pause or bool(self.switch_to) or self.resume


def decide(kind: str, c: FollowedClient, old: State | None, cur: State | None) -> Move:
    """What client c does when the mesh state it follows goes from old
    (None before the first) to cur.

    It compares levels, not edges: where cur wants the client and whether
    it wants it paused, so that states skipped between two reads (a whole
    planned switch, say) still land the client where it belongs. A state
    older than old changes nothing: an agent that has not seen the latest
    decision yet.
    """
    if cur is None or (old is not None and cur.epoch < old.epoch):
        return Move()
    switch_to = ""
    to = want_region(kind, c, cur)
    if to and to != c.region:
        switch_to = to
    pause = want_paused(kind, c, cur)
    return Move(pause=pause and not c.paused, switch_to=switch_to, resume=not pause and c.paused)


def want_region(kind: str, c: FollowedClient, cur: State) -> str:
    """Where cur wants the client, "" to stay."""
    if kind == Kind.ACTIVE_ACTIVE:
        rs = cur.regions.get(c.home)
        role = rs.role if rs is not None else ""
        if role == Role.ACTIVE:
            return c.home
        if role == Role.EVACUATED and rs is not None:
            return rs.clients_to
        return ""
    if not c.writer:
        return ""
    # None, or a state no decision makes: stay put.
    return cur.sole_writer(kind)


def want_paused(kind: str, c: FollowedClient, cur: State) -> bool:
    """A planned switch moves the writes of the client's region."""
    sw = cur.switch
    if not c.producer or sw is None or sw.from_ != c.region:
        return False
    if kind == Kind.ACTIVE_ACTIVE:
        return sw.clients == c.home
    return c.writer


def follows_writer(m: Mesh, producer: bool, home: str) -> bool:
    """Whether a client that started in home follows the writer region of
    mesh m: every producer of an active-passive mesh, and the consumers
    that started on the file's primary (active-passive) or hub
    (hub-spoke)."""
    if m.kind == Kind.ACTIVE_PASSIVE:
        return producer or home == m.roles.primary
    if m.kind == Kind.HUB_SPOKE:
        return home == m.roles.hub
    return False
