"""The keyed view against the table shared with the Go and Java libraries:
client/testdata/view.json. Unknown keys fail."""

from __future__ import annotations

import json
from typing import Any

import pytest

from geomesh_client import GeomeshError, KeyedView, Mesh, mesh_from_dict
from tables import TESTDATA, strict

TABLE = TESTDATA / "view.json"

TABLE_KEYS = {"doc", "regions", "cases", "errors"}
CASE_KEYS = {"name", "reader", "region_order", "dedupe_window", "steps", "want_keys", "want_len"}
STEP_KEYS = {"record", "want"}
RECORD_KEYS = {"key", "value", "timestamp_ms", "partition", "offset", "headers"}
WANT_KEYS = {"value", "region", "partition", "offset"}
ERROR_KEYS = {"name", "reader", "record", "error"}


class Message:
    """What confluent_kafka's poll returns, as far as the view reads it."""

    def __init__(self, rec: dict[str, Any]) -> None:
        strict(rec, RECORD_KEYS, "record")
        self._rec = rec

    def topic(self) -> str:
        return "t"

    def partition(self) -> int:
        return int(self._rec["partition"])

    def offset(self) -> int:
        return int(self._rec["offset"])

    def key(self) -> Any:
        return self._rec["key"]

    def value(self) -> Any:
        return self._rec["value"]

    def timestamp(self) -> tuple[int, int]:
        return 1, int(self._rec["timestamp_ms"])  # TIMESTAMP_CREATE_TIME

    def headers(self) -> Any:
        return [(k, v.encode()) for k, v in sorted(self._rec["headers"].items())] or None


def _table() -> dict[str, Any]:
    return strict(json.loads(TABLE.read_text()), TABLE_KEYS, str(TABLE))


def _mesh(regions: list[str]) -> Mesh:
    return mesh_from_dict({
        "mesh": "v",
        "topology": {"kind": "active-active"},
        "naming": "identity",
        "regions": [{"name": r, "kafka": {"bootstrap": [f"{r}-kafka:9092"]}, "agents": [{"id": f"{r}-1", "api": f"{r}-agent:8080"}]}
                    for r in regions] + [{"name": "w", "witness": True, "agents": [{"id": "w-1", "api": "w-agent:8080"}]}],
    })


TABLE_DATA = _table()
MESH = _mesh(TABLE_DATA["regions"])


def test_table_size() -> None:
    assert len(TABLE_DATA["cases"]) >= 15 and len(TABLE_DATA["errors"]) >= 2
    assert MESH.data_regions() == TABLE_DATA["regions"]


@pytest.mark.parametrize("case", TABLE_DATA["cases"], ids=lambda c: str(c["name"]))
def test_view_table(case: dict[str, Any]) -> None:
    c = strict(case, CASE_KEYS, case.get("name", "case"))
    kw: dict[str, Any] = {}
    if c.get("region_order") is not None:
        kw["region_order"] = c["region_order"]
    if c.get("dedupe_window") is not None:
        kw["dedupe_window"] = c["dedupe_window"]
    v = KeyedView(MESH, c["reader"], **kw)
    for i, step in enumerate(c["steps"]):
        s = strict(step, STEP_KEYS, f"step {i}")
        assert v.apply(Message(s["record"])) == s["want"], f"step {i}"
    for key, want in c["want_keys"].items():
        got = v.get(key)
        if want is None:
            assert got is None, f"key {key}: {got}"
            continue
        w = strict(want, WANT_KEYS, f"want_keys {key}")
        assert got is not None, f"key {key} absent"
        assert (got.value, got.region, got.partition, got.offset) == (w["value"], w["region"], w["partition"], w["offset"])
    assert len(v) == c["want_len"]
    assert len(list(v)) == c["want_len"]


@pytest.mark.parametrize("case", TABLE_DATA["errors"], ids=lambda c: str(c["name"]))
def test_view_errors(case: dict[str, Any]) -> None:
    c = strict(case, ERROR_KEYS, case.get("name", "error"))
    v = KeyedView(MESH, c["reader"])
    with pytest.raises(GeomeshError, match=c["error"]):
        v.apply(Message(c["record"]))


def test_view_refusals() -> None:
    with pytest.raises(GeomeshError, match="witness"):
        KeyedView(MESH, "w")
    with pytest.raises(GeomeshError, match="negative"):
        KeyedView(MESH, "us", dedupe_window=-1)
