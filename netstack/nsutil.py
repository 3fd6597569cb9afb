"""Network namespace files and entering them.

A network namespace outlives its processes when its nsfs file is bind-mounted onto a
regular file (what `ip netns add` and Podman do). We create them inside the engine's
user + mount namespace, so the bind mounts are private to it.

setns(CLONE_NEWNET) only moves the calling thread, so `call_in()` runs work in a
throwaway thread while the others stay in the original namespace.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import os
import subprocess
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")

CLONE_NEWNET = 0x40000000
MS_BIND = 4096
MNT_DETACH = 2

_libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
_libc.setns.argtypes = [ctypes.c_int, ctypes.c_int]
_libc.unshare.argtypes = [ctypes.c_int]
_libc.mount.argtypes = [ctypes.c_char_p] * 3 + [ctypes.c_ulong, ctypes.c_char_p]
_libc.umount2.argtypes = [ctypes.c_char_p, ctypes.c_int]


def _check(ret: int, what: str) -> None:
    if ret == -1:
        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")


def setns(fd: int) -> None:
    _check(_libc.setns(fd, CLONE_NEWNET), "setns(net)")


def create(path: str | os.PathLike[str]) -> Path:
    """Create a new, empty network namespace held by a bind mount at `path`."""
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    os.close(os.open(p, os.O_RDONLY | os.O_CREAT | os.O_CLOEXEC, 0o600))
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # child: unshare, bind our new netns onto the file, report errno
        code = 0
        try:
            os.close(r)
            _check(_libc.unshare(CLONE_NEWNET), "unshare(net)")
            src = f"/proc/{os.getpid()}/ns/net".encode()
            _check(_libc.mount(src, os.fsencode(p), None, MS_BIND, None), "bind netns")
        except OSError as e:
            code = e.errno or 1
        os.write(w, str(code).encode())
        os._exit(0)
    os.close(w)
    try:
        code = int(os.read(r, 16) or b"1")
    finally:
        os.close(r)
        os.waitpid(pid, 0)
    if code:
        with contextlib.suppress(OSError):
            p.unlink()
        raise OSError(code, f"cannot create network namespace at {p}: {os.strerror(code)}")
    return p


def remove(path: str | os.PathLike[str]) -> None:
    """Unmount and delete a namespace file; a missing one is fine (idempotent)."""
    p = Path(path)
    ret = _libc.umount2(os.fsencode(p), MNT_DETACH)
    if ret == -1 and ctypes.get_errno() not in (22, 2):  # EINVAL: not mounted; ENOENT
        err = ctypes.get_errno()
        raise OSError(err, f"umount {p}: {os.strerror(err)}")
    with contextlib.suppress(FileNotFoundError):
        p.unlink()


def is_netns(path: str | os.PathLike[str]) -> bool:
    """True when `path` is a live namespace (nsfs) rather than the empty placeholder."""
    try:
        return os.stat(path).st_dev != os.stat(Path(path).parent).st_dev
    except OSError:
        return False


def call_in(path: str | os.PathLike[str], fn: Callable[[], T]) -> T:
    """Run `fn()` in a short-lived thread that has joined the namespace at `path`.

    A thread cannot always come back: the host's namespace belongs to the initial user
    namespace, where we hold no capabilities, so setns() back to it gives EPERM. A
    thread that exits takes its namespace membership with it.
    """
    result: list[T] = []
    error: list[BaseException] = []

    def body() -> None:
        try:
            fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
            try:
                setns(fd)
            finally:
                os.close(fd)
            result.append(fn())
        except BaseException as e:
            error.append(e)

    t = threading.Thread(target=body, name="netns", daemon=True)
    t.start()
    t.join()
    if error:
        raise error[0]
    return result[0]


SYSTEM_TOOL_DIRS = "/usr/sbin:/sbin:/usr/bin:/bin"


def system_tool(name: str) -> str:
    """Absolute path of an admin tool (nft lives in /usr/sbin, which an ordinary user's
    PATH usually lacks)."""
    import shutil

    path = os.environ.get("PATH", "") + ":" + SYSTEM_TOOL_DIRS
    return shutil.which(name, path=path) or name


def run_in(path: str | os.PathLike[str], argv: Sequence[str], **kw: Any) -> Any:
    """subprocess.run inside the namespace at `path` (for nft/ip)."""
    if "/" not in argv[0]:
        argv = [system_tool(argv[0]), *argv[1:]]
    fd = os.open(path, os.O_RDONLY)
    try:
        return subprocess.run(argv, preexec_fn=lambda: setns(fd), pass_fds=(fd,), **kw)
    finally:
        os.close(fd)


SIOCGIFFLAGS = 0x8913
SIOCSIFFLAGS = 0x8914
IFF_UP = 0x1


def loopback_up() -> None:
    """Bring `lo` up in the current thread's namespace."""
    import fcntl
    import socket
    import struct

    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        req = struct.pack("16sH14x", b"lo", 0)
        flags = struct.unpack("16sH14x", fcntl.ioctl(s, SIOCGIFFLAGS, req))[1]
        fcntl.ioctl(s, SIOCSIFFLAGS, struct.pack("16sH14x", b"lo", flags | IFF_UP))


def write_sysctl(name: str, value: str) -> None:
    """Write a /proc/sys value for the current thread's network namespace.

    /proc/sys/net resolves against the opener's namespace, so open it after setns.
    The write is checked itself (errors may otherwise surface only at close).
    """
    fd = os.open("/proc/sys/" + name.replace(".", "/"), os.O_WRONLY | os.O_CLOEXEC)
    try:
        os.write(fd, value.encode())
    finally:
        os.close(fd)


def mapped_gid_range(gid_map: str | None = None) -> tuple[int, int]:
    """The contiguous gid range starting at 0 in our user namespace (for ping_group_range)."""
    if gid_map is None:
        try:
            gid_map = Path("/proc/self/gid_map").read_text()
        except OSError:
            return (0, 0)
    spans = sorted(
        (int(a), int(c)) for a, _, c in (r.split() for r in gid_map.splitlines() if r.strip())
    )
    hi = 0
    for inner, count in spans:
        if inner > hi:
            break
        hi = max(hi, inner + count)
    # The kernel refuses values past the mapped range (and 2^31-1 even on the host).
    return (0, min(max(hi - 1, 0), 65535))
