"""`.env` / `env_file` parsing with the syntax compose accepts (godotenv's).

Lines are `KEY=VALUE`, `KEY: VALUE` or `export KEY=VALUE`; a bare `KEY` inherits the
value from the lookup (or is absent). Unquoted values end at the line, lose a trailing
` #comment` and are `${}`-expanded; single quotes are literal; double quotes may span
lines, expand `\\n`-style escapes and `${}`. While expanding, the lookup (the OS
environment) wins over keys defined earlier in the same file.
"""

from __future__ import annotations

import re
from collections import ChainMap
from collections.abc import Mapping
from pathlib import Path

from rootless.compose.errors import ComposeError
from rootless.compose.interpolation import InvalidTemplate, Lookup, MissingRequired, substitute

_SPACE = " \t\v\f\r\x85\xa0"  # deliberately not \n: a newline ends a bare KEY
_KEY_PUNCT = "_.-[]"
_ESCAPES = {
    "a": "\a",
    "b": "\b",
    "f": "\f",
    "n": "\n",
    "r": "\r",
    "t": "\t",
    "v": "\v",
    "\\": "\\",
    '"': '"',
}
_ESCAPE = re.compile(r"\\(0[0-7]{3}|.)", re.DOTALL)


class DotenvError(ValueError):
    pass


def _no_lookup(_: str) -> str | None:
    return None


def parse(
    text: str, lookup: Lookup | None = None, fallback: Mapping[str, str] | None = None
) -> dict[str, str]:
    """Parse env-file text into an ordered mapping; raise DotenvError with the line.

    `${}` resolves from `lookup`, then keys defined earlier in this text, then `fallback`.
    """
    look = lookup or _no_lookup
    out: dict[str, str] = {}
    if text.startswith("\ufeff"):
        text = text[1:]
    pos = 0
    while True:
        pos = _statement_start(text, pos)
        if pos >= len(text):
            return out
        line = text.count("\n", 0, pos) + 1
        key, pos, inherited = _key(text, pos, line)
        if inherited:
            value = look(key)
            if value is not None:
                out[key] = value
            continue
        value, pos = _value(text, pos, line, ChainMap(out, dict(fallback or {})), look)
        out[key] = value


def _statement_start(text: str, pos: int) -> int:
    n = len(text)
    while pos < n:
        if text[pos] in _SPACE or text[pos] == "\n":
            pos += 1
        elif text[pos] == "#":
            nl = text.find("\n", pos)
            pos = n if nl < 0 else nl
        else:
            break
    return pos


def _key(text: str, pos: int, line: int) -> tuple[str, int, bool]:
    if text.startswith("export", pos) and pos + 6 < len(text) and text[pos + 6] in _SPACE:
        pos += 6
        while pos < len(text) and text[pos] in _SPACE:
            pos += 1
    start = pos
    end = len(text)
    inherited = True  # end of input behaves like a newline
    for k in range(start, len(text)):
        c = text[k]
        if c in _SPACE:
            continue
        if c in "=:\n":
            end, inherited = k, c == "\n"
            break
        if c in _KEY_PUNCT or c.isalnum():
            continue
        first_line = text[start:].split("\n", 1)[0]
        raise DotenvError(
            f'line {line}: unexpected character "{c}" in variable name "{first_line}"'
        )
    key = text[start:end].rstrip()
    if " " in key or "\t" in key:
        raise DotenvError(f"line {line}: key cannot contain a space")
    pos = end + 1
    if not inherited:
        while pos < len(text) and text[pos] in _SPACE:
            pos += 1
    return key, pos, inherited


def _expand(value: str, line: int, env: Mapping[str, str], lookup: Lookup) -> str:
    def look(name: str) -> str | None:
        found = lookup(name)
        return found if found is not None else env.get(name)

    try:
        return substitute(value, look)[0]
    except (InvalidTemplate, MissingRequired) as e:
        raise DotenvError(f"line {line}: {e}") from None


def _unescape(match: re.Match[str]) -> str:
    seq = match.group(1)
    if len(seq) == 4:
        return chr(int(seq[1:], 8))
    if seq == "$":
        return "$$"  # keeps an escaped dollar literal through expansion
    return _ESCAPES.get(seq, match.group(0))


def _value(
    text: str, pos: int, line: int, env: Mapping[str, str], lookup: Lookup
) -> tuple[str, int]:
    quote = text[pos] if pos < len(text) and text[pos] in "'\"" else ""
    if not quote:
        nl = text.find("\n", pos)
        end = len(text) if nl < 0 else nl
        raw = text[pos:end].split(" #", 1)[0].rstrip(_SPACE + "\n")
        return _expand(raw, line, env, lookup), end
    chars: list[str] = []
    escaped = False
    for k in range(pos + 1, len(text)):
        c = text[k]
        if c != quote:
            if not escaped and c == "\\":
                escaped = True
                continue
            if escaped:
                escaped = False
                chars.append("\\")
            chars.append(c)
            continue
        if escaped:
            escaped = False
            chars.append(c)
            continue
        value = "".join(chars)
        if quote == '"':
            value = _expand(_ESCAPE.sub(_unescape, value), line, env, lookup)
        return value, k + 1
    first_line = text[pos:].split("\n", 1)[0]
    raise DotenvError(f"line {line}: unterminated quoted value {first_line}")


def read(
    text: str, lookup: Lookup | None = None, fallback: Mapping[str, str] | None = None
) -> dict[str, str]:
    """Like parse(), but drop keys that start with a digit (as compose does)."""
    return {k: v for k, v in parse(text, lookup, fallback).items() if not k[:1].isdigit()}


def read_file(
    path: Path, lookup: Lookup | None = None, fallback: Mapping[str, str] | None = None
) -> dict[str, str]:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ComposeError(f"env file {path} not found") from None
    except OSError as e:
        raise ComposeError(f"env file {path}: {e.strerror}") from None
    except UnicodeDecodeError:
        raise ComposeError(f"env file {path}: not UTF-8 text") from None
    try:
        return read(text, lookup, fallback)
    except DotenvError as e:
        raise ComposeError(f"env file {path}: {e}") from None


def read_files(paths: list[Path], environ: Mapping[str, str]) -> dict[str, str]:
    """Values from several env files, later files winning. While expanding `${}` the
    OS environment comes first, then the file itself, then earlier files."""
    collected: dict[str, str] = {}
    for path in paths:
        collected.update(read_file(path, environ.get, collected))
    return collected
