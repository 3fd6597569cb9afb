"""BuildKit's own Dockerfile parser and word-expansion cases, read from the corpus.

Every case is its own test id. The corpus lives in $CONFORMANCE_DIR/buildkit-dockerfile
(see its SOURCE.md); a missing corpus FAILS (conftest.need), it never skips.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from rootless.build.errors import DockerfileError, ExpansionError
from rootless.build.line_parsers import parse_json, parse_words
from rootless.build.parser import parse
from rootless.build.shell import Shell
from tests.conftest import CONFORMANCE, need

ROOT = CONFORMANCE / "buildkit-dockerfile"
# The environment upstream's envVarTest runs with.
ENV_VAR_TEST_ENV = {"PWD": "/home", "SHELL": "bash", "KOREAN": "한국어", "NULL": ""}


def _dirs(sub: str) -> list[Path]:
    d = ROOT / "parser" / sub
    return sorted(p for p in d.iterdir() if p.is_dir()) if d.is_dir() else []


def _json(name: str) -> Any:
    p = ROOT / "derived" / name
    return json.loads(p.read_text("utf-8")) if p.is_file() else {}


def _env_var_cases() -> list[Any]:
    p = ROOT / "shell" / "envVarTest"
    if not p.is_file():
        return []
    cases = []
    with open(p, encoding="utf-8", newline="") as f:
        for number, line in enumerate(f.read().split("\n"), 1):
            if line.startswith("#") or not line.strip():
                continue
            platform, word, expected = (x.strip() for x in line.split("|"))
            if platform == "W":  # Windows-only case: a Linux engine does not run it
                continue
            cases.append(pytest.param(word, expected, id=f"L{number}:{word}"))
    return cases


def _words_cases() -> list[Any]:
    """wordsTest: `ENV k=v` lines set variables for the lines after them."""
    p = ROOT / "shell" / "wordsTest"
    if not p.is_file():
        return []
    env: dict[str, str] = {}
    cases = []
    with open(p, encoding="utf-8", newline="") as f:
        for number, line in enumerate(f.read().split("\n"), 1):
            if line.startswith("#") or not line:
                continue
            if line.startswith("ENV "):
                key, _, value = line[4:].lstrip(" ").partition("=")
                env[key] = value
                continue
            word, _, expected = line.partition("|")
            want: list[str] | None = None
            if expected.lstrip(" ") != "error":
                want = expected.lstrip(" ").split(",")
            cases.append(
                pytest.param(word.strip(), want, dict(env), id=f"L{number}:{word.strip()}")
            )
    return cases


def _expansion_vectors() -> list[Any]:
    data = _json("shell_word_expansion.json")
    out = []
    for group, cases in data.items():
        if group.startswith("_"):
            continue
        for i, case in enumerate(cases):
            out.append(pytest.param(case, id=f"{group}-{i}:{case['input']}"))
    return out


def test_corpus_present() -> None:
    need(
        (ROOT / "SOURCE.md").is_file(),
        f"buildkit-dockerfile corpus at {ROOT}",
        "set CONFORMANCE_DIR or check out shared/ beside the repository",
    )
    assert len(_dirs("testfiles")) == 33
    assert len(_dirs("testfiles-negative")) == 4


@pytest.mark.parametrize("case", _dirs("testfiles"), ids=lambda p: p.name)
def test_parser_dump(case: Path) -> None:
    source = (case / "Dockerfile").read_bytes()
    expected = (case / "result").read_bytes().decode("utf-8")
    assert parse(source).dump() + "\n" == expected


@pytest.mark.parametrize("case", _dirs("testfiles-negative"), ids=lambda p: p.name)
def test_parser_rejects(case: Path) -> None:
    with pytest.raises(DockerfileError) as err:
        parse((case / "Dockerfile").read_bytes(), filename="Dockerfile")
    assert str(err.value).startswith("Dockerfile:") or str(err.value).startswith("Dockerfile: ")


@pytest.mark.parametrize(("word", "expected"), _env_var_cases())
def test_env_var_expansion(word: str, expected: str) -> None:
    shell = Shell("\\")
    if expected == "error":
        with pytest.raises(ExpansionError):
            shell.process_word(word, ENV_VAR_TEST_ENV)
    else:
        assert shell.process_word(word, ENV_VAR_TEST_ENV) == expected


@pytest.mark.parametrize(("word", "expected", "env"), _words_cases())
def test_words_expansion(word: str, expected: list[str] | None, env: dict[str, str]) -> None:
    shell = Shell("\\")
    if expected is None:
        with pytest.raises(ExpansionError):
            shell.process_words(word, env)
    else:
        assert shell.process_words(word, env) == expected


@pytest.mark.parametrize("case", _expansion_vectors())
def test_expansion_with_matches(case: dict[str, Any]) -> None:
    shell = Shell("\\")
    if case.get("error"):
        with pytest.raises(ExpansionError) as err:
            shell.process(case["input"], case["envs"])
        assert case.get("error_contains", "") in str(err.value)
        return
    result = shell.process(case["input"], case["envs"])
    assert result.result == case["expected"]
    if "matches" in case:
        assert sorted(result.matched) == sorted(case["matches"])
        assert sorted(result.unmatched) == sorted(case["unmatched"])


@pytest.mark.parametrize(
    "case", _json("parse_words.json").get("cases", []), ids=lambda c: c["input"]
)
def test_parse_words(case: dict[str, Any]) -> None:
    assert parse_words(case["input"], "\\") == case["expect"]


@pytest.mark.parametrize("case", _json("json_arrays.json").get("valid", []), ids=repr)
def test_json_exec_form(case: dict[str, Any]) -> None:
    assert parse_json(case["input"]) == case["expect"]


@pytest.mark.parametrize("text", _json("json_arrays.json").get("invalid_not_string_array", []))
def test_json_non_string_is_an_error(text: str) -> None:
    with pytest.raises(DockerfileError, match="arrays must be comprised of strings only"):
        parse_json(text)


def test_line_numbers() -> None:
    data = _json("line_numbers.json")
    need(data, "derived/line_numbers.json in the corpus")
    result = parse((ROOT / data["file"]).read_bytes())
    assert [result.start_line, result.end_line] == data["root"]
    assert [[n.start_line, n.end_line] for n in result.nodes] == data["children"]


def test_empty_continuation_warnings() -> None:
    data = _json("warnings.json")
    need(data, "derived/warnings.json in the corpus")
    result = parse(data["dockerfile"])
    assert len(result.warnings) == data["warning_count"]
    for warning, parts in zip(result.warnings, data["warnings_contain"], strict=True):
        for part in parts:
            assert part in warning.short


def test_line_length_limit() -> None:
    data = _json("warnings.json")
    need(data, "derived/warnings.json in the corpus")
    with pytest.raises(DockerfileError) as err:
        parse("LABEL " + "a" * 65536)
    assert err.value.message == data["scanner_limit"]["error"]
    parse("LABEL a " + "b" * (65535 - 8))  # just under the limit is fine


def test_corpus_summary(capsys: pytest.CaptureFixture[str]) -> None:
    """One line with the pass count of every case family (shown with -s / in CI logs)."""
    need((ROOT / "SOURCE.md").is_file(), f"buildkit-dockerfile corpus at {ROOT}")
    passed = failed = 0
    for case in _dirs("testfiles"):
        try:
            ok = parse((case / "Dockerfile").read_bytes()).dump() + "\n" == (
                case / "result"
            ).read_text("utf-8")
        except DockerfileError:
            ok = False
        passed, failed = passed + ok, failed + (not ok)
    for case in _dirs("testfiles-negative"):
        try:
            parse((case / "Dockerfile").read_bytes())
            failed += 1
        except DockerfileError:
            passed += 1
    for param in _env_var_cases():
        word, expected = param.values
        try:
            ok = Shell().process_word(str(word), ENV_VAR_TEST_ENV) == expected
        except ExpansionError:
            ok = expected == "error"
        passed, failed = passed + ok, failed + (not ok)
    with capsys.disabled():
        print(f"\nbuildkit-dockerfile corpus: parser+envVar {passed} passed, {failed} failed")
    assert failed == 0
