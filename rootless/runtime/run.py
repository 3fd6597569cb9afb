"""`run` (create + start + wait) and the waiting shared with `exec`: we are a child
subreaper, so the container process (forked by our child) is reparented to us and its
exit status is ours to collect. Signals we get are forwarded to it.
"""

from __future__ import annotations

import _signal
import os

from rootless import syscalls as sc
from rootless.runtime import lifecycle
from rootless.runtime.create import CreateOptions, create
from rootless.runtime.state import Store

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable

FORWARDED = (
    _signal.SIGTERM,
    _signal.SIGINT,
    _signal.SIGHUP,
    _signal.SIGQUIT,
    _signal.SIGUSR1,
    _signal.SIGUSR2,
    _signal.SIGWINCH,
)


def become_subreaper() -> None:
    sc.prctl(sc.PR_SET_CHILD_SUBREAPER, 1)


def exit_code(status: int) -> int:
    """waitpid status -> shell-style exit code (128+N when killed by signal N)."""
    code = os.waitstatus_to_exitcode(status)
    return 128 - code if code < 0 else code


def wait_for(pid: int, on_tick: Callable[[], None] | None = None) -> int:
    """Forward signals to `pid` and reap children until it exits; its exit code."""

    def forward(signum: int, _frame: object) -> None:
        try:
            os.kill(pid, signum)
        except ProcessLookupError:
            pass

    for s in FORWARDED:
        _signal.signal(s, forward)
    while True:
        try:
            got, status = os.waitpid(-1, os.WNOHANG if on_tick else 0)
        except ChildProcessError:
            return 255  # not our child after all: nothing to collect
        if got == pid:
            return exit_code(status)
        if got == 0 and on_tick is not None:
            on_tick()


def run(store: Store, opts: CreateOptions, detach: bool, keep: bool) -> int:
    from rootless.runtime.spec import load_bundle
    from rootless.runtime.state import validate_id

    validate_id(opts.cid)
    spec = load_bundle(opts.bundle)
    proxy: TerminalProxy | None = None
    if spec.process and spec.process.terminal and not opts.console_socket and not detach:
        proxy = TerminalProxy()
        opts.console_sock = proxy.child_end
    if not detach:
        become_subreaper()
    st = create(store, opts)
    if proxy is not None:
        proxy.receive()
    try:
        lifecycle.start(store, opts.cid)
    except BaseException:
        lifecycle.delete(store, opts.cid, force=True)
        raise
    if detach:
        return 0
    code = wait_for(st.pid, proxy.pump if proxy else None)
    if proxy is not None:
        proxy.close()
    if not keep:
        lifecycle.delete(store, opts.cid, force=True)
    return code


class TerminalProxy:
    """`run` of a terminal container without --console-socket: we receive the pty
    master ourselves and copy between it and our stdio."""

    def __init__(self) -> None:
        import socket

        self.parent_end, self.child_end = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        self.master = -1
        self.saved: list[object] | None = None

    def receive(self) -> None:
        from rootless.runtime.console import recv_fd

        self.child_end.close()
        self.master, _ = recv_fd(self.parent_end)
        self.parent_end.close()
        if os.isatty(0):
            import fcntl
            import termios
            import tty

            size = fcntl.ioctl(0, termios.TIOCGWINSZ, b"\0" * 8)
            fcntl.ioctl(self.master, termios.TIOCSWINSZ, size)
            self.saved = termios.tcgetattr(0)
            tty.setraw(0)

    def pump(self) -> None:
        import select

        r, _, _ = select.select([0, self.master], [], [], 0.05)
        try:
            if self.master in r:
                data = os.read(self.master, 65536)
                if data:
                    os.write(1, data)
            if 0 in r:
                data = os.read(0, 65536)
                if data:
                    os.write(self.master, data)
        except OSError:
            pass  # EIO once the slave side is gone

    def close(self) -> None:
        try:
            while True:
                data = os.read(self.master, 65536)
                if not data:
                    break
                os.write(1, data)
        except OSError:
            pass
        if self.saved is not None:
            import termios

            termios.tcsetattr(0, termios.TCSADRAIN, self.saved)  # type: ignore[arg-type]
        os.close(self.master)
