"""The last steps before the container process runs: rlimits, user and groups,
capabilities, no_new_privs, seccomp, fd hygiene, and execve. Shared by create and exec.
"""

from __future__ import annotations

import _signal  # not `signal`: its enums cost start-up time
import errno
import fcntl
import os
import resource

from rootless import syscalls as sc
from rootless.errors import EngineError
from rootless.runtime import caps
from rootless.runtime.spec import Process

RLIMITS = {
    name: getattr(resource, name)
    for name in dir(resource)
    if name.startswith("RLIMIT_") and isinstance(getattr(resource, name), int)
}

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


class ProcessError(EngineError):
    """The container process cannot be started as configured."""


def reset_signals() -> None:
    """Python ignores SIGPIPE and SIGXFSZ and handles SIGINT; ignored dispositions survive
    execve, so put every signal back to its default like a fresh process."""
    _signal.set_wakeup_fd(-1)  # a caller's (the monitor's) SIGCHLD pipe is not ours
    for sig in range(1, _signal.NSIG):
        if sig in (_signal.SIGKILL, _signal.SIGSTOP):
            continue
        try:
            _signal.signal(sig, _signal.SIG_DFL)
        except (OSError, ValueError):
            pass
    _signal.pthread_sigmask(_signal.SIG_SETMASK, [])


def apply_rlimits(proc: Process) -> None:
    for r in proc.rlimits:
        res = RLIMITS.get(r.type)
        if res is None:
            raise ProcessError(f"unknown rlimit {r.type}")
        try:
            resource.setrlimit(res, (r.soft, r.hard))
        except (OSError, ValueError) as e:
            raise ProcessError(f"setrlimit {r.type} {r.soft}:{r.hard}: {e}") from None


def set_oom_score_adj(proc: Process) -> None:
    if proc.oom_score_adj is None:
        return
    try:
        sc.write_proc("/proc/self/oom_score_adj", str(proc.oom_score_adj))
    except OSError as e:
        raise ProcessError(f"oomScoreAdj {proc.oom_score_adj}: {e.strerror}") from None


def build_env(proc: Process) -> dict[str, str]:
    env: dict[str, str] = {}
    for item in proc.env:
        k, sep, v = item.partition("=")
        if sep:
            env[k] = v
    if "HOME" not in env:
        env["HOME"] = _passwd_home(proc.user.uid) or "/"
    return env


def _passwd_home(uid: int) -> str | None:
    """HOME from the container's /etc/passwd (call after pivot_root), as runc sets it."""
    try:
        with open("/etc/passwd", encoding="utf-8", errors="replace") as f:
            for line in f:
                parts = line.rstrip("\n").split(":")
                if len(parts) >= 6 and parts[2] == str(uid):
                    return parts[5]
    except OSError:
        pass
    return None


def resolve_executable(arg0: str, env: dict[str, str]) -> str:
    """The path execve will run, looked up in the container's PATH (before seccomp)."""
    if "/" in arg0:
        try:
            mode = os.stat(arg0).st_mode
        except OSError as e:
            reason = (
                "no such file or directory"
                if e.errno == errno.ENOENT
                else (e.strerror or "").lower()
            )
            raise ProcessError(f'exec: "{arg0}": stat {arg0}: {reason}') from None
        if not _is_executable(mode):
            # The engine maps "permission denied" to 126 (cannot invoke), as runc's init.
            raise ProcessError(f'exec: "{arg0}": permission denied')
        return arg0
    for d in env.get("PATH", "/usr/local/bin:/usr/bin:/bin").split(":"):
        cand = os.path.join(d or ".", arg0)
        try:
            if _is_executable(os.stat(cand).st_mode):
                return cand
        except OSError:
            continue
    raise ProcessError(f'exec: "{arg0}": executable file not found in $PATH')


def _is_executable(mode: int) -> bool:
    """Go's exec.LookPath test (what runc applies): not a directory, some x bit set."""
    return (mode & 0o170000) != 0o040000 and bool(mode & 0o111)


def check_executable(proc: Process) -> None:
    cwd = os.getcwd()
    try:
        os.chdir(proc.cwd)
        resolve_executable(proc.args[0], build_env(proc))
    finally:
        os.chdir(cwd)


def setup_user(proc: Process, rootless_euid: bool) -> None:
    """Groups, gid, uid. Like runc, a runtime started by a non-root user leaves the
    inherited supplementary groups alone unless the process asks for additional gids
    (which we, unlike runc, can set when newgidmap left setgroups allowed)."""
    u = proc.user
    with open("/proc/self/setgroups") as f:
        deny = f.read().strip() == "deny"
    if u.additional_gids and deny:
        raise ProcessError(
            "additionalGids need setgroups, which this user namespace denies "
            "(a single-id mapping: map more ids with newgidmap)"
        )
    if u.additional_gids or (not deny and not rootless_euid):
        os.setgroups(u.additional_gids)
    os.setresgid(u.gid, u.gid, u.gid)
    os.setresuid(u.uid, u.uid, u.uid)


def cloexec_from(first: int) -> None:
    """Mark every fd >= first close-on-exec: nothing of ours leaks into the container."""
    for name in os.listdir("/proc/self/fd"):
        fd = int(name)
        if fd >= first:
            try:
                flags = fcntl.fcntl(fd, fcntl.F_GETFD)
                fcntl.fcntl(fd, fcntl.F_SETFD, flags | fcntl.FD_CLOEXEC)
            except OSError:
                pass


def finalize_and_exec(
    proc: Process,
    seccomp_filter: Any | None,
    preserve_fds: int = 0,
    rootless_euid: bool = False,
) -> None:
    """From here on we are the container process. Never returns.

    `seccomp_filter` is built by the caller while the runtime's own files are still
    reachable (after pivot_root or setns(mnt) nothing can be imported any more).
    """
    if proc.user.umask is not None:
        os.umask(proc.user.umask)
    else:
        os.umask(0o022)
    env = build_env(proc)
    os.chdir(proc.cwd)
    exe = resolve_executable(proc.args[0], env)
    filt = seccomp_filter
    if filt is not None and not proc.no_new_privileges:
        # Without no_new_privs the filter needs CAP_SYS_ADMIN: load it before the
        # capabilities go (runc does the same).
        filt.load()
        filt = None
    top = caps.last_cap()
    c = proc.capabilities
    if c is not None:
        caps.drop_bounding(caps.mask(c.bounding, top), top)
    sc.prctl(sc.PR_SET_KEEPCAPS, 1)
    setup_user(proc, rootless_euid)
    sc.prctl(sc.PR_SET_KEEPCAPS, 0)
    if c is not None:
        caps.apply_sets(
            caps.mask(c.effective, top),
            caps.mask(c.permitted, top),
            caps.mask(c.inheritable, top),
            caps.mask(c.ambient, top),
            top,
        )
    if proc.no_new_privileges:
        sc.prctl(sc.PR_SET_NO_NEW_PRIVS, 1)
    cloexec_from(3 + preserve_fds)
    reset_signals()
    if filt is not None:
        filt.load()  # last: as few syscalls as possible run under the container's filter
    os.execve(exe, proc.args, env)
