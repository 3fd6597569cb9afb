"""Here-documents: `RUN <<EOF`, `COPY <<FILE1 <<FILE2 /dest`, `<<-EOF`, `<<'EOF'`.

A marker word is `[fd]<<[-]NAME`. Quoting any part of NAME turns expansion of the
body off (`<<'EOF'`, `<<E"O"F`); `-` strips leading tabs from the body and from the
terminator line. Markers are only looked for in RUN, COPY and ADD (also behind
ONBUILD), and never in exec (JSON) form.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from rootless.build.errors import DockerfileSyntaxError, ExpansionError
from rootless.build.shell import Shell

_MARKER = re.compile(r"^([0-9]*)<<(-?)([^<]*)\Z")
_BARE_MARKER = re.compile(r"^([0-9]*)<<(-?)\Z")
_LEADING_TABS = re.compile(r"^\t+", re.MULTILINE)

HEREDOC_INSTRUCTIONS = frozenset({"run", "copy", "add"})


@dataclass(frozen=True)
class Heredoc:
    """One here-document: `content` is the body as written (every line with its newline)."""

    name: str
    content: str = ""
    expand: bool = True
    chomp: bool = False
    fd: int = 0

    @property
    def data(self) -> str:
        """The body as the builder uses it: leading tabs removed for `<<-`."""
        return chomp(self.content) if self.chomp else self.content


def chomp(content: str) -> str:
    return _LEADING_TABS.sub("", content)


def _from_parts(fd: str, dash: str, rest: str) -> Heredoc | None:
    if not rest:
        return None
    try:
        words = Shell("\\", skip_unset=True).process_words(rest, {})
        if len(words) != 1:  # `<<EOF sh` is not one marker
            return None
        raw = Shell("\\", skip_unset=True, raw_quotes=True).process_words(rest, {})
    except ExpansionError as e:
        raise DockerfileSyntaxError(f"invalid heredoc marker: {e.message}") from None
    if len(raw) != len(words):
        raise DockerfileSyntaxError(
            f"internal lexing of heredoc produced inconsistent results: {rest}"
        )
    name = words[0]
    quotes = name.count("'") + name.count('"')
    raw_quotes = raw[0].count("'") + raw[0].count('"')
    return Heredoc(name=name, expand=quotes == raw_quotes, chomp=dash == "-", fd=int(fd or 0))


def parse_heredoc(word: str) -> Heredoc | None:
    """The marker in `word` (e.g. `<<-'EOF'`), None if it is no marker."""
    m = _MARKER.match(word)
    return _from_parts(*m.groups()) if m else None


def heredocs_in_line(line: str) -> list[Heredoc]:
    """The markers of an instruction line, in order. `<< EOF` (spaced) counts too."""
    try:
        words = Shell("\\", raw_quotes=True, raw_escapes=True, skip_unset=True).process_words(
            line, {}
        )
    except ExpansionError:
        return []
    docs: list[Heredoc] = []
    i = 0
    while i < len(words):
        bare = _BARE_MARKER.match(words[i])
        if bare and i + 1 < len(words):
            doc = _from_parts(bare.group(1), bare.group(2), words[i + 1])
            i += 1
        else:
            doc = parse_heredoc(words[i])
        if doc is not None:
            docs.append(doc)
        i += 1
    return docs
