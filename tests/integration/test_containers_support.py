"""Helpers for the containers tests: an engine with busybox, and a debris check.

Every container test ends with `assert_no_debris`: no container records, no monitor or
container processes, no mounts left under the engine's data dir.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import time
from pathlib import Path

from tests.conftest import Env


def monitor_files(rl: Env) -> list[Path]:
    base = rl.root / "containers"
    if not base.is_dir():
        return []
    return [p / "monitor.json" for p in base.iterdir() if (p / "monitor.json").exists()]


def _pids(rl: Env) -> list[int]:
    out = []
    for f in monitor_files(rl):
        with contextlib.suppress(OSError, ValueError):
            st = json.loads(f.read_text())
            out += [int(st.get("pid") or 0), int(st.get("container_pid") or 0)]
    return [p for p in out if p > 0]


def pause_pid(rl: Env) -> int | None:
    try:
        return int((rl.runroot / "pause.pid").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None


def mounts_under(rl: Env, root: Path) -> list[str]:
    pid = pause_pid(rl)
    if pid is None:
        return []
    try:
        text = Path(f"/proc/{pid}/mountinfo").read_text()
    except OSError:
        return []
    return [ln.split()[4] for ln in text.splitlines() if ln.split()[4].startswith(str(root))]


def container_ids(rl: Env) -> list[str]:
    base = rl.root / "containers"
    if not base.is_dir():
        return []
    return [p.name for p in base.iterdir() if not p.name.startswith(".")]


def names_index(rl: Env) -> list[str]:
    d = rl.root / "containers" / ".names"
    return sorted(p.name for p in d.iterdir()) if d.is_dir() else []


def wait_for(cond, timeout: float = 15.0, what: str = "condition"):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        v = cond()
        if v:
            return v
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def assert_no_debris(rl: Env) -> None:
    """Nothing left behind: records, names, processes, mounts."""
    wait_for(lambda: not container_ids(rl), 15, "container records to go")
    assert names_index(rl) == []
    assert mounts_under(rl, rl.root / "storage") == []
    procs = [p for p in _pids(rl) if Path(f"/proc/{p}").exists()]
    assert procs == []


def force_cleanup(rl: Env) -> None:
    """Last resort after a failed test: remove containers, then kill what is left."""
    pids = _pids(rl)
    with contextlib.suppress(Exception):
        rl.run("rm", "-af", timeout=60)
    for p in pids:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(p, signal.SIGKILL)
