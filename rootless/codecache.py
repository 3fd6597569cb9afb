"""Compiled code for the methods `dataclasses` generates, kept between runs.

`@dataclass` writes each class's `__init__`, `__repr__`, `__eq__` (and for frozen
classes `__setattr__`/`__delattr__`) as source text and compiles it with `exec()`: three
to five compilations a class, ~0.4 ms, ~9 ms of every `rootless run` (23 classes on its
path). A code object depends only on its source text and the interpreter, so the first
start compiles and stores them with `marshal` (one file per interpreter version, as
`__pycache__` does); later starts look them up. A missing, damaged or foreign file just
means compiling as before.

The hook is `dataclasses`' module-level name `exec`, which shadows the builtin for that
module only; whatever it is handed that is not a source string goes to the builtin
unchanged, and a string it has not seen is compiled exactly as `exec` would.
"""

from __future__ import annotations

import builtins
import marshal
import os
import sys

TYPE_CHECKING = False
if TYPE_CHECKING:
    from types import CodeType
    from typing import Any

MAX_ENTRIES = 2048  # past this (many versions of our classes), keep only what is used

_codes: dict[str, CodeType] = {}  # source text -> its compiled code (stored or new)
_used: set[str] = set()
_new = False  # compiled something the file does not have
_path = ""


def cache_file() -> str:
    """$XDG_CACHE_HOME/rootless (else ~/.cache/rootless), what platformdirs'
    user_cache_dir is on Linux; computed here because importing platformdirs costs ~5 ms.
    "" (no cache) without an absolute base: never a relative dir under the cwd."""
    base = os.environ.get("XDG_CACHE_HOME", "")
    if not os.path.isabs(base):  # the XDG spec: a relative value is to be ignored
        base = os.path.join(os.path.expanduser("~"), ".cache")
        if not os.path.isabs(base):
            return ""
    return os.path.join(base, "rootless", f"dataclasses-{sys.implementation.cache_tag}.marshal")


def install() -> None:
    """Load the stored code and hook `dataclasses`; call before the first dataclass."""
    global _path
    import dataclasses

    if getattr(dataclasses, "exec", None) is _exec:
        return
    _path = cache_file()
    if _path:
        _codes.update(_load(_path))
    dataclasses.exec = _exec  # type: ignore[attr-defined]


def _load(path: str) -> dict[str, CodeType]:
    try:
        with open(path, "rb") as f:
            st = os.fstat(f.fileno())
            # Code we would run: only from a file of ours nobody else may write.
            if st.st_uid != os.getuid() or st.st_mode & 0o022:
                return {}
            loaded = marshal.loads(f.read())  # marshal.load(f) reads 4 KiB at a time
    except (OSError, EOFError, ValueError, TypeError):
        return {}
    if not isinstance(loaded, dict):
        return {}
    return {k: v for k, v in loaded.items() if type(k) is str and type(v) is _CODE_TYPE}


def _exec(source: Any, globals: Any = None, locals: Any = None, /) -> None:
    """`exec` for dataclasses: a source string runs as its stored code object."""
    global _new
    if type(source) is str:
        code = _codes.get(source)
        if code is None:
            # No flags inherited from this module (its `annotations` future would turn
            # the generated annotations into strings): as dataclasses' own exec compiles.
            code = _codes[source] = compile(source, "<string>", "exec", dont_inherit=True)
            _new = True
        _used.add(source)
        source = code
    builtins.exec(source, globals, locals)


def save() -> None:
    """Store the code if this process compiled any: atomically, 0600; being a cache, it
    fails silently (a read-only home, a full disk)."""
    global _new
    if not _new or not _path:
        return
    _new = False
    keep = _codes if len(_codes) <= MAX_ENTRIES else {k: _codes[k] for k in _used}
    from rootless.fsutil import atomic_write  # only when there is something to store

    try:
        os.makedirs(os.path.dirname(_path), mode=0o700, exist_ok=True)
        atomic_write(_path, marshal.dumps(keep), 0o600)
    except OSError:
        pass


_CODE_TYPE = type(save.__code__)
