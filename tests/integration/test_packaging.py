"""What `pip install` (scripts/install.sh) gets: the wheel built from pyproject.toml holds
every file of the packages, the data the code reads at run time included (the seccomp
profile, the compose schema, the C idle monitor's source). The test suite runs the source
tree in place, so without this a file missing from the package data goes unnoticed."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("rootless", "netstack", "fuse_overlay")

pytestmark = pytest.mark.slow


def _package_files() -> set[str]:
    out = set()
    for pkg in PACKAGES:
        for dirpath, dirnames, filenames in os.walk(ROOT / pkg):
            dirnames[:] = [d for d in dirnames if d != "__pycache__"]
            for name in filenames:
                out.add(str((Path(dirpath) / name).relative_to(ROOT)))
    return out


def test_wheel_holds_every_package_file(tmp_path: Path) -> None:
    src = tmp_path / "src"  # pip builds in the tree it is given: a copy, never the checkout
    src.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, src / name)
    for pkg in PACKAGES:
        shutil.copytree(ROOT / pkg, src / pkg, ignore=shutil.ignore_patterns("__pycache__"))
    p = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(tmp_path), str(src)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert p.returncode == 0, p.stderr[-2000:]
    (wheel,) = tmp_path.glob("rootless-*.whl")
    shipped = set(zipfile.ZipFile(wheel).namelist())
    missing = sorted(_package_files() - shipped)
    assert not missing, f"not in the wheel (pyproject.toml package-data): {missing}"
    assert "rootless/monitor/idle.c" in shipped
