"""`extends`: a service starts from another service (same file or another file).

The base is resolved first (recursively, cycles are errors), then the extending service
is merged onto it with the same rules as `-f` overrides. Relative paths in a service
taken from another file are made absolute against that file's directory.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from rootless.compose.errors import at
from rootless.compose.merge import merge, strip_tags
from rootless.compose.normalize import resolve_service_paths
from rootless.compose.shortsyntax import SyntaxProblem

LoadFile = Callable[[Path], dict[str, Any]]


def apply_extends(model: dict[str, Any], source: Path, load: LoadFile) -> dict[str, Any]:
    services = model.get("services") or {}
    if not any(isinstance(s, dict) and "extends" in s for s in services.values()):
        return model
    resolved = {name: _resolve(name, model, source, load, ()) for name in services}
    return {**model, "services": resolved}


def _resolve(
    name: str,
    model: dict[str, Any],
    source: Path,
    load: LoadFile,
    stack: tuple[tuple[Path, str], ...],
) -> Any:
    if (source, name) in stack:
        chain = " -> ".join(n for _, n in (*stack, (source, name)))
        raise at(str(source), f"services.{name}.extends", f"extends cycle: {chain}")
    services = model.get("services") or {}
    svc = services.get(name)
    if svc is None:
        svc = {}
    if not isinstance(svc, dict) or "extends" not in svc:
        return svc
    ext = svc["extends"]
    if isinstance(ext, str):
        ext = {"service": ext}
    base_name = str(ext.get("service", ""))
    base_source, base_model = source, model
    if ext.get("file"):
        base_source = (source.parent / str(ext["file"])).resolve()
        base_model = load(base_source)
    if base_name not in (base_model.get("services") or {}):
        raise at(
            str(source),
            f"services.{name}.extends.service",
            f'service "{base_name}" not found in {base_source}',
        )
    base = _resolve(base_name, base_model, base_source, load, (*stack, (source, name)))
    base = strip_tags(base) or {}
    if base_source.parent != source.parent:
        try:
            base = resolve_service_paths(dict(base), base_source.parent)
        except SyntaxProblem as e:
            raise at(str(base_source), f"services.{base_name}.volumes", str(e)) from None
    own = {k: v for k, v in svc.items() if k != "extends"}
    return merge(base, own, ("services", name))
