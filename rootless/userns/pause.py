"""The pause process: holds the user + mount namespace open between commands.

It is `python -I -S -c PAUSE_SOURCE rootless-pause RUNTIME_DIR`: no site, no imports
beyond os/signal, a few MB of memory. The pid file records "PID STARTTIME" so a stale
file (the pid reused by another process) is recognised: we trust a pid only if its
start time matches and its command line carries our marker and runtime dir.
"""

from __future__ import annotations

import contextlib
import os
import sys
from dataclasses import dataclass
from pathlib import Path

MARKER = "rootless-pause"
PIDFILE = "pause.pid"
LOCKFILE = "pause.lock"

# Runs after exec, so it must stand alone. The spawner already made it a session
# leader (no terminal, no SIGHUP from the caller's session), ignored SIGHUP/SIGINT and
# pointed stdio at /dev/null; here we drop any other inherited fd and sleep.
PAUSE_SOURCE = """\
import os, signal
os.closerange(3, 1 << 20)
signal.signal(signal.SIGHUP, signal.SIG_IGN)
signal.signal(signal.SIGINT, signal.SIG_IGN)
signal.signal(signal.SIGPIPE, signal.SIG_IGN)
while True:
    signal.pause()
"""


def _canonical(runtime: Path) -> str:
    # The same dir reached through a symlink must not look like another engine's.
    return os.path.realpath(runtime)


def pause_argv(runtime: Path) -> list[str]:
    return [sys.executable, "-I", "-S", "-c", PAUSE_SOURCE, MARKER, _canonical(runtime)]


@dataclass(frozen=True)
class PauseRecord:
    """The pause process as its pid file names it."""

    pid: int
    starttime: int


def pidfile(runtime: Path) -> Path:
    return runtime / PIDFILE


def read_record(runtime: Path) -> PauseRecord | None:
    try:
        parts = pidfile(runtime).read_text().split()
        return PauseRecord(int(parts[0]), int(parts[1]))
    except (OSError, ValueError, IndexError):
        return None


def write_record(runtime: Path, rec: PauseRecord) -> None:
    from rootless.fsutil import atomic_write

    atomic_write(pidfile(runtime), f"{rec.pid} {rec.starttime}\n".encode(), 0o600)


def starttime(pid: int) -> int | None:
    """Field 22 of /proc/PID/stat (clock ticks since boot); None if gone or a zombie."""
    from rootless.syscalls import proc_start_time

    return proc_start_time(pid)


def is_pause(rec: PauseRecord, runtime: Path) -> bool:
    """True if `rec` names a live pause process of this runtime dir."""
    if starttime(rec.pid) != rec.starttime:
        return False
    try:
        with open(f"/proc/{rec.pid}/cmdline", "rb") as f:
            argv = f.read().rstrip(b"\0").split(b"\0")
    except OSError:
        return False
    return argv[-2:] == [MARKER.encode(), os.fsencode(_canonical(runtime))]


def live_record(runtime: Path) -> PauseRecord | None:
    rec = read_record(runtime)
    return rec if rec is not None and is_pause(rec, runtime) else None


def stop(runtime: Path) -> int | None:
    """End this runtime dir's pause process (if any); return its pid."""
    rec = live_record(runtime)
    if rec is not None:
        import signal  # here: its enum classes cost every `run` ~0.5 ms

        with contextlib.suppress(ProcessLookupError):
            os.kill(rec.pid, signal.SIGKILL)
    with contextlib.suppress(FileNotFoundError):
        pidfile(runtime).unlink()
    return rec.pid if rec else None
