"""The agent API client against fake agents: bearer token per request,
unreachable agents skipped, which agent's state wins, errors, TLS."""

from __future__ import annotations

import shutil
import ssl
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from conftest import make_mesh
from fakeagent import FakeAgent, SilentListener, ap_state, refused_addr

from geomesh_client import AgentClient, AgentError, GeomeshError, Secret

AP = "primary: us, standby: [eu]"


def test_token_from_env(agent_factory: Callable[..., FakeAgent], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GM_READ_TOKEN", "s3cret")
    a = agent_factory()
    a.set_state(ap_state(1, "init", "us", "eu"))
    m = make_mesh("active-passive", [("us", "u:9092", [a.addr]), ("eu", "e:9092", [refused_addr()])],
                  'api: {read_token: "env:GM_READ_TOKEN", admin_token: "env:GM_ADMIN_TOKEN"}\n', AP)
    st = AgentClient(m).read_state()
    assert st.epoch == 1 and st.role("us") == "primary"
    assert a.auth == ["Bearer s3cret"]


def test_token_file_rotated(agent_factory: Callable[..., FakeAgent], tmp_path: Path) -> None:
    """The token is read from its file on every request: a rotated file is
    used at once."""
    tok = tmp_path / "read-token"
    tok.write_text("first\n")
    a = agent_factory()
    a.set_state(ap_state(1, "init", "us", "eu"))
    m = make_mesh("active-passive", [("us", "u:9092", [a.addr]), ("eu", "e:9092", [a.addr])],
                  f'api: {{read_token: "file:{tok}", admin_token: "file:/nowhere"}}\n', AP)
    c = AgentClient(m)
    c.failover(a.addr)
    tok.write_text("second")
    c.failover(a.addr)
    assert a.auth == ["Bearer first", "Bearer second"]
    # The admin token is sent only when asked for; a missing file is an error
    # naming the reference.
    with pytest.raises(GeomeshError, match="file:/nowhere"):
        AgentClient(m, admin=True).failover(a.addr)
    AgentClient(m, token=Secret(f"file:{tok}")).failover(a.addr)
    assert a.auth[-1] == "Bearer second"


def test_no_token_no_header(agent_factory: Callable[..., FakeAgent]) -> None:
    a = agent_factory()
    a.set_state(ap_state(1, "init", "us", "eu"))
    m = make_mesh("active-passive", [("us", "u:9092", [a.addr]), ("eu", "e:9092", [a.addr])], roles=AP)
    AgentClient(m).failover(a.addr)
    assert a.auth == [None]


def test_unreachable_agents_skipped(agent_factory: Callable[..., FakeAgent]) -> None:
    """An agent that refuses connections and one that never answers are
    skipped, the latter after the per-agent timeout; the next answers."""
    silent = SilentListener()
    try:
        a = agent_factory()
        a.set_state(ap_state(4, "switchover", "eu", "us"))
        m = make_mesh("active-passive", [("us", "u:9092", [refused_addr(), silent.addr]), ("eu", "e:9092", [a.addr])], roles=AP)
        t0 = time.monotonic()
        st = AgentClient(m).read_state(agent_timeout=0.3)
        took = time.monotonic() - t0
        assert st.epoch == 4 and st.sole_writer("active-passive") == "eu"
        assert 0.25 < took < 3, took
    finally:
        silent.close()


def test_first_reachable_wins_else_newest(agent_factory: Callable[..., FakeAgent]) -> None:
    """Go Follower.read: the first agent (file order) that reaches the
    control plane wins, even with an older epoch than an agent cut off
    from it; when none reaches it, the newest state any agent holds."""
    cut, ok, other = agent_factory(), agent_factory(), agent_factory()
    cut.control_plane = "unreachable"
    cut.set_state(ap_state(7, "failover", "us", "eu"))
    ok.set_state(ap_state(5, "switchover", "eu", "us"))
    other.control_plane = "connecting"
    other.set_state(ap_state(6, "switchover", "us", "eu"))
    m = make_mesh("active-passive", [("us", "u:9092", [cut.addr, other.addr]), ("eu", "e:9092", [ok.addr])], roles=AP)
    assert AgentClient(m).read_state().epoch == 5
    ok.control_plane = "stopped"
    assert AgentClient(m).read_state().epoch == 7


def test_agent_without_state_skipped(agent_factory: Callable[..., FakeAgent]) -> None:
    empty, a = agent_factory(), agent_factory()
    empty.control_plane = "connecting"
    a.set_state(ap_state(2, "init", "us", "eu"))
    m = make_mesh("active-passive", [("us", "u:9092", [empty.addr]), ("eu", "e:9092", [a.addr])], roles=AP)
    assert AgentClient(m).read_state().epoch == 2
    a.set_state(None)
    with pytest.raises(GeomeshError) as ei:
        AgentClient(m).read_state()
    msg = str(ei.value)
    assert "no agent of mesh t answered GET /v1/failover" in msg
    assert "agent us-1 of region us: no state yet (control plane connecting)" in msg
    assert "agent eu-1 of region eu" in msg


def test_refusal_is_agent_error(agent_factory: Callable[..., FakeAgent]) -> None:
    a = agent_factory()
    a.translate_fn = lambda group, from_: (401, {"error": "a valid read bearer token is required"})
    m = make_mesh("active-passive", [("us", "u:9092", [a.addr]), ("eu", "e:9092", [a.addr])], roles=AP)
    with pytest.raises(AgentError) as ei:
        AgentClient(m).translate(a.addr, "g", "us")
    assert ei.value.status == 401 and str(ei.value) == "a valid read bearer token is required (HTTP 401)"
    with pytest.raises(AgentError) as ei:
        AgentClient(m).do("GET", a.addr, "/v1/nothing")
    assert ei.value.status == 404


def test_translate(agent_factory: Callable[..., FakeAgent]) -> None:
    a = agent_factory()
    a.translate_fn = lambda group, from_: (200, {
        "group": group, "from": from_, "to": "eu", "partitions": [
            {"topic": "orders", "partition": 0, "source_offset": 7, "target_topic": "orders", "target_offset": 9,
             "state": "copied", "origin_offset": 7},
            {"topic": "orders", "partition": 1, "source_offset": 5, "target_topic": "orders", "target_offset": 0,
             "error": "cluster us: unreachable"},
        ]})
    m = make_mesh("active-passive", [("us", "u:9092", [a.addr]), ("eu", "e:9092", [a.addr])], roles=AP)
    tr = AgentClient(m).translate(a.addr, "bill ing&x", "us")
    assert a.paths[-1] == "/v1/translate?from=us&group=bill+ing%26x"
    assert tr.group == "bill ing&x" and tr.from_ == "us" and tr.to == "eu"
    assert tr.partitions[0].state == "copied" and tr.partitions[0].target_offset == 9
    assert tr.partitions[1].state == "" and tr.partitions[1].error == "cluster us: unreachable"


def _openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


@pytest.mark.skipif(shutil.which("openssl") is None, reason="needs the openssl command to make certificates")
def test_https_with_ca_file(agent_factory: Callable[..., FakeAgent], tmp_path: Path) -> None:
    """api.tls makes the client use HTTPS, verified against ca_file; an
    agent whose certificate the CA did not sign is refused."""
    _openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.pem", "-days", "1",
             "-subj", "/CN=geomesh test CA", cwd=tmp_path)
    _openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", "agent.key", "-out", "agent.csr", "-subj", "/CN=127.0.0.1",
             cwd=tmp_path)
    (tmp_path / "ext").write_text("subjectAltName=IP:127.0.0.1\n")
    _openssl("x509", "-req", "-in", "agent.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial", "-out", "agent.pem",
             "-days", "1", "-extfile", "ext", cwd=tmp_path)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(tmp_path / "agent.pem", tmp_path / "agent.key")
    a = agent_factory(tls=ctx)
    a.set_state(ap_state(3, "init", "us", "eu"))
    m = make_mesh("active-passive", [("us", "u:9092", [a.addr]), ("eu", "e:9092", [a.addr])],
                  "api: {tls: {cert_file: /x, key_file: /y}}\n", AP)
    assert AgentClient(m, ca_file=str(tmp_path / "ca.pem")).failover(a.addr).state is not None
    with pytest.raises(OSError):  # not signed by the system roots
        AgentClient(m).failover(a.addr)
    with pytest.raises(GeomeshError, match="no agent of mesh t answered"):
        AgentClient(m).read_state()
