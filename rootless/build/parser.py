"""Dockerfile text -> instruction nodes, exactly as BuildKit's parser builds its AST.

Stages: physical lines (`\\n`, trailing `\\r` dropped, BOM removed) -> parser
directives at the top (`# escape=`, `# syntax=`, `# check=`) -> logical lines (line
continuation with the escape token; comments and blank lines inside a continuation
are skipped) -> keyword, `--flags`, arguments per keyword (line_parsers) -> here-doc
bodies read after the instruction. `Node.dump()` prints BuildKit's S-expression
form, which the conformance corpus checks byte for byte.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from rootless.build.errors import DockerfileError, DockerfileSyntaxError
from rootless.build.goquote import GO_SPACES, go_quote, go_quote_list
from rootless.build.heredoc import HEREDOC_INSTRUCTIONS, Heredoc, heredocs_in_line
from rootless.build.line_parsers import parse_arguments, split_command

MAX_LINE_BYTES = 65535  # Go's bufio.MaxScanTokenSize - 1
_DIRECTIVE = re.compile(r"^([a-zA-Z][a-zA-Z0-9]*)\s*=\s*(.+?)\s*\Z", re.ASCII)
KNOWN_DIRECTIVES = ("syntax", "escape", "check")


@dataclass(frozen=True)
class ParseWarning:
    """A problem that does not stop the parse (BuildKit reports it as a lint warning)."""

    short: str
    detail: str
    line: int

    def __str__(self) -> str:
        return f"[WARNING]: {self.short}"


@dataclass
class Node:
    """One instruction as written: keyword, raw flags, arguments (quotes kept)."""

    keyword: str
    flags: list[str] = field(default_factory=list)
    args: list[str] = field(default_factory=list)
    json: bool = False  # exec form (a JSON array)
    sub: Node | None = None  # ONBUILD's trigger instruction
    heredocs: list[Heredoc] = field(default_factory=list)
    original: str = ""  # the logical line
    start_line: int = 0
    end_line: int = 0
    comments: list[str] = field(default_factory=list)

    @property
    def name(self) -> str:
        """The keyword lower-cased (`from`, `run`, ...)."""
        return self.keyword.lower()

    def dump(self) -> str:
        """BuildKit's S-expression for this instruction, e.g. `(copy ["--from=a"] "x" "/")`."""
        parts = [self.name]
        if self.flags:
            parts.append(go_quote_list(self.flags))
        parts += [go_quote(a) for a in self.args]
        if self.sub is not None:
            parts.append(self.sub.dump())
        return "(" + " ".join(parts) + ")"


@dataclass
class ParseResult:
    nodes: list[Node]
    filename: str
    escape: str = "\\"
    directives: dict[str, str] = field(default_factory=dict)
    warnings: list[ParseWarning] = field(default_factory=list)

    @property
    def start_line(self) -> int:
        return self.nodes[0].start_line

    @property
    def end_line(self) -> int:
        return self.nodes[-1].end_line

    def dump(self) -> str:
        return "\n".join(n.dump() for n in self.nodes)


class _Directives:
    """Parser directives: only comment lines at the very top of the file count."""

    def __init__(self) -> None:
        self.escape = "\\"
        self.values: dict[str, str] = {}
        self.done = False
        self.continuation = _continuation_regex("\\")

    def feed(self, line: str) -> None:
        if self.done:
            return
        if not line.startswith("#"):
            self.done = True
            return
        m = _DIRECTIVE.match(line[1:].lstrip(GO_SPACES))
        key = m.group(1).lower() if m else ""
        if not m or key not in KNOWN_DIRECTIVES:
            self.done = True
            return
        if key in self.values:
            raise DockerfileSyntaxError(f"only one {key} parser directive can be used")
        value = m.group(2)
        self.values[key] = value
        if key == "escape":
            if value not in ("`", "\\"):
                raise DockerfileSyntaxError(
                    f"invalid escape token '{value}' does not match ` or \\"
                )
            self.escape = value
            self.continuation = _continuation_regex(value)


def _continuation_regex(escape: str) -> re.Pattern[str]:
    # The escape token at the end of a line (trailing blanks allowed) continues it,
    # unless another escape token precedes it: `\\` at the end does not continue.
    e = re.escape(escape)
    return re.compile(rf"([^{e}]){e}[ \t]*\Z|^{e}[ \t]*\Z", re.DOTALL)


def _trim_continuation(line: str, d: _Directives) -> tuple[str, bool]:
    """(line without the continuation token, whether the instruction ends here)."""
    m = d.continuation.search(line)
    if m is None:
        return line, True
    return line[: m.start()] + (m.group(1) or ""), False


def _physical_lines(text: str) -> list[str]:
    """Lines with their `\\n` kept (here-doc bodies need them); no empty last line."""
    lines = text.split("\n")
    out = [line + "\n" for line in lines[:-1]]
    if lines[-1]:
        out.append(lines[-1])
    return out


def _strip_newline(line: str) -> str:
    return line.rstrip("\r\n")


def _is_comment(line: str) -> bool:
    return _strip_newline(line).lstrip(GO_SPACES).startswith("#")


def _check_length(lines: list[str], filename: str) -> None:
    for number, line in enumerate(lines, 1):
        body = line[:-1] if line.endswith("\n") else line
        if len(body) * 4 > MAX_LINE_BYTES and (
            len(body.encode("utf-8", "surrogateescape")) > MAX_LINE_BYTES
        ):
            raise DockerfileSyntaxError(
                f"dockerfile line greater than max allowed size of {MAX_LINE_BYTES}",
                filename=filename,
                line=number,
            )


def node_from_line(line: str, escape: str) -> Node:
    """Parse one logical line (no location, no here-doc bodies)."""
    keyword, flags, rest = split_command(line)
    parsed = parse_arguments(keyword, rest, escape)
    sub = node_from_line(parsed.sub, escape) if parsed.sub else None
    return Node(keyword, flags, parsed.args, json=parsed.json, sub=sub, original=line)


def _can_contain_heredoc(node: Node) -> bool:
    target = node.sub if node.name == "onbuild" and node.sub is not None else node
    return target.name in HEREDOC_INSTRUCTIONS and not target.json


def decode(source: str | bytes) -> str:
    """Dockerfile bytes as text; undecodable bytes survive as surrogate escapes."""
    if isinstance(source, bytes):
        return source.decode("utf-8", "surrogateescape")
    return source


def parse(source: str | bytes, filename: str = "Dockerfile") -> ParseResult:
    """Parse a whole Dockerfile. Errors are DockerfileError naming `filename:line`."""
    text = decode(source)
    if text.startswith("\ufeff"):
        text = text[1:]
    lines = _physical_lines(text)
    _check_length(lines, filename)
    d = _Directives()
    nodes: list[Node] = []
    warnings: list[ParseWarning] = []
    comments: list[str] = []
    current = 0  # number of physical lines consumed
    i = 0

    def fail(err: DockerfileError, start: int, end: int = 0) -> DockerfileError:
        return err.located(filename, start, end)

    while i < len(lines):
        raw = lines[i]
        i += 1
        if _is_comment(raw):
            comments.append(_strip_newline(raw).lstrip(GO_SPACES)[1:].strip(GO_SPACES))
        token = _strip_newline(raw).lstrip(GO_SPACES)
        try:
            d.feed(token)
        except DockerfileError as e:
            raise fail(e, current + 1) from None
        if token.startswith("#"):
            token = ""
        current += 1
        start = current
        line, ended = _trim_continuation(token, d)
        if ended and not line:
            continue

        empty_continuation = False
        while not ended and i < len(lines):
            raw = lines[i]
            i += 1
            token = _strip_newline(raw)
            try:
                d.feed(token)
            except DockerfileError as e:
                raise fail(e, current + 1) from None
            current += 1
            if _is_comment(raw):
                continue
            if not token.lstrip(GO_SPACES):
                empty_continuation = True
                continue
            more, ended = _trim_continuation(token, d)
            line += more

        if empty_continuation:
            warnings.append(
                ParseWarning(
                    f"Empty continuation line found in: {line}",
                    "Empty continuation lines will become errors in a future release",
                    current,
                )
            )

        try:
            node = node_from_line(line, d.escape)
            maybe = "<<" in line and _can_contain_heredoc(node)
            docs = heredocs_in_line(line) if maybe else []
        except DockerfileError as e:
            raise fail(e, start, current) from None
        for doc in docs:
            body: list[str] = []
            terminated = False
            while i < len(lines):
                raw = lines[i]
                i += 1
                current += 1
                candidate = _strip_newline(raw)
                if doc.chomp:
                    candidate = candidate.lstrip("\t")
                if candidate == doc.name:
                    terminated = True
                    break
                body.append(raw)
            if not terminated:
                raise DockerfileSyntaxError(
                    f"unterminated heredoc {doc.name}", filename=filename, line=start
                )
            node.heredocs.append(
                Heredoc(doc.name, "".join(body), expand=doc.expand, chomp=doc.chomp, fd=doc.fd)
            )
        node.start_line, node.end_line = start, current
        node.comments = comments
        comments = []
        nodes.append(node)

    if not nodes:
        raise DockerfileSyntaxError("file with no instructions", filename=filename, line=current)
    return ParseResult(nodes, filename, d.escape, dict(d.values), warnings)
