"""The few libc calls Python's os module lacks: utimensat with UTIME_NOW/UTIME_OMIT."""

from __future__ import annotations

import ctypes
import ctypes.util
import os

UTIME_NOW = (1 << 30) - 1
UTIME_OMIT = (1 << 30) - 2
AT_FDCWD = -100
AT_SYMLINK_NOFOLLOW = 0x100


class Timespec(ctypes.Structure):
    _fields_ = [("tv_sec", ctypes.c_long), ("tv_nsec", ctypes.c_long)]


_libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
_libc.utimensat.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.POINTER(Timespec), ctypes.c_int]


def utimensat(path: str, times: tuple[tuple[int, int], tuple[int, int]] | None) -> None:
    """Set (atime, mtime) as (sec, nsec) pairs on `path` without following a symlink.
    nsec may be UTIME_NOW or UTIME_OMIT; None means both now."""
    arr = None
    if times is not None:
        arr = (Timespec * 2)(Timespec(*times[0]), Timespec(*times[1]))
    if _libc.utimensat(AT_FDCWD, os.fsencode(path), arr, AT_SYMLINK_NOFOLLOW) != 0:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err), path)
