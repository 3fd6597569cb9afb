"""`RUN --mount=type=cache,target=/root/.cache,...` as a typed Mount.

Fields are comma-separated `key=value` pairs (CSV quoting allowed); `ro`/`readonly`/
`rw` and `required` may be bare words. Defaults follow BuildKit: the type is `bind`,
bind mounts are read-only unless `rw`, secrets land in /run/secrets/<id>.
"""

from __future__ import annotations

import csv
import posixpath
import re
from collections.abc import Callable
from dataclasses import dataclass

from rootless.build.errors import InstructionError

MOUNT_TYPES = ("bind", "cache", "tmpfs", "secret", "ssh")
SHARING_MODES = ("shared", "private", "locked")
_BOOL_KEYS = {"ro", "readonly", "rw", "readwrite", "required"}


@dataclass(frozen=True)
class Mount:
    type: str = "bind"
    target: str = ""
    source: str = ""
    from_: str = ""  # a stage, image or named context
    readonly: bool = False
    id: str = ""
    sharing: str = "shared"
    mode: int | None = None
    uid: int | None = None
    gid: int | None = None
    required: bool = False
    size: int | None = None  # tmpfs bytes
    env: str = ""  # secret exposed as this environment variable


def _bool(key: str, value: str | None) -> bool:
    if value is None:
        return True
    if value.lower() in ("true", "1"):
        return True
    if value.lower() in ("false", "0"):
        return False
    raise InstructionError(f"invalid value for {key}: {value}")


def _int(key: str, value: str, base: int = 10) -> int:
    try:
        return int(value, base)
    except ValueError:
        raise InstructionError(f"invalid value for {key}: {value}") from None


def _size(value: str) -> int:
    m = re.fullmatch(r"(\d+)\s*([kmg]?)b?", value.strip().lower())
    if m is None:
        raise InstructionError(f"invalid value for size: {value}")
    return int(m.group(1)) * {"": 1, "k": 1024, "m": 1024**2, "g": 1024**3}[m.group(2)]


def parse_mount(spec: str, expand: Callable[[str], str] | None = None) -> Mount:
    """Parse one --mount value; `expand` (variable substitution) applies to each value."""
    try:
        fields = next(csv.reader([spec]), [])
    except csv.Error as e:
        raise InstructionError(f"invalid mount {spec!r}: {e}") from None
    kv: dict[str, str | None] = {}
    for f in fields:
        raw_key, eq, value = f.partition("=")
        key = raw_key.strip().lower()
        if not eq and key not in _BOOL_KEYS:
            raise InstructionError(
                f"invalid field '{f}' must be a key=value pair in --mount={spec}"
            )
        kv[key] = (expand(value) if expand else value) if eq else None
    mtype = (kv.pop("type", None) or "bind").lower()
    if mtype not in MOUNT_TYPES:
        raise InstructionError(
            f"unsupported mount type {mtype!r} (use one of {', '.join(MOUNT_TYPES)})"
        )
    m: dict[str, object] = {"type": mtype, "readonly": mtype == "bind"}
    for key, given in kv.items():
        v = given or ""
        if key in ("target", "dst", "destination"):
            m["target"] = v
        elif key in ("source", "src"):
            m["source"] = v
        elif key == "from":
            m["from_"] = v
        elif key in ("ro", "readonly"):
            m["readonly"] = _bool(key, given)
        elif key in ("rw", "readwrite"):
            m["readonly"] = not _bool(key, given)
        elif key == "id":
            m["id"] = v
        elif key == "sharing":
            if v not in SHARING_MODES:
                raise InstructionError(f"unsupported sharing value {v!r}")
            m["sharing"] = v
        elif key == "mode":
            m["mode"] = _int(key, v, 8)
        elif key in ("uid", "gid"):
            m[key] = _int(key, v)
        elif key == "required":
            m["required"] = _bool(key, given)
        elif key == "size":
            m["size"] = _size(v)
        elif key == "env":
            m["env"] = v
        else:
            raise InstructionError(f"unexpected key '{key}' in --mount={spec}")
    if mtype == "secret":
        if not m.get("target") and not m.get("env"):
            ident = str(m.get("id") or posixpath.basename(str(m.get("source") or "")))
            if not ident:
                raise InstructionError(f"secret mount needs an id or a target: --mount={spec}")
            m["target"] = f"/run/secrets/{ident}"
        if not m.get("id"):
            m["id"] = posixpath.basename(str(m.get("target") or m.get("env") or ""))
    elif mtype == "ssh":
        m.setdefault("id", "default")
        m.setdefault("target", "/run/buildkit/ssh_agent.0")
    if not m.get("target"):
        raise InstructionError(f"mount target is required: --mount={spec}")
    return Mount(**m)  # type: ignore[arg-type]
