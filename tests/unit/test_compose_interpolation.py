"""compose-go's template and tree-interpolation vectors against our interpolation module."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rootless.compose.interpolation import (
    InvalidTemplate,
    MissingRequired,
    TreeError,
    interpolate,
    split_braced,
    substitute,
    to_bool,
    to_int,
)
from tests.unit._compose_conformance import ids, vectors

DATA = vectors("interpolation.json")
SUB = DATA.get("substitute", {"env": {}, "cases": []})


@pytest.mark.parametrize("case", SUB["cases"], ids=ids(SUB["cases"], "template"))
def test_substitute(case: dict[str, Any], conformance: Path) -> None:
    env = SUB["env"]
    if "error_contains" in case:
        with pytest.raises((InvalidTemplate, MissingRequired)) as err:
            substitute(case["template"], env.get)
        assert case["error_contains"] in str(err.value)
        return
    value, unset = substitute(case["template"], env.get)
    assert value == case["expected"]
    if "warnings" in case:
        assert len(unset) == case["warnings"]


OPS = DATA.get("operator_choice", {"cases": []})["cases"]


@pytest.mark.parametrize("case", OPS, ids=ids(OPS, "inner"))
def test_operator_choice(case: dict[str, str], conformance: Path) -> None:
    assert split_braced(case["inner"])[1] == case["operator"]


TREE = DATA.get("interpolate_tree", {"env": {}, "cases": []})
_CASTS = {"int": to_int, "bool": to_bool}


@pytest.mark.parametrize("case", TREE["cases"], ids=ids(TREE["cases"], "name"))
def test_interpolate_tree(case: dict[str, Any], conformance: Path) -> None:
    casts = {tuple(k.split(".")): _CASTS[v] for k, v in case.get("cast", {}).items()}
    if "error_equals" in case:
        with pytest.raises(TreeError) as err:
            interpolate(case["input"], TREE["env"].get, casts)
        assert str(err.value) == case["error_equals"]
        return
    assert interpolate(case["input"], TREE["env"].get, casts) == case["expected"]


def _env_case(template: str, env: dict[str, str], case: dict[str, Any]) -> None:
    tree = {"myservice": {"environment": {"TESTVAR": template}}}
    if "error_reason" in case:
        with pytest.raises(TreeError) as err:
            interpolate(tree, env.get)
        assert str(err.value) == (
            "error while interpolating myservice.environment.TESTVAR: "
            "required variable FOO is missing a value: " + case["error_reason"]
        )
        return
    got = interpolate(tree, env.get)
    assert got["myservice"]["environment"]["TESTVAR"] == case["expected"]


UNSET = DATA.get("interpolate_unset_env", {"cases": []})["cases"]


@pytest.mark.parametrize("case", UNSET, ids=ids(UNSET, "template"))
def test_interpolate_unset_env(case: dict[str, Any], conformance: Path) -> None:
    _env_case(case["template"], {}, case)


SET = DATA.get("interpolate_set_env", {"env": {}, "cases": []})


@pytest.mark.parametrize("case", SET["cases"], ids=ids(SET["cases"], "template"))
def test_interpolate_set_env(case: dict[str, Any], conformance: Path) -> None:
    _env_case(case["template"], SET["env"], case)


def test_conformance_counts(conformance: Path) -> None:
    # 69 + 12 + 3 + 19 + 8 vectors: a shrinking data set must not go unnoticed.
    assert (len(SUB["cases"]), len(OPS), len(TREE["cases"]), len(UNSET), len(SET["cases"])) == (
        69,
        12,
        3,
        19,
        8,
    )


def test_nested_default_is_lazy() -> None:
    # Only variables actually read are reported unset.
    empty: dict[str, str] = {}
    assert substitute("${A:-x}${B:+${C}}", empty.get) == ("x", [])
    assert substitute("$$A ${D}", empty.get) == ("$A ", ["D"])


def _nothing(name: str) -> str | None:
    return None


@given(st.text(max_size=40))
def test_escaped_text_round_trips(text: str) -> None:
    # Any text survives interpolation once every $ is doubled.
    assert substitute(text.replace("$", "$$"), _nothing)[0] == text


@given(st.text(alphabet=st.characters(blacklist_characters="$"), max_size=40))
def test_text_without_dollar_is_unchanged(text: str) -> None:
    assert substitute(text, _nothing) == (text, [])
