"""Build the C idle monitor (idle.c) once per source version into the user's cache dir.

The binary is `<cache>/rootless/bin/rootless-monitor-idle-<sha256 of idle.c, 12 hex>`,
built with `cc -O2` under a lock and renamed into place, so concurrent engines never see
half a binary and a new source gets a new name. Never into the source tree: it may be
read-only (installed package, CI checkout owned by another user). A failed build leaves
`<binary>.failed` with the compiler's complaint: monitors then keep the Python loop
without retrying on every container; `rootless info` retries and reports it.

Imported by the monitor (at hand-off, after the CLI has its answer) and by `info`; so
standard library only, no dataclasses/typing at import time.
"""

from __future__ import annotations

import os

SOURCE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "idle.c")
FORCE_ENV = "ROOTLESS_MONITOR_IDLE"  # "python": never hand off to the C program


COMPILER_FIX = "install a C compiler: apt-get install gcc libc6-dev (then run `rootless info`)"


class BuildResult:
    """`path` of a ready binary, or None, the reason it is not there and its fix."""

    __slots__ = ("error", "fix", "path")

    def __init__(self, path: str | None, error: str = "", fix: str = COMPILER_FIX) -> None:
        self.path = path
        self.error = error
        self.fix = fix


def forced_python() -> bool:
    return os.environ.get(FORCE_ENV, "") == "python"


def cache_bin_dir() -> str:
    # platformdirs.user_cache_dir on Linux, without importing it into the monitor.
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "rootless", "bin")


def binary_path() -> str:
    import hashlib

    with open(SOURCE, "rb") as f:
        digest = hashlib.sha256(f.read()).hexdigest()[:12]
    return os.path.join(cache_bin_dir(), f"rootless-monitor-idle-{digest}")


def ensure_built(retry_failed: bool = False) -> BuildResult:
    """The binary, built now if missing (seconds, once per source version)."""
    try:
        path = binary_path()
    except OSError as e:
        return BuildResult(
            None,
            f"cannot read {SOURCE}: {e.strerror}",
            "reinstall rootless: its package must include rootless/monitor/idle.c",
        )
    if os.access(path, os.X_OK):
        return BuildResult(path)
    failed = path + ".failed"
    if not retry_failed and os.path.exists(failed):
        return BuildResult(None, _read_text(failed))
    import fcntl

    try:
        os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
        lock = os.open(path + ".lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    except OSError as e:
        where = os.path.dirname(path)
        return BuildResult(
            None, f"cannot create {where}: {e.strerror}", "make it writable or set XDG_CACHE_HOME"
        )
    try:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if os.access(path, os.X_OK):  # another engine built it while we waited
            return BuildResult(path)
        error = _compile(path)
        if error:
            _write_text(failed, error)
            return BuildResult(None, error)
        try:
            os.unlink(failed)
        except FileNotFoundError:
            pass
        return BuildResult(path)
    finally:
        os.close(lock)


def _compile(path: str) -> str:
    """Empty when `path` is in place, else a one-line reason."""
    import shutil
    import subprocess

    cc = os.environ.get("CC") or shutil.which("cc") or shutil.which("gcc")
    if not cc:
        return "no C compiler (cc) on PATH: install gcc and libc6-dev"
    tmp = f"{path}.{os.getpid()}.tmp"
    try:
        p = subprocess.run(
            [cc, "-O2", "-o", tmp, SOURCE],
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=120,
        )
        if p.returncode != 0:
            lines = [ln for ln in (p.stderr or "").splitlines() if ln.strip()]
            return f"{cc} failed ({p.returncode}): {lines[0] if lines else 'no output'}"
        os.replace(tmp, path)
        return ""
    except (OSError, subprocess.TimeoutExpired) as e:
        return f"{cc} failed: {e}"
    finally:
        try:
            os.unlink(tmp)  # whatever a failed or killed compiler left
        except FileNotFoundError:
            pass


def _read_text(path: str) -> str:
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            return f.read().strip()
    except OSError:
        return "the last build failed"


def _write_text(path: str, text: str) -> None:
    try:
        with open(path, "w", encoding="utf-8") as f:
            f.write(text + "\n")
    except OSError:
        pass
