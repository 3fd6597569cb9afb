"""Checks across the whole model that the JSON schema cannot express.

Each failure is one line naming the file that defines the key, the key path and the fix.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from rootless.compose.errors import at
from rootless.compose.model import topological_order

Locate = Callable[[str], "str | None"]


def check_references(model: Mapping[str, Any], locate: Locate) -> None:
    """References written by the user, before implicit dependencies are added."""
    services: Mapping[str, Any] = model.get("services") or {}
    known = ", ".join(services) or "none"

    def fail(path: str, message: str) -> Exception:
        return at(locate(path), path, message)

    for name, svc in services.items():
        p = f"services.{name}"
        for key in ("network_mode", "ipc", "pid", "uts", "cgroup"):
            value = svc.get(key)
            if isinstance(value, str) and value.startswith("service:"):
                target = value.split(":", 1)[1]
                if target not in services:
                    raise fail(f"{p}.{key}", f'unknown service "{target}" (services: {known})')
        if svc.get("network_mode") is not None and svc.get("networks"):
            raise fail(
                f"{p}.networks",
                "cannot be combined with network_mode (remove one of them)",
            )
        for i, entry in enumerate(svc.get("volumes_from") or []):
            target = str(entry).split(":", 1)[0]
            if target != "container" and target not in services:
                raise fail(
                    f"{p}.volumes_from[{i}]", f'unknown service "{target}" (services: {known})'
                )
        for i, entry in enumerate(svc.get("links") or []):
            target = str(entry).split(":", 1)[0]
            if target not in services:
                raise fail(f"{p}.links[{i}]", f'unknown service "{target}" (services: {known})')
        depends = svc.get("depends_on") or {}
        for dep in depends:
            optional = isinstance(depends, dict) and (depends[dep] or {}).get("required") is False
            if dep not in services and not optional:
                raise fail(f"{p}.depends_on.{dep}", f'unknown service "{dep}" (services: {known})')


def check_model(model: Mapping[str, Any], locate: Locate) -> None:
    """The normalized model: images, cycles, declared networks/volumes, unique names."""
    services: Mapping[str, Any] = model.get("services") or {}
    networks = model.get("networks") or {}
    volumes = model.get("volumes") or {}

    def fail(path: str, message: str) -> Exception:
        return at(locate(path), path, message)

    names: dict[str, str] = {}
    for name, svc in services.items():
        p = f"services.{name}"
        if not svc.get("image") and svc.get("build") is None:
            raise fail(p, "needs an image or a build section (add image: NAME or build: DIR)")
        for net in svc.get("networks") or {}:
            if net not in networks:
                raise fail(
                    f"{p}.networks.{net}",
                    f'undefined network "{net}" (declare it under the top-level networks:)',
                )
        for i, vol in enumerate(svc.get("volumes") or []):
            source = vol.get("source")
            if vol.get("type") == "volume" and source and source not in volumes:
                raise fail(
                    f"{p}.volumes[{i}]",
                    f'undefined volume "{source}" (declare it under the top-level volumes:)',
                )
        for kind in ("secrets", "configs"):
            declared = model.get(kind) or {}
            for i, ref in enumerate(svc.get(kind) or []):
                ref_name = ref if isinstance(ref, str) else ref.get("source")
                if ref_name not in declared:
                    raise fail(
                        f"{p}.{kind}[{i}]",
                        f'undefined {kind[:-1]} "{ref_name}" (declare it under the top-level {kind}:)',
                    )
        cname = svc.get("container_name")
        if cname:
            if cname in names:
                raise fail(
                    f"{p}.container_name",
                    f'"{cname}" is already used by service {names[cname]} (container names must be unique)',
                )
            names[cname] = name
            replicas = (svc.get("deploy") or {}).get("replicas", svc.get("scale", 1))
            if isinstance(replicas, int) and replicas > 1:
                raise fail(
                    f"{p}.container_name",
                    f"cannot be set with {replicas} replicas (container names must be unique)",
                )
    graph = {n: list(s.get("depends_on") or {}) for n, s in services.items()}
    try:
        topological_order(graph)
    except ValueError as e:
        first = str(e).split(": ", 1)[1].split(" -> ")[0]
        raise fail(f"services.{first}.depends_on", str(e)) from None
