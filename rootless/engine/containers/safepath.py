"""Open paths inside a container's rootfs without ever leaving it.

openat2(RESOLVE_IN_ROOT) makes the kernel resolve "..", absolute symlinks and relative
symlinks as if the rootfs were "/": a container's `etc/passwd -> /etc/shadow` or
`x -> ../../../../home` stays inside. Used by cp, user lookup and diff.
"""

from __future__ import annotations

import ctypes
import os

SYS_OPENAT2 = 437
RESOLVE_NO_MAGICLINKS = 0x02
RESOLVE_IN_ROOT = 0x10


class _OpenHow(ctypes.Structure):
    _fields_ = [("flags", ctypes.c_uint64), ("mode", ctypes.c_uint64), ("resolve", ctypes.c_uint64)]


_libc = ctypes.CDLL(None, use_errno=True)
_libc.syscall.restype = ctypes.c_long


def openat2(dirfd: int, path: str, flags: int, mode: int = 0, resolve: int = 0) -> int:
    how = _OpenHow(flags | os.O_CLOEXEC, mode, resolve)
    fd = _libc.syscall(
        ctypes.c_long(SYS_OPENAT2),
        ctypes.c_int(dirfd),
        ctypes.c_char_p(os.fsencode(path)),
        ctypes.byref(how),
        ctypes.c_size_t(ctypes.sizeof(how)),
    )
    if fd < 0:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err), path)
    return int(fd)


def open_in_root(root: str | os.PathLike[str], rel: str, flags: int, mode: int = 0) -> int:
    """Open `rel` (absolute or relative) as seen from inside `root`."""
    rfd = os.open(root, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        return openat2(
            rfd, rel.lstrip("/") or ".", flags, mode, RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS
        )
    finally:
        os.close(rfd)
