"""Compose's duration (`1m30s`) and byte-size (`512m`) values."""

from __future__ import annotations

import re

_DURATION_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h)")
_DURATION_UNITS = {
    "ns": 1e-9,
    "us": 1e-6,
    "µs": 1e-6,
    "ms": 1e-3,
    "s": 1.0,
    "m": 60.0,
    "h": 3600.0,
}
_BYTES = re.compile(r"^(\d+(?:\.\d+)?)\s*([kmgtp]?)(?:i?b)?$", re.IGNORECASE)
_BYTE_UNITS = {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40, "p": 1 << 50}


def parse_duration(value: object) -> float:
    """Seconds from a Go duration string (`1h2m3.5s`, `500ms`) or a number of seconds."""
    if isinstance(value, bool):
        raise ValueError(f"expected a duration like 30s or 1m30s, got {value!r}")
    if isinstance(value, int | float):
        return float(value)
    text = str(value).strip()
    if text in ("0", ""):
        return 0.0
    pos, total = 0, 0.0
    for m in _DURATION_PART.finditer(text):
        if m.start() != pos:
            break
        total += float(m.group(1)) * _DURATION_UNITS[m.group(2)]
        pos = m.end()
    if pos != len(text) or pos == 0:
        raise ValueError(f"expected a duration like 30s or 1m30s, got {text!r}")
    return total


def parse_bytes(value: object) -> int:
    """Bytes from `512m`, `1g`, `1024`, `2.5GB` (binary multiples, as docker does)."""
    if isinstance(value, bool):
        raise ValueError(f"expected a size like 512m or 1g, got {value!r}")
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return int(value)
    m = _BYTES.match(str(value).strip())
    if m is None:
        raise ValueError(f"expected a size like 512m or 1g, got {value!r}")
    return int(float(m.group(1)) * _BYTE_UNITS[m.group(2).lower()])
