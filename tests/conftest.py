"""Shared fixtures: every test gets its own data/run/config dirs; the CLI runs for real."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
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
    extra_env: dict[str, str] = field(default_factory=dict)  # added to every run

    def env(self, extra: dict[str, str] | None = None) -> dict[str, str]:
        e = dict(os.environ)
        e.update(
            ROOTLESS_ROOT=str(self.root),
            ROOTLESS_RUNROOT=str(self.runroot),
            ROOTLESS_CONFIG_DIR=str(self.config),
        )
        e.update(self.extra_env)
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
    # Leave nothing running: the pause process of this engine, if any, is ended by pid,
    # once its start time and command line show the pid is still that pause (pids wrap
    # at 32768 here: a pause a test killed may have handed its pid to another process).
    from rootless.userns.pause import live_record

    rec = live_record(e.runroot) if e.runroot.is_dir() else None
    if rec is not None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(rec.pid, 9)


def kill_net_helpers(rl: Env) -> None:
    """Whatever netstack left behind (there should be nothing): kill by recorded pid."""
    import contextlib
    import signal

    base = rl.runroot / "networks"
    for f in list(base.glob("*/netd.json")) + list(base.glob("containers/*.json")):
        with contextlib.suppress(Exception):
            d = json.loads(f.read_text())
            pid = int(d.get("pid") or d.get("sidecar_pid") or 0)
            if pid:
                os.kill(pid, signal.SIGKILL)


@pytest.fixture
def conformance() -> Path:
    need(
        CONFORMANCE.is_dir(),
        f"conformance data at {CONFORMANCE}",
        "set CONFORMANCE_DIR or check out shared/ beside the repository",
    )
    return CONFORMANCE


# ---- test images (scripts/make-test-images.sh builds them; images engineer) ----
def _load_test_image(rl: Env, name: str, ref: str) -> str:
    layout = TEST_IMAGES / name
    need(
        (layout / "index.json").is_file(),
        f"test image layout {layout}",
        "run scripts/make-test-images.sh as the test user (scripts/test.sh does)",
    )
    rl.run("load", "-q", "-i", str(layout), check=True, timeout=300)
    return ref


def remove_engine_data(rl: Env) -> None:
    """Remove the engine's data dir from inside its user namespace: layer files belong to
    subuids, which the plain test user cannot delete."""
    if rl.root.exists():
        rl.run("unshare", "rm", "-rf", "--one-file-system", str(rl.root), timeout=120)


@pytest.fixture
def busybox_image(rl: Env) -> Iterator[str]:
    """busybox:latest loaded into the isolated engine `rl`."""
    yield _load_test_image(rl, "busybox", "busybox:latest")
    remove_engine_data(rl)


@pytest.fixture
def debian_image(rl: Env) -> Iterator[str]:
    """debian:bookworm (mmdebstrap minbase) loaded into the isolated engine `rl`."""
    yield _load_test_image(rl, "debian", "debian:bookworm")
    remove_engine_data(rl)
