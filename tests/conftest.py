"""Shared fixtures: every test gets its own data/run/config dirs; the CLI runs for real."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
CONFORMANCE = Path(os.environ.get("CONFORMANCE_DIR", REPO.parent / "shared" / "conformance"))
# Test images built by scripts/make-test-images.sh (OCI layouts).
TEST_IMAGES = Path(
    os.environ.get("ROOTLESS_TEST_IMAGES", Path.home() / ".cache" / "rootless-test-images")
)


def need(condition: object, what: str, fix: str = "run scripts/test.sh as root") -> None:
    """Fail (never skip) when a prerequisite is missing, naming the setup step."""
    if not condition:
        pytest.fail(f"prerequisite missing: {what} -- fix: {fix}", pytrace=False)


@dataclass
class Result:
    rc: int
    out: str
    err: str

    def json(self) -> object:
        return json.loads(self.out)


@dataclass
class Env:
    root: Path
    runroot: Path
    config: Path
    home: Path

    def env(self, extra: dict[str, str] | None = None) -> dict[str, str]:
        e = dict(os.environ)
        e.update(
            ROOTLESS_ROOT=str(self.root),
            ROOTLESS_RUNROOT=str(self.runroot),
            ROOTLESS_CONFIG_DIR=str(self.config),
        )
        if extra:
            e.update(extra)
        return e

    def run(
        self,
        *args: str,
        input: str | None = None,
        timeout: float = 120,
        env: dict[str, str] | None = None,
        check: bool = False,
    ) -> Result:
        return self.run_wrapped([], *args, input=input, timeout=timeout, env=env, check=check)

    def run_wrapped(
        self,
        prefix: list[str],
        *args: str,
        input: str | None = None,
        timeout: float = 120,
        env: dict[str, str] | None = None,
        check: bool = False,
    ) -> Result:
        """Run the CLI, optionally behind a wrapper command (e.g. unshare ...)."""
        exe = shutil.which("rootless")
        cmd = [*prefix, exe, *args] if exe else [*prefix, sys.executable, "-m", "rootless", *args]
        p = subprocess.run(
            cmd, input=input, capture_output=True, text=True, timeout=timeout, env=self.env(env)
        )
        res = Result(p.returncode, p.stdout, p.stderr)
        if check and p.returncode != 0:
            raise AssertionError(f"rootless {' '.join(args)} -> {p.returncode}\n{p.stderr}")
        return res


@pytest.fixture
def rl(tmp_path: Path) -> Iterator[Env]:
    """An isolated engine: its own --root, --runroot and config dir."""
    e = Env(
        root=tmp_path / "data", runroot=tmp_path / "run", config=tmp_path / "config", home=tmp_path
    )
    yield e
    # Leave nothing running: the pause process of this engine, if any, is ended by pid.
    pidfile = e.runroot / "pause.pid"
    if pidfile.exists():
        try:
            os.kill(int(pidfile.read_text().split()[0]), 9)
        except (ValueError, ProcessLookupError, PermissionError):
            pass


@pytest.fixture
def conformance() -> Path:
    need(
        CONFORMANCE.is_dir(),
        f"conformance data at {CONFORMANCE}",
        "set CONFORMANCE_DIR or check out shared/ beside the repository",
    )
    return CONFORMANCE
