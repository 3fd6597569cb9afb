"""compose-go's volume and port short-syntax vectors."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from rootless.compose.normalize import canonical_service
from rootless.compose.shortsyntax import SyntaxProblem, parse_port, parse_volume, volume_to_string
from tests.unit._compose_conformance import ids, vectors

VOLUMES = vectors("volume_short_syntax.json")
VOLUME_CASES = VOLUMES.get("cases", [])
PORTS = vectors("ports_short_syntax.json")
PORT_CASES = PORTS.get("cases", [])


def _without_zero_values(node: Any) -> Any:
    """Upstream compares Go structs: a missing key equals the zero value ({} or false)."""
    if isinstance(node, dict):
        out = {k: _without_zero_values(v) for k, v in node.items()}
        return {k: v for k, v in out.items() if v not in ({}, False, None, "")}
    return node


@pytest.mark.parametrize("case", VOLUME_CASES, ids=ids(VOLUME_CASES, "input"))
def test_volume(case: dict[str, Any], conformance: Path) -> None:
    if "error_equals" in case or "error_contains" in case:
        with pytest.raises(SyntaxProblem) as err:
            parse_volume(case["input"])
        if "error_equals" in case:
            assert str(err.value) == case["error_equals"]
        else:
            assert case["error_contains"] in str(err.value)
        return
    got = parse_volume(case["input"])
    if case["expected"] is not None:
        assert _without_zero_values(got) == _without_zero_values(case["expected"])


def test_volume_stringer(conformance: Path) -> None:
    s = VOLUMES["stringer"]
    assert volume_to_string(s["input"]) == s["expected"]


def _as_set(entries: list[dict[str, Any]]) -> list[str]:
    return sorted(repr(sorted(e.items())) for e in entries)


@pytest.mark.parametrize("case", PORT_CASES, ids=ids(PORT_CASES, "input"))
def test_port(case: dict[str, Any], conformance: Path) -> None:
    if "error_equals" in case:
        with pytest.raises(SyntaxProblem) as err:
            parse_port(case["input"])
        assert str(err.value) == case["error_equals"]
        return
    assert _as_set(parse_port(case["input"])) == _as_set(case["expected"])


def test_port_long_syntax_defaults(conformance: Path) -> None:
    d = PORTS["long_syntax_defaults"]
    got = canonical_service({"ports": [d["input"]]})["ports"]
    expected = dict(d["expected"], published=str(d["expected"]["published"]))
    assert got == [expected]  # published is text in our model (it may be a range)


def test_conformance_counts(conformance: Path) -> None:
    assert (len(VOLUME_CASES), len(PORT_CASES)) == (39, 20)
