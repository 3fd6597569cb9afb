"""Shared loader for the compose-go conformance vectors (tests fail if the data is missing)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tests.conftest import CONFORMANCE

COMPOSE_GO = CONFORMANCE / "compose-go"


def vectors(name: str) -> Any:
    """The derived JSON file, or {} when absent (the `conformance` fixture then fails)."""
    path = COMPOSE_GO / "derived" / name
    return json.loads(path.read_text("utf-8")) if path.is_file() else {}


def ids(cases: list[Any], key: str) -> list[str]:
    seen: dict[str, int] = {}
    out = []
    for c in cases:
        base = str(c.get(key, "case")) if isinstance(c, dict) else str(c)
        seen[base] = seen.get(base, 0) + 1
        out.append(base if seen[base] == 1 else f"{base}#{seen[base]}")
    return out


def root() -> Path:
    return COMPOSE_GO
