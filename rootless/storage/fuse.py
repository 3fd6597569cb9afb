"""fuse: the overlay in user space (fuse_overlay), for hosts where the kernel overlay
can't be used (old kernels, NFS/Lustre homes, no user xattrs).

Same on-disk layout as the overlay driver (layers in the kernel's user-namespace
format, upper/work/merged per container), so changes() and layer handling are shared;
only mounting differs: a `fuse-overlay` daemon per mounted container.

Lifetime: the daemon runs in its own session (a killed CLI does not take the
container's root filesystem with it) and its pid is kept in containers/<id>/fuse.pid.
unmount() unmounts and waits for the daemon to end; mount() finds a mount whose daemon
died (a dead FUSE mount answers ENOTCONN) and replaces it, so no stale mount survives
the next command. All mounts live in the engine's mount namespace: if that goes, every
daemon sees its mount vanish and exits.
"""

from __future__ import annotations

import contextlib
import errno
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from rootless.errors import NotFound
from rootless.fsutil import atomic_write
from rootless.storage.driver import DriverStatus, StorageError, remove_tree, unmount_all
from rootless.storage.overlay import OverlayDriver

MOUNT_TIMEOUT = 20.0
STOP_TIMEOUT = 10.0


def fuse_overlay_command(lowers: list[str], upper: Path, work: Path, merged: Path) -> list[str]:
    opts = f"lowerdir={':'.join(lowers)},upperdir={upper},workdir={work}"
    return [sys.executable, "-m", "fuse_overlay.cli", "-f", "-o", opts, str(merged)]


def _alive(pid: int, merged: Path) -> bool:
    """Is `pid` still the fuse-overlay daemon serving `merged`? (A pid may be reused.)"""
    with contextlib.suppress(ChildProcessError):
        if os.waitpid(pid, os.WNOHANG)[0] == pid:  # our own child, now reaped
            return False
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            argv = f.read().split(b"\0")
    except OSError:
        return False
    return b"fuse_overlay.cli" in argv and os.fsencode(merged) in argv


def _dead_mount(path: Path) -> bool:
    try:
        os.stat(path)
    except OSError as e:
        return e.errno in (errno.ENOTCONN, errno.ECONNABORTED)
    return False


def start_daemon(cmd: list[str], merged: Path, log: Path) -> int:
    """Start fuse-overlay in its own session; return its pid once `merged` is mounted."""
    with open(log, "ab") as logf:
        proc = subprocess.Popen(
            cmd,
            stdin=subprocess.DEVNULL,
            stdout=logf,
            stderr=logf,
            start_new_session=True,
            close_fds=True,
            cwd="/",
        )
    deadline = time.monotonic() + MOUNT_TIMEOUT
    while not os.path.ismount(merged):
        if proc.poll() is not None or time.monotonic() > deadline:
            if proc.poll() is None:
                proc.kill()
            proc.wait()
            tail = log.read_text(errors="replace").strip().splitlines()[-1:] or ["no output"]
            raise StorageError(f"fuse-overlay could not mount {merged}: {tail[0]}")
        time.sleep(0.005)
    return proc.pid


class FuseDriver(OverlayDriver):
    name = "fuse"
    whiteouts = "overlay"

    @classmethod
    def probe(cls, home: Path) -> DriverStatus:
        """Mount a tiny fuse overlay for real and unmount it."""
        if not os.access("/dev/fuse", os.R_OK | os.W_OK):
            return DriverStatus(cls.name, home, False, "/dev/fuse is missing or not usable")
        try:
            import fuse_overlay.mount  # noqa: F401  (libfuse3 + mfusepy loadable)
        except (ImportError, OSError) as e:
            return DriverStatus(cls.name, home, False, f"fuse_overlay unavailable: {e}")
        try:
            home.mkdir(parents=True, exist_ok=True)
            scratch = Path(tempfile.mkdtemp(prefix=".tmp-probe-", dir=home))
        except OSError as e:
            return DriverStatus(cls.name, home, False, f"cannot create {home}: {e.strerror}")
        try:
            for d in ("l", "u", "w", "m"):
                (scratch / d).mkdir()
            cmd = fuse_overlay_command(
                [str(scratch / "l")], scratch / "u", scratch / "w", scratch / "m"
            )
            pid = start_daemon(cmd, scratch / "m", scratch / "log")
            _stop(scratch / "m", pid)
            return DriverStatus(cls.name, home, True, "fuse_overlay (FUSE, libfuse3)")
        except (StorageError, OSError) as e:
            return DriverStatus(cls.name, home, False, str(e))
        finally:
            remove_tree(scratch)

    def _pidfile(self, container_id: str) -> Path:
        return self.container_dir(container_id) / "fuse.pid"

    def _daemon_pid(self, container_id: str) -> int | None:
        try:
            return int(self._pidfile(container_id).read_text().strip())
        except (FileNotFoundError, ValueError):
            return None

    def mount(self, container_id: str, *, volatile: bool = False) -> Path:
        # volatile (never sync the upper dir) is what fuse_overlay always does: it has
        # no sync of its own, so there is nothing to switch off.
        cdir = self.container_dir(container_id)
        merged = cdir / "merged"
        if not cdir.is_dir():
            raise NotFound(f"no storage for container {container_id[:12]}")
        pid = self._daemon_pid(container_id)
        if os.path.ismount(merged) or _dead_mount(merged):
            if pid and _alive(pid, merged) and not _dead_mount(merged):
                return merged
            self._cleanup_mount(merged, pid)  # the daemon died: a stale mount
        cmd = fuse_overlay_command(
            [str(p) for p in self.lower_dirs(container_id)], cdir / "upper", cdir / "work", merged
        )
        try:
            pid = start_daemon(cmd, merged, cdir / "fuse.log")
        except StorageError as e:
            raise StorageError(
                str(e), hint="run inside the engine's user namespace, or use --storage-driver vfs"
            ) from e
        atomic_write(cdir / "fuse.pid", f"{pid}\n".encode())
        return merged

    def unmount(self, container_id: str) -> None:
        merged = self.container_dir(container_id) / "merged"
        self._cleanup_mount(merged, self._daemon_pid(container_id))
        with contextlib.suppress(FileNotFoundError):
            self._pidfile(container_id).unlink()

    def _cleanup_mount(self, merged: Path, pid: int | None) -> None:
        _stop(merged, pid)


def _stop(merged: Path, pid: int | None) -> None:
    """Unmount `merged` (which ends its daemon) and wait for the daemon to be gone."""
    unmount_all(merged, lambda p: os.path.ismount(p) or _dead_mount(p))
    if pid is None:
        return
    deadline = time.monotonic() + STOP_TIMEOUT
    killed = False
    while _alive(pid, merged):
        if time.monotonic() > deadline:
            if killed:
                raise StorageError(f"fuse-overlay (pid {pid}) for {merged} does not exit")
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
            killed = True
            deadline = time.monotonic() + STOP_TIMEOUT
        time.sleep(0.005)
