"""Copying one real file or directory (data, holes, owner, mode, xattrs, times).

Pure functions on real paths: the overlay decides what to copy and where.
"""

from __future__ import annotations

import errno
import os
import stat

# The overlay's own markers never travel with a copy (the kernel skips them too).
PRIVATE_XATTR_PREFIXES = ("user.overlay.", "trusted.overlay.")
_CHUNK = 1 << 20


def copy_data(src: int, dst: int, size: int) -> None:
    """Copy `size` bytes keeping holes: only the data extents are written."""
    off = 0
    while off < size:
        try:
            start = os.lseek(src, off, os.SEEK_DATA)
        except OSError as e:
            if e.errno == errno.ENXIO:  # only a hole is left
                break
            raise
        end = min(os.lseek(src, start, os.SEEK_HOLE), size)
        _copy_range(src, dst, start, end)
        off = end
    os.ftruncate(dst, size)


def _copy_range(src: int, dst: int, start: int, end: int) -> None:
    pos = start
    while pos < end:
        n = min(end - pos, 64 * _CHUNK)
        try:
            done = os.copy_file_range(src, dst, n, pos, pos)
        except OSError as e:
            if e.errno not in (errno.EXDEV, errno.ENOSYS, errno.EINVAL, errno.EOPNOTSUPP):
                raise
            done = 0
            data = os.pread(src, min(n, _CHUNK), pos)
            if data:
                done = os.pwrite(dst, data, pos)
        if done <= 0:
            break
        pos += done


def copy_xattrs(src: str, dst: str) -> None:
    try:
        names = os.listxattr(src, follow_symlinks=False)
    except OSError as e:
        if e.errno in (errno.ENOTSUP, errno.ENODATA):
            return
        raise
    for name in names:
        if name.startswith(PRIVATE_XATTR_PREFIXES):
            continue
        try:
            value = os.getxattr(src, name, follow_symlinks=False)
            os.setxattr(dst, name, value, follow_symlinks=False)
        except OSError as e:
            # security.* or trusted.* we may not write: the kernel skips those too.
            if e.errno not in (errno.EPERM, errno.ENOTSUP, errno.EACCES):
                raise


def copy_owner_mode_times(st: os.stat_result, dst: str) -> None:
    """Owner first (chown clears set-id bits), then mode, then times."""
    try:
        os.lchown(dst, st.st_uid, st.st_gid)
    except PermissionError:
        pass  # not root in a user namespace: files stay ours
    if not stat.S_ISLNK(st.st_mode):
        os.chmod(dst, stat.S_IMODE(st.st_mode))
    os.utime(dst, ns=(st.st_atime_ns, st.st_mtime_ns), follow_symlinks=False)


def copy_node(src: str, st: os.stat_result, dst: str, with_data: bool = True) -> None:
    """Create `dst` as a copy of `src` (not a directory's children). `st` = lstat(src)."""
    mode = st.st_mode
    if stat.S_ISREG(mode):
        fd_out = os.open(dst, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
        try:
            if with_data and st.st_size:
                fd_in = os.open(src, os.O_RDONLY | os.O_CLOEXEC)
                try:
                    copy_data(fd_in, fd_out, st.st_size)
                finally:
                    os.close(fd_in)
        finally:
            os.close(fd_out)
    elif stat.S_ISDIR(mode):
        os.mkdir(dst, 0o700)
    elif stat.S_ISLNK(mode):
        os.symlink(os.readlink(src), dst)
    else:  # fifo, socket, device
        os.mknod(dst, mode, st.st_rdev)
    copy_xattrs(src, dst)
    copy_owner_mode_times(st, dst)
