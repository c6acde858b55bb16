"""Provenance headers and the drop filter after an unplanned switch (ported
from client/translate_test.go TestReadBeforeFilter)."""

from __future__ import annotations

import re

import pytest
from conftest import REPO
from fakekafka import FakeMessage, copy_headers

import geomesh_client as g
from geomesh_client.headers import LastRecords, Origin, ReadBefore, provenance


def test_header_names_match_go() -> None:
    """The names are a wire contract: pinned to client/headers.go, which a
    Go test pins to what the mirror engine writes."""
    src = (REPO / "client" / "headers.go").read_text()
    consts = dict(re.findall(r'(Header\w+)\s*=\s*"([^"]+)"', src))
    assert consts == {
        "HeaderOriginRegion": g.HEADER_ORIGIN_REGION,
        "HeaderOriginTopic": g.HEADER_ORIGIN_TOPIC,
        "HeaderOriginPartition": g.HEADER_ORIGIN_PARTITION,
        "HeaderOriginOffset": g.HEADER_ORIGIN_OFFSET,
        "HeaderVisited": g.HEADER_VISITED,
        "HeaderRecordID": g.HEADER_RECORD_ID,
    }


def rec(topic: str, p: int, offset: int, region: str = "", origin_offset: int = 0) -> FakeMessage:
    headers = copy_headers(region, topic, p, origin_offset) if region else None
    return FakeMessage(topic, p, offset, f"{topic}/{p}@{offset}", headers=headers)


def test_provenance() -> None:
    assert provenance(rec("orders", 2, 9, "east", 40)) == (Origin("east", "orders", 2), 40)
    assert provenance(rec("orders", 2, 9)) is None
    bad = FakeMessage("orders", 0, 1, b"", headers=copy_headers("east", "orders", 0, 1)[:3] + [("geomesh-origin-offset", b"x")])
    assert provenance(bad) is None


def test_read_before_filter() -> None:
    last = LastRecords()
    last.note(rec("orders", 0, 40))  # east's own record 40
    last.note(rec("orders", 1, 12, "west", 7))  # a copy of west's orders[1]@7
    before = last.read_before("east")
    assert before == {Origin("east", "orders", 0): 40, Origin("west", "orders", 1): 7}
    cases = [
        ("copies up to the last read", [rec("orders", 0, 100, "east", 39), rec("orders", 0, 101, "east", 40)], "", 2),
        ("west's own records up to the copy read", [rec("orders", 1, 6), rec("orders", 1, 7)], "", 2),
        ("past the last read", [rec("orders", 0, 102, "east", 41), rec("orders", 1, 8)], "orders/0@102 orders/1@8 ", 0),
        ("forgotten once past", [rec("orders", 0, 103, "east", 5)], "orders/0@103 ", 0),
        ("other partitions", [rec("orders", 2, 3, "east", 1), rec("payments", 0, 1)], "orders/2@3 payments/0@1 ", 0),
    ]
    for name, msgs, want_kept, want_dropped in cases:
        kept, dropped = before.filter("west", msgs)
        got = "".join(f"{m.topic()}/{m.partition()}@{m.offset()} " for m in kept)
        assert (got, dropped) == (want_kept, want_dropped), name
    assert before == {}, "partitions still filtered after records past them"


@pytest.mark.parametrize("headers", [None, [], {"a": b"1"}])
def test_header_lookup_shapes(headers: object) -> None:
    from geomesh_client.headers import header

    assert header(headers, "geomesh-origin-region") is None
    assert header([("k", "v")], "k") == b"v" and header({"k": b"v"}, "k") == b"v"


def test_empty_read_before_keeps_all() -> None:
    kept, dropped = ReadBefore().filter("west", [rec("orders", 0, 1, "east", 1)])
    assert len(kept) == 1 and dropped == 0
