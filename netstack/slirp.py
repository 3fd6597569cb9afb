"""slirp4netns driven as a subprocess: outbound networking for one network namespace.

Lifetime: slirp4netns exits when the write end of its --exit-fd pipe closes, and the
only holder of that end is the process that started it. So it can never outlive its
owner (the per-network daemon or a container's sidecar), even after a SIGKILL.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import socket
import subprocess
from dataclasses import dataclass, field, replace
from pathlib import Path

SLIRP_GUEST = "10.0.2.100"  # slirp4netns --configure gives the tap this address
SLIRP_HOST = "10.0.2.2"  # the host's loopback, when --disable-host-loopback is off
SLIRP_DNS = "10.0.2.3"


class SlirpError(OSError):
    pass


@dataclass(frozen=True)
class SlirpOptions:
    mtu: int = 65520
    cidr: str = "10.0.2.0/24"
    host_loopback: bool = False  # allow 10.0.2.2 -> host 127.0.0.1 (tests need it)
    ipv6: bool = False
    sandbox: bool = True
    seccomp: bool = True
    tap: str = "tap0"
    extra: tuple[str, ...] = field(default_factory=tuple)


def binary() -> str:
    path = shutil.which("slirp4netns")
    if not path:
        raise SlirpError("slirp4netns not found: install it (apt-get install slirp4netns)")
    return path


def argv(
    netns: str, api_socket: str | None, opts: SlirpOptions, exit_fd: int, ready_fd: int
) -> list[str]:
    a = [binary(), "--configure", f"--mtu={opts.mtu}", f"--cidr={opts.cidr}"]
    a += [f"--exit-fd={exit_fd}", f"--ready-fd={ready_fd}", "--netns-type=path"]
    if not opts.host_loopback:
        a.append("--disable-host-loopback")
    if opts.ipv6:
        a.append("--enable-ipv6")
    if opts.sandbox:
        a.append("--enable-sandbox")
    if opts.seccomp:
        a.append("--enable-seccomp")
    if api_socket:
        a.append(f"--api-socket={api_socket}")
    return [*a, *opts.extra, netns, opts.tap]


class Slirp:
    """A running slirp4netns attached to the namespace at `netns`."""

    def __init__(self, proc: subprocess.Popen[bytes], exit_w: int, api_socket: str | None):
        self.proc = proc
        self._exit_w = exit_w
        self.api_socket = api_socket

    @property
    def pid(self) -> int:
        return self.proc.pid

    @classmethod
    def start(
        cls,
        netns: str | os.PathLike[str],
        opts: SlirpOptions | None = None,
        api_socket: str | os.PathLike[str] | None = None,
        timeout: float = 10.0,
    ) -> Slirp:
        opts = opts or SlirpOptions()
        api = os.fspath(api_socket) if api_socket else None
        if api:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(api)
        exit_r, exit_w = os.pipe2(os.O_CLOEXEC)
        ready_r, ready_w = os.pipe2(os.O_CLOEXEC)
        try:
            proc = subprocess.Popen(
                argv(os.fspath(netns), api, opts, exit_r, ready_w),
                pass_fds=(exit_r, ready_w),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
                start_new_session=True,
            )
        except BaseException:
            for fd in (exit_r, exit_w, ready_r, ready_w):
                os.close(fd)
            raise
        os.close(exit_r)
        os.close(ready_w)
        self = cls(proc, exit_w, api)
        try:
            ready = _read_with_timeout(ready_r, timeout)
        finally:
            os.close(ready_r)
        if ready != b"1":
            err = self.stop()
            if opts.seccomp and "seccomp" in err.lower():
                # --enable-seccomp is "experimental": run without it where unsupported.
                return cls.start(netns, replace(opts, seccomp=False), api_socket, timeout)
            noise = ("sent tapfd", "received tapfd", "do_slirp", "parent failed")
            lines = [ln for ln in err.splitlines() if ln.strip() and not ln.startswith(noise)]
            raise SlirpError(f"slirp4netns did not start: {'; '.join(lines) or 'no output'}")
        return self

    def stop(self, timeout: float = 5.0) -> str:
        """Close the exit pipe (slirp4netns exits by itself), reap, return its stderr."""
        if self._exit_w >= 0:
            os.close(self._exit_w)
            self._exit_w = -1
        try:
            _, err = self.proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            _, err = self.proc.communicate()
        return (err or b"").decode(errors="replace")

    # --- API socket (add_hostfwd etc.) ---

    def api(self, request: dict[str, object]) -> dict[str, object]:
        if not self.api_socket:
            raise SlirpError("slirp4netns was started without an API socket")
        return api_call(self.api_socket, request)

    def add_hostfwd(self, proto: str, host_ip: str, host_port: int, guest_port: int) -> int:
        reply = self.api(
            {
                "execute": "add_hostfwd",
                "arguments": {
                    "proto": proto,
                    "host_addr": host_ip,
                    "host_port": host_port,
                    "guest_port": guest_port,
                },
            }
        )
        ret = reply.get("return")
        if not isinstance(ret, dict) or "id" not in ret:
            raise SlirpError(f"add_hostfwd {host_ip}:{host_port}: {reply.get('error', reply)}")
        return int(ret["id"])


def api_call(path: str | os.PathLike[str], request: dict[str, object]) -> dict[str, object]:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(5)
        s.connect(os.fspath(path))
        s.sendall(json.dumps(request).encode())
        s.shutdown(socket.SHUT_WR)
        data = b""
        while chunk := s.recv(65536):
            data += chunk
    reply: dict[str, object] = json.loads(data or b"{}")
    return reply


def _read_with_timeout(fd: int, timeout: float) -> bytes:
    import select

    r, _, _ = select.select([fd], [], [], timeout)
    return os.read(fd, 1) if r else b""


def api_socket_path(rundir: Path) -> Path:
    return rundir / "slirp4netns.sock"
