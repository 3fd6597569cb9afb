"""`include:`: other compose files loaded as sub-projects and added to this one.

Each entry is a path (or list of paths, merged like -f), with an optional
`project_directory` (the base of the included files' relative paths; default: the
first included file's directory) and `env_file` (extra variables for interpolating the
included files). The included services, networks, volumes... are added to the
including file; defining the same one differently in both is an error, as is a cycle.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rootless.compose.errors import ComposeError, at
from rootless.compose.normalize import absolute

SECTIONS = ("services", "networks", "volumes", "secrets", "configs", "models")


@dataclass
class IncludeEntry:
    paths: list[Path]
    project_directory: Path
    env_files: list[Path]


def entries(model: dict[str, Any], source: Path) -> list[IncludeEntry]:
    """The `include:` list of a file, with paths made absolute against its directory."""
    base = source.parent
    out = []
    for item in model.get("include") or []:
        spec = {"path": item} if isinstance(item, str) else dict(item)
        raw_paths = spec.get("path")
        paths = [Path(absolute(str(p), base)) for p in _as_list(raw_paths)]
        if not paths:
            raise at(str(source), "include", "each entry needs a path")
        project_dir = spec.get("project_directory")
        directory = Path(absolute(str(project_dir), base)) if project_dir else paths[0].parent
        env_files = [Path(absolute(str(p), base)) for p in _as_list(spec.get("env_file"))]
        out.append(IncludeEntry(paths, directory, env_files))
    return out


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


LoadIncluded = Callable[[IncludeEntry, tuple[Path, ...]], dict[str, Any]]


def apply_includes(
    model: dict[str, Any], source: Path, load: LoadIncluded, stack: tuple[Path, ...] = ()
) -> dict[str, Any]:
    """Add every included project's resources to `model` (which is not modified)."""
    if "include" not in model:
        return model
    if source in stack:
        chain = " -> ".join(str(p) for p in (*stack, source))
        raise ComposeError(f"include cycle detected: {chain}")
    out = {k: v for k, v in model.items() if k != "include"}
    for entry in entries(model, source):
        for path in entry.paths:
            if path in (*stack, source):
                chain = " -> ".join(str(p) for p in (*stack, source, path))
                raise ComposeError(f"include cycle detected: {chain}")
        included = load(entry, (*stack, source))
        for section in SECTIONS:
            for key, value in (included.get(section) or {}).items():
                mine = out.setdefault(section, {}) or {}
                out[section] = mine
                if key in mine and mine[key] != value:
                    raise at(
                        str(source),
                        f"{section}.{key}",
                        f"also defined by the included {entry.paths[0]} (rename one of them)",
                    )
                mine[key] = value
    return out
