"""A Docker-format seccomp profile -> the OCI `linux.seccomp` of one container.

Docker's profile format carries an `archMap` (every architecture it knows) and rules
gated by `includes`/`excludes` on capabilities and architectures; OCI runtimes know
neither and would compile every rule for every listed architecture. Rendered here for
the container's capability set and the host's architecture, as Docker and Podman do:
the filter is then what Docker applies, and libseccomp compiles it ~0.1 s faster.
"""

from __future__ import annotations

import os

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

# uname -m -> the names Docker's profile uses for it in `arches` and `archMap`.
_ARCH_NAMES = {
    "x86_64": ("x86_64", "amd64", "SCMP_ARCH_X86_64"),
    "aarch64": ("aarch64", "arm64", "SCMP_ARCH_AARCH64"),
}


def _names(machine: str) -> tuple[str, ...]:
    return _ARCH_NAMES.get(machine, (machine, f"SCMP_ARCH_{machine.upper()}"))


def _applies(rule: dict[str, Any], caps: set[str], arch: tuple[str, ...]) -> bool:
    inc = rule.get("includes") or {}
    exc = rule.get("excludes") or {}
    if inc.get("caps") and not set(inc["caps"]) <= caps:
        return False
    if exc.get("caps") and set(exc["caps"]) & caps:
        return False
    if inc.get("arches") and not set(inc["arches"]) & set(arch):
        return False
    return not (exc.get("arches") and set(exc["arches"]) & set(arch))


def render(profile: dict[str, Any], caps: list[str], machine: str | None = None) -> dict[str, Any]:
    """The profile for a container with bounding capabilities `caps` on `machine`."""
    arch = _names(machine or os.uname().machine)
    out = {k: v for k, v in profile.items() if k not in ("archMap", "syscalls")}
    if "archMap" in profile and "architectures" not in profile:
        arches: list[str] = []
        for m in profile["archMap"]:
            if m["architecture"] in arch:
                arches = [m["architecture"], *m.get("subArchitectures", [])]
        out["architectures"] = arches
    have = set(caps)
    out["syscalls"] = [
        {k: v for k, v in rule.items() if k not in ("includes", "excludes", "comment")}
        for rule in profile.get("syscalls", [])
        if _applies(rule, have, arch)
    ]
    return out
