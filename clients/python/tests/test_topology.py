"""Topology loading, flow planning and topic names (Go topology.Plan and
client/topics.go)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import REPO

from geomesh_client import (
    Kind,
    NotPrimaryError,
    Secret,
    SecretError,
    TopologyError,
    check_write,
    load_topology,
    parse_topology,
    plan,
    topic_in,
)

EXAMPLES = REPO / "configs" / "examples"
GOLDEN = Path(__file__).parent / "testdata"


@pytest.mark.parametrize("name", ["active-passive", "active-active", "hub-spoke"])
def test_plan_matches_go(name: str) -> None:
    """plan() gives the flows `geomesh plan --json` gives for the examples
    (tests/testdata/plan-*.json, written by the Go CLI)."""
    m = load_topology(EXAMPLES / f"{name}.yaml")
    want = json.loads((GOLDEN / f"plan-{name}.json").read_text())
    assert m.name == want["mesh"] and m.kind == want["kind"]
    got = [
        {
            "source": f.source,
            "target": f.target,
            "kind": f.kind,
            "topics": {"include": list(f.topics.include), "exclude": list(f.topics.exclude)},
            "groups": {"include": list(f.groups.include), "exclude": list(f.groups.exclude)},
            "naming": f.naming,
            "target_topic": f.target_topic("<topic>"),
        }
        for f in plan(m)
    ]
    assert got == want["flows"]


def test_load_example() -> None:
    m = load_topology(EXAMPLES / "active-passive.yaml")
    assert m.kind == Kind.ACTIVE_PASSIVE and m.roles.primary == "us-east" and m.roles.standby == ("eu-west",)
    assert m.naming == "identity"
    assert m.data_regions() == ["us-east", "eu-west"]
    us = m.region("us-east")
    assert us is not None and us.kafka is not None and us.kafka.bootstrap == ("127.0.0.1:19092",)
    assert [a.api for a in us.agents] == ["127.0.0.1:18080"]
    w = m.region("witness")
    assert w is not None and w.witness and w.kafka is None
    assert m.api.read_token is None and m.api.tls is None


def test_every_problem_at_once() -> None:
    with pytest.raises(TopologyError) as ei:
        parse_topology(
            """
mesh: bad
topology: {kind: active-passive, primary: nowhere, hub: h}
regions:
  - {name: a, agents: [{id: a-1}]}
  - {name: a, kafka: {bootstrap: []}, agents: []}
topics: {include: ["(unclosed"]}
api: {read_token: "hunter2"}
naming: sideways
""",
            source="bad.yaml",
        )
    text = str(ei.value)
    assert text.startswith("bad.yaml: ")
    for want in [
        "kafka is required unless witness is true",
        "api is required",
        "listed twice",
        "bootstrap: at least one broker address is required",
        "agents: at least one agent is required",
        "invalid include pattern '(unclosed'",
        "read_token: must be a reference to a secret",
        "unknown naming 'sideways'",
        "primary 'nowhere' is not a data region",
        "hub, standby_hub, spokes and broadcast are for hub-spoke",
    ]:
        assert want in text, f"{want!r} not in {text!r}"
    assert "hunter2" not in text


def test_yaml_12_booleans() -> None:
    """A region named "no" stays a string, as the agents (yaml.v3) read it."""
    m = parse_topology(
        """
mesh: t
topology: {kind: active-passive, primary: no, standby: [yes]}
regions:
  - {name: no, kafka: {bootstrap: ["n:9092"]}, agents: [{id: n1, api: "n:8080"}]}
  - {name: yes, kafka: {bootstrap: ["y:9092"]}, agents: [{id: y1, api: "y:8080"}]}
"""
    )
    assert m.roles.primary == "no" and m.roles.standby == ("yes",)
    assert m.data_regions() == ["no", "yes"]


def test_defaults() -> None:
    m = parse_topology(
        """
mesh: t
topology: {kind: active-active}
regions:
  - {name: a, kafka: {bootstrap: ["a:9092"]}, agents: [{id: a1, api: "a:8080"}]}
  - {name: b, kafka: {bootstrap: ["b:9092"]}, agents: [{id: b1, api: "b:8080"}]}
api: {read_token: "env:T", admin_token: "file:/etc/t", tls: {cert_file: c, key_file: k}}
"""
    )
    assert m.naming == "prefix" and m.topics.include == (".*",) and m.groups.include == (".*",)
    assert m.api.read_token == Secret("env:T") and m.api.tls is not None


def test_secret(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GM_SECRET", "s3cret")
    assert Secret("env:GM_SECRET").resolve() == "s3cret"
    f = tmp_path / "tok"
    f.write_text("from-file\n")
    assert Secret(f"file:{f}").resolve() == "from-file"
    with pytest.raises(SecretError, match="GM_NOT_SET is not set"):
        Secret("env:GM_NOT_SET").resolve()
    with pytest.raises(SecretError) as ei:
        Secret("hunter2").resolve()
    assert "hunter2" not in str(ei.value) and str(Secret("hunter2")) == "[redacted]" and "hunter2" not in repr(Secret("hunter2"))


# Ported from client/topics_test.go.


@pytest.mark.parametrize(
    "name,example,origin,region,topic,want,err",
    [
        ("origin", "active-passive", "us-east", "us-east", "orders", "orders", ""),
        ("identity standby", "active-passive", "us-east", "eu-west", "orders", "orders", ""),
        ("not selected", "active-passive", "us-east", "eu-west", "billing", "",
         "mesh shop does not copy topic billing from region us-east to eu-west"),
        ("no flow back", "active-passive", "eu-west", "us-east", "orders", "",
         "mesh shop has no flow from region eu-west to us-east, so region us-east holds no copy of topic orders"),
        ("prefix", "active-active", "us-east", "eu-west", "posts", "us-east.posts", ""),
        ("prefix origin", "active-active", "eu-west", "eu-west", "posts", "posts", ""),
    ],
)
def test_topic_in(name: str, example: str, origin: str, region: str, topic: str, want: str, err: str) -> None:
    m = load_topology(EXAMPLES / f"{example}.yaml")
    if err:
        with pytest.raises(Exception) as ei:
            topic_in(m, plan(m), origin, region, topic)
        assert str(ei.value) == err
    else:
        assert topic_in(m, plan(m), origin, region, topic) == want


AP = load_topology(EXAMPLES / "active-passive.yaml")
AA = load_topology(EXAMPLES / "active-active.yaml")
AA_ID = AA.with_naming("identity")
HS = load_topology(EXAMPLES / "hub-spoke.yaml")
HUB, SPOKE = HS.roles.hub, HS.roles.spokes[0]


@pytest.mark.parametrize(
    "name,mesh,primary,region,topic,ok",
    [
        ("ap primary", AP, "us-east", "us-east", "orders", True),
        ("ap standby", AP, "us-east", "eu-west", "orders", False),
        ("ap promoted standby", AP, "eu-west", "eu-west", "orders", True),
        ("ap old primary after failover", AP, "eu-west", "us-east", "orders", False),
        ("aa prefix local", AA, "", "eu-west", "posts", True),
        ("aa prefix copy", AA, "", "eu-west", "us-east.posts", False),
        ("aa prefix unselected name with prefix", AA, "", "eu-west", "us-east.other", True),
        ("aa identity", AA_ID, "", "eu-west", "posts", True),
        ("hs hub", HS, HUB, HUB, "prices", True),
        ("hs hub aggregated copy", HS, HUB, HUB, SPOKE + ".sales", False),
        ("hs standby hub", HS, HUB, HS.roles.standby_hub, "prices", False),
        ("hs promoted standby hub", HS, HS.roles.standby_hub, HS.roles.standby_hub, "prices", True),
        ("hs spoke", HS, HUB, SPOKE, "sales", True),
        ("hs spoke broadcast copy", HS, HUB, SPOKE, "prices", False),
    ],
    ids=lambda v: v if isinstance(v, str) else None,
)
def test_check_write(name: str, mesh: object, primary: str, region: str, topic: str, ok: bool) -> None:
    from geomesh_client import Mesh

    assert isinstance(mesh, Mesh)
    if ok:
        check_write(mesh, plan(mesh), primary, region, topic)
    else:
        with pytest.raises(NotPrimaryError):
            check_write(mesh, plan(mesh), primary, region, topic)
