"""Turn a driver's change list into an OCI layer tar (whiteouts as `.wh.` files)."""

from __future__ import annotations

import os
import stat
import tarfile
from collections.abc import Iterable
from typing import IO

from rootless.storage.driver import Change

# Overlay's own bookkeeping xattrs never go into an image.
_SKIP_XATTR_PREFIXES = ("user.overlay.", "trusted.overlay.", "user.fuseoverlayfs.")


def _tarinfo(path: str, src: str, hardlinks: dict[tuple[int, int], str]) -> tarfile.TarInfo:
    st = os.lstat(src)
    ti = tarfile.TarInfo(path)
    ti.mode = stat.S_IMODE(st.st_mode)
    ti.uid, ti.gid = st.st_uid, st.st_gid
    ti.mtime = st.st_mtime
    if stat.S_ISREG(st.st_mode):
        key = (st.st_dev, st.st_ino)
        if st.st_nlink > 1 and key in hardlinks:
            ti.type = tarfile.LNKTYPE
            ti.linkname = hardlinks[key]
        else:
            ti.type = tarfile.REGTYPE
            ti.size = st.st_size
            if st.st_nlink > 1:
                hardlinks[key] = path
    elif stat.S_ISDIR(st.st_mode):
        ti.type = tarfile.DIRTYPE
    elif stat.S_ISLNK(st.st_mode):
        ti.type = tarfile.SYMTYPE
        ti.linkname = os.readlink(src)
    elif stat.S_ISFIFO(st.st_mode):
        ti.type = tarfile.FIFOTYPE
    else:
        raise ValueError(f"{src}: unsupported file type for a layer")
    xattrs = {}
    try:
        names = os.listxattr(src, follow_symlinks=False)
    except OSError:
        names = []
    for name in names:
        if name.startswith(_SKIP_XATTR_PREFIXES):
            continue
        try:
            value = os.getxattr(src, name, follow_symlinks=False)
        except OSError:
            continue
        xattrs["SCHILY.xattr." + name] = value.decode("utf-8", "surrogateescape")
    ti.pax_headers = xattrs
    return ti


def write_changes(changes: Iterable[Change], out: IO[bytes]) -> int:
    """Write `changes` as an uncompressed layer tar to `out`; returns the entry count."""
    n = 0
    hardlinks: dict[tuple[int, int], str] = {}
    with tarfile.open(fileobj=out, mode="w|", format=tarfile.PAX_FORMAT) as tf:
        for ch in changes:
            parent, _, base = ch.path.rpartition("/")
            if ch.kind == "delete":
                wh = tarfile.TarInfo(f"{parent}/.wh.{base}" if parent else f".wh.{base}")
                tf.addfile(wh)
            else:
                assert ch.source is not None
                ti = _tarinfo(ch.path, str(ch.source), hardlinks)
                if ti.type == tarfile.REGTYPE:
                    with open(ch.source, "rb") as f:
                        tf.addfile(ti, f)
                else:
                    tf.addfile(ti)
                if ch.kind == "opaque":
                    tf.addfile(tarfile.TarInfo(f"{ch.path}/.wh..wh..opq"))
            n += 1
    return n
