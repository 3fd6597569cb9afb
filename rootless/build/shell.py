"""Shell-word processing as Dockerfiles define it: `$VAR`, `${VAR...}` and quote removal.

This is the word lexer the builder uses for variable substitution (ENV, ARG, COPY,
WORKDIR, ...) and the parser uses to recognise here-document markers. It follows
BuildKit's `shell.Lex` rule for rule, including its quirks, because Dockerfiles in the
wild depend on them:

- outside quotes the escape token escapes any character; a trailing one is dropped;
- `'...'` is literal; inside `"..."` the escape token escapes only `"`, `$` and itself;
- `$1`, `$@`, `$#` ... are names that are never set; `${V:=x}` is unsupported;
- unquoted expansions are field-split on whitespace by `process_words`, quoted ones not.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from rootless.build.errors import ExpansionError
from rootless.build.goquote import go_quote, is_space

_EOF = ""
_SPECIAL_PARAMS = frozenset("@*#?-$!0")


@dataclass
class WordResult:
    """What one expansion produced, plus which variable names it looked up."""

    result: str
    words: list[str]
    matched: set[str] = field(default_factory=set)
    unmatched: set[str] = field(default_factory=set)


class _Words:
    """Accumulates field-split words: raw text never splits, expanded text does."""

    def __init__(self) -> None:
        self.word: list[str] = []
        self.words: list[str] = []
        self.in_word = False

    def add_char(self, ch: str) -> None:
        if is_space(ch):
            if self.in_word and self.word:
                self.words.append("".join(self.word))
                self.word = []
                self.in_word = False
        else:
            self.add_raw(ch)

    def add_string(self, s: str) -> None:
        for ch in s:
            self.add_char(ch)

    def add_raw(self, s: str) -> None:
        if s:  # keep `word` empty exactly when its text is empty
            self.word.append(s)
        self.in_word = True

    def finish(self) -> list[str]:
        if self.word:
            self.words.append("".join(self.word))
            self.word = []
            self.in_word = False
        return self.words


class _NoWords(_Words):
    """Stands in when only the joined result is wanted: skips the per-character work."""

    def add_char(self, ch: str) -> None:
        pass

    def add_string(self, s: str) -> None:
        pass

    def add_raw(self, s: str) -> None:
        pass


class Shell:
    """A word lexer for one escape token (`\\` or `` ` ``).

    Options mirror BuildKit's: `raw_quotes` keeps quote characters, `raw_escapes`
    keeps escape tokens, `skip_unset` leaves references to unset names as written,
    `skip_quotes` treats quotes as ordinary characters.
    """

    def __init__(
        self,
        escape: str = "\\",
        *,
        raw_quotes: bool = False,
        raw_escapes: bool = False,
        skip_unset: bool = False,
        skip_quotes: bool = False,
    ) -> None:
        self.escape = escape
        self.raw_quotes = raw_quotes
        self.raw_escapes = raw_escapes
        self.skip_unset = skip_unset
        self.skip_quotes = skip_quotes

    def process_word(self, word: str, env: Mapping[str, str]) -> str:
        """Expand and unquote `word` as one word (inner whitespace kept)."""
        return self.process(word, env, split=False).result

    def process_words(self, word: str, env: Mapping[str, str]) -> list[str]:
        """Expand and unquote `word`, splitting unquoted text into fields."""
        return self.process(word, env).words

    def process(self, word: str, env: Mapping[str, str], *, split: bool = True) -> WordResult:
        """The expansion, its field-split words (unless split=False) and the lookups."""
        run = _Run(self, word, env, split)
        try:
            result, words = run.stop_on(_EOF, self.raw_escapes)
        except ExpansionError as e:
            raise ExpansionError(f"failed to process {go_quote(word)}: {e.message}") from None
        return WordResult(result, words, run.matched, run.unmatched)


class _Run:
    """The state of one expansion: a cursor over the word and the lookups made."""

    def __init__(self, shell: Shell, text: str, env: Mapping[str, str], split: bool) -> None:
        self.sh = shell
        self.split = split
        self.text = text
        self.pos = 0
        self.env = env
        self.raw_escapes = shell.raw_escapes
        self.matched: set[str] = set()
        self.unmatched: set[str] = set()

    def peek(self) -> str:
        return self.text[self.pos] if self.pos < len(self.text) else _EOF

    def next(self) -> str:
        if self.pos >= len(self.text):
            return _EOF
        ch = self.text[self.pos]
        self.pos += 1
        return ch

    def stop_on(self, stop: str, raw_escapes: bool) -> tuple[str, list[str]]:
        """Process until `stop` (consumed) or the end of the text when stop is EOF."""
        saved, self.raw_escapes = self.raw_escapes, raw_escapes
        try:
            return self._stop_on(stop)
        finally:
            self.raw_escapes = saved

    def _stop_on(self, stop: str) -> tuple[str, list[str]]:
        out: list[str] = []
        words = _Words() if self.split else _NoWords()
        esc = self.sh.escape
        quotes = not self.sh.skip_quotes
        while (ch := self.peek()) != _EOF:
            if stop != _EOF and ch == stop:
                self.next()
                return "".join(out), words.finish()
            if ch == "$":
                value = self.dollar()
                out.append(value)
                words.add_string(value)
            elif quotes and ch == "'":
                value = self.single_quote()
                out.append(value)
                words.add_raw(value)
            elif quotes and ch == '"':
                value = self.double_quote()
                out.append(value)
                words.add_raw(value)
            else:
                ch = self.next()
                if ch == esc:
                    if self.raw_escapes:
                        words.add_raw(ch)
                        out.append(ch)
                    ch = self.next()
                    if ch == _EOF:  # a trailing escape token is dropped
                        break
                    words.add_raw(ch)
                else:
                    words.add_char(ch)
                out.append(ch)
        if stop != _EOF:
            raise ExpansionError(f"unexpected end of statement while looking for matching {stop}")
        return "".join(out), words.finish()

    def single_quote(self) -> str:
        out: list[str] = []
        quote = self.next()
        if self.sh.raw_quotes:
            out.append(quote)
        while True:
            ch = self.next()
            if ch == _EOF:
                raise ExpansionError(
                    "unexpected end of statement while looking for matching single-quote"
                )
            if ch == "'":
                if self.sh.raw_quotes:
                    out.append(ch)
                return "".join(out)
            out.append(ch)

    def double_quote(self) -> str:
        out: list[str] = []
        quote = self.next()
        if self.sh.raw_quotes:
            out.append(quote)
        esc = self.sh.escape
        while True:
            ch = self.peek()
            if ch == _EOF:
                raise ExpansionError(
                    "unexpected end of statement while looking for matching double-quote"
                )
            if ch == '"':
                self.next()
                if self.sh.raw_quotes:
                    out.append(ch)
                return "".join(out)
            if ch == "$":
                out.append(self.dollar())
                continue
            ch = self.next()
            if ch == esc:
                if self.raw_escapes:
                    out.append(ch)
                nxt = self.peek()
                if nxt == _EOF:
                    continue
                if nxt in ('"', "$", esc):  # only these are escapable inside "..."
                    ch = self.next()
            out.append(ch)

    def lookup(self, name: str) -> str | None:
        if name in self.env:
            self.matched.add(name)
            return self.env[name]
        self.unmatched.add(name)
        return None

    def name(self) -> str:
        """A variable name: letters/digits/_, or all-digit positional, or one special."""
        first = self.peek()
        if first != _EOF and first.isdecimal():
            start = self.pos
            while self.peek() != _EOF and self.peek().isdecimal():
                self.pos += 1
            return self.text[start : self.pos]
        if first != _EOF and first in _SPECIAL_PARAMS:
            return self.next()
        start = self.pos
        while (ch := self.peek()) != _EOF and (ch.isalpha() or ch.isdecimal() or ch == "_"):
            self.pos += 1
        return self.text[start : self.pos]

    def dollar(self) -> str:
        self.next()  # the $
        if self.peek() != "{":
            name = self.name()
            if not name:
                return "$"
            value = self.lookup(name)
            if value is None:
                return "$" + name if self.sh.skip_unset else ""
            return value

        self.next()  # the {
        first = self.peek()
        if first == _EOF:
            raise ExpansionError("syntax error: missing '}'")
        if first in "{}:":
            raise ExpansionError("syntax error: bad substitution")
        name = self.name()
        ch = self.next()
        modifier = ch
        if ch == "}":
            value = self.lookup(name)
            if value is None:
                return "${" + name + "}" if self.sh.skip_unset else ""
            return value
        if ch == "/":
            return self.replace(name)
        null_is_unset = False
        if ch == ":":
            null_is_unset = True
            ch = self.next()
            modifier += ch
            if ch not in ("+", "-", "?") or ch == _EOF:  # no `:#`, `:%`, `:=`
                raise ExpansionError(f"unsupported modifier ({modifier}) in substitution")
        elif ch not in ("+", "-", "?", "#", "%") or ch == _EOF:
            raise ExpansionError(f"unsupported modifier ({modifier}) in substitution")
        word = self.operand("}", raw_escapes=ch in ("#", "%"), missing="syntax error: missing '}'")
        value = self.lookup(name)
        if value is None and self.sh.skip_unset:
            return "${" + name + modifier + word + "}"
        unset = value is None or (null_is_unset and value == "")
        if ch == "-":
            return word if unset else (value or "")
        if ch == "+":
            return "" if unset else word
        if ch == "?":
            if value is None:
                raise ExpansionError(f"{name}: {word or 'is not allowed to be unset'}")
            if null_is_unset and value == "":
                raise ExpansionError(f"{name}: {word or 'is not allowed to be empty'}")
            return value
        if ch in ("#", "%"):
            greedy = word.startswith(ch)
            if greedy:
                word = word[1:]
            text = value or ""
            return (
                _trim_suffix(word, text, greedy) if ch == "%" else _trim_prefix(word, text, greedy)
            )
        raise ExpansionError(f"unsupported modifier ({modifier}) in substitution")

    def operand(self, stop: str, *, raw_escapes: bool, missing: str) -> str:
        try:
            word, _ = self.stop_on(stop, raw_escapes)
        except ExpansionError:
            if self.peek() == _EOF:
                raise ExpansionError(missing) from None
            raise
        return word

    def replace(self, name: str) -> str:
        """`${V/pat/rep}` (first match) and `${V//pat/rep}` (every match)."""
        replace_all = self.peek() == "/"
        if replace_all:
            self.next()
        pattern = self.operand("/", raw_escapes=True, missing="syntax error: missing '/' in ${}")
        replacement = self.operand("}", raw_escapes=True, missing="syntax error: missing '}'")
        value = self.lookup(name)
        if value is None and self.sh.skip_unset:
            return "${" + name + "/" + pattern + "/" + replacement + "}"
        regex = _pattern_regex(pattern, greedy=True, anchored=False)
        text = value or ""
        if replace_all:
            return regex.sub(lambda _m: replacement, text)
        m = regex.search(text)
        return text if m is None else text[: m.start()] + replacement + text[m.end() :]


def _pattern_regex(pattern: str, *, greedy: bool, anchored: bool) -> re.Pattern[str]:
    """A shell glob (`*`, `?`, `\\*` ...; no brackets) as a regular expression."""
    out = ["^"] if anchored else []
    star = ".*" if greedy else ".*?"
    i = 0
    while i < len(pattern):
        ch = pattern[i]
        i += 1
        if ch == "*":
            out.append(star)
        elif ch == "?":
            out.append(".")
        elif ch == "\\":
            nxt = pattern[i] if i < len(pattern) else ""
            if nxt in ("}", "/"):  # escaped only to get past the ${...} syntax
                continue
            if nxt not in ("*", "?", "\\"):
                raise ExpansionError(
                    f"invalid pattern ({pattern}) in substitution: invalid escape '\\{nxt}'"
                )
            out.append(re.escape(nxt))
            i += 1
        else:
            out.append(re.escape(ch))
    return re.compile("".join(out))


def _trim_prefix(pattern: str, value: str, greedy: bool) -> str:
    m = _pattern_regex(pattern, greedy=greedy, anchored=True).match(value)
    return value if m is None else value[m.end() :]


def _reverse_pattern(pattern: str) -> str:
    """Reverse a glob but keep each `\\x` escape pair in order (a\\*c -> c\\*a)."""
    pairs: list[str] = []
    i = 0
    while i < len(pattern):
        if pattern[i] == "\\" and i + 1 < len(pattern):
            pairs.append(pattern[i : i + 2])
            i += 2
        else:
            pairs.append(pattern[i])
            i += 1
    return "".join(reversed(pairs))


def _trim_suffix(pattern: str, value: str, greedy: bool) -> str:
    # The shortest rightmost match is the shortest leftmost match of the reversed text.
    return _trim_prefix(_reverse_pattern(pattern), value[::-1], greedy)[::-1]
