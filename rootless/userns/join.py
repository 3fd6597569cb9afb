"""Join (creating if needed) the pause process's user + mount namespace.

Order matters: setns() the user namespace first (it grants the capabilities needed
to join the mount namespace it owns), then the mount namespace. setns(CLONE_NEWUSER)
is refused (EINVAL) once a second thread exists, so call enter() before any thread
starts. Joining a mount namespace moves cwd to its root; we move back.
"""

from __future__ import annotations

import errno
import os
import sys
from collections.abc import Callable
from pathlib import Path

from rootless.errors import EngineError
from rootless.paths import Paths
from rootless.userns import pause
from rootless.userns.info import UsernsInfo, info_for

# "PID:INODE" of the user namespace this process (and its children) joined, as
# Podman's _CONTAINERS_USERNS_CONFIGURED: a nested `rootless` sees it and skips the join.
ENV = "_ROOTLESS_USERNS"

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import TypeVar

    T = TypeVar("T")


class _PauseGone(Exception):
    """The pause process ended between validating it and opening its namespaces."""


def _ns_ino(pid: int | str, kind: str) -> int:
    return os.stat(f"/proc/{pid}/ns/{kind}").st_ino


def _marker() -> tuple[int, int] | None:
    raw = os.environ.get(ENV, "")
    try:
        pid, ino = raw.split(":")
        return int(pid), int(ino)
    except ValueError:
        return None


def in_userns() -> bool:
    """True if this process is inside the namespace a previous enter() joined."""
    m = _marker()
    return m is not None and m[1] == _ns_ino("self", "user")


def enter(paths: Paths) -> UsernsInfo:
    """Be uid 0 in the engine's user namespace (full map if possible) and its mount ns."""
    m = _marker()
    if m is not None and m[1] == _ns_ino("self", "user"):
        return info_for(m[0])

    from rootless.paths import ensure_private_dir

    runtime = ensure_private_dir(paths.runtime)
    for _attempt in range(3):
        rec = pause.live_record(runtime) or _create_locked(paths)
        try:
            return _join(rec)
        except _PauseGone:
            continue
    raise EngineError(
        "the pause process keeps dying while joining it",
        hint=f"look for whoever kills processes; `rm {pause.pidfile(runtime)}` and retry",
    )


def _create_locked(paths: Paths) -> pause.PauseRecord:
    from rootless.fsutil import locked

    with locked(paths.locks / pause.LOCKFILE):
        rec = pause.live_record(paths.runtime)  # another command may have won the race
        if rec is None:
            rec = _create(paths.runtime)
    return rec


def _create(runtime: Path) -> pause.PauseRecord:
    from rootless.userns import idmap, spawn

    plan = idmap.plan()
    pid = spawn.spawn(runtime, plan)
    start = pause.starttime(pid)
    if start is None:
        raise EngineError(f"the pause process {pid} exited right after starting")
    rec = pause.PauseRecord(pid, start)
    pause.write_record(runtime, rec)
    if plan.warning:
        # Once per pause process: later commands join quietly.
        sys.stderr.write(plan.warning + "\n")
        sys.stderr.flush()
    return rec


def _open_ns(pid: int, kind: str) -> int:
    try:
        return os.open(f"/proc/{pid}/ns/{kind}", os.O_RDONLY | os.O_CLOEXEC)
    except FileNotFoundError:
        raise _PauseGone() from None
    except PermissionError:
        # Started from another user namespace (e.g. a sibling `unshare --user`).
        raise EngineError(
            f"cannot join pause process {pid}: it was started from another user namespace",
            hint=f"stop it (kill {pid}) or use another --runroot",
        ) from None


def _join(rec: pause.PauseRecord) -> UsernsInfo:
    from rootless import syscalls

    try:
        cwd: str | None = os.getcwd()
    except OSError:
        cwd = None
    user_fd = _open_ns(rec.pid, "user")
    try:
        mnt_fd = _open_ns(rec.pid, "mnt")
    except BaseException:
        os.close(user_fd)
        raise
    try:
        # The fds pin the namespaces; re-check the pid was not reused meanwhile.
        if pause.starttime(rec.pid) != rec.starttime:
            raise _PauseGone()
        user_ino = os.fstat(user_fd).st_ino
        if user_ino != _ns_ino("self", "user"):
            _setns(user_fd, syscalls.CLONE_NEWUSER, rec.pid, "user")
        if os.fstat(mnt_fd).st_ino != _ns_ino("self", "mnt"):
            _setns(mnt_fd, syscalls.CLONE_NEWNS, rec.pid, "mount")
    finally:
        os.close(user_fd)
        os.close(mnt_fd)
    if cwd is not None:
        try:
            os.chdir(cwd)
        except OSError:
            os.chdir("/")
    os.environ[ENV] = f"{rec.pid}:{user_ino}"
    return info_for(rec.pid)


def _setns(fd: int, nstype: int, pid: int, kind: str) -> None:
    from rootless import syscalls

    try:
        syscalls.setns(fd, nstype)
    except OSError as e:
        if e.errno == errno.EINVAL and kind == "user" and _threads() > 1:
            raise EngineError(
                f"cannot join the user namespace: this process has {_threads()} threads",
                hint="rootless.userns.enter() must run before any thread starts",
            ) from None
        raise EngineError(
            f"cannot join the {kind} namespace of pause process {pid}: {e.strerror}",
            hint="stop it (kill the pid in pause.pid) and retry",
        ) from None


def _threads() -> int:
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("Threads:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 1


def call_in_userns(paths: Paths, fn: Callable[..., T], *args: object) -> T:
    """Run fn(*args) in a forked child that entered the namespace; return its result.

    For tests and one-off helpers: the caller stays outside. The result (or the
    exception) comes back pickled.
    """
    import pickle

    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(r)
        try:
            try:
                enter(paths)
                payload = pickle.dumps((True, fn(*args)))
            except BaseException as e:
                try:
                    payload = pickle.dumps((False, e))
                except Exception:
                    payload = pickle.dumps((False, RuntimeError(repr(e))))
            with os.fdopen(w, "wb") as f:
                f.write(payload)
        finally:
            os._exit(0)
    os.close(w)
    with os.fdopen(r, "rb") as f:
        data = f.read()
    os.waitpid(pid, 0)
    if not data:
        raise RuntimeError("the child running in the user namespace died")
    ok, value = pickle.loads(data)
    if ok:
        return value
    raise value
