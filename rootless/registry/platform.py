"""Platform strings (os/arch[/variant]) and picking one from a manifest list."""

from __future__ import annotations

import platform as _platform
from dataclasses import dataclass
from typing import Any

from rootless.errors import UsageError

_ARCH = {
    "x86_64": "amd64",
    "aarch64": "arm64",
    "armv7l": "arm",
    "armv6l": "arm",
    "i686": "386",
    "i386": "386",
    "ppc64le": "ppc64le",
    "s390x": "s390x",
    "riscv64": "riscv64",
}


@dataclass(frozen=True)
class Platform:
    os: str
    architecture: str
    variant: str | None = None

    def __str__(self) -> str:
        return "/".join(x for x in (self.os, self.architecture, self.variant) if x)


def host() -> Platform:
    m = _platform.machine()
    arch = _ARCH.get(m, m)
    variant = {"armv7l": "v7", "armv6l": "v6", "aarch64": "v8"}.get(m)
    return Platform("linux", arch, variant)


def parse(text: str) -> Platform:
    parts = text.split("/")
    if len(parts) not in (2, 3) or not all(parts):
        raise UsageError(f"invalid platform {text!r}: expected os/arch[/variant], e.g. linux/amd64")
    arch = _ARCH.get(parts[1], parts[1])
    return Platform(parts[0], arch, parts[2] if len(parts) == 3 else None)


def pick(manifests: list[dict[str, Any]], want: Platform) -> dict[str, Any] | None:
    """The manifest descriptor matching `want`; the variant is a preference, not a must
    (arm64 images often omit v8)."""
    fallback = None
    for m in manifests:
        p = m.get("platform") or {}
        if p.get("os") != want.os or p.get("architecture") != want.architecture:
            continue
        if want.variant is None or p.get("variant") in (want.variant, None):
            if p.get("variant") == want.variant or want.variant is None:
                return m
            fallback = fallback or m
        else:
            fallback = fallback or m
    return fallback
