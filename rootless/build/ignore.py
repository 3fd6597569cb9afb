""".dockerignore: which context paths the build may not see.

Docker's rules (moby/patternmatcher): one pattern per line, `#` comments, surrounding
whitespace trimmed, paths cleaned and made relative (a leading `/` is dropped), `!`
re-includes. `*` and `?` stay inside one path element, `**` spans any number of them,
`[...]` is a character class (`^` negates). A path is excluded when the last pattern
that matches it, or one of its parent directories, is not a `!` pattern.
"""

from __future__ import annotations

import posixpath
import re
from dataclasses import dataclass
from pathlib import Path

from rootless.build.errors import DockerfileError

IGNORE_FILE = ".dockerignore"


@dataclass(frozen=True)
class Pattern:
    text: str
    exclusion: bool  # a `!` pattern: re-include what it matches
    regex: re.Pattern[str]


def _translate(pattern: str) -> str:
    out = []
    i = 0
    n = len(pattern)
    while i < n:
        c = pattern[i]
        if c == "*":
            if pattern.startswith("**", i):
                i += 2
                if i < n and pattern[i] == "/":
                    out.append("(?:.*/)?")  # `**/` also matches no directory at all
                    i += 1
                else:
                    out.append(".*")
                continue
            out.append("[^/]*")
        elif c == "?":
            out.append("[^/]")
        elif c == "[":
            end = pattern.find("]", i + 1)
            if end < 0:
                raise DockerfileError(f"{IGNORE_FILE}: syntax error in pattern {pattern!r}")
            body = pattern[i + 1 : end]
            if body.startswith("^"):
                body = "!" + body[1:]
            if body.startswith("!"):
                body = "^" + re.escape(body[1:]).replace("\\-", "-")
            else:
                body = re.escape(body).replace("\\-", "-")
            out.append(f"[{body}]")
            i = end
        elif c == "\\" and i + 1 < n:
            i += 1
            out.append(re.escape(pattern[i]))
        else:
            out.append(re.escape(c))
        i += 1
    return "".join(out)


def compile_patterns(lines: list[str]) -> list[Pattern]:
    patterns: list[Pattern] = []
    for raw in lines:
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        exclusion = line.startswith("!")
        if exclusion:
            line = line[1:].strip()
        cleaned = posixpath.normpath(line).lstrip("/")
        if cleaned in ("", "."):
            cleaned = "."
        regex = re.compile(r"\A" + _translate(cleaned) + r"\Z", re.DOTALL)
        patterns.append(Pattern(cleaned, exclusion, regex))
    return patterns


class IgnoreMatcher:
    """Answers "is this context-relative path hidden from the build?"."""

    def __init__(self, patterns: list[Pattern]) -> None:
        self.patterns = patterns

    @classmethod
    def from_text(cls, text: str) -> IgnoreMatcher:
        return cls(compile_patterns(text.splitlines()))

    @classmethod
    def for_context(cls, context: Path) -> IgnoreMatcher:
        f = context / IGNORE_FILE
        if not f.is_file():
            return cls([])
        return cls.from_text(f.read_text(encoding="utf-8", errors="surrogateescape"))

    def __bool__(self) -> bool:
        return bool(self.patterns)

    def excluded(self, rel: str) -> bool:
        rel = posixpath.normpath(rel).lstrip("/")
        if rel in ("", "."):
            return False
        parts = rel.split("/")
        prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
        result = False
        for p in self.patterns:
            hit = p.text == "." or any(p.regex.match(x) for x in prefixes)
            if hit:
                result = not p.exclusion
        return result

    def may_contain_included(self, rel_dir: str) -> bool:
        """An excluded directory may still hold re-included (`!`) entries below it."""
        prefix = posixpath.normpath(rel_dir).lstrip("/") + "/"
        return any(
            p.exclusion and (p.text.startswith(prefix) or "*" in p.text) for p in self.patterns
        )
