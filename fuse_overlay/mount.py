"""Bind an Overlay to libfuse3 through mfusepy and serve it.

mfusepy loads libfuse2 whenever it is installed; we ask for libfuse3 (bigger requests,
better caching) unless the caller chose with FUSE_LIBRARY_NAME. The hot callbacks
bypass mfusepy's generic wrappers: getattr/readdir fill the C structs directly, and
read_buf/write_buf hand libfuse our fd so file data never passes through Python.
"""

from __future__ import annotations

import ctypes
import errno
import logging
import os
import platform
import stat
import struct
from typing import Any

os.environ.setdefault("FUSE_LIBRARY_NAME", "fuse3")

import mfusepy

from fuse_overlay.options import MountOptions
from fuse_overlay.overlay import Overlay

ENC = "utf-8"
ESC = "surrogateescape"
NS = 1_000_000_000
# Kernel caching: layers only change through this mount, so cached attributes and
# names stay right (the kernel invalidates them on our own mutations).
CACHE_OPTIONS: dict[str, Any] = {
    "kernel_cache": True,
    "attr_timeout": 60,
    "entry_timeout": 60,
    "negative_timeout": 60,
}
FUSE_CAP_ASYNC_READ = 1 << 0
FUSE_CAP_BIG_WRITES = 1 << 5
FUSE_CAP_SPLICE_WRITE = 1 << 7
FUSE_CAP_SPLICE_MOVE = 1 << 8
FUSE_CAP_SPLICE_READ = 1 << 9
MAX_REQUEST = 1 << 20
LOOP_ENDED_BY_SIGNAL = 8
FUSE_READDIR_PLUS = 1
FUSE_FILL_DIR_PLUS = 2


class _BufVec(ctypes.Structure):
    """struct fuse_bufvec with its one inline struct fuse_buf (mfusepy declares a pointer)."""

    _fields_ = [
        ("count", ctypes.c_size_t),
        ("idx", ctypes.c_size_t),
        ("off", ctypes.c_size_t),
        ("buf", mfusepy.fuse_buf * 1),
    ]


FUSE_BUF_IS_FD = 1 << 1
FUSE_BUF_FD_SEEK = 1 << 2


def _fd_bufvec(bv: _BufVec, fd: int, size: int, pos: int) -> None:
    bv.count, bv.idx, bv.off = 1, 0, 0
    b = bv.buf[0]
    b.size, b.flags, b.mem, b.fd, b.pos = size, FUSE_BUF_IS_FD | FUSE_BUF_FD_SEEK, None, fd, pos


_libc = ctypes.CDLL(None)
_libc.malloc.argtypes = [ctypes.c_size_t]
_libc.malloc.restype = ctypes.c_void_p
_HAS_NOFLUSH = any(f[0] == "noflush" for f in mfusepy.fuse_file_info._fields_)
_libfuse = mfusepy._libfuse
_libfuse.fuse_invalidate_path.argtypes = [ctypes.c_void_p, ctypes.c_char_p]
_libfuse.fuse_invalidate_path.restype = ctypes.c_int
_libfuse.fuse_buf_size.argtypes = [ctypes.c_void_p]
_libfuse.fuse_buf_size.restype = ctypes.c_size_t
_libfuse.fuse_buf_copy.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int]
_libfuse.fuse_buf_copy.restype = ctypes.c_ssize_t


def _invalidate_path(fuse: int, path: bytes) -> None:
    _libfuse.fuse_invalidate_path(fuse, path)  # ENOENT for a name gone since: fine


# glibc's x86_64 struct stat (mfusepy.c_stat there): one pack_into instead of 15
# ctypes attribute stores on the hottest callback.
_STAT = struct.Struct("=QQQIIIiQqqqqqqqqq24x")
_FAST_STAT = platform.machine() == "x86_64" and ctypes.sizeof(mfusepy.c_stat) == _STAT.size


def _fill_stat(s: Any, ops: Overlay, path: str, layer: int, st: os.stat_result) -> None:
    """Fill the C struct stat `s` for `path`, whose real entry is `st` in `layer`."""
    nlink = st.st_nlink
    if stat.S_ISDIR(st.st_mode) and len(ops.layers.dir_layers(path)) > 1:
        nlink = 1  # a merged dir's link count is unknown; 1 tells find not to guess
    a_sec, a_ns = divmod(st.st_atime_ns, NS)
    m_sec, m_ns = divmod(st.st_mtime_ns, NS)
    c_sec, c_ns = divmod(st.st_ctime_ns, NS)
    uid, gid = ops.uidmap.to_inside(st.st_uid), ops.gidmap.to_inside(st.st_gid)
    ino = ops.ino(layer, st.st_ino)
    if _FAST_STAT:
        _STAT.pack_into(
            s, 0, 0, ino, nlink, st.st_mode, uid, gid, 0, st.st_rdev, st.st_size,
            st.st_blksize, st.st_blocks, a_sec, a_ns, m_sec, m_ns, c_sec, c_ns,
        )  # fmt: skip
        return
    s.st_mode, s.st_ino, s.st_nlink, s.st_uid, s.st_gid = st.st_mode, ino, nlink, uid, gid
    s.st_rdev, s.st_size, s.st_blocks, s.st_blksize = (
        st.st_rdev,
        st.st_size,
        st.st_blocks,
        st.st_blksize,
    )
    s.st_atimespec.tv_sec, s.st_atimespec.tv_nsec = a_sec, a_ns
    s.st_mtimespec.tv_sec, s.st_mtimespec.tv_nsec = m_sec, m_ns
    s.st_ctimespec.tv_sec, s.st_ctimespec.tv_nsec = c_sec, c_ns


def _p(path: bytes | None) -> str:
    return "" if path is None else path.decode(ENC, ESC)


class OverlayFUSE(mfusepy.FUSE):
    """mfusepy's FUSE with direct-buffer fast paths and the rename/utimens flags kept."""

    def getattr_fuse_3(self, path: bytes, buf: Any, fip: Any) -> int:
        ops: Overlay = self.operations
        if path is None:  # an open file that was unlinked (hard_remove)
            return self._fgetattr_fd(buf, fip.contents.fh)
        p = _p(path)
        i, st = ops.lstat(p)
        if not _FAST_STAT:
            ctypes.memset(buf, 0, ctypes.sizeof(mfusepy.c_stat))
        _fill_stat(buf.contents, ops, p, i, st)
        return 0

    def _fgetattr_fd(self, buf: Any, fd: int) -> int:
        st = os.fstat(fd)
        ops: Overlay = self.operations
        mfusepy.set_st_attrs(
            buf.contents,
            {
                "st_mode": st.st_mode,
                "st_ino": st.st_ino,
                "st_nlink": st.st_nlink,
                "st_uid": ops.uidmap.to_inside(st.st_uid),
                "st_gid": ops.gidmap.to_inside(st.st_gid),
                "st_size": st.st_size,
                "st_blocks": st.st_blocks,
                "st_atime": st.st_atime_ns,
                "st_mtime": st.st_mtime_ns,
                "st_ctime": st.st_ctime_ns,
            },
            use_ns=True,
        )
        return 0

    def read_buf(self, path: bytes | None, bufpp: Any, size: int, offset: int, fip: Any) -> int:
        # Hand libfuse our fd and offset: it splices (or reads, in C) the file straight
        # into the reply; no data passes through Python. libfuse frees the vector.
        addr = _libc.malloc(ctypes.sizeof(_BufVec))
        if not addr:
            return -errno.ENOMEM
        _fd_bufvec(_BufVec.from_address(addr), fip.contents.fh, size, offset)
        bufpp[0] = ctypes.cast(addr, type(bufpp[0]))
        return 0

    def write_buf(self, path: bytes | None, src: Any, offset: int, fip: Any) -> int:
        # The request's data (a pipe when spliced) goes to our fd in C.
        src_p = ctypes.cast(src, ctypes.c_void_p)
        dst = _BufVec()
        _fd_bufvec(dst, fip.contents.fh, _libfuse.fuse_buf_size(src_p), offset)
        return int(_libfuse.fuse_buf_copy(ctypes.byref(dst), src_p, 0))

    def read(self, path: bytes | None, buf: Any, size: int, offset: int, fip: Any) -> int:
        view = (ctypes.c_char * size).from_address(ctypes.addressof(buf.contents))
        return os.preadv(fip.contents.fh, [view], offset)

    def write(self, path: bytes | None, buf: Any, size: int, offset: int, fip: Any) -> int:
        view = (ctypes.c_char * size).from_address(ctypes.addressof(buf.contents))
        return os.pwritev(fip.contents.fh, [view], offset)

    def readdir_fuse_3(
        self, path: bytes | None, buf: Any, filler: Any, offset: int, fip: Any, flags: int
    ) -> int:
        ops: Overlay = self.operations
        p = ops.dir_path(_p(path) if path is not None else None, fip.contents.fh)
        st = mfusepy.c_stat()
        st.st_mode = stat.S_IFDIR
        for name in (".", ".."):
            st.st_ino = 1
            if filler(buf, name.encode(), st, 0, 0):
                return 0
        if flags & FUSE_READDIR_PLUS:
            # The kernel asks for attributes too: answering here saves a LOOKUP and
            # a GETATTR round trip per entry (find, ls -l, tar).
            for name, layer, _ in ops.layers.entries(p):
                child = f"{p}/{name}" if p != "/" else f"/{name}"
                try:
                    cst = os.lstat(ops.layers.roots[layer] + child)
                except FileNotFoundError:
                    continue
                _fill_stat(st, ops, child, layer, cst)
                if filler(buf, name.encode(ENC, ESC), st, 0, FUSE_FILL_DIR_PLUS):
                    break
            return 0
        st.st_mode = 0  # DT_UNKNOWN: the kernel looks the entry up when it needs the type
        for name, layer, ino in ops.layers.entries(p):
            st.st_ino = ops.ino(layer, ino)
            if filler(buf, name.encode(ENC, ESC), st, 0, 0):
                break
        return 0

    def flush(self, path: bytes | None, fip: Any) -> int:
        ops: Overlay = self.operations
        if ops.hardlinks:
            st = os.fstat(fip.contents.fh)
            names = ops.hardlinks.get(st.st_ino) if st.st_nlink > 1 else None
            if names:
                fuse = mfusepy._libfuse.fuse_get_context().contents.fuse
                for name in names:
                    # The caller's own name too: its cached size may be another's.
                    _invalidate_path(fuse, name.encode(ENC, ESC))
        return 0

    def link(self, source: bytes, target: bytes) -> int:
        ops: Overlay = self.operations
        ops.link(_p(target), _p(source))
        # libfuse gives each name its own kernel inode: refresh the old name's link count.
        fuse = mfusepy._libfuse.fuse_get_context().contents.fuse
        _invalidate_path(fuse, source)
        return 0

    def rename_fuse_3(self, old: bytes, new: bytes, flags: int) -> int:
        self.operations.rename(_p(old), _p(new), flags)
        return 0

    def utimens_fuse_3(self, path: bytes | None, buf: Any, fip: Any) -> int:
        times = None
        if buf:
            a, m = buf.contents.actime, buf.contents.modtime
            times = ((a.tv_sec, a.tv_nsec), (m.tv_sec, m.tv_nsec))
        self.operations.utimens(_p(path), times)
        return 0

    def create(self, path: bytes, mode: int, fip: Any) -> int:
        fi = fip.contents
        fi.fh = self.operations.create(_p(path), mode, fi.flags)
        self._skip_flush(fi)
        return 0

    def open(self, path: bytes, fip: Any) -> int:
        fi = fip.contents
        fi.fh = self.operations.open(_p(path), fi.flags)
        self._skip_flush(fi)
        return 0

    def _skip_flush(self, fi: Any) -> None:
        # close() need not wait for a FLUSH round trip: we keep no per-open state to
        # flush. Only hard links made through the mount need flush (see flush()).
        if _HAS_NOFLUSH and not self.operations.hardlinks:
            fi.noflush = 1

    def release(self, path: bytes | None, fip: Any) -> int:
        os.close(fip.contents.fh)
        return 0


class _Served(Overlay):
    """The Overlay as libfuse sees it: caller identity from the FUSE context, and
    init() raising the request size limits."""

    # mfusepy registers a libfuse callback only if the operations object has the name;
    # the work is done by OverlayFUSE.read_buf/write_buf.
    def read_buf(self, *args: Any) -> int:
        raise NotImplementedError

    def write_buf(self, *args: Any) -> int:
        raise NotImplementedError

    def init_with_config(self, conn: Any, config: Any) -> None:
        if conn is not None:
            conn.want |= conn.capable & (
                FUSE_CAP_ASYNC_READ
                | FUSE_CAP_BIG_WRITES
                | FUSE_CAP_SPLICE_READ
                | FUSE_CAP_SPLICE_WRITE
                | FUSE_CAP_SPLICE_MOVE
            )
            conn.max_write = MAX_REQUEST
            conn.max_readahead = MAX_REQUEST
        if config is not None:
            config.use_ino = 1
            config.hard_remove = 1  # no .fuse_hidden renames through the overlay
            config.nullpath_ok = 1


def serve(opts: MountOptions) -> None:
    """Mount and serve until unmounted or signalled (SIGTERM/SIGINT/SIGHUP unmount).
    Without -f, libfuse forks into the background once the mount is in place."""
    os.umask(0)  # modes arrive with the caller's umask already applied
    overlay = _Served(
        opts.lowerdirs,
        opts.upperdir,
        opts.workdir,
        uidmap=opts.uidmap,
        gidmap=opts.gidmap,
        context=mfusepy.fuse_get_context,
    )
    fuse_opts: dict[str, Any] = dict(CACHE_OPTIONS)
    fuse_opts.setdefault("fsname", "fuse-overlay")
    fuse_opts.setdefault("subtype", "fuse-overlay")
    if os.geteuid() == 0:
        # Root (in a user namespace): the mount is shared with container users.
        fuse_opts.update(allow_other=True, default_permissions=True)
    else:
        fuse_opts["default_permissions"] = True
    fuse_opts.update(opts.fuse_options)
    if opts.upperdir is None:
        fuse_opts["ro"] = True
    if opts.debug:
        logging.basicConfig(level=logging.DEBUG)
    profile_to = os.environ.get("FUSE_OVERLAY_PROFILE")  # a file for cProfile stats
    profiler = None
    if profile_to:
        import cProfile

        profiler = cProfile.Profile()
        profiler.enable()
    try:
        OverlayFUSE(
            overlay,
            opts.mountpoint,
            foreground=opts.foreground,
            debug=opts.debug,
            nothreads=True,
            **fuse_opts,
        )
    except RuntimeError as e:
        # fuse_main's own codes: 8 = the loop ended by a signal (SIGTERM), which is how
        # we are asked to stop; anything else failed before serving (libfuse said why).
        if e.args and e.args[0] == LOOP_ENDED_BY_SIGNAL:
            return
        raise OSError(errno.EIO, f"libfuse could not mount (code {e})") from None
    finally:
        if profiler is not None and profile_to:
            profiler.disable()
            profiler.dump_stats(profile_to)
