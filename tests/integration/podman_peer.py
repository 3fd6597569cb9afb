"""Rootless podman as a peer in tests: its own root, a short runroot (podman refuses
runroots over 50 characters) and tmpdir, so its pause process is ours to end by pid."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

Podman = Callable[..., "subprocess.CompletedProcess[str]"]


@contextmanager
def podman_peer(root: Path, *extra: str) -> Iterator[Podman]:
    short = Path(tempfile.mkdtemp(prefix="pm-", dir="/tmp"))
    argv = ["podman", "--root", str(root), "--runroot", str(short / "run"),
            "--tmpdir", str(short / "tmp"), "--storage-driver", "vfs", *extra]  # fmt: skip

    def run(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        p = subprocess.run([*argv, *args], capture_output=True, text=True, timeout=300)
        if check:
            assert p.returncode == 0, f"podman {' '.join(args)}: {p.stderr}"
        return p

    try:
        yield run
    finally:
        run("unshare", "rm", "-rf", str(root), check=False)
        pidfile = short / "tmp" / "pause.pid"
        if pidfile.exists():
            try:
                os.kill(int(pidfile.read_text().split()[0]), signal.SIGKILL)
            except (ValueError, ProcessLookupError):
                pass
        shutil.rmtree(short, ignore_errors=True)
