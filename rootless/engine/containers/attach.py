"""The client side of the monitor's attach socket: relay stdio, raw tty, resize, detach keys.

Used by `run` (attached), `start -a` and `attach`. In tty mode the local terminal is put
in raw mode, so Ctrl-C reaches the container as a byte; without a tty, SIGINT/SIGTERM to
the CLI are forwarded to the container (Docker's sig-proxy).
"""

from __future__ import annotations

import contextlib
import os
import select
import signal
import sys
from _socket import AF_UNIX, SOCK_CLOEXEC, SOCK_SEQPACKET
from _socket import socket as Socket  # socket.py's class adds nothing we use, for ~1.5 ms
from collections.abc import Callable, Iterator

from rootless.engine.containers.record import ContainerDir
from rootless.engine.runspec import parse_detach_keys
from rootless.errors import EngineError
from rootless.monitor import protocol as P

DEFAULT_DETACH_KEYS = "ctrl-p,ctrl-q"


def connect(d: ContainerDir) -> Socket:
    """Connect through an O_PATH dir fd: socket paths are limited to 108 bytes."""
    s = Socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC)
    dfd = os.open(d.path, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        s.connect(f"/proc/self/fd/{dfd}/{P.ATTACH_SOCKET}")
    except OSError as e:
        s.close()
        raise EngineError(f"cannot attach: the monitor is not listening ({e.strerror})") from None
    finally:
        os.close(dfd)
    return s


@contextlib.contextmanager
def raw_terminal(fd: int) -> Iterator[None]:
    import termios
    import tty

    old = termios.tcgetattr(fd)
    # TCSADRAIN, not the default TCSAFLUSH: keep what the user typed before we got here.
    tty.setraw(fd, termios.TCSADRAIN)
    try:
        yield
    finally:
        termios.tcsetattr(fd, termios.TCSADRAIN, old)


def _winsize(fd: int) -> bytes | None:
    try:
        cols, rows = os.get_terminal_size(fd)
    except OSError:
        return None
    return f"{rows} {cols}".encode()


class AttachSession:
    def __init__(
        self,
        sock: Socket,
        *,
        tty: bool,
        stdin: bool,
        detach_keys: str = DEFAULT_DETACH_KEYS,
        on_signal: Callable[[int], None] | None = None,
    ) -> None:
        self.sock = sock
        self.tty = tty
        self.stdin = stdin
        self.keys = parse_detach_keys(detach_keys)
        self.on_signal = on_signal
        self.matched = 0  # how many detach-key bytes we are holding back
        self.detached = False

    def run(self) -> int | None:
        """Relay until the container exits (its code) or the user detaches (None)."""
        in_fd = sys.stdin.fileno() if self.stdin else -1
        use_raw = self.tty and in_fd >= 0 and os.isatty(in_fd)
        rd, wr = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        old_wakeup = signal.set_wakeup_fd(wr)
        handlers = {}
        pending: list[int] = []

        def note(sig: int, _frame: object) -> None:
            pending.append(sig)

        sigs = [signal.SIGWINCH] + ([] if self.tty else [signal.SIGINT, signal.SIGTERM])
        for s in sigs:
            handlers[s] = signal.signal(s, note)
        try:
            with raw_terminal(in_fd) if use_raw else contextlib.nullcontext():
                if self.tty and in_fd >= 0:
                    ws = _winsize(in_fd) or _winsize(sys.stdout.fileno())
                    if ws:
                        self._send(P.RESIZE, ws)
                return self._loop(in_fd, rd, pending)
        finally:
            signal.set_wakeup_fd(old_wakeup)
            for s, h in handlers.items():
                signal.signal(s, h)
            os.close(rd)
            os.close(wr)

    def _send(self, kind: int, data: bytes = b"") -> None:
        with contextlib.suppress(OSError):
            self.sock.send(bytes([kind]) + data)

    def _loop(self, in_fd: int, wake: int, pending: list[int]) -> int | None:
        fds = [self.sock.fileno(), wake] + ([in_fd] if in_fd >= 0 else [])
        out = sys.stdout.buffer
        err = sys.stderr.buffer
        while True:
            try:
                r, _, _ = select.select(fds, [], [])
            except InterruptedError:
                r = [wake]
            if wake in r:
                with contextlib.suppress(OSError):
                    os.read(wake, 512)
                while pending:
                    sig = pending.pop(0)
                    if sig == signal.SIGWINCH:
                        ws = _winsize(in_fd if in_fd >= 0 else sys.stdout.fileno())
                        if ws:
                            self._send(P.RESIZE, ws)
                    elif self.on_signal:
                        self.on_signal(sig)
            if self.sock.fileno() in r:
                try:
                    msg = self.sock.recv(P.MAX_MSG + 16)
                except OSError:
                    msg = b""
                if not msg:
                    return 255  # the monitor went away without an exit message
                kind, data = msg[0], msg[1:]
                if kind == P.STDOUT:
                    out.write(data)
                    out.flush()
                elif kind == P.STDERR:
                    err.write(data)
                    err.flush()
                elif kind == P.EXIT:
                    return int(data or b"0")
            if in_fd >= 0 and in_fd in r:
                try:
                    data = os.read(in_fd, 4096)
                except OSError:
                    data = b""
                if not data:
                    if not self.tty:
                        self._send(P.CLOSE_STDIN)
                    fds.remove(in_fd)
                    in_fd = -1
                    continue
                kept = self._filter_detach(data)
                if kept is None:
                    self.detached = True
                    return None
                if kept:
                    self._send(P.STDIN, kept)

    def _filter_detach(self, data: bytes) -> bytes | None:
        """Hold back a partial detach sequence; None once it is complete."""
        if not self.keys:
            return data
        out = bytearray()
        for b in data:
            if b == self.keys[self.matched]:
                self.matched += 1
                if self.matched == len(self.keys):
                    return None
                continue
            if self.matched:
                out += self.keys[: self.matched]
                self.matched = 0
                if b == self.keys[0]:
                    self.matched = 1
                    continue
            out.append(b)
        return bytes(out)

    def wait_runtime_deleted(self, timeout: float = 10.0) -> bool:
        """After EXIT: wait for the monitor to say the runtime's state is deleted."""
        self.sock.settimeout(timeout)
        try:
            while True:
                msg = self.sock.recv(P.MAX_MSG + 16)
                if not msg:
                    return False
                if msg[0] == P.RUNTIME_DELETED:
                    return True
        except OSError:
            return False
        finally:
            self.sock.settimeout(None)

    def cleaned(self) -> None:
        """Tell the monitor we tore the container down ourselves."""
        self._send(P.CLEANED)

    def close(self) -> None:
        self.sock.close()
