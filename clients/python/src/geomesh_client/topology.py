"""The part of a geomesh topology a client needs (Go package topology).

A client needs, per region, its Kafka connection and its agents' API
addresses; the topology kind and the roles of the file; the ``api`` section
(TLS, read token); and the topic selection and naming that say what a
topic's copy is called in another region (``plan``, Go topology.Plan).

``load_topology(path)`` reads the YAML file the agents run with (PyYAML,
the one dependency besides confluent-kafka); ``parse_topology(text)`` and
``mesh_from_dict(d)`` do the same from a string or an already-parsed
mapping, and every class here can be built directly too.

This is not the validator: ``geomesh validate`` checks a file strictly,
with positions. The loader reads the sections above, ignores the others
(replication, failover, gossip, control_plane ...), applies the same
defaults as the Go code (topics and groups ``.*``, naming by kind) and
refuses what would make the client wrong (an unknown kind, a role naming
no data region, a data region without bootstrap, a malformed secret
reference, a pattern that does not compile), every problem at once.

Patterns are full-match regular expressions, as in Go. Go's RE2 syntax and
Python's ``re`` agree on the usual constructs (classes, alternation,
repetition, groups, anchors); RE2-only syntax such as ``\\pL`` or ``\\z``
is reported as a problem rather than matched differently.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import yaml

from .errors import SecretError, TopologyError


class Kind:
    """The shape of a mesh (Go topology.Kind)."""

    ACTIVE_PASSIVE = "active-passive"
    ACTIVE_ACTIVE = "active-active"
    HUB_SPOKE = "hub-spoke"

    ALL = (ACTIVE_PASSIVE, ACTIVE_ACTIVE, HUB_SPOKE)


class Naming:
    """The name a topic's copy gets in the target cluster."""

    PREFIX = "prefix"  # "<source-region>.<topic>"
    IDENTITY = "identity"  # the same name


class FlowKind:
    REPLICATE = "replicate"
    AGGREGATE = "aggregate"
    BROADCAST = "broadcast"
    STANDBY = "standby"


_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


@dataclass(frozen=True)
class Secret:
    """A reference to a credential kept outside the topology file:
    ``env:NAME`` reads an environment variable, ``file:/path`` a file.
    It is resolved on every use, so a rotated token file is picked up at
    once. ``str()`` shows the reference, never a value."""

    ref: str

    def problem(self) -> str | None:
        """What is wrong with the reference, without quoting it (a malformed
        reference is most often the secret itself pasted inline)."""
        if self.ref.startswith("env:"):
            if not _ENV_NAME.match(self.ref[4:]):
                return "env: needs an environment variable name of letters, digits and '_'"
            return None
        if self.ref.startswith("file:"):
            if not self.ref[5:]:
                return "file: needs a path"
            return None
        return (
            "must be a reference to a secret, not the secret itself: write env:VARIABLE "
            "or file:/path/to/secret and keep the value there"
        )

    def __str__(self) -> str:
        return "[redacted]" if self.problem() else self.ref

    def __repr__(self) -> str:
        return f"Secret({str(self)!r})"

    def resolve(self) -> str:
        """Reads the secret. A trailing newline is not part of it."""
        p = self.problem()
        if p:
            raise SecretError(f"secret {self}: {p}")
        if self.ref.startswith("env:"):
            name = self.ref[4:]
            v = os.environ.get(name)
            if v is None:
                raise SecretError(f"secret {self.ref}: environment variable {name} is not set")
            return v
        path = self.ref[5:]
        try:
            with open(path, encoding="utf-8") as fh:
                return fh.read().rstrip("\r\n")
        except OSError as e:
            raise SecretError(f"secret {self.ref}: {e.strerror or e}") from None


def _compile(src: str) -> re.Pattern[str]:
    # Compiled alone first, so that "a)|(b" cannot escape the anchoring group.
    re.compile(src)
    return re.compile(f"(?:{src})")


@dataclass(frozen=True)
class Selection:
    """Picks topics or groups by name: full-match patterns; a name is
    selected when an include pattern matches and no exclude pattern does;
    an empty include selects nothing."""

    include: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()
    _inc: tuple[re.Pattern[str], ...] = field(default=(), init=False, repr=False, compare=False)
    _exc: tuple[re.Pattern[str], ...] = field(default=(), init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "include", tuple(self.include))
        object.__setattr__(self, "exclude", tuple(self.exclude))
        object.__setattr__(self, "_inc", tuple(_compile(p) for p in self.include))
        object.__setattr__(self, "_exc", tuple(_compile(p) for p in self.exclude))

    def match(self, name: str) -> bool:
        return any(r.fullmatch(name) for r in self._inc) and not any(r.fullmatch(name) for r in self._exc)


@dataclass(frozen=True)
class KafkaTLS:
    """TLS to a region's brokers (topology ``kafka.tls``)."""

    ca_file: str = ""
    cert_file: str = ""
    key_file: str = ""
    server_name: str = ""
    insecure_skip_verify: bool = False


@dataclass(frozen=True)
class OAuth:
    """The client credentials grant of sasl OAUTHBEARER (topology
    ``kafka.sasl.oauth``)."""

    token_endpoint: str
    client_id: str
    client_secret: Secret
    scope: tuple[str, ...] = ()
    extensions: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class SASL:
    """SASL authentication to a region's brokers (topology ``kafka.sasl``)."""

    mechanism: str
    username: str
    password: Secret | None = None
    keytab: str = ""
    realm: str = ""
    krb5_conf: str = ""
    service_name: str = ""
    oauth: OAuth | None = None


@dataclass(frozen=True)
class KafkaCluster:
    """How clients reach a region's cluster (topology ``kafka``)."""

    bootstrap: tuple[str, ...]
    tls: KafkaTLS | None = None
    sasl: SASL | None = None
    embedded: bool = False


@dataclass(frozen=True)
class Agent:
    """One geomesh agent; ``api`` is its HTTP API address, host:port."""

    id: str
    api: str


@dataclass(frozen=True)
class Region:
    name: str
    agents: tuple[Agent, ...]
    kafka: KafkaCluster | None = None
    witness: bool = False


@dataclass(frozen=True)
class APITLS:
    cert_file: str = ""
    key_file: str = ""


@dataclass(frozen=True)
class API:
    """The agents' API section: bearer tokens and TLS."""

    read_token: Secret | None = None
    admin_token: Secret | None = None
    tls: APITLS | None = None


@dataclass(frozen=True)
class Roles:
    """The roles the file gives its data regions; only the kind's are set."""

    primary: str = ""
    standby: tuple[str, ...] = ()
    hub: str = ""
    standby_hub: str = ""
    spokes: tuple[str, ...] = ()
    broadcast: Selection = field(default_factory=Selection)


@dataclass(frozen=True)
class FlowOverride:
    """Replaces the topic selection of one planned flow."""

    source: str
    target: str
    topics: Selection


@dataclass(frozen=True)
class Mesh:
    """A topology with the defaults applied."""

    name: str
    kind: str
    regions: tuple[Region, ...]
    roles: Roles = field(default_factory=Roles)
    topics: Selection = field(default_factory=lambda: Selection(include=(".*",)))
    groups: Selection = field(default_factory=lambda: Selection(include=(".*",)))
    naming: str = ""
    api: API = field(default_factory=API)
    flows: tuple[FlowOverride, ...] = ()

    def __post_init__(self) -> None:
        if not self.naming:
            default = Naming.PREFIX if self.kind in (Kind.ACTIVE_ACTIVE, Kind.HUB_SPOKE) else Naming.IDENTITY
            object.__setattr__(self, "naming", default)

    def region(self, name: str) -> Region | None:
        for r in self.regions:
            if r.name == name:
                return r
        return None

    def data_regions(self) -> list[str]:
        """The names of the regions with a Kafka cluster, in file order."""
        return [r.name for r in self.regions if not r.witness]

    def with_naming(self, naming: str) -> Mesh:
        return replace(self, naming=naming)


@dataclass(frozen=True)
class Flow:
    """One directed copy from a source region's cluster to a target's."""

    source: str
    target: str
    kind: str
    topics: Selection
    groups: Selection
    naming: str
    #: Every region of the mesh: a topic starting with one of them and a
    #: dot is a copy, which the loop rules look for.
    regions: tuple[str, ...]

    def target_topic(self, source_topic: str) -> str:
        """The name a source topic gets in the target cluster."""
        if self.naming == Naming.PREFIX:
            return f"{self.source}.{source_topic}"
        return source_topic

    def selects(self, topic: str) -> bool:
        """Whether the flow copies topic: the selection picks it and the
        loop rules allow it (Go Flow.Selects)."""
        if topic.startswith("__") or topic.startswith("geomesh."):
            return False
        if topic.startswith(self.target + "."):
            return False
        if self.naming == Naming.PREFIX and self.kind != FlowKind.STANDBY:
            if any(topic.startswith(r + ".") for r in self.regions):
                return False
        return self.topics.match(topic)


_SPECIAL = set("\\.+*?()|[]{}^$")


def quote_meta(s: str) -> str:
    """Go's regexp.QuoteMeta: escapes exactly \\.+*?()|[]{}^$, so that the
    patterns planned here are the ones the agents plan."""
    return "".join("\\" + c if c in _SPECIAL else c for c in s)


def _standby_selection(m: Mesh) -> Selection:
    r = m.roles
    include = list(m.topics.include) + list(r.broadcast.include)
    exclude = list(m.topics.exclude)
    if m.naming == Naming.PREFIX:
        for spoke in r.spokes:
            prefix = quote_meta(spoke + ".")
            include += [f"{prefix}(?:{p})" for p in m.topics.include]
            exclude += [f"{prefix}(?:{p})" for p in m.topics.exclude]
    return Selection(tuple(include), tuple(exclude))


def plan(m: Mesh, roles: Roles | None = None) -> list[Flow]:
    """The flows a mesh runs with the file's roles (or ``roles``), in a
    stable order: by topology role, then in the file's region order (Go
    topology.Plan and PlanFor)."""
    r = roles if roles is not None else m.roles
    names = tuple(reg.name for reg in m.regions)
    flows: list[Flow] = []

    def add(source: str, target: str, kind: str, topics: Selection, naming: str) -> None:
        flows.append(Flow(source, target, kind, topics, m.groups, naming, names))

    if m.kind == Kind.ACTIVE_PASSIVE:
        for s in r.standby:
            add(r.primary, s, FlowKind.REPLICATE, m.topics, m.naming)
    elif m.kind == Kind.ACTIVE_ACTIVE:
        data = m.data_regions()
        for s in data:
            for t in data:
                if s != t:
                    add(s, t, FlowKind.REPLICATE, m.topics, m.naming)
    elif m.kind == Kind.HUB_SPOKE:
        for s in r.spokes:
            add(s, r.hub, FlowKind.AGGREGATE, m.topics, m.naming)
        if r.broadcast.include:
            b = Selection(r.broadcast.include, tuple(r.broadcast.exclude) + tuple(m.topics.exclude))
            for s in r.spokes:
                add(r.hub, s, FlowKind.BROADCAST, b, Naming.IDENTITY)
        if r.standby_hub:
            add(r.hub, r.standby_hub, FlowKind.STANDBY, _standby_selection(m), Naming.IDENTITY)
    for o in m.flows:
        for i, f in enumerate(flows):
            if f.source == o.source and f.target == o.target:
                flows[i] = replace(f, topics=o.topics)
    return flows


# --- reading the YAML file -------------------------------------------------


class _Loader(yaml.SafeLoader):
    """YAML 1.2's booleans: only true and false. PyYAML's YAML 1.1 would
    read a region named "no" or a key value "on" as a boolean, which the
    agents (Go, yaml.v3) do not."""


_Loader.yaml_implicit_resolvers = {
    k: [(tag, rx) for tag, rx in v if tag != "tag:yaml.org,2002:bool"]
    for k, v in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF")
)


def load_topology(path: str | os.PathLike[str]) -> Mesh:
    """Reads the topology file at path; TopologyError lists every problem."""
    try:
        with open(path, encoding="utf-8") as fh:
            text = fh.read()
    except OSError as e:
        raise TopologyError(str(path), [f"cannot read: {e.strerror or e}"]) from None
    return parse_topology(text, source=str(path))


def parse_topology(text: str, *, source: str = "<topology>") -> Mesh:
    """Parses a topology from YAML text; source only labels the errors."""
    try:
        doc = yaml.load(text, Loader=_Loader)  # noqa: S506 - a SafeLoader subclass
    except yaml.YAMLError as e:
        raise TopologyError(source, [f"invalid yaml: {e}"]) from None
    if doc is None:
        raise TopologyError(source, ["file is empty; a topology needs at least mesh, topology and regions"])
    return mesh_from_dict(doc, source=source)


class _Reader:
    """Collects every problem of a document instead of stopping at the first."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.problems: list[str] = []

    def bad(self, where: str, msg: str) -> None:
        self.problems.append(f"{where}: {msg}" if where else msg)

    def mapping(self, v: Any, where: str) -> Mapping[str, Any]:
        if v is None:
            return {}
        if not isinstance(v, Mapping):
            self.bad(where, "want a mapping")
            return {}
        return v

    def seq(self, v: Any, where: str) -> list[Any]:
        if v is None:
            return []
        if not isinstance(v, list):
            self.bad(where, "want a list")
            return []
        return v

    def text(self, d: Mapping[str, Any], key: str, where: str, required: bool = False) -> str:
        v = d.get(key)
        if v is None or v == "":
            if required:
                self.bad(where, f"{key} is required")
            return ""
        if isinstance(v, bool) or not isinstance(v, (str, int, float)):
            self.bad(where, f"{key}: want a string")
            return ""
        return str(v)

    def strings(self, d: Mapping[str, Any], key: str, where: str) -> tuple[str, ...]:
        out = []
        for i, v in enumerate(self.seq(d.get(key), f"{where}.{key}")):
            if isinstance(v, bool) or not isinstance(v, (str, int, float)):
                self.bad(f"{where}.{key}[{i}]", "want a string")
                continue
            out.append(str(v))
        return tuple(out)

    def flag(self, d: Mapping[str, Any], key: str, where: str) -> bool:
        v = d.get(key)
        if v is None:
            return False
        if not isinstance(v, bool):
            self.bad(where, f"{key}: want true or false")
            return False
        return v

    def secret(self, d: Mapping[str, Any], key: str, where: str) -> Secret | None:
        ref = self.text(d, key, where)
        if not ref:
            return None
        s = Secret(ref)
        p = s.problem()
        if p:
            self.bad(where, f"{key}: {p}")
        return s

    def selection(self, v: Any, where: str, default_include: tuple[str, ...] = ()) -> Selection:
        d = self.mapping(v, where)
        inc = self.strings(d, "include", where) or default_include
        exc = self.strings(d, "exclude", where)
        ok = True
        for lst, pats in (("include", inc), ("exclude", exc)):
            for p in pats:
                try:
                    _compile(p)
                except re.error as e:
                    self.bad(where, f"invalid {lst} pattern {p!r}: {e}")
                    ok = False
        return Selection(inc, exc) if ok else Selection()


def mesh_from_dict(doc: Any, *, source: str = "<topology>") -> Mesh:
    """Builds a Mesh from a parsed topology document (the YAML's mapping)."""
    rd = _Reader(source)
    d = rd.mapping(doc, "")
    if not isinstance(doc, Mapping):
        raise TopologyError(source, ["the topology must be a mapping"])
    name = rd.text(d, "mesh", "", required=True)
    topo = rd.mapping(d.get("topology"), "topology")
    if "topology" not in d:
        rd.bad("", "topology is required")
    kind = rd.text(topo, "kind", "topology", required="topology" in d)
    if kind and kind not in Kind.ALL:
        rd.bad("topology", f"unknown kind {kind!r} (want {', '.join(Kind.ALL)})")
    roles = Roles(
        primary=rd.text(topo, "primary", "topology"),
        standby=rd.strings(topo, "standby", "topology"),
        hub=rd.text(topo, "hub", "topology"),
        standby_hub=rd.text(topo, "standby_hub", "topology"),
        spokes=rd.strings(topo, "spokes", "topology"),
        broadcast=rd.selection(topo.get("broadcast"), "topology.broadcast"),
    )

    regions: list[Region] = []
    seen: set[str] = set()
    raw_regions = rd.seq(d.get("regions"), "regions")
    if not raw_regions:
        rd.bad("", "regions: at least one region is required")
    for i, raw in enumerate(raw_regions):
        where = f"regions[{i}]"
        r = rd.mapping(raw, where)
        rname = rd.text(r, "name", where, required=True)
        if rname:
            where = f"region {rname}"
            if rname in seen:
                rd.bad(where, "listed twice")
            seen.add(rname)
        witness = rd.flag(r, "witness", where)
        kafka = None
        if "kafka" in r and r["kafka"] is not None:
            kafka = _kafka(rd, rd.mapping(r["kafka"], f"{where}.kafka"), f"{where}.kafka")
        if not witness and kafka is None:
            rd.bad(where, "kafka is required unless witness is true")
        agents = []
        raw_agents = rd.seq(r.get("agents"), f"{where}.agents")
        if not raw_agents:
            rd.bad(where, "agents: at least one agent is required")
        for j, a in enumerate(raw_agents):
            am = rd.mapping(a, f"{where}.agents[{j}]")
            agents.append(
                Agent(id=rd.text(am, "id", f"{where}.agents[{j}]", True), api=rd.text(am, "api", f"{where}.agents[{j}]", True))
            )
        regions.append(Region(name=rname, agents=tuple(agents), kafka=None if witness else kafka, witness=witness))

    api_d = rd.mapping(d.get("api"), "api")
    api_tls = None
    if api_d.get("tls") is not None:
        t = rd.mapping(api_d["tls"], "api.tls")
        api_tls = APITLS(cert_file=rd.text(t, "cert_file", "api.tls"), key_file=rd.text(t, "key_file", "api.tls"))
    api = API(read_token=rd.secret(api_d, "read_token", "api"), admin_token=rd.secret(api_d, "admin_token", "api"), tls=api_tls)

    naming = rd.text(d, "naming", "")
    if naming and naming not in (Naming.PREFIX, Naming.IDENTITY):
        rd.bad("naming", f"unknown naming {naming!r} (want prefix or identity)")
    overrides = []
    for i, raw in enumerate(rd.seq(d.get("flows"), "flows")):
        fo = rd.mapping(raw, f"flows[{i}]")
        overrides.append(
            FlowOverride(
                source=rd.text(fo, "source", f"flows[{i}]", True),
                target=rd.text(fo, "target", f"flows[{i}]", True),
                topics=rd.selection(fo.get("topics"), f"flows[{i}].topics"),
            )
        )
    mesh = Mesh(
        name=name,
        kind=kind,
        regions=tuple(regions),
        roles=roles,
        topics=rd.selection(d.get("topics"), "topics", (".*",)),
        groups=rd.selection(d.get("groups"), "groups", (".*",)),
        naming=naming,
        api=api,
        flows=tuple(overrides),
    )
    rd.problems += check_roles(mesh)
    if rd.problems:
        raise TopologyError(source, rd.problems)
    return mesh


def _kafka(rd: _Reader, k: Mapping[str, Any], where: str) -> KafkaCluster:
    bootstrap = rd.strings(k, "bootstrap", where)
    if not bootstrap:
        rd.bad(where, "bootstrap: at least one broker address is required")
    tls = None
    if k.get("tls") is not None:
        t = rd.mapping(k["tls"], f"{where}.tls")
        w = f"{where}.tls"
        tls = KafkaTLS(
            ca_file=rd.text(t, "ca_file", w),
            cert_file=rd.text(t, "cert_file", w),
            key_file=rd.text(t, "key_file", w),
            server_name=rd.text(t, "server_name", w),
            insecure_skip_verify=rd.flag(t, "insecure_skip_verify", w),
        )
    sasl = None
    if k.get("sasl") is not None:
        s = rd.mapping(k["sasl"], f"{where}.sasl")
        w = f"{where}.sasl"
        mech = rd.text(s, "mechanism", w, True)
        if mech == "AWS_MSK_IAM":
            rd.bad(
                w,
                "sasl AWS_MSK_IAM needs Amazon's aws-msk-iam-sasl-signer-python and an oauth_cb, which "
                "geomesh_client does not bring: pass that region's kafka settings yourself",
            )
        if mech and mech not in ("PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512", "GSSAPI", "OAUTHBEARER"):
            rd.bad(w, f"unsupported mechanism {mech!r} (want PLAIN, SCRAM-SHA-256, SCRAM-SHA-512, GSSAPI or OAUTHBEARER)")
        oauth = None
        if mech == "OAUTHBEARER":
            if s.get("oauth") is None:
                rd.bad(w, "sasl OAUTHBEARER needs oauth: {token_endpoint, client_id, client_secret}")
            else:
                ow = f"{w}.oauth"
                o = rd.mapping(s["oauth"], ow)
                secret = rd.secret(o, "client_secret", ow)
                ext = rd.mapping(o.get("extensions") or {}, f"{ow}.extensions")
                if secret is None:
                    rd.bad(ow, "sasl OAUTHBEARER needs oauth.client_secret (env:VARIABLE or file:/path)")
                else:
                    oauth = OAuth(
                        token_endpoint=rd.text(o, "token_endpoint", ow, True),
                        client_id=rd.text(o, "client_id", ow, True),
                        client_secret=secret,
                        scope=rd.strings(o, "scope", ow),
                        extensions=tuple(sorted((str(k2), str(v2)) for k2, v2 in ext.items())),
                    )
        elif not rd.text(s, "username", w):
            rd.bad(w, f"sasl {mech} needs username")
        sasl = SASL(
            mechanism=mech,
            username=rd.text(s, "username", w),
            oauth=oauth,
            password=rd.secret(s, "password", w),
            keytab=rd.text(s, "keytab", w),
            realm=rd.text(s, "realm", w),
            krb5_conf=rd.text(s, "krb5_conf", w) or ("/etc/krb5.conf" if mech == "GSSAPI" else ""),
            service_name=rd.text(s, "service_name", w) or ("kafka" if mech == "GSSAPI" else ""),
        )
    return KafkaCluster(bootstrap=bootstrap, tls=tls, sasl=sasl, embedded=rd.flag(k, "embedded", where))


def check_roles(m: Mesh) -> list[str]:
    """The problems of a mesh's roles that would send a client astray:
    roles of another kind, and roles naming no data region."""
    out: list[str] = []
    data = set(m.data_regions())
    r = m.roles

    def need(role: str, name: str) -> None:
        if name not in data:
            out.append(f"topology: {role} {name!r} is not a data region of mesh {m.name}")

    if m.kind == Kind.ACTIVE_PASSIVE:
        if not r.primary:
            out.append("topology: primary is required for active-passive")
        else:
            need("primary", r.primary)
        for s in r.standby:
            need("standby", s)
    elif m.kind == Kind.HUB_SPOKE:
        if not r.hub:
            out.append("topology: hub is required for hub-spoke")
        else:
            need("hub", r.hub)
        if r.standby_hub:
            need("standby_hub", r.standby_hub)
        for s in r.spokes:
            need("spoke", s)
    if m.kind != Kind.ACTIVE_PASSIVE and (r.primary or r.standby):
        out.append(f"topology: primary and standby are for active-passive, not {m.kind}")
    if m.kind != Kind.HUB_SPOKE and (r.hub or r.standby_hub or r.spokes or r.broadcast.include):
        out.append(f"topology: hub, standby_hub, spokes and broadcast are for hub-spoke, not {m.kind}")
    return out

