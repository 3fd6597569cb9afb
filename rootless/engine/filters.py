"""`--filter KEY=VALUE` parsing shared by ps, volume ls and friends."""

from __future__ import annotations

from collections.abc import Iterable

from rootless.errors import UsageError


def parse_filters(items: Iterable[str], keys: Iterable[str]) -> dict[str, list[str]]:
    allowed = tuple(keys)
    out: dict[str, list[str]] = {}
    for item in items:
        key, sep, val = item.partition("=")
        if not sep or key not in allowed:
            raise UsageError(
                f"invalid filter {item!r}",
                hint=f"use KEY=VALUE with KEY one of {', '.join(allowed)}",
            )
        out.setdefault(key, []).append(val)
    return out
