"""compose-go's normalization vectors, plus path resolution."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from rootless.compose.normalize import canonical_forms, normalize, resolve_paths
from rootless.compose.yamlio import parse
from tests.unit._compose_conformance import ids, vectors

CASES = vectors("normalize.json").get("cases", [])


@pytest.mark.parametrize("case", CASES, ids=ids(CASES, "name"))
def test_normalize(case: dict[str, Any], conformance: Path) -> None:
    # Both sides in canonical spelling (environment as a mapping, ...), then compared.
    got = canonical_forms(normalize(parse(case["input"], "input"), case["env"]))
    assert got == canonical_forms(parse(case["expected"], "expected"))


def test_conformance_count(conformance: Path) -> None:
    assert len(CASES) == 9


def test_canonical_spellings() -> None:
    model = canonical_forms(
        {
            "services": {
                "a": {
                    "build": "./dir",
                    "command": "sh -c 'echo hi'",
                    "environment": ["A=1", "B"],
                    "labels": {"x": 1, "y": None},
                    "ports": ["127.0.0.1:8080:80/udp", 9000],
                    "volumes": ["data:/data:ro", "./src:/src"],
                    "depends_on": ["db"],
                    "extra_hosts": ["h1:10.0.0.1", "h2=::1"],
                    "healthcheck": {"test": "curl -f http://localhost"},
                    "dns": "1.1.1.1",
                }
            }
        }
    )
    a = model["services"]["a"]
    assert a["build"] == {"context": "./dir"}
    assert a["command"] == ["sh", "-c", "echo hi"]
    assert a["environment"] == {"A": "1", "B": None}
    assert a["labels"] == {"x": "1", "y": ""}
    assert a["ports"] == [
        {
            "mode": "ingress",
            "target": 80,
            "protocol": "udp",
            "published": "8080",
            "host_ip": "127.0.0.1",
        },
        {"mode": "ingress", "target": 9000, "protocol": "tcp"},
    ]
    assert a["volumes"][0] == {
        "type": "volume",
        "source": "data",
        "target": "/data",
        "read_only": True,
        "volume": {},
    }
    assert a["volumes"][1]["type"] == "bind"
    assert a["depends_on"] == {"db": {"condition": "service_started", "required": True}}
    assert a["extra_hosts"] == ["h1=10.0.0.1", "h2=::1"]
    assert a["healthcheck"]["test"] == ["CMD-SHELL", "curl -f http://localhost"]
    assert a["dns"] == ["1.1.1.1"]


def test_resolve_paths(tmp_path: Path) -> None:
    model = canonical_forms(
        {
            "services": {
                "a": {
                    "build": {"context": "app"},
                    "env_file": ["x.env", {"path": "../y.env", "required": False}],
                    "volumes": ["./src:/src", "named:/n", "~/cache:/c"],
                }
            }
        }
    )
    a = resolve_paths(model, tmp_path)["services"]["a"]
    assert a["build"]["context"] == str(tmp_path / "app")
    assert a["env_file"] == [
        str(tmp_path / "x.env"),
        {"path": str(tmp_path.parent / "y.env"), "required": False},
    ]
    assert a["volumes"][0]["source"] == str(tmp_path / "src")
    assert a["volumes"][1]["source"] == "named"
    assert a["volumes"][2]["source"] == str(Path.home() / "cache")
