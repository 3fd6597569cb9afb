"""Terminals: the pty master goes to the --console-socket by SCM_RIGHTS, as runc does."""

from __future__ import annotations

import _socket
import fcntl
import os
import socket
import struct
import termios

from rootless.errors import EngineError


def connect(path: str) -> socket.socket:
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        s.connect(path)
    except OSError as e:
        s.close()
        raise EngineError(f"cannot connect to console socket {path}: {e.strerror}") from None
    return s


def send_fd(sock: _socket.socket, fd: int, name: str) -> None:
    import array

    sock.sendmsg(
        [name.encode()],
        [(_socket.SOL_SOCKET, _socket.SCM_RIGHTS, array.array("i", [fd]).tobytes())],
    )


def recv_fd(sock: socket.socket) -> tuple[int, str]:
    msg, fds, _flags, _addr = socket.recv_fds(sock, 4096, 1)
    if not fds:
        raise EngineError("console socket: no file descriptor received")
    return fds[0], msg.decode(errors="replace")


def setup_pty(console: _socket.socket, size: tuple[int, int] | None = None) -> None:
    """In the container (after pivot_root, so the pty belongs to its devpts): make a pty,
    send the master, make the slave our controlling terminal and stdio."""
    master, slave = os.openpty()
    if size and all(size):
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", size[0], size[1], 0, 0))
    try:
        send_fd(console, master, os.ttyname(slave))
    finally:
        os.close(master)
        console.close()
    fcntl.ioctl(slave, termios.TIOCSCTTY, 0)
    for fd in (0, 1, 2):
        os.dup2(slave, fd)
    if slave > 2:
        os.close(slave)
