"""Go's `strconv.Quote`, which BuildKit's AST dump uses for every argument.

Python's repr()/json.dumps() differ (\\u0000 vs \\x00, quote style, non-ASCII), so the
rules are written out. Undecodable input bytes, kept as surrogate escapes when the
Dockerfile was decoded, come out as `\\xHH` like Go's invalid-UTF-8 bytes.
"""

from __future__ import annotations

import unicodedata

_ESCAPES = {
    '"': '\\"',
    "\\": "\\\\",
    "\a": "\\a",
    "\b": "\\b",
    "\f": "\\f",
    "\n": "\\n",
    "\r": "\\r",
    "\t": "\\t",
    "\v": "\\v",
}

# Go's unicode.IsPrint: letters, marks, numbers, punctuation, symbols and ASCII space.
_PRINTABLE_CATEGORIES = frozenset(("L", "M", "N", "P", "S"))


def _is_print(ch: str) -> bool:
    return ch == " " or unicodedata.category(ch)[0] in _PRINTABLE_CATEGORIES


def go_quote(s: str) -> str:
    out = ['"']
    for ch in s:
        o = ord(ch)
        if ch in _ESCAPES:
            out.append(_ESCAPES[ch])
        elif o < 0x20 or o == 0x7F:
            out.append(f"\\x{o:02x}")
        elif 0xDC80 <= o <= 0xDCFF:  # a raw byte kept by surrogateescape
            out.append(f"\\x{o - 0xDC00:02x}")
        elif o < 0x80 or _is_print(ch):
            out.append(ch)
        elif o < 0x10000:
            out.append(f"\\u{o:04x}")
        else:
            out.append(f"\\U{o:08x}")
    out.append('"')
    return "".join(out)


def go_quote_list(items: list[str]) -> str:
    """Go's `%q` of a []string: `["a" "b"]`."""
    return "[" + " ".join(go_quote(i) for i in items) + "]"


# Go's unicode.IsSpace set. Python's str.isspace() also counts \x1c-\x1f, Go does not.
GO_SPACES = (
    "\t\n\v\f\r \x85\xa0\u1680"
    + "".join(map(chr, range(0x2000, 0x200B)))
    + ("\u2028\u2029\u202f\u205f\u3000")
)


def is_space(ch: str) -> bool:
    return ch != "" and ch in GO_SPACES
