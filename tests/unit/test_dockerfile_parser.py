"""Parser behaviour beyond the corpus: directives, continuations, heredocs, flags, errors."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rootless.build.errors import DockerfileError, DockerfileSyntaxError
from rootless.build.goquote import go_quote
from rootless.build.heredoc import Heredoc, heredocs_in_line, parse_heredoc
from rootless.build.line_parsers import extract_flags
from rootless.build.parser import parse


def dump(text: str) -> list[str]:
    return parse(text).dump().split("\n")


def test_go_quote_matches_strconv_quote() -> None:
    assert go_quote('a"b\\c') == '"a\\"b\\\\c"'
    assert go_quote("\x00\x07\x1b\x7f") == '"\\x00\\a\\x1b\\x7f"'
    assert go_quote("♥ é") == '"♥ é"'
    assert go_quote("\u00a0\u200b") == '"\\u00a0\\u200b"'
    assert go_quote("\U000e0001") == '"\\U000e0001"'
    # an undecodable byte survives decoding and is quoted like Go's invalid UTF-8
    assert parse(b"FROM a\xffb").nodes[0].dump() == '(from "a\\xffb")'


def test_directives_are_recorded_and_case_insensitive() -> None:
    r = parse("# syntax=docker/dockerfile:1\n#ESCAPE = `\n# check=skip=all\nFROM a\n")
    assert r.directives == {"syntax": "docker/dockerfile:1", "escape": "`", "check": "skip=all"}
    assert r.escape == "`"


def test_directive_after_blank_line_is_a_comment() -> None:
    r = parse("\n# escape=`\nFROM a \\\n  b\n")
    assert r.escape == "\\" and r.directives == {}
    assert r.dump() == '(from "a" "b")'


def test_unknown_directive_ends_directives() -> None:
    r = parse("# foo=bar\n# escape=`\nFROM a\n")
    assert r.directives == {}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("# escape=\\\n# escape=`\nFROM a\n", "only one escape parser directive can be used"),
        ("# escape=x\nFROM a\n", "invalid escape token 'x' does not match ` or \\"),
    ],
)
def test_bad_directives(text: str, message: str) -> None:
    with pytest.raises(DockerfileSyntaxError) as err:
        parse(text, filename="ctx/Dockerfile")
    assert err.value.message == message
    assert str(err.value).startswith("ctx/Dockerfile:")


def test_backtick_escape_continues_lines_and_keeps_backslashes() -> None:
    assert dump("# escape=`\nFROM a\nRUN dir c:\\ `\n  && echo hi\n") == [
        '(from "a")',
        '(run "dir c:\\\\   && echo hi")',
    ]


def test_crlf_and_bom() -> None:
    assert dump("\ufeffFROM a\r\nRUN x \\\r\n y\r\n") == ['(from "a")', '(run "x  y")']


def test_escaped_escape_does_not_continue() -> None:
    assert dump("FROM a\nRUN echo \\\\\nRUN b\n") == [
        '(from "a")',
        '(run "echo \\\\\\\\")',
        '(run "b")',
    ]


def test_flags_extraction() -> None:
    assert extract_flags('--a=1 --b="x y" --c --  --d') == ("  --d", ["--a=1", "--b=x y", "--c"])
    assert extract_flags("--x=a\\ b rest") == ("rest", ["--x=a b"])
    assert extract_flags("--only") == ("", ["--only"])
    assert dump('FROM a\nCOPY --from=b --chown="1:2" x /y\n')[1] == (
        '(copy ["--from=b" "--chown=1:2"] "x" "/y")'
    )


def test_lowercase_keywords_and_unknown_instruction_in_the_ast() -> None:
    assert dump("from a\nfoo bar baz\n") == ['(from "a")', '(foo "")']


def test_onbuild_nests_with_flags() -> None:
    assert dump("FROM a\nONBUILD COPY --from=x a b\n")[1] == '(onbuild (copy ["--from=x"] "a" "b"))'


def test_errors_name_file_and_line() -> None:
    with pytest.raises(DockerfileError) as err:
        parse("FROM a\n\nRUN ok\nLABEL onlykey\n", filename="sub/Containerfile")
    assert str(err.value) == "sub/Containerfile:4: LABEL must have two arguments"
    assert err.value.lineno == 4
    with pytest.raises(DockerfileError, match=r"^Dockerfile:2: Syntax error - can't find = in"):
        parse("FROM a\nENV a=b c\n")


def test_empty_file_error() -> None:
    with pytest.raises(DockerfileError, match="file with no instructions"):
        parse("# just a comment\n\n")


# ---- heredocs ------------------------------------------------------------------------

HEREDOCS = """\
FROM alpine
RUN <<EOF
echo "$HOME"
EOF
RUN 3<<EMPTY
EMPTY
RUN <<-STRIP
\techo a
\t\techo b
\tSTRIP
COPY <<ONE <<'TWO' /dest/
one $X
ONE
two $X
TWO
RUN <<EOF python3
print('hi')
EOF
RUN ["echo", "<<EOF"]
RUN "<<NOTADOC"
RUN <<'a b'
body
a b
RUN <<eo'f'
x
eof
RUN << EOF  > /out
EOF
ONBUILD RUN <<EOF
later
EOF
USER <<NOTHERE
"""


def test_heredoc_bodies_and_lines() -> None:
    r = parse(HEREDOCS)
    docs = [n.heredocs for n in r.nodes]
    assert docs[1] == [Heredoc("EOF", 'echo "$HOME"\n')]
    assert docs[2] == [Heredoc("EMPTY", "", fd=3)]
    assert docs[3] == [Heredoc("STRIP", "\techo a\n\t\techo b\n", chomp=True)]
    assert docs[3][0].data == "echo a\necho b\n"
    assert docs[4] == [Heredoc("ONE", "one $X\n"), Heredoc("TWO", "two $X\n", expand=False)]
    assert docs[5] == [Heredoc("EOF", "print('hi')\n")]
    assert docs[6] == [] and docs[7] == []  # exec form / quoted marker
    assert docs[8] == [Heredoc("a b", "body\n", expand=False)]
    assert docs[9] == [Heredoc("eof", "x\n", expand=False)]
    assert docs[10] == [Heredoc("EOF", "")]
    assert docs[11] == [Heredoc("EOF", "later\n")]
    assert docs[12] == []  # USER takes no heredocs
    assert (r.nodes[4].start_line, r.nodes[4].end_line) == (11, 15)
    assert r.nodes[1].dump() == '(run "<<EOF")'


def test_unterminated_heredoc() -> None:
    with pytest.raises(DockerfileSyntaxError, match=r"^Dockerfile:2: unterminated heredoc EOF"):
        parse("FROM a\nRUN <<EOF\necho\n")


@pytest.mark.parametrize(
    ("word", "name"),
    [("<<EOF", "EOF"), ("<<'EOF'", "EOF"), ('<<"EOF"', "EOF"), ("<<-EOF", "EOF"),
     ('<<EO"F"', "EOF"), ("<< EOF", "EOF"), ("<<- EOF", "EOF")],
)  # fmt: skip
def test_heredoc_markers(word: str, name: str) -> None:
    doc = parse_heredoc(word)
    assert doc is not None and doc.name == name


@pytest.mark.parametrize("word", ["", "EOF", "<<", "<<-", "<EOF", "<<<EOF", "<<EOF sh"])
def test_not_heredoc_markers(word: str) -> None:
    assert parse_heredoc(word) is None


@pytest.mark.parametrize("word", ["<<'EOF", '<<"EOF', "<<EOF'", '<<EOF"'])
def test_broken_heredoc_markers(word: str) -> None:
    with pytest.raises(DockerfileSyntaxError):
        parse_heredoc(word)


def test_heredoc_names_in_lines() -> None:
    def names(line: str) -> list[str]:
        return [d.name for d in heredocs_in_line(line)]

    assert names("RUN <<EOF <<EOF2") == ["EOF", "EOF2"]
    assert names("RUN << -EOF") == ["-EOF"]
    assert names("RUN <<- EOF") == ["EOF"]
    assert names("RUN 4<<EOF") == ["EOF"]
    assert names("RUN '<<EOF'") == [] and names('RUN "<<EOF"') == []
    assert names("RUN <<$EOF") == ["$EOF"]


# ---- robustness: any text either parses or fails with one clear DockerfileError ----------

_ALPHABET = st.sampled_from(
    [*list("FROMRUNCOPYENVARGonbuild \t\\`\"'$={}[]<>-#:\n\r,a1"), "<<EOF\n", "\nEOF\n"]
)


@settings(max_examples=200, deadline=None)
@given(st.lists(_ALPHABET, max_size=60).map("".join))
def test_parse_fails_only_with_dockerfile_errors(text: str) -> None:
    from rootless.build.dockerfile import parse_dockerfile

    try:
        parse_dockerfile(text)
    except DockerfileError as e:
        assert str(e).startswith("Dockerfile")  # always placed in the file


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.sampled_from([*list("ab $}{:-+?#%/*\\'\""), "${", "$A", "${A"]), max_size=30).map(
        "".join
    )
)
def test_expansion_fails_only_with_expansion_errors(word: str) -> None:
    from rootless.build.errors import ExpansionError
    from rootless.build.shell import Shell

    try:
        Shell().process_words(word, {"A": "x y", "B": ""})
    except ExpansionError:
        pass
