"""Merging compose files (`-f a.yaml -f b.yaml`, `extends`) by the compose spec's rules.

Mappings merge key by key, scalars are replaced, sequences are appended. Some keys have
their own rule (`command` replaces, `environment` mapping or list merges by variable,
`ulimits.nofile` replaces, ...); then `enforce_unicity` removes entries a later file
redefined (same env variable, same volume target, same port). `!reset` drops a key and
`!override` replaces a value instead of merging.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from rootless.compose.shortsyntax import SyntaxProblem, parse_volume
from rootless.compose.yamlio import Override, Reset

Path = tuple[str, ...]
Merger = Callable[[Any, Any, Path], Any]


def _matches(pattern: Path, path: Path) -> bool:
    return len(pattern) == len(path) and all(
        p in ("*", q) for p, q in zip(pattern, path, strict=True)
    )


def _lookup(table: dict[Path, Any], path: Path) -> Any:
    for pattern, fn in table.items():
        if _matches(pattern, path):
            return fn
    return None


def strip_tags(node: Any) -> Any:
    """A single file's own view: `!reset` keys vanish, `!override` values are plain."""
    if isinstance(node, Override):
        return strip_tags(node.value)
    if isinstance(node, dict):
        return {k: strip_tags(v) for k, v in node.items() if not isinstance(v, Reset)}
    if isinstance(node, list):
        return [strip_tags(v) for v in node if not isinstance(v, Reset)]
    return node


def merge(base: Any, override: Any, path: Path = ()) -> Any:
    """Merge `override` into `base` (neither is modified) and return the result."""
    if isinstance(override, Override):
        return strip_tags(override.value)
    special = _lookup(_SPECIALS, path)
    if special is not None and base is not None and override is not None:
        return special(base, override, path)
    return _merge_plain(base, override, path)


def _merge_plain(base: Any, override: Any, path: Path) -> Any:
    if isinstance(override, Override):
        return strip_tags(override.value)
    if isinstance(base, dict) and isinstance(override, dict):
        out = dict(base)
        for key, value in override.items():
            if isinstance(value, Reset):
                out.pop(key, None)
            elif key in out:
                out[key] = merge(out[key], value, (*path, str(key)))
            else:
                out[key] = strip_tags(value)
        return out
    if isinstance(base, list) and isinstance(override, list):
        return [*base, *strip_tags(override)]
    return strip_tags(override)


def _replace(base: Any, override: Any, path: Path) -> Any:
    return strip_tags(override)


def _kv_string(key: str, value: Any) -> str:
    if value is None:
        return key
    if isinstance(value, bool):
        value = "true" if value else "false"
    return f"{key}={value}"


def to_sequence(value: Any) -> list[Any]:
    """A mapping becomes `KEY=VALUE` entries (bare `KEY` for null); a scalar a 1-list."""
    if isinstance(value, dict):
        out: list[Any] = []
        for k, v in sorted(value.items(), key=lambda kv: str(kv[0])):
            if isinstance(v, list):  # extra_hosts: host: [ip1, ip2]
                out.extend(_kv_string(k, item) for item in v)
            else:
                out.append(_kv_string(k, v))
        return out
    if isinstance(value, list):
        return list(value)
    return [value]


def _merge_to_sequence(base: Any, override: Any, path: Path) -> Any:
    return [*to_sequence(base), *to_sequence(strip_tags(override))]


def _merge_extra_hosts(base: Any, override: Any, path: Path) -> Any:
    out: list[Any] = []
    for entry in [*to_sequence(base), *to_sequence(strip_tags(override))]:
        if entry not in out:
            out.append(entry)
    return out


def _as_mapping(value: Any) -> Any:
    """Service `networks`/`models` list form -> mapping with null values."""
    if isinstance(value, list):
        return {str(v): None for v in value}
    return value


def _merge_as_mapping(base: Any, override: Any, path: Path) -> Any:
    b, o = _as_mapping(base), _as_mapping(override)
    out = dict(b)
    for key, value in o.items():
        if isinstance(value, Reset):
            out.pop(key, None)
        elif out.get(key) is not None and value is not None:
            out[key] = merge(out[key], value, (*path, str(key)))
        elif key not in out or value is not None:
            out[key] = strip_tags(value)
    return out


def _depends_on_mapping(value: Any) -> Any:
    if isinstance(value, list):
        return {str(v): {"condition": "service_started", "required": True} for v in value}
    return value


def _merge_depends_on(base: Any, override: Any, path: Path) -> Any:
    return _merge_plain(_depends_on_mapping(base), _depends_on_mapping(override), path)


def _build_mapping(value: Any) -> Any:
    return {"context": value} if isinstance(value, str) else value


def _merge_build(base: Any, override: Any, path: Path) -> Any:
    return _merge_plain(_build_mapping(base), _build_mapping(override), path)


def _merge_logging(base: Any, override: Any, path: Path) -> Any:
    if not (isinstance(base, dict) and isinstance(override, dict)):
        return strip_tags(override)
    driver_b, driver_o = base.get("driver"), override.get("driver")
    if driver_b is not None and driver_o is not None and driver_b != driver_o:
        return strip_tags(override)
    return _merge_plain(base, override, path)


def _merge_ipam_config(base: Any, override: Any, path: Path) -> Any:
    if not (isinstance(base, list) and isinstance(override, list)):
        return strip_tags(override)
    out = list(base)
    for entry in strip_tags(override):
        subnet = entry.get("subnet") if isinstance(entry, dict) else None
        for i, existing in enumerate(out):
            if (
                isinstance(existing, dict)
                and subnet is not None
                and existing.get("subnet") == subnet
            ):
                out[i] = _merge_plain(existing, entry, (*path, "[]"))
                break
        else:
            out.append(entry)
    return out


def _svc(*parts: str) -> Path:
    return ("services", "*", *parts)


_SPECIALS: dict[Path, Merger] = {
    ("networks", "*", "ipam", "config"): _merge_ipam_config,
    ("networks", "*", "labels"): _merge_to_sequence,
    ("volumes", "*", "labels"): _merge_to_sequence,
    ("models", "*", "runtime_flags"): _replace,
    _svc("annotations"): _merge_to_sequence,
    _svc("build"): _merge_build,
    _svc("build", "args"): _merge_to_sequence,
    _svc("build", "additional_contexts"): _merge_to_sequence,
    _svc("build", "extra_hosts"): _merge_extra_hosts,
    _svc("build", "labels"): _merge_to_sequence,
    _svc("command"): _replace,
    _svc("depends_on"): _merge_depends_on,
    _svc("deploy", "labels"): _merge_to_sequence,
    _svc("dns"): _merge_to_sequence,
    _svc("dns_opt"): _merge_to_sequence,
    _svc("dns_search"): _merge_to_sequence,
    _svc("entrypoint"): _replace,
    _svc("env_file"): _merge_to_sequence,
    _svc("label_file"): _merge_to_sequence,
    _svc("environment"): _merge_to_sequence,
    _svc("extra_hosts"): _merge_extra_hosts,
    _svc("healthcheck", "test"): _replace,
    _svc("labels"): _merge_to_sequence,
    _svc("volumes", "[]", "volume", "labels"): _merge_to_sequence,
    _svc("logging"): _merge_logging,
    _svc("models"): _merge_as_mapping,
    _svc("networks"): _merge_as_mapping,
    _svc("sysctls"): _merge_to_sequence,
    _svc("tmpfs"): _merge_to_sequence,
    _svc("ulimits", "*"): _replace,
}


# --- unicity ---------------------------------------------------------------------------

Indexer = Callable[[Any], Any]


def _kv_key(entry: Any) -> Any:
    if isinstance(entry, str):
        return entry.split("=", 1)[0]
    return repr(entry)


def _volume_key(entry: Any) -> Any:
    if isinstance(entry, dict):
        return entry.get("target", repr(entry))
    if isinstance(entry, str):
        try:
            return parse_volume(entry).get("target", entry)
        except SyntaxProblem:
            return entry
    return repr(entry)


def _device_key(entry: Any) -> Any:
    if isinstance(entry, dict):
        return entry.get("target") or entry.get("source")
    if isinstance(entry, str):
        parts = entry.split(":")
        return parts[1] if len(parts) > 1 else parts[0]
    return repr(entry)


def _mount_key(default_dir: str) -> Indexer:
    def key(entry: Any) -> Any:
        if isinstance(entry, str):
            return f"{default_dir}/{entry}" if default_dir else entry
        if isinstance(entry, dict):
            target = entry.get("target")
            if target:
                return target
            source = entry.get("source", "")
            return f"{default_dir}/{source}" if default_dir else source
        return repr(entry)

    return key


def _env_file_key(entry: Any) -> Any:
    if isinstance(entry, dict):
        return entry.get("path")
    return entry


def _port_key(entry: Any) -> Any:
    if isinstance(entry, dict):
        return (
            entry.get("host_ip", ""),
            str(entry.get("published", "")),
            str(entry.get("target", "")),
            entry.get("protocol", "tcp"),
            entry.get("mode", ""),
        )
    return str(entry)


def _exact(entry: Any) -> Any:
    return repr(entry)


_UNIQUE: dict[Path, Indexer] = {
    ("networks", "*", "labels"): _kv_key,
    ("networks", "*", "ipam", "options"): _kv_key,
    ("volumes", "*", "labels"): _kv_key,
    _svc("annotations"): _kv_key,
    _svc("build", "args"): _kv_key,
    _svc("build", "additional_contexts"): _kv_key,
    _svc("build", "platform"): _kv_key,  # sic: compose-go keys the singular
    _svc("build", "platforms"): _kv_key,
    _svc("build", "tags"): _kv_key,
    _svc("build", "labels"): _kv_key,
    _svc("cap_add"): _kv_key,
    _svc("cap_drop"): _kv_key,
    _svc("configs"): _mount_key(""),
    _svc("deploy", "labels"): _kv_key,
    _svc("devices"): _device_key,
    _svc("dns"): _kv_key,
    _svc("dns_opt"): _kv_key,
    _svc("dns_search"): _kv_key,
    _svc("environment"): _kv_key,
    _svc("env_file"): _env_file_key,
    _svc("label_file"): _env_file_key,
    _svc("expose"): _exact,
    _svc("labels"): _kv_key,
    _svc("links"): _kv_key,
    _svc("networks", "*", "aliases"): _kv_key,
    _svc("networks", "*", "link_local_ips"): _kv_key,
    _svc("ports"): _port_key,
    _svc("profiles"): _kv_key,
    _svc("secrets"): _mount_key("/run/secrets"),
    _svc("sysctls"): _kv_key,
    _svc("tmpfs"): _kv_key,
    _svc("volumes"): _volume_key,
}


def enforce_unicity(node: Any, path: Path = ()) -> Any:
    """Keep one entry per key in keyed sequences: the last value, at the first position."""
    if isinstance(node, dict):
        return {k: enforce_unicity(v, (*path, str(k))) for k, v in node.items()}
    if isinstance(node, list):
        items = [enforce_unicity(v, (*path, "[]")) for v in node]
        indexer = _lookup(_UNIQUE, path)
        if indexer is None:
            return items
        out: list[Any] = []
        seen: dict[Any, int] = {}
        for item in items:
            key = indexer(item)
            if key in seen:
                out[seen[key]] = item
            else:
                seen[key] = len(out)
                out.append(item)
        return out
    return node
