"""A JSON encoder for the monitor's small records: str, int, bool, None, lists, dicts.

The json module costs the monitor ~1.2 MB of RSS (it pulls in re, enum, ...) for the
container's whole life; these few lines do what it needs.
"""

from __future__ import annotations

_ESC = {'"': '\\"', "\\": "\\\\", "\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _str(s: str) -> str:
    out = []
    for ch in s:
        if ch in _ESC:
            out.append(_ESC[ch])
        elif ch < " " or "\ud800" <= ch <= "\udfff":  # controls; lone surrogates as \\u
            out.append(f"\\u{ord(ch):04x}")
        else:
            out.append(ch)
    return '"' + "".join(out) + '"'


def dumps(obj: object) -> str:
    if obj is None:
        return "null"
    if obj is True:
        return "true"
    if obj is False:
        return "false"
    if isinstance(obj, int):
        return str(obj)
    if isinstance(obj, str):
        return _str(obj)
    if isinstance(obj, (list, tuple)):
        return "[" + ", ".join(dumps(x) for x in obj) + "]"
    if isinstance(obj, dict):
        return "{" + ", ".join(f"{_str(str(k))}: {dumps(v)}" for k, v in obj.items()) + "}"
    raise TypeError(f"jsonlite cannot encode {type(obj).__name__}")
