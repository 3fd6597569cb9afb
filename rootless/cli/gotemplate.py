"""A small subset of Go templates for --format: {{.A.B}}, {{json .A}}, {{.}}, literals."""

from __future__ import annotations

import json
import re
from typing import Any

from rootless.errors import UsageError

_ACTION = re.compile(r"\{\{\s*(json\s+)?\.([A-Za-z0-9_.]*)\s*\}\}")


def _lookup(obj: Any, path: str) -> Any:
    cur = obj
    for part in [p for p in path.split(".") if p]:
        if isinstance(cur, dict) and part in cur:
            cur = cur[part]
        else:
            raise UsageError(f"template: can't evaluate field {part}")
    return cur


def _show(val: Any) -> str:
    if isinstance(val, bool):
        return "true" if val else "false"
    if isinstance(val, list):
        return "[" + " ".join(_show(v) for v in val) + "]"
    if isinstance(val, dict):
        return "map[" + " ".join(f"{k}:{_show(v)}" for k, v in val.items()) + "]"
    return "" if val is None else str(val)


def render_path(template: str, obj: Any) -> str:
    text = template.replace("\\t", "\t").replace("\\n", "\n")

    def sub(m: re.Match[str]) -> str:
        val = _lookup(obj, m.group(2))
        return json.dumps(val) if m.group(1) else _show(val)

    return _ACTION.sub(sub, text)
