"""JSON through the C accelerator `_json` alone.

The json package imports re (and with it enum): about 20 ms of a start-up that has to
stay close to runc's. The C scanner and encoder are the same code json uses; only the
glue is here. Errors are ValueError, as with json.
"""

from __future__ import annotations

import _json

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterable
    from typing import Any

_WS = " \t\n\r"


class _Context:
    """The attributes _json.make_scanner reads from a json.JSONDecoder."""

    strict = True
    object_hook = None
    object_pairs_hook = None
    parse_float = float
    parse_int = int
    memo: dict[str, Any] = {}

    @staticmethod
    def parse_constant(name: str) -> float:
        return {"NaN": float("nan"), "Infinity": float("inf"), "-Infinity": float("-inf")}[name]


_scan = _json.make_scanner(_Context())  # type: ignore[arg-type]


def _no_default(obj: object) -> object:
    raise TypeError(f"{type(obj).__name__} is not JSON serializable")


_encode = _json.make_encoder(
    None, _no_default, _json.encode_basestring_ascii, None, ": ", ", ", False, False, True
)
# Sorted keys, no spaces: equal objects encode equally whatever their keys' order.
_canonical = _json.make_encoder(
    None, _no_default, _json.encode_basestring_ascii, None, ":", ",", True, False, True
)


def loads(data: str | bytes) -> Any:
    text = data.decode() if isinstance(data, bytes) else data
    start = len(text) - len(text.lstrip(_WS))
    try:
        obj, end = _scan(text, start)
        if not text[end:].strip(_WS):
            return obj
    except Exception:
        pass
    # Invalid input: the json package (imported only now) gives the precise error.
    import json

    return json.loads(text)


def dumps(obj: Any) -> str:
    return "".join(_encode(obj, 0))


def canonical_chunks(obj: Any) -> Iterable[str]:
    """The canonical encoding of `obj` (sorted keys, no spaces), in chunks: for hashing."""
    return _canonical(obj, 0)


def load_file(path: str) -> Any:
    with open(path, "rb") as f:
        return loads(f.read())
