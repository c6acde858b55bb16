"""Fixtures shared by the tests: fake agents and the fake Kafka backend,
each cleaned up when the test ends."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from fakeagent import FakeAgent  # noqa: E402
from fakekafka import FakeBackend  # noqa: E402

#: The repository's root (clients/python/tests → the module root).
REPO = Path(__file__).resolve().parents[3]


@pytest.fixture
def backend() -> FakeBackend:
    return FakeBackend()


@pytest.fixture
def agent_factory() -> Iterator[Callable[..., FakeAgent]]:
    made: list[FakeAgent] = []

    def make(**kw: Any) -> FakeAgent:
        a = FakeAgent(**kw)
        made.append(a)
        return a

    yield make
    for a in made:
        a.close()


def wait_for(cond: Callable[[], Any], timeout: float = 10.0, what: str = "condition") -> Any:
    """Polls cond until it is truthy, with a deadline; never a bare sleep."""
    deadline = time.monotonic() + timeout
    delay = 0.005
    while True:
        v = cond()
        if v:
            return v
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(delay)
        delay = min(delay * 2, 0.05)


def make_mesh(kind: str, regions: list[tuple[str, str | None, list[str]]], extra: str = "", roles: str = "") -> Any:
    """A Mesh from a small YAML: regions as (name, bootstrap or None for a
    witness, agent API addresses)."""
    from geomesh_client import parse_topology

    lines = [f"mesh: t", f"topology: {{kind: {kind}{', ' + roles if roles else ''}}}", "regions:"]
    for name, bootstrap, apis in regions:
        agents = ", ".join(f'{{id: {name}-{i + 1}, api: "{a}"}}' for i, a in enumerate(apis))
        if bootstrap is None:
            lines.append(f"  - {{name: {name}, witness: true, agents: [{agents}]}}")
        else:
            lines.append(f'  - {{name: {name}, kafka: {{bootstrap: ["{bootstrap}"]}}, agents: [{agents}]}}')
    return parse_topology("\n".join(lines) + "\n" + extra)
