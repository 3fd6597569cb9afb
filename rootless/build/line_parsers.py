"""Per-instruction argument splitting: what BuildKit's AST holds for each keyword.

Each parser takes the text after the keyword and its `--flags` and returns the
argument list plus whether it was JSON (exec) form. Quotes are kept here; they are
removed later by variable expansion (rootless.build.shell), as in Docker.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass

from rootless.build.errors import DockerfileSyntaxError
from rootless.build.goquote import GO_SPACES, go_quote, is_space

# Go's `[\t\v\f\r ]+`: the separator between keyword, words of FROM/EXPOSE/COPY...
WHITESPACE = re.compile(r"[\t\v\f\r ]+")

NOT_STRING_ARRAY = "when using JSON array syntax, arrays must be comprised of strings only"


@dataclass
class Parsed:
    """Arguments of one instruction; `sub` is ONBUILD's nested instruction line."""

    args: list[str]
    json: bool = False
    sub: str | None = None


def split_command(line: str) -> tuple[str, list[str], str]:
    """`KEYWORD [--flags] rest` -> (keyword as written, flags, rest trimmed)."""
    parts = WHITESPACE.split(line.strip(GO_SPACES), maxsplit=1)
    keyword = parts[0]
    if len(parts) < 2:
        return keyword, [], ""
    rest, flags = extract_flags(parts[1])
    return keyword, flags, rest.strip(GO_SPACES)


def extract_flags(line: str) -> tuple[str, list[str]]:
    """Leading `--name[=value]` words. Quotes are removed, `\\` escapes; `--` ends them."""
    flags: list[str] = []
    word: list[str] = []
    in_word = False
    quote = ""
    blank_ok = False
    i = 0
    n = len(line)
    while i <= n:
        ch = line[i] if i < n else ""
        if not in_word and not quote:
            if i == n:
                break
            if is_space(ch):
                i += 1
                continue
            if not line.startswith("--", i):
                return line[i:], flags
            in_word = True
        if i == n:  # end of input inside a flag word
            text = "".join(word)
            if text != "--" and (blank_ok or text):
                flags.append(text)
            break
        if quote:
            if ch == quote:
                quote = ""
            else:
                if ch == "\\":
                    if i + 1 == n:
                        quote = ""
                        i += 1
                        continue
                    i += 1
                    ch = line[i]
                word.append(ch)
            i += 1
            continue
        if is_space(ch):
            text = "".join(word)
            if text == "--":
                return line[i:], flags
            if blank_ok or text:
                flags.append(text)
            word, in_word, blank_ok = [], False, False
            i += 1
            continue
        if ch in ("'", '"'):
            quote = ch
            blank_ok = True
            i += 1
            continue
        if ch == "\\":
            if i + 1 == n:
                i += 1
                continue
            i += 1
            ch = line[i]
        word.append(ch)
        i += 1
    return "", flags


def parse_words(rest: str, escape: str) -> list[str]:
    """Split on whitespace outside quotes, keeping quotes and escapes in the words."""
    words: list[str] = []
    word: list[str] = []
    phase = "spaces"
    quote = ""
    blank_ok = False
    i = 0
    n = len(rest)
    while i <= n:
        ch = rest[i] if i < n else ""
        if phase == "spaces":
            if i == n:
                break
            if is_space(ch):
                i += 1
                continue
            phase = "word"
        if i == n:
            if blank_ok or word:
                words.append("".join(word))
            break
        if phase == "word":
            if is_space(ch):
                phase = "spaces"
                if blank_ok or word:
                    words.append("".join(word))
                word, blank_ok = [], False
                i += 1
                continue
            if ch in ("'", '"'):
                quote, blank_ok, phase = ch, True, "quote"
            if ch == escape:
                if i + 1 == n:  # a trailing escape token is dropped
                    i += 1
                    continue
                word.append(ch)
                i += 1
                ch = rest[i]
            word.append(ch)
            i += 1
            continue
        # inside quotes: the escape token works except between single quotes
        if ch == quote:
            phase = "word"
        if ch == escape and quote != "'":
            if i + 1 == n:
                phase = "word"
                i += 1
                continue
            word.append(ch)
            i += 1
            ch = rest[i]
        word.append(ch)
        i += 1
    return words


def _no_constants(name: str) -> object:
    raise ValueError(name)  # NaN/Infinity are not JSON to Go


def parse_json(rest: str) -> list[str] | None:
    """The exec-form array, or None when the text is not a JSON array (shell form).

    A JSON array holding a non-string is an error, never shell form.
    """
    text = rest.lstrip(GO_SPACES)
    if not text.startswith("["):
        return None
    try:
        value = json.loads(text, parse_constant=_no_constants)
    except ValueError:
        return None
    if not isinstance(value, list):
        return None
    if not all(isinstance(v, str) for v in value):
        raise DockerfileSyntaxError(NOT_STRING_ARRAY)
    return value


def _maybe_json(rest: str, _escape: str) -> Parsed:
    if not rest:
        return Parsed([])
    value = parse_json(rest)
    return Parsed([rest]) if value is None else Parsed(value, json=True)


def _whitespace_list(rest: str, _escape: str) -> Parsed:
    return Parsed(WHITESPACE.split(rest) if rest else [])


def _maybe_json_list(rest: str, escape: str) -> Parsed:
    value = parse_json(rest)
    return _whitespace_list(rest, escape) if value is None else Parsed(value, json=True)


def _string(rest: str, _escape: str) -> Parsed:
    return Parsed([rest] if rest else [])


def _name_or_name_val(rest: str, escape: str) -> Parsed:
    return Parsed(parse_words(rest, escape))


def _name_val(keyword: str) -> Callable[[str, str], Parsed]:
    def parse(rest: str, escape: str) -> Parsed:
        words = parse_words(rest, escape)
        if not words:
            return Parsed([])
        if "=" not in words[0]:  # legacy `ENV key value with spaces`
            parts = WHITESPACE.split(rest, maxsplit=1)
            if len(parts) < 2:
                raise DockerfileSyntaxError(f"{keyword} must have two arguments")
            return Parsed([parts[0], parts[1], ""])
        args: list[str] = []
        for word in words:
            if "=" not in word:
                raise DockerfileSyntaxError(
                    f"Syntax error - can't find = in {go_quote(word)}. "
                    "Must be of the form: name=value"
                )
            key, value = word.split("=", 1)
            args += [key, value, "="]
        return Parsed(args)

    return parse


def _health(rest: str, escape: str) -> Parsed:
    sep = 0
    while sep < len(rest) and not is_space(rest[sep]):
        sep += 1
    if sep == 0:
        return Parsed([])
    start = sep
    while start < len(rest) and is_space(rest[start]):
        start += 1
    cmd = _maybe_json(rest[start:], escape)
    return Parsed([rest[:sep], *cmd.args], json=cmd.json)


def _sub_command(rest: str, _escape: str) -> Parsed:
    return Parsed([], sub=rest or None)


def _ignore(_rest: str, _escape: str) -> Parsed:
    return Parsed([""])


DISPATCH: dict[str, Callable[[str, str], Parsed]] = {
    "add": _maybe_json_list,
    "arg": _name_or_name_val,
    "cmd": _maybe_json,
    "copy": _maybe_json_list,
    "entrypoint": _maybe_json,
    "env": _name_val("ENV"),
    "expose": _whitespace_list,
    "from": _whitespace_list,
    "healthcheck": _health,
    "label": _name_val("LABEL"),
    "maintainer": _string,
    "onbuild": _sub_command,
    "run": _maybe_json,
    "shell": _maybe_json,
    "stopsignal": _string,
    "user": _string,
    "volume": _maybe_json_list,
    "workdir": _string,
}


def parse_arguments(keyword: str, rest: str, escape: str) -> Parsed:
    """Arguments for `keyword`; an unknown keyword keeps one empty argument, as upstream."""
    return DISPATCH.get(keyword.lower(), _ignore)(rest, escape)
