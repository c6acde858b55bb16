"""The follow decision against the table shared with the Go and Java
libraries: client/testdata/decide.json. Unknown keys fail, so a key added
for one language cannot be ignored by another unnoticed."""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

import pytest

from geomesh_client import FollowedClient, Kind, Move, State, decide
from tables import TESTDATA, strict

TABLE = TESTDATA / "decide.json"

CASE_KEYS = {"name", "kind", "client", "old", "current", "want"}
CLIENT_KEYS = {"producer", "home", "writer", "region", "paused"}
WANT_KEYS = {"pause", "switch_to", "resume"}


def _load() -> tuple[list[dict[str, Any]], str | None]:
    try:
        table = strict(json.loads(TABLE.read_text()), {"doc", "cases"}, str(TABLE))
        cases = table["cases"]
        for i, c in enumerate(cases):
            strict(c, CASE_KEYS, f"cases[{i}]")
            strict(c["client"], CLIENT_KEYS, f"cases[{i}].client")
            strict(c["want"], WANT_KEYS, f"cases[{i}].want")
        return cases, None
    except (OSError, ValueError, KeyError, TypeError) as e:
        return [], f"{TABLE}: {e}"


CASES, LOAD_ERROR = _load()


def test_table_loads_with_enough_cases() -> None:
    assert LOAD_ERROR is None, LOAD_ERROR
    assert len(CASES) >= 30, f"{len(CASES)} cases, want at least 30"
    kinds = Counter(c["kind"] for c in CASES)
    for k in Kind.ALL:
        assert kinds[k] >= 5, f"{kinds[k]} cases of {k}, want at least 5"
    names = [c["name"] for c in CASES]
    assert len(set(zip(names, (c["kind"] for c in CASES)))) == len(names), "case names repeat within a kind"


@pytest.mark.parametrize("case", CASES, ids=[f"{i:02d}-{c['kind']}-{c['name']}" for i, c in enumerate(CASES)])
def test_decide(case: dict[str, Any]) -> None:
    cl = case["client"]
    c = FollowedClient(
        producer=bool(cl.get("producer", False)),
        home=cl.get("home", ""),
        writer=bool(cl.get("writer", False)),
        region=cl.get("region", ""),
        paused=bool(cl.get("paused", False)),
    )
    old = State.from_dict(case["old"], strict=True, where="old") if case["old"] is not None else None
    cur = State.from_dict(case["current"], strict=True, where="current") if case["current"] is not None else None
    w = case["want"]
    want = Move(pause=w.get("pause", False), switch_to=w.get("switch_to", ""), resume=w.get("resume", False))
    assert decide(case["kind"], c, old, cur) == want


def test_strict_state_refuses_unknown_keys() -> None:
    with pytest.raises(ValueError, match="unknown key"):
        State.from_dict({"epoch": 1, "regions": {"a": {"role": "primary", "weight": 2}}}, strict=True)
    with pytest.raises(ValueError, match="unknown key"):
        State.from_dict({"epoch": 1, "leader": "x"}, strict=True)
    # Lenient by default: a newer agent may add keys.
    assert State.from_dict({"epoch": 1, "leader": "x"}).epoch == 1


def test_sole_writer_and_writers() -> None:
    st = State.from_dict({"epoch": 3, "regions": {"b": {"role": "primary"}, "a": {"role": "primary"}, "c": {"role": "standby"}}})
    assert st.writers(Kind.ACTIVE_PASSIVE) == ["a", "b"]
    assert st.sole_writer(Kind.ACTIVE_PASSIVE) == ""  # two primaries: stay put
    one = State.from_dict({"epoch": 3, "regions": {"h": {"role": "hub"}, "s": {"role": "spoke"}}})
    assert one.sole_writer(Kind.HUB_SPOKE) == "h"
    aa = State.from_dict({"epoch": 3, "regions": {"x": {"role": "active"}}})
    assert aa.writers(Kind.ACTIVE_ACTIVE) == ["x"] and aa.sole_writer(Kind.ACTIVE_ACTIVE) == ""
