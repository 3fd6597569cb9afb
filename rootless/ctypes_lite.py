"""The part of `ctypes` that syscalls.py uses, on the C module `_ctypes` the `ctypes`
package itself is built on.

`import ctypes` defines ~30 classes (every C type, CFUNCTYPE prototypes for memmove,
memset, cast..., big/little endian structures): ~3.5 ms, paid on the CLI's serial path
before it joins the user namespace and again in every monitor before it can create a
container. These are the same C types (`_SimpleCData` subclasses with the type codes
`ctypes` gives them) and the same foreign-function objects `ctypes.CDLL` makes; only
those we call.
"""

from __future__ import annotations

import _ctypes
import os
from _ctypes import POINTER, Array, Structure, addressof, byref, get_errno

__all__ = [
    "POINTER",
    "Array",
    "Libc",
    "Structure",
    "addressof",
    "byref",
    "c_char",
    "c_char_p",
    "c_int",
    "c_long",
    "c_size_t",
    "c_uint",
    "c_uint32",
    "c_ulong",
    "c_ushort",
    "c_void_p",
    "get_errno",
    "string_buffer",
]


class c_int(_ctypes._SimpleCData):
    _type_ = "i"


class c_uint(_ctypes._SimpleCData):
    _type_ = "I"


class c_long(_ctypes._SimpleCData):
    _type_ = "l"


class c_ulong(_ctypes._SimpleCData):
    _type_ = "L"


class c_ushort(_ctypes._SimpleCData):
    _type_ = "H"


class c_char(_ctypes._SimpleCData):
    _type_ = "c"


class c_char_p(_ctypes._SimpleCData):
    _type_ = "z"


class c_void_p(_ctypes._SimpleCData):
    _type_ = "P"


c_uint32 = c_uint  # Linux: int is 32 bits, long and size_t 64 (LP64), as ctypes sets them
c_size_t = c_ulong


class _Function(_ctypes.CFuncPtr):
    """A libc function, as `ctypes.CDLL(None, use_errno=True)` returns them."""

    _flags_ = _ctypes.FUNCFLAG_CDECL | _ctypes.FUNCFLAG_USE_ERRNO
    _restype_ = c_int


class Libc:
    """The interpreter's own libc (dlopen(NULL): its symbols are loaded already);
    `libc.NAME` is the function NAME, made once."""

    def __init__(self) -> None:
        self._handle = _ctypes.dlopen(None, os.RTLD_NOW)  # type: ignore[arg-type]

    def __getattr__(self, name: str) -> _Function:
        if name.startswith("__"):
            raise AttributeError(name)
        func = _Function((name, self))  # type: ignore[arg-type]  # CDLL is duck-typed
        setattr(self, name, func)
        return func


def string_buffer(data: bytes) -> Array[c_char]:
    """A C copy of `data` (NUL bytes included), as ctypes.create_string_buffer(data,
    len(data))."""
    return (c_char * len(data)).from_buffer_copy(data)
