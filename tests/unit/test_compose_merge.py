"""compose-go's override/unicity vectors: merging several -f files."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from rootless.compose.merge import enforce_unicity, merge, strip_tags
from rootless.compose.yamlio import parse
from tests.unit._compose_conformance import ids, vectors

DATA = vectors("merge.json")
MERGE = DATA.get("merge", [])
UNICITY = DATA.get("unicity", [])


@pytest.mark.parametrize("case", MERGE, ids=ids(MERGE, "name"))
def test_merge(case: dict[str, Any], conformance: Path) -> None:
    got = merge(parse(case["base"], "base"), parse(case["override"], "override"))
    if not case.get("no_unicity"):
        got = enforce_unicity(got)
    assert got == parse(case["expected"], "expected")


@pytest.mark.parametrize("case", UNICITY, ids=ids(UNICITY, "name"))
def test_unicity(case: dict[str, Any], conformance: Path) -> None:
    assert enforce_unicity(parse(case["before"], "before")) == parse(case["expected"], "expected")


def test_conformance_counts(conformance: Path) -> None:
    assert (len(MERGE), len(UNICITY)) == (68, 4)


def test_reset_removes_and_override_replaces() -> None:
    base = parse(
        "services:\n  a:\n    image: x\n    command: run\n    ports: ['80']\n"
        "    environment: {A: '1'}\n",
        "base",
    )
    over = parse(
        "services:\n  a:\n    command: !reset null\n    ports: !override ['81']\n"
        "    environment: !override {B: '2'}\n",
        "over",
    )
    got = merge(base, over)
    assert got == {"services": {"a": {"image": "x", "ports": ["81"], "environment": {"B": "2"}}}}


def test_strip_tags_in_a_single_file() -> None:
    model = parse("a: !reset []\nb: !override {x: 1}\nc: [1, !reset 2]\n", "f")
    assert strip_tags(model) == {"b": {"x": 1}, "c": [1]}


def test_merge_does_not_modify_inputs() -> None:
    base = {"services": {"a": {"environment": ["A=1"]}}}
    merge(base, {"services": {"a": {"environment": ["B=2"]}}})
    assert base == {"services": {"a": {"environment": ["A=1"]}}}
