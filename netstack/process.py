"""Starting netstack's helper processes and waiting for their one-line "ok"."""

from __future__ import annotations

import contextlib
import json
import os
import select
import signal
import subprocess
import sys
from typing import Any


class HelperError(OSError):
    pass


def spawn(
    module: str, config: dict[str, Any], pass_fds: tuple[int, ...] = (), timeout: float = 20
) -> int:
    """Start `python -m module` detached, feed it `config`, return its pid once ready."""
    proc = subprocess.Popen(
        [sys.executable, "-m", module],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        pass_fds=pass_fds,
        start_new_session=True,  # survives the CLI; the engine ends it by pid
    )
    assert proc.stdin and proc.stdout
    proc.stdin.write(json.dumps(config).encode())
    proc.stdin.close()
    line = b""
    fd = proc.stdout.fileno()
    while not line.endswith(b"\n"):
        r, _, _ = select.select([fd], [], [], timeout)
        chunk = os.read(fd, 4096) if r else b""
        if not chunk:
            break
        line += chunk
    proc.stdout.close()
    text = line.decode(errors="replace").strip()
    if text != "ok":
        with contextlib.suppress(ProcessLookupError):
            proc.kill()
        proc.wait()
        raise HelperError(text.removeprefix("error: ") or f"{module} did not start")
    # Not waited for by us: it is a long-lived helper, reaped by its new parent (init
    # or the pause process) when we exit.
    proc.returncode = 0
    return proc.pid


def stop(pid: int, timeout: float = 5.0) -> None:
    """SIGTERM a helper by pid, wait for it to go, SIGKILL if it lingers."""
    import time

    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(ChildProcessError):
            if os.waitpid(pid, os.WNOHANG)[0] == pid:
                return
        if not alive(pid):
            return
        time.sleep(0.02)
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)


def alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            state = f.read().rsplit(")", 1)[1].split()[0]
        return state != "Z"
    except (OSError, IndexError):
        return False
