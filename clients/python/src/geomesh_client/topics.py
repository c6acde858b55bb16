"""Topic names across regions and who takes writes (Go client/topics.go)."""

from __future__ import annotations

from collections.abc import Sequence

from .errors import GeomeshError, NotPrimaryError
from .topology import Flow, Kind, Mesh, Naming, Region


def default_origin(m: Mesh) -> str:
    """The region whose topics a consumer reads when no origin is given:
    the primary or the hub; "" for active-active (the start region)."""
    if m.kind == Kind.ACTIVE_PASSIVE:
        return m.roles.primary
    if m.kind == Kind.HUB_SPOKE:
        return m.roles.hub
    return ""


def default_writer(m: Mesh) -> str:
    """The region a Producer writes to when no region is given."""
    return default_origin(m)


def data_region(m: Mesh, name: str) -> Region:
    """The region called name, which must have a Kafka cluster."""
    r = m.region(name)
    if r is None:
        raise GeomeshError(f"mesh {m.name} has no region {name!r} (regions: {', '.join(m.data_regions())})")
    if r.kafka is None:
        raise GeomeshError(f"region {name} of mesh {m.name} is a witness: it has no Kafka cluster")
    return r


def topic_in(m: Mesh, flows: Sequence[Flow], origin: str, region: str, topic: str) -> str:
    """The topic in region that holds the records of topic as produced in
    origin: the topic itself in the origin region, elsewhere the copy the
    planned flow from origin makes."""
    if region == origin:
        return topic
    for f in flows:
        if f.source == origin and f.target == region:
            if not f.selects(topic):
                raise GeomeshError(f"mesh {m.name} does not copy topic {topic} from region {origin} to {region}")
            return f.target_topic(topic)
    raise GeomeshError(
        f"mesh {m.name} has no flow from region {origin} to {region}, so region {region} holds no copy of topic {topic}"
    )


def copy_of(flows: Sequence[Flow], region: str, topic: str) -> Flow | None:
    """The planned flow that writes topic in region as the copy of a topic
    of another region, if there is one."""
    for f in flows:
        if f.target != region:
            continue
        src = topic
        if f.naming == Naming.PREFIX:
            if not topic.startswith(f.source + "."):
                continue
            src = topic[len(f.source) + 1 :]
        if f.selects(src) and f.target_topic(src) == topic:
            return f
    return None


def check_write(m: Mesh, flows: Sequence[Flow], primary: str, region: str, topic: str) -> None:
    """Raises NotPrimaryError unless region takes writes of topic, given the
    region that is primary (active-passive) or hub (hub-spoke) now.

    - active-passive: only the primary takes writes.
    - active-active: every region, except to the copies of other regions'
      topics under prefix naming.
    - hub-spoke: the hub, except to the spokes' aggregated topics; a spoke,
      except to the topics the hub broadcasts to it; the standby hub (until
      it is the hub) and a failed hub take none.
    """
    if m.kind == Kind.ACTIVE_PASSIVE:
        if region != primary:
            raise NotPrimaryError(
                f"produce to {topic} in region {region}: region is not primary for the topic: "
                f"{primary} is the primary of mesh {m.name}"
            )
        return
    if m.kind == Kind.HUB_SPOKE:
        if region == primary:
            for s in m.roles.spokes:
                if topic.startswith(s + "."):
                    raise NotPrimaryError(
                        f"produce to {topic} in region {region}: region is not primary for the topic: "
                        f"it holds the copies of spoke {s}"
                    )
            return
        if region not in m.roles.spokes:
            raise NotPrimaryError(
                f"produce to {topic} in region {region}: region is not primary for the topic: "
                f"{primary} is the hub of mesh {m.name}"
            )
    f = copy_of(flows, region, topic)
    if f is not None and not (m.kind == Kind.ACTIVE_ACTIVE and f.naming == Naming.IDENTITY):
        raise NotPrimaryError(
            f"produce to {topic} in region {region}: region is not primary for the topic: "
            f"it is the copy of region {f.source}'s topic that the mesh writes"
        )
