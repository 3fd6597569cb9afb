"""`exec`: run another process in a running container.

We open the container's namespace files, become non-dumpable, join the user namespace
first (the others are owned by it), then mount/pid/net/uts/ipc/cgroup, and fork: only a
child enters the pid namespace. That child sets up the process as `create` does.
"""

from __future__ import annotations

import _socket
import os

from rootless import syscalls as sc
from rootless.errors import Conflict, EngineError
from rootless.runtime.channel import Channel
from rootless.runtime.create import NS_FLAGS, NS_PROC_NAMES
from rootless.runtime.spec import Process, parse_spec
from rootless.runtime.state import Store, write_atomic

TYPE_CHECKING = False
if TYPE_CHECKING:
    from rootless.runtime.bpfcache import Program
    from rootless.runtime.run import TerminalProxy

# The user namespace first: it owns the others.
JOIN_ORDER = ("user", "ipc", "uts", "network", "cgroup", "pid", "mount")


class ExecOptions:
    __slots__ = ("cid", "console_socket", "detach", "pid_file", "preserve_fds", "process")

    def __init__(
        self,
        cid: str,
        process: Process,
        detach: bool = False,
        pid_file: str | None = None,
        console_socket: str | None = None,
        preserve_fds: int = 0,
    ) -> None:
        self.cid = cid
        self.process = process
        self.detach = detach
        self.pid_file = pid_file
        self.console_socket = console_socket
        self.preserve_fds = preserve_fds


def _namespaces_to_join(pid: int) -> list[tuple[str, int]]:
    """(type, fd) for each namespace of pid that differs from ours."""
    out = []
    for kind in JOIN_ORDER:
        name = NS_PROC_NAMES[kind]
        try:
            if os.stat(f"/proc/{pid}/ns/{name}").st_ino == os.stat(f"/proc/self/ns/{name}").st_ino:
                continue
            out.append((kind, os.open(f"/proc/{pid}/ns/{name}", os.O_RDONLY | os.O_CLOEXEC)))
        except FileNotFoundError:
            continue
    return out


def join_namespaces(nsfds: list[tuple[str, int]]) -> None:
    # Non-dumpable before joining: the container must not ptrace us or read our memory.
    sc.prctl(sc.PR_SET_DUMPABLE, 0)
    for kind, fd in sorted(nsfds, key=lambda k: JOIN_ORDER.index(k[0])):
        sc.setns(fd, NS_FLAGS[kind])
        os.close(fd)


def exec_in(store: Store, opts: ExecOptions) -> int:
    from rootless.runtime.run import become_subreaper, wait_for

    st = store.load(opts.cid)
    status = store.status(st)
    if status == "stopped":
        raise Conflict(f"cannot exec in a stopped container {opts.cid}")
    spec = parse_spec(st.config, st.bundle)
    proc = opts.process
    console = None
    proxy: TerminalProxy | None = None
    if proc.terminal and opts.console_socket:
        from rootless.runtime.console import connect

        console = connect(opts.console_socket)
    elif proc.terminal:
        if opts.detach:
            raise EngineError("--tty --detach needs --console-socket")
        # As runc: the pty's master comes to us, we copy it to and from our stdio.
        from rootless.runtime.run import TerminalProxy

        proxy = TerminalProxy()
        console = proxy.child_end
    nsfds = _namespaces_to_join(st.pid)
    if not opts.detach:
        become_subreaper()
    from rootless.runtime.create import prepare_seccomp, seccomp_cache

    filt = prepare_seccomp(spec.seccomp, proc.no_new_privileges, seccomp_cache(store))
    parent, child = Channel.pair()
    rootless_euid = os.geteuid() != 0
    pid = os.fork()
    if pid == 0:
        parent.close()
        _child(child, nsfds, proc, filt, console, opts.preserve_fds, rootless_euid)
    child.close()
    for _, fd in nsfds:
        os.close(fd)
    if console is not None:
        console.close()
    try:
        # "pid" (from the forking child) and "ready" (from the process) in either order.
        target = 0
        ready = False
        while not (target and ready):
            msg = parent.recv("exec process")
            target = int(msg.get("pid", target))
            ready = ready or "ready" in msg
    finally:
        os.waitpid(pid, 0)
        parent.close()
    if opts.pid_file:
        write_atomic(os.path.abspath(opts.pid_file), str(target).encode())
    if opts.detach:
        return 0
    if proxy is None:
        return wait_for(target)
    proxy.receive()
    try:
        return wait_for(target, proxy.pump)
    finally:
        proxy.close()


def _child(
    ch: Channel,
    nsfds: list[tuple[str, int]],
    proc: Process,
    filt: Program | None,
    console: _socket.socket | None,
    preserve_fds: int,
    rootless_euid: bool,
) -> None:
    try:
        from rootless.runtime.process import (
            apply_rlimits,
            check_executable,
            finalize_and_exec,
            reset_signals,
            set_oom_score_adj,
        )

        reset_signals()
        set_oom_score_adj(proc)  # while /proc/self is still ours to write
        if console is not None:
            from rootless.runtime.console import setup_pty
        join_namespaces(nsfds)
        pid = os.fork()
        if pid:
            ch.send(pid=pid)
            os._exit(0)
        os.setsid()
        if console is not None:
            setup_pty(console, proc.console_size)
        apply_rlimits(proc)
        check_executable(proc)
        ch.send(ready=True)
        ch.close()
        finalize_and_exec(proc, filt, preserve_fds, rootless_euid)
    except BaseException as e:
        from rootless.runtime.create import _describe

        try:
            ch.send(error=_describe(e))
        except OSError:
            os.write(2, f"rootless-runtime exec: {_describe(e)}\n".encode())
    finally:
        os._exit(1)
