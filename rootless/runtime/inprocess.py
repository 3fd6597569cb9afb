"""The runtime's create/start/delete as function calls, for a supervisor (the engine's
monitor) that would otherwise start `rootless-runtime` three times per container.

The calls leave exactly what the command line leaves under the same --root (state.json,
exec.fifo, lock, the pid file), so `rootless-runtime state|kill|exec|delete` work on
the container afterwards. The caller must be single-threaded (create forks) and should
be a child subreaper: the container's init is reparented to it, as to runc's caller.
"""

from __future__ import annotations

import _socket
import sys

from rootless.runtime.create import CreateOptions, create
from rootless.runtime.state import Store


def preload() -> None:
    """Import now what create/start load on first use (the `rootless-runtime` command
    keeps them lazy): a monitor waiting for its go has the time, and imports after
    create's fork would be paid by the container's stage 1 and init, on the start path."""
    import fcntl  # noqa: F401  (lo up in a new network namespace)

    from rootless.runtime import bpfcache, hooks, lifecycle, process  # noqa: F401


class Created:
    """A created (not yet started) container."""

    __slots__ = ("console_master", "pid")

    def __init__(self, pid: int, console_master: int = -1) -> None:
        self.pid = pid
        self.console_master = console_master  # the pty master with process.terminal, else -1


def create_container(
    root: str,
    cid: str,
    bundle: str,
    *,
    pid_file: str | None = None,
    stdio: tuple[int, int, int] | None = None,
    terminal: bool = False,
) -> Created:
    """`rootless-runtime --root ROOT create --bundle BUNDLE [--pid-file F] ID`, with the
    container's stdin/stdout/stderr given as fds (the command line passes its own), or
    with `terminal` the pty master returned instead of sent to a --console-socket."""
    ours, theirs = (
        _socket.socketpair(_socket.AF_UNIX, _socket.SOCK_STREAM) if terminal else (None, None)
    )
    opts = CreateOptions(cid, bundle, pid_file=pid_file, console_sock=theirs, stdio=stdio)
    try:
        st = create(Store(root), opts)
        master = _receive_master(ours) if ours is not None else -1
    finally:
        for sock in (ours, theirs):
            if sock is not None:
                sock.close()
    return Created(st.pid, master)


def receive_fd(sock: _socket.socket) -> int:
    """The one fd a peer sent on `sock` with SCM_RIGHTS (a pty master), else -1.
    `_socket` only: the monitor, which also receives runc's console this way, keeps the
    `socket` module (enum, selectors...) out of its memory."""
    _msg, anc, _flags, _addr = sock.recvmsg(4096, _socket.CMSG_SPACE(4))
    for level, kind, data in anc:
        if level == _socket.SOL_SOCKET and kind == _socket.SCM_RIGHTS:
            return int.from_bytes(data[:4], sys.byteorder)
    return -1


def _receive_master(sock: _socket.socket) -> int:
    """The init sent the master before reporting ready, so it is already queued."""
    master = receive_fd(sock)
    if master < 0:
        from rootless.errors import EngineError

        raise EngineError("the container's init sent no terminal")
    return master


def start_container(root: str, cid: str) -> None:
    """`rootless-runtime --root ROOT start ID`."""
    from rootless.runtime import lifecycle

    lifecycle.start(Store(root), cid)


def delete_container(root: str, cid: str) -> None:
    """`rootless-runtime --root ROOT delete --force ID`; no error when it is already gone."""
    from rootless.errors import NotFound
    from rootless.runtime import lifecycle

    try:
        lifecycle.delete(Store(root), cid, force=True)
    except NotFound:
        pass
