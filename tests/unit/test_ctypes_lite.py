"""rootless.ctypes_lite gives syscalls.py the C types and libc calls of `ctypes` without
importing the package: same sizes and conversions, errno kept, buffers byte-exact."""

from __future__ import annotations

import ctypes
import errno
import os
import subprocess
import sys
from pathlib import Path

import pytest

from rootless import ctypes_lite as cl

REPO = Path(__file__).resolve().parent.parent.parent


@pytest.mark.parametrize(
    ("ours", "theirs"),
    [
        (cl.c_int, ctypes.c_int),
        (cl.c_uint, ctypes.c_uint),
        (cl.c_uint32, ctypes.c_uint32),
        (cl.c_long, ctypes.c_long),
        (cl.c_ulong, ctypes.c_ulong),
        (cl.c_size_t, ctypes.c_size_t),
        (cl.c_ushort, ctypes.c_ushort),
        (cl.c_char, ctypes.c_char),
        (cl.c_char_p, ctypes.c_char_p),
        (cl.c_void_p, ctypes.c_void_p),
    ],
)
def test_the_types_are_ctypes_own(ours: type, theirs: type) -> None:
    assert ours._type_ == theirs._type_  # type: ignore[attr-defined]
    assert ctypes.sizeof(ours) == ctypes.sizeof(theirs)
    assert ctypes.alignment(ours) == ctypes.alignment(theirs)


def test_libc_calls_return_values_and_keep_errno() -> None:
    libc = cl.Libc()
    assert libc.getpid() == os.getpid()
    assert libc.getpid is libc.getpid  # made once
    assert libc.close(-1) == -1
    assert cl.get_errno() == errno.EBADF
    libc.strlen.argtypes = [cl.c_char_p]
    libc.strlen.restype = cl.c_size_t
    assert libc.strlen(b"rootless") == 8
    with pytest.raises(AttributeError):
        libc.no_such_function_in_libc_xyz  # noqa: B018
    with pytest.raises(AttributeError):
        libc.__wrapped__  # noqa: B018


def test_structures_arrays_and_buffers() -> None:
    class Pair(cl.Structure):
        _fields_ = [("a", cl.c_uint32), ("b", cl.c_int * 2), ("p", cl.c_void_p)]

    pair = Pair(7)
    pair.b[1] = -3
    assert (pair.a, list(pair.b)) == (7, [0, -3])
    assert ctypes.sizeof(Pair) == 24  # 4 + 8, padded to 16 for the pointer
    data = b"\x00bpf\x00\xff" * 3
    buf = cl.string_buffer(data)
    assert ctypes.sizeof(buf) == len(data)
    assert ctypes.string_at(cl.addressof(buf), len(data)) == data
    pair.p = cl.addressof(buf)
    assert pair.p == cl.addressof(buf)
    assert cl.byref(pair) is not None and cl.POINTER(Pair) is cl.POINTER(Pair)


def test_syscalls_does_not_import_ctypes() -> None:
    """The point of the module: the seam loads without the ctypes package."""
    code = "import sys, rootless.syscalls; print('ctypes' in sys.modules)"
    env = dict(os.environ, PYTHONPATH=str(REPO))
    p = subprocess.run([sys.executable, "-S", "-c", code], capture_output=True, text=True, env=env)
    assert p.returncode == 0, p.stderr
    assert p.stdout.strip() == "False"
