"""`${VAR}` substitution as compose does it, over strings and whole trees.

Operators inside braces: `:-`/`-` default, `:?`/`?` required, `:+`/`+` alternate; the
colon forms also treat an empty value as unset. `$$` is a literal `$`. Defaults and
messages are themselves templates, evaluated only when used (so only the variables
actually read are warned about).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from rootless.compose.yamlio import Override, Reset

Lookup = Callable[[str], "str | None"]

_NAME = re.compile(r"[_a-zA-Z][_a-zA-Z0-9]*")
_OPERATORS = (":?", "?", ":-", "-", ":+", "+")


class InvalidTemplate(ValueError):
    def __init__(self, template: str) -> None:
        super().__init__(f'Invalid template: "{template}"')
        self.template = template


class MissingRequired(ValueError):
    def __init__(self, variable: str, reason: str) -> None:
        msg = f"required variable {variable} is missing a value"
        super().__init__(f"{msg}: {reason}" if reason else msg)
        self.variable = variable
        self.reason = reason


@dataclass
class Substitution:
    lookup: Lookup
    unset: list[str] = field(default_factory=list)  # read while unset, no default

    def run(self, template: str) -> str:
        out: list[str] = []
        i, n = 0, len(template)
        while i < n:
            j = template.find("$", i)
            if j < 0:
                out.append(template[i:])
                break
            out.append(template[i:j])
            nxt = template[j + 1] if j + 1 < n else ""
            if nxt == "$":
                out.append("$")
                i = j + 2
            elif nxt == "{":
                end = _closing_brace(template, j + 2)
                if end < 0:
                    raise InvalidTemplate(template)
                out.append(self._braced(template[j + 2 : end], template))
                i = end + 1
            elif (m := _NAME.match(template, j + 1)) is not None:
                out.append(self._value(m.group(0)))
                i = m.end()
            else:
                out.append("$")
                i = j + 1
        return "".join(out)

    def _value(self, name: str) -> str:
        value = self.lookup(name)
        if value is None:
            self.unset.append(name)
            return ""
        return value

    def _braced(self, inner: str, template: str) -> str:
        name, op, arg = split_braced(inner, template)
        if not op:
            return self._value(name)
        value = self.lookup(name)
        missing = value is None or (op.startswith(":") and value == "")
        if op in (":-", "-"):
            return self.run(arg) if missing else str(value)
        if op in (":+", "+"):
            return "" if missing else self.run(arg)
        if missing:
            raise MissingRequired(name, self.run(arg))
        return str(value)


def split_braced(inner: str, template: str = "") -> tuple[str, str, str]:
    """`VAR:-default` -> ("VAR", ":-", "default"): the operator right after the name."""
    m = _NAME.match(inner)
    if m is None:
        raise InvalidTemplate(template or "${" + inner + "}")
    name, rest = m.group(0), inner[m.end() :]
    if not rest:
        return name, "", ""
    op = next((o for o in _OPERATORS if rest.startswith(o)), None)
    if op is None:
        raise InvalidTemplate(template or "${" + inner + "}")
    return name, op, rest[len(op) :]


def _closing_brace(text: str, start: int) -> int:
    """Index of the `}` closing a `${` whose body starts at `start` (nested braces count)."""
    depth = 1
    for k in range(start, len(text)):
        c = text[k]
        if c == "{":
            depth += 1
        elif c == "}":
            depth -= 1
            if depth == 0:
                return k
    return -1


def substitute(template: str, lookup: Lookup) -> tuple[str, list[str]]:
    """Return the substituted text and the unset variables it read without a default."""
    sub = Substitution(lookup)
    return sub.run(template), sub.unset


def mapping_lookup(env: Mapping[str, str]) -> Lookup:
    return env.get


# --- whole trees -----------------------------------------------------------------------


class TreeError(ValueError):
    """An interpolation error at a dotted path; str() is compose-go's message."""

    def __init__(self, message: str, path: str, detail: str) -> None:
        super().__init__(message)
        self.path = path
        self.detail = detail


Cast = Callable[[str], Any]
Path = tuple[str, ...]  # mapping keys, "[]" for a list item


def _match(pattern: Path, path: Path) -> bool:
    return len(pattern) == len(path) and all(
        p in ("*", q) for p, q in zip(pattern, path, strict=True)
    )


def interpolate(
    tree: Any,
    lookup: Lookup,
    casts: Mapping[Path, Cast] | None = None,
    warnings: list[str] | None = None,
) -> Any:
    """Substitute every string in a dict/list tree, then apply casts by path pattern."""

    def walk(node: Any, path: Path, shown: list[str]) -> Any:
        if isinstance(node, Override):  # keep !override/!reset markers for the merge
            return Override(walk(node.value, path, shown))
        if isinstance(node, Reset):
            return node
        if isinstance(node, str):
            dotted = ".".join(shown)
            try:
                value, unset = substitute(node, lookup)
            except InvalidTemplate:
                raise TreeError(
                    f"invalid interpolation format for {dotted}.\n"
                    f"You may need to escape any $ with another $.\n{node}",
                    dotted,
                    f'invalid interpolation format "{node}" (write a literal $ as $$)',
                ) from None
            except MissingRequired as e:
                raise TreeError(
                    f"error while interpolating {dotted}: {e}", dotted, str(e)
                ) from None
            if warnings is not None:
                warnings.extend(u for u in unset if u not in warnings)
            for pattern, cast in (casts or {}).items():
                if _match(pattern, path):
                    try:
                        return cast(value)
                    except ValueError as e:
                        raise TreeError(f"failed to cast {dotted}: {e}", dotted, str(e)) from None
            return value
        if isinstance(node, dict):
            return {k: walk(v, (*path, str(k)), [*shown, str(k)]) for k, v in node.items()}
        if isinstance(node, list):
            return [walk(v, (*path, "[]"), [*shown, f"[{i}]"]) for i, v in enumerate(node)]
        return node

    return walk(tree, (), [])


_TRUE = {"y", "yes", "true", "on"}
_FALSE = {"n", "no", "false", "off"}


def to_bool(value: str) -> bool:
    low = value.lower()
    if low in _TRUE:
        return True
    if low in _FALSE:
        return False
    raise ValueError(f"expected a boolean, got {value!r}")


def to_int(value: str) -> int:
    try:
        return int(value)
    except ValueError:
        raise ValueError(f"expected an integer, got {value!r}") from None


def to_float(value: str) -> float:
    try:
        return float(value)
    except ValueError:
        raise ValueError(f"expected a number, got {value!r}") from None


def _svc(*parts: str) -> Path:
    return ("services", "*", *parts)


# After interpolation, fields the schema lets be `${VAR}` strings get their real type.
SERVICE_CASTS: dict[Path, Cast] = {
    _svc("configs", "[]", "mode"): to_int,
    _svc("secrets", "[]", "mode"): to_int,
    _svc("cpu_count"): to_int,
    _svc("cpu_percent"): to_float,
    _svc("cpu_period"): to_int,
    _svc("cpu_quota"): to_int,
    _svc("cpu_rt_period"): to_int,
    _svc("cpu_rt_runtime"): to_int,
    _svc("cpus"): to_float,
    _svc("cpu_shares"): to_int,
    _svc("init"): to_bool,
    _svc("deploy", "replicas"): to_int,
    _svc("deploy", "update_config", "parallelism"): to_int,
    _svc("deploy", "update_config", "max_failure_ratio"): to_float,
    _svc("deploy", "rollback_config", "parallelism"): to_int,
    _svc("deploy", "rollback_config", "max_failure_ratio"): to_float,
    _svc("deploy", "restart_policy", "max_attempts"): to_int,
    _svc("deploy", "placement", "max_replicas_per_node"): to_int,
    _svc("deploy", "resources", "limits", "cpus"): to_float,
    _svc("deploy", "resources", "limits", "pids"): to_int,
    _svc("healthcheck", "retries"): to_int,
    _svc("healthcheck", "disable"): to_bool,
    _svc("oom_kill_disable"): to_bool,
    _svc("oom_score_adj"): to_int,
    _svc("pids_limit"): to_int,
    _svc("ports", "[]", "target"): to_int,
    _svc("privileged"): to_bool,
    _svc("read_only"): to_bool,
    _svc("scale"): to_int,
    _svc("stdin_open"): to_bool,
    _svc("tty"): to_bool,
    _svc("ulimits", "*"): to_int,
    _svc("ulimits", "*", "hard"): to_int,
    _svc("ulimits", "*", "soft"): to_int,
    _svc("volumes", "[]", "read_only"): to_bool,
    _svc("volumes", "[]", "volume", "nocopy"): to_bool,
    _svc("depends_on", "*", "required"): to_bool,
    _svc("depends_on", "*", "restart"): to_bool,
    ("networks", "*", "external"): to_bool,
    ("networks", "*", "internal"): to_bool,
    ("networks", "*", "attachable"): to_bool,
    ("networks", "*", "enable_ipv6"): to_bool,
    ("volumes", "*", "external"): to_bool,
    ("secrets", "*", "external"): to_bool,
    ("configs", "*", "external"): to_bool,
}
