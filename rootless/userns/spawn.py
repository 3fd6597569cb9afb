"""Create the pause process and give its user namespace an id map.

Double fork so the pause is nobody's child (no zombie in a long-lived caller).
The grandchild unshares CLONE_NEWUSER|CLONE_NEWNS (a fresh fork is single-threaded,
which the kernel requires), reports "ready PID" on a pipe and waits; we write its
maps (newuidmap/newgidmap need the pid from outside); we say "go"; it makes its
mounts rslave (nothing we mount propagates to the host, host mounts still reach us),
points stdio at /dev/null and execs the pause program. The report pipe is
close-on-exec, so EOF without a message means the exec succeeded.
"""

from __future__ import annotations

import errno
import os
import signal
from pathlib import Path

from rootless.errors import EngineError
from rootless.userns import idmap, pause


def _say(fd: int, text: str) -> None:
    os.write(fd, (text + "\n").encode())


def _grandchild(runtime: Path, go_r: int, report_w: int) -> None:
    """Never returns."""
    from rootless import syscalls

    try:
        syscalls.unshare(syscalls.CLONE_NEWUSER | syscalls.CLONE_NEWNS)
    except OSError as e:
        _say(report_w, f"unshare {e.errno}")
        os._exit(1)
    try:
        _say(report_w, f"ready {os.getpid()}")
        if os.read(go_r, 16).strip() != b"go":
            os._exit(1)  # the parent failed to map us and gave up
        syscalls.mount(None, "/", None, syscalls.MS_REC | syscalls.MS_SLAVE)
        os.chdir("/")
        # Settled before exec (dispositions to SIG_IGN survive it), so the pause is
        # immune from the moment spawn() returns, not after the interpreter starts.
        os.setsid()
        for sig in (signal.SIGHUP, signal.SIGINT):
            signal.signal(sig, signal.SIG_IGN)
        null = os.open("/dev/null", os.O_RDWR)
        for fd in (0, 1, 2):
            os.dup2(null, fd)
        argv = pause.pause_argv(runtime)
        os.execv(argv[0], argv)
    except BaseException as e:  # anything but a successful exec must be reported
        try:
            _say(report_w, f"setup: {e}")
        finally:
            os._exit(1)


def _fork_pause(runtime: Path) -> tuple[int, int]:
    """Start the grandchild; return (report read fd, go write fd)."""
    report_r, report_w = os.pipe()
    go_r, go_w = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:
            os.close(report_r)
            os.close(go_w)
            os.setsid()  # out of the caller's process group: ^C does not reach it
            if os.fork() == 0:
                _grandchild(runtime, go_r, report_w)
        finally:
            os._exit(0)
    os.close(report_w)
    os.close(go_r)
    os.waitpid(pid, 0)
    return report_r, go_w


def _read_line(fd: int) -> str:
    buf = b""
    while not buf.endswith(b"\n"):
        chunk = os.read(fd, 1)
        if not chunk:
            break
        buf += chunk
    return buf.decode().strip()


def _unshare_error(errno_: int) -> EngineError:
    from rootless.engine.probes import userns_blockers

    what = f"cannot create a user namespace: {os.strerror(errno_)}"
    if errno_ == errno.ENOSPC:
        return EngineError(
            f"{what}: the user.max_user_namespaces limit is reached",
            hint="end unused namespaces, or as root: sysctl -w user.max_user_namespaces=28633",
        )
    blocker = userns_blockers()
    if blocker:
        return EngineError(f"{what}: {blocker[0]}", hint=blocker[1])
    return EngineError(
        what, hint="check the kernel has CONFIG_USER_NS and no LSM forbids user namespaces"
    )


def spawn(runtime: Path, plan: idmap.MapPlan) -> int:
    """Start a pause process with `plan`'s maps; return its pid once it runs."""
    report_r, go_w = _fork_pause(runtime)
    try:
        first = _read_line(report_r)
        if first.startswith("unshare "):
            raise _unshare_error(int(first.split()[1]))
        if not first.startswith("ready "):
            raise EngineError(f"the pause process died while starting ({first or 'no word'})")
        pid = int(first.split()[1])
        try:
            idmap.apply(plan, pid)
        except BaseException:
            os.close(go_w)  # it reads EOF and exits
            go_w = -1
            raise
        _say(go_w, "go")
        rest = _read_line(report_r)
        if rest:
            raise EngineError(f"the pause process failed to start: {rest}")
        return pid
    finally:
        os.close(report_r)
        if go_w >= 0:
            os.close(go_w)
