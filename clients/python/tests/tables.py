"""Reading the tables the Go, Java and Python libraries share
(client/testdata): strictly, so that a key added for one language cannot be
ignored by another unnoticed."""

from __future__ import annotations

from pathlib import Path
from typing import Any

TESTDATA = Path(__file__).resolve().parents[3] / "client" / "testdata"


def strict(obj: Any, keys: set[str], where: str) -> dict[str, Any]:
    """obj as an object holding only keys, else ValueError naming where."""
    if not isinstance(obj, dict):
        raise ValueError(f"{where}: want an object")
    unknown = set(obj) - keys
    if unknown:
        raise ValueError(f"{where}: unknown key(s) {sorted(unknown)}")
    return obj
