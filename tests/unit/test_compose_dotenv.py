"""compose-go's .env parser vectors (from joho/godotenv, MIT) against our dotenv module."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from rootless.compose import dotenv
from tests.unit._compose_conformance import ids, root, vectors

DATA = vectors("dotenv.json")
SINGLE = DATA.get("parse_single", [])


@pytest.mark.parametrize("case", SINGLE, ids=ids(SINGLE, "input"))
def test_parse_single_line(case: dict[str, str], conformance: Path) -> None:
    assert dotenv.parse(case["input"]) == {case["key"]: case["value"]}


DOCS = DATA.get("parse_documents", [])


@pytest.mark.parametrize("case", DOCS, ids=ids(DOCS, "name"))
def test_parse_document(case: dict[str, Any], conformance: Path) -> None:
    lookup = case.get("lookup", {})
    got = dotenv.parse(case["input"], lookup.get)
    if case["exact"]:
        assert got == case["expected"]
    else:
        assert {k: got.get(k) for k in case["expected"]} == case["expected"]


ERRORS = DATA.get("parse_errors", [])


@pytest.mark.parametrize("case", ERRORS, ids=ids(ERRORS, "input"))
def test_parse_error(case: dict[str, str], conformance: Path) -> None:
    with pytest.raises(dotenv.DotenvError) as err:
        dotenv.parse(case["input"])
    if "error_equals" in case:
        assert str(err.value) == case["error_equals"]
    else:
        assert case["error_contains"] in str(err.value)


FIXTURES = DATA.get("fixtures", [])


@pytest.mark.parametrize("case", FIXTURES, ids=ids(FIXTURES, "name"))
def test_fixture_file(case: dict[str, Any], conformance: Path) -> None:
    text = (root() / "dotenv" / case["file"]).read_bytes().decode("utf-8")
    asked: list[str] = []
    lookup = case.get("lookup", {})

    def look(name: str) -> str | None:
        asked.append(name)
        return lookup.get(name)

    if "error_contains" in case:
        with pytest.raises(dotenv.DotenvError) as err:
            dotenv.read(text, look)
        assert case["error_contains"] in str(err.value)
        return
    values = dotenv.read(text, look)
    if case["mode"] == "load":  # godotenv.Load: never override what is already set
        env = dict(case.get("preset_env", {}))
        for k, v in values.items():
            env.setdefault(k, v)
        values = env
    if case["exact"]:
        assert values == case["expected"]
    else:
        assert {k: values.get(k) for k in case["expected"]} == case["expected"]
    if case["name"] == "TestInheritedEnvVariableNotFound":
        assert "VARIABLE_NOT_FOUND" in asked


MULTI = DATA.get("multiple_files", [])


@pytest.mark.parametrize("case", MULTI, ids=ids(MULTI, "name"))
def test_multiple_files(case: dict[str, Any], conformance: Path, tmp_path: Path) -> None:
    paths = []
    for i, text in enumerate(case["files"]):
        path = tmp_path / f"{i}.env"
        path.write_text(text)
        paths.append(path)
    assert dotenv.read_files(paths, case["os_env"]) == case["expected"]


EXPANSION = DATA.get("var_expansion", {"env": {}, "cases": []})


@pytest.mark.parametrize("case", EXPANSION["cases"], ids=ids(EXPANSION["cases"], "input"))
def test_var_expansion(case: dict[str, Any], conformance: Path) -> None:
    env = EXPANSION["env"]
    if "error" in case:
        with pytest.raises(dotenv.DotenvError) as err:
            dotenv.parse(case["input"], env.get)
        assert case["error"]["variable"] in str(err.value)
        assert case["error"]["reason"] in str(err.value)
        return
    key, _, value = case["result"].partition("=")
    assert dotenv.parse(case["input"], env.get) == {key: value}


def test_conformance_counts(conformance: Path) -> None:
    assert [len(SINGLE), len(DOCS), len(ERRORS), len(FIXTURES), len(MULTI)] == [51, 12, 10, 17, 2]
    assert len(EXPANSION["cases"]) == 12


def test_missing_env_file_is_one_line(tmp_path: Path) -> None:
    from rootless.compose.errors import ComposeError

    with pytest.raises(ComposeError, match=r"env file .*nope\.env not found"):
        dotenv.read_file(tmp_path / "nope.env")
