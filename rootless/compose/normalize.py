"""From a merged raw model to the canonical one compose's orchestrators expect.

Three separate steps, each testable on its own:
- `canonical_forms`: one spelling per field (environment as a mapping, ports and volumes
  in long syntax, depends_on as a mapping, build as a mapping ...). Pure syntax.
- `normalize`: compose's implied content: the `default` network, resource names
  `<project>_<key>`, implicit depends_on from `network_mode: service:x`, `links`,
  `volumes_from`..., build defaults, and values taken from the environment.
- `resolve_paths`: relative build contexts, env files and bind sources made absolute
  against the project directory.
"""

from __future__ import annotations

import os
import shlex
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from rootless.compose.shortsyntax import parse_port, parse_volume


def _scalar_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def kv_mapping(value: Any, *, null_as: str | None = None) -> dict[str, str | None]:
    """`[K=V, K]` or `{K: V}` -> {K: "V" or None}; values become text."""
    out: dict[str, str | None] = {}
    if isinstance(value, dict):
        for k, v in value.items():
            out[str(k)] = null_as if v is None else _scalar_text(v)
    elif isinstance(value, list):
        for item in value:
            key, sep, val = str(item).partition("=")
            out[key] = val if sep else null_as
    return out


def _string_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def _extra_hosts(value: Any) -> list[str]:
    if isinstance(value, dict):
        out = []
        for host, ips in value.items():
            for ip in _string_list(ips):
                out.append(f"{host}={ip}")
        return out
    hosts = []
    for entry in _string_list(value):
        text = str(entry)
        if "=" not in text and ":" in text:
            host, _, ip = text.partition(":")
            text = f"{host}={ip}"
        hosts.append(text)
    return hosts


def _port_entries(value: Any) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for entry in _string_list(value):
        if isinstance(entry, dict):
            port = dict(entry)
            port.setdefault("mode", "ingress")
            port.setdefault("protocol", "tcp")
            if "target" in port:
                port["target"] = int(port["target"])
            if port.get("published") is not None:
                port["published"] = _scalar_text(port["published"])
            out.append(port)
        else:
            out.extend(parse_port(_scalar_text(entry)))
    return out


def _volume_entries(value: Any) -> list[dict[str, Any]]:
    out = []
    for entry in _string_list(value):
        out.append(dict(entry) if isinstance(entry, dict) else parse_volume(str(entry)))
    return out


def _depends_on(value: Any) -> dict[str, Any]:
    if isinstance(value, list):
        return {str(v): {"condition": "service_started", "required": True} for v in value}
    return dict(value or {})


def _argv(value: Any) -> Any:
    """A command string is split like a shell would (left as is if it cannot be)."""
    if not isinstance(value, str):
        return value
    try:
        return shlex.split(value)
    except ValueError:
        return value


def canonical_service(svc: Mapping[str, Any]) -> dict[str, Any]:
    s = dict(svc)
    for key in ("command", "entrypoint"):
        if key in s and s[key] is not None:
            s[key] = _argv(s[key])
    health = s.get("healthcheck")
    if isinstance(health, dict) and isinstance(health.get("test"), str):
        s["healthcheck"] = {**health, "test": ["CMD-SHELL", health["test"]]}
    if "environment" in s:
        s["environment"] = kv_mapping(s["environment"])
    for key in ("labels", "annotations"):
        if key in s:
            s[key] = kv_mapping(s[key], null_as="")
    if "sysctls" in s:
        s["sysctls"] = kv_mapping(s["sysctls"], null_as="")
    if "build" in s:
        build = s["build"]
        build = {"context": build} if isinstance(build, str) else dict(build or {})
        if "args" in build:
            build["args"] = kv_mapping(build["args"])
        if "labels" in build:
            build["labels"] = kv_mapping(build["labels"], null_as="")
        if "extra_hosts" in build:
            build["extra_hosts"] = _extra_hosts(build["extra_hosts"])
        s["build"] = build
    if "depends_on" in s:
        s["depends_on"] = _depends_on(s["depends_on"])
    for key in ("env_file", "label_file", "dns", "dns_search", "dns_opt", "tmpfs"):
        if key in s:
            s[key] = _string_list(s[key])
    if "ports" in s:
        s["ports"] = _port_entries(s["ports"])
    if "expose" in s:
        s["expose"] = [_scalar_text(e) for e in _string_list(s["expose"])]
    if "volumes" in s:
        s["volumes"] = _volume_entries(s["volumes"])
    if isinstance(s.get("networks"), list):
        s["networks"] = {str(n): None for n in s["networks"]}
    if "extra_hosts" in s:
        s["extra_hosts"] = _extra_hosts(s["extra_hosts"])
    return s


def canonical_forms(model: Mapping[str, Any]) -> dict[str, Any]:
    """One spelling per field; raises shortsyntax.SyntaxProblem on a bad port/volume."""
    out = dict(model)
    services = out.get("services") or {}
    out["services"] = {name: canonical_service(svc or {}) for name, svc in services.items()}
    for section in ("networks", "volumes", "secrets", "configs"):
        if section in out:
            items = out[section] or {}
            out[section] = {k: _canonical_resource(v) for k, v in items.items()}
    if not out["services"] and "services" not in model:
        out.pop("services")
    return out


def _canonical_resource(value: Any) -> dict[str, Any]:
    res = dict(value or {})
    if "labels" in res:
        res["labels"] = kv_mapping(res["labels"], null_as="")
    return res


# --- implied content ---------------------------------------------------------------------

_SERVICE_REFS = ("network_mode", "ipc", "pid", "uts", "cgroup")


def _implicit_dependencies(svc: Mapping[str, Any]) -> list[tuple[str, bool]]:
    """(service, restart) pairs a service depends on without saying so."""
    deps: list[tuple[str, bool]] = []
    for key in _SERVICE_REFS:
        value = svc.get(key)
        if isinstance(value, str) and value.startswith("service:"):
            deps.append((value.split(":", 1)[1], True))
    for entry in svc.get("volumes_from") or []:
        text = str(entry)
        if not text.startswith("container:"):
            deps.append((text.split(":", 1)[0], False))
    for entry in svc.get("links") or []:
        deps.append((str(entry).split(":", 1)[0], True))
    return deps


def normalize(model: Mapping[str, Any], env: Mapping[str, str]) -> dict[str, Any]:
    """Add what compose implies. `model` is canonical and carries `name`."""
    out = canonical_forms(model)
    project = str(out.get("name", ""))
    services: dict[str, Any] = out.get("services") or {}
    uses_default = False
    for svc in services.values():
        if "network_mode" not in svc and not svc.get("networks"):
            svc["networks"] = {"default": None}
        if "default" in (svc.get("networks") or {}):
            uses_default = True
        build = svc.get("build")
        if isinstance(build, dict):
            build.setdefault("context", ".")
            build.setdefault("dockerfile", "Dockerfile")
            if "args" in build:
                build["args"] = _from_env(build["args"], env, drop_unset=True)
        if "environment" in svc:
            svc["environment"] = _from_env(svc["environment"], env, drop_unset=False)
        implicit = _implicit_dependencies(svc)
        if implicit:
            depends = svc.setdefault("depends_on", {})
            for dep, restart in implicit:
                depends.setdefault(
                    dep, {"condition": "service_started", "required": True, "restart": restart}
                )
        if svc.get("image") and svc.get("pre_start"):
            svc["pre_start"] = [
                {**hook, "image": hook.get("image", svc["image"])} for hook in svc["pre_start"]
            ]
    networks: dict[str, Any] = out.get("networks") or {}
    if uses_default:
        networks.setdefault("default", {})
    for key, net in networks.items():
        net.setdefault("name", key if net.get("external") else f"{project}_{key}")
    if networks:
        out["networks"] = networks
    for key, vol in (out.get("volumes") or {}).items():
        vol.setdefault("name", key if vol.get("external") else f"{project}_{key}")
    return out


def _from_env(
    values: Mapping[str, str | None], env: Mapping[str, str], *, drop_unset: bool
) -> dict[str, str | None]:
    """Fill bare `KEY` entries from the environment; keep (or drop) them when unset."""
    out: dict[str, str | None] = {}
    for key, value in values.items():
        if value is None and key in env:
            out[key] = env[key]
        elif value is not None or not drop_unset:
            out[key] = value
    return out


# --- paths -------------------------------------------------------------------------------


def absolute(path: str, base: Path) -> str:
    """`~` and relative paths against `base`; URLs (git, http) are left alone."""
    if "://" in path or path.startswith("git@"):
        return path
    expanded = os.path.expanduser(path)
    return os.path.normpath(os.path.join(base, expanded))


def resolve_service_paths(svc: dict[str, Any], base: Path) -> dict[str, Any]:
    build = svc.get("build")
    if isinstance(build, dict) and "context" in build:
        build["context"] = absolute(str(build["context"]), base)
    elif isinstance(build, str):
        svc["build"] = absolute(build, base)
    for key in ("env_file", "label_file"):
        if key in svc:
            files: list[Any] = []
            for entry in _string_list(svc[key]):
                if isinstance(entry, dict):
                    files.append({**entry, "path": absolute(str(entry["path"]), base)})
                else:
                    files.append(absolute(str(entry), base))
            svc[key] = files
    if "volumes" in svc:
        vols = []
        for entry in _string_list(svc["volumes"]):
            vol = dict(entry) if isinstance(entry, dict) else parse_volume(str(entry))
            if vol.get("type") == "bind" and vol.get("source"):
                vol["source"] = absolute(str(vol["source"]), base)
            vols.append(vol)
        svc["volumes"] = vols
    return svc


def resolve_paths(model: dict[str, Any], base: Path) -> dict[str, Any]:
    for svc in (model.get("services") or {}).values():
        resolve_service_paths(svc, base)
    for section in ("secrets", "configs"):
        for item in (model.get(section) or {}).values():
            if isinstance(item, dict) and item.get("file"):
                item["file"] = absolute(str(item["file"]), base)
    return model
