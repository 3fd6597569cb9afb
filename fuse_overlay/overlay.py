"""The overlay's file operations, in fusepy's high-level shape (paths in, OSError out).

Kept free of mfusepy so it can be driven directly in unit tests; fuse_overlay.mount
binds it to libfuse. Open files are real file descriptors (the FUSE file handle is the
fd), so read/write are one pread/pwrite each.
"""

from __future__ import annotations

import errno
import os
import stat
import uuid
from collections.abc import Callable

from fuse_overlay import copyup
from fuse_overlay._sys import utimensat
from fuse_overlay.layers import OPAQUE_XATTR, WH_PREFIX, Layers, is_whiteout
from fuse_overlay.options import IdMap

_WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_TRUNC
_RENAME_NOREPLACE = 1
_RENAME_EXCHANGE = 2


def _err(code: int, path: str = "") -> OSError:
    return OSError(code, os.strerror(code), path)


def _no_context() -> tuple[int, int, int]:
    return (os.geteuid(), os.getegid(), 0)


class Overlay:
    use_ns = True  # mfusepy: times in nanoseconds

    def __init__(
        self,
        lowerdirs: list[str],
        upperdir: str | None = None,
        workdir: str | None = None,
        uidmap: IdMap | None = None,
        gidmap: IdMap | None = None,
        context: Callable[[], tuple[int, int, int]] = _no_context,
    ) -> None:
        roots = ([upperdir] if upperdir else []) + list(lowerdirs)
        self.upper = upperdir
        self.work = os.path.join(workdir, "work") if workdir else None
        if self.work:
            os.makedirs(self.work, exist_ok=True)
        self.uidmap = uidmap or IdMap()
        self.gidmap = gidmap or IdMap()
        self.context = context  # (uid, gid, pid) of the caller, as fuse_get_context
        self.privileged = os.geteuid() == 0
        self._euid, self._egid = os.geteuid(), os.getegid()
        self.layers = Layers(roots, has_upper=upperdir is not None)
        self.layers.aufs = bool(self.work) and not self._can_mknod_whiteout()
        # Inode numbers: the real one; layers on other filesystems get a high-bit salt
        # so two layers can't show the same number.
        devs = [os.stat(r).st_dev for r in roots]
        self.ino_salt = [0 if d == devs[0] else (k + 1) << 56 for k, d in enumerate(devs)]
        # Names of files hard-linked through this mount, by upper inode: libfuse gives
        # each name its own kernel inode, so a write through one must invalidate the
        # others' cached pages and size (see fuse_overlay.mount).
        self.hardlinks: dict[int, set[str]] = {}
        # upper inode -> the number its lower original showed (stable across copy-up).
        self.ino_map: dict[int, int] = {}
        self._dir_handles: dict[int, str] = {}
        self._next_dir_handle = 0

    # ------------------------------------------------------------------ helpers
    def _can_mknod_whiteout(self) -> bool:
        assert self.work
        probe = os.path.join(self.work, f".probe-{uuid.uuid4().hex}")
        try:
            os.mknod(probe, stat.S_IFCHR, 0)
        except OSError:
            return False
        os.unlink(probe)
        return True

    def _upper(self, path: str) -> str:
        if self.upper is None:
            raise _err(errno.EROFS, path)
        return self.upper + path

    def _tmp(self) -> str:
        assert self.work
        return os.path.join(self.work, uuid.uuid4().hex)

    def real(self, path: str) -> str:
        i, _ = self.layers.lookup(path)
        return self.layers.roots[i] + path

    def _upper_dir(self, path: str) -> None:
        """Make sure directory `path` exists in the upper dir (copying it up)."""
        layers = self.layers.dir_layers(path)
        if layers[0] == 0 and self.upper is not None:
            return
        self._upper(path)
        if path != "/":
            self._upper_dir(path.rpartition("/")[0] or "/")
        self._copy_up_node(path, layers[0])
        self.layers.remember(path, (0, *layers))

    def _copy_up_node(self, path: str, layer: int, with_data: bool = True) -> None:
        """Copy one entry from `layer` into the upper dir via the work dir (atomic)."""
        src = self.layers.roots[layer] + path
        st = os.lstat(src)
        tmp = self._tmp()
        try:
            copyup.copy_node(src, st, tmp, with_data=with_data)
            os.rename(tmp, self._upper(path))  # replaces nothing: path is not in upper
        except BaseException:
            self._remove_tmp(tmp)
            raise
        self.ino_map[os.lstat(self._upper(path)).st_ino] = self.stat_ino(layer, st)

    def _remove_tmp(self, tmp: str) -> None:
        try:
            if os.path.isdir(tmp) and not os.path.islink(tmp):
                os.rmdir(tmp)
            else:
                os.unlink(tmp)
        except FileNotFoundError:
            pass

    def copy_up(self, path: str, with_data: bool = True) -> str:
        """The upper path of `path`, copying it up first if it lives in a lower layer."""
        i, st = self.layers.lookup(path)
        if i == 0 and self.upper is not None:
            return self.upper + path
        if stat.S_ISDIR(st.st_mode):
            self._upper_dir(path)
        else:
            self._upper_dir(path.rpartition("/")[0] or "/")
            self._copy_up_node(path, i, with_data)
        return self._upper(path)

    def _whiteout(self, path: str) -> None:
        upper = self._upper(path)
        if self.layers.aufs:
            head, _, name = path.rpartition("/")
            os.close(os.open(f"{self.upper}{head}/{WH_PREFIX}{name}", os.O_CREAT | os.O_WRONLY, 0))
        else:
            os.mknod(upper, stat.S_IFCHR, 0)

    def _clear_upper_slot(self, path: str) -> bool:
        """Remove a whiteout (or an empty merged dir) at `path` in the upper dir before
        something new takes the name. True when a lower entry was hidden there."""
        upper = self._upper(path)
        try:
            st = os.lstat(upper)
        except FileNotFoundError:
            if self.layers.aufs:
                head, _, name = path.rpartition("/")
                aufs_wh = f"{self.upper}{head}/{WH_PREFIX}{name}"
                if os.path.lexists(aufs_wh):
                    os.unlink(aufs_wh)
                    return True
            return False
        if is_whiteout(st):
            os.unlink(upper)
            return True
        if stat.S_ISDIR(st.st_mode):
            self._rmdir_upper(upper)
            return False
        os.unlink(upper)
        if st.st_nlink <= 1:
            self.ino_map.pop(st.st_ino, None)
        return False

    def _rmdir_upper(self, upper: str) -> None:
        """rmdir an upper dir that is empty in the merge: only whiteouts may be inside."""
        with os.scandir(upper) as it:
            for e in it:
                os.unlink(e.path)
        os.rmdir(upper)

    def _set_opaque(self, path: str) -> None:
        os.setxattr(self._upper(path), OPAQUE_XATTR, b"y", follow_symlinks=False)
        self.layers.forget(path)

    def _caller_ids(self, parent_upper: str) -> tuple[int, int] | None:
        """Owner for a new entry, or None when the file system already got it right
        (the caller is us: the upper fs applied our ids and any setgid parent)."""
        uid, gid, _ = self.context()
        uid, gid = self.uidmap.to_outside(uid), self.gidmap.to_outside(gid)
        if uid == self._euid and gid == self._egid:
            return None
        pst = os.stat(parent_upper)
        if pst.st_mode & stat.S_ISGID:
            gid = pst.st_gid
        return uid, gid

    def _prepare_create(self, path: str) -> tuple[str, bool]:
        """Upper path for a new entry; True if it replaced a whiteout (lower hidden)."""
        parent = path.rpartition("/")[0] or "/"
        self._upper_dir(parent)
        return self._upper(path), self._clear_upper_slot(path)

    def _own(self, upper: str, fd: int | None = None) -> None:
        """Give a new entry to the calling user, as the kernel would."""
        if not self.privileged:
            return
        ids = self._caller_ids(os.path.dirname(upper) or "/")
        if ids is None:
            return
        uid, gid = ids
        if fd is not None:
            os.fchown(fd, uid, gid)
        else:
            os.lchown(upper, uid, gid)

    def ino(self, layer: int, real_ino: int) -> int:
        """The inode number shown: a copied-up file keeps the number it had below."""
        if layer == 0 and self.ino_map:
            return self.ino_map.get(real_ino, real_ino)
        return real_ino ^ self.ino_salt[layer]

    def stat_ino(self, i: int, st: os.stat_result) -> int:
        return self.ino(i, st.st_ino)

    # ------------------------------------------------------------ read side
    def getattr(self, path: str, fh: int | None = None) -> dict[str, int]:
        i, st = self.layers.lookup(path)
        nlink = st.st_nlink
        if stat.S_ISDIR(st.st_mode) and len(self.layers.dir_layers(path)) > 1:
            nlink = 1  # a merged dir's link count is unknown; 1 tells find not to guess
        return {
            "st_mode": st.st_mode,
            "st_ino": self.stat_ino(i, st),
            "st_nlink": nlink,
            "st_uid": self.uidmap.to_inside(st.st_uid),
            "st_gid": self.gidmap.to_inside(st.st_gid),
            "st_rdev": st.st_rdev,
            "st_size": st.st_size,
            "st_blocks": st.st_blocks,
            "st_blksize": st.st_blksize,
            "st_atime": st.st_atime_ns,
            "st_mtime": st.st_mtime_ns,
            "st_ctime": st.st_ctime_ns,
        }

    def lstat(self, path: str) -> tuple[int, os.stat_result]:
        """(layer, stat) for the fast getattr path in fuse_overlay.mount."""
        i, st = self.layers.lookup(path)
        return i, st

    def opendir(self, path: str) -> int:
        # libfuse gives readdir no path (nullpath_ok): remember it by handle.
        self.layers.dir_layers(path)
        self._next_dir_handle += 1
        self._dir_handles[self._next_dir_handle] = path
        return self._next_dir_handle

    def releasedir(self, path: str | None, fh: int) -> None:
        self._dir_handles.pop(fh, None)

    def dir_path(self, path: str | None, fh: int) -> str:
        return self._dir_handles[fh] if path is None else path

    def readdir(self, path: str | None, fh: int = 0) -> list[str]:
        return [".", "..", *self.layers.list_dir(self.dir_path(path, fh))]

    def readlink(self, path: str) -> str:
        return os.readlink(self.real(path))

    def statfs(self, path: str) -> dict[str, int]:
        sv = os.statvfs(self.layers.roots[0])
        return {
            k: getattr(sv, k)
            for k in (
                "f_bsize",
                "f_frsize",
                "f_blocks",
                "f_bfree",
                "f_bavail",
                "f_files",
                "f_ffree",
                "f_favail",
                "f_namemax",
            )
        }

    def getxattr(self, path: str, name: str, position: int = 0) -> bytes:
        if name.startswith(copyup.PRIVATE_XATTR_PREFIXES):
            raise _err(errno.EOPNOTSUPP, path)
        return os.getxattr(self.real(path), name, follow_symlinks=False)

    def listxattr(self, path: str) -> list[str]:
        names = os.listxattr(self.real(path), follow_symlinks=False)
        return [n for n in names if not n.startswith(copyup.PRIVATE_XATTR_PREFIXES)]

    # ------------------------------------------------------------ open files
    def open(self, path: str, flags: int) -> int:
        flags &= ~(os.O_CREAT | os.O_EXCL | os.O_NOCTTY)
        if flags & _WRITE_FLAGS:
            # O_TRUNC: nothing of the old data survives, so copy metadata only.
            real = self.copy_up(path, with_data=not flags & os.O_TRUNC)
        else:
            real = self.real(path)
        return os.open(real, flags | os.O_CLOEXEC)

    def create(self, path: str, mode: int, flags: int = os.O_WRONLY) -> int:
        upper, _ = self._prepare_create(path)
        fd = os.open(upper, (flags & ~os.O_NOCTTY) | os.O_CREAT | os.O_CLOEXEC, mode)
        try:
            self._own(upper, fd)
        except BaseException:
            os.close(fd)
            raise
        return fd

    def read(self, path: str, size: int, offset: int, fh: int) -> bytes:
        return os.pread(fh, size, offset)

    def write(self, path: str, data: bytes, offset: int, fh: int) -> int:
        return os.pwrite(fh, data, offset)

    def truncate(self, path: str, length: int, fh: int | None = None) -> None:
        if fh is not None:
            os.ftruncate(fh, length)
            return
        os.truncate(self.copy_up(path, with_data=length > 0), length)

    def flush(self, path: str, fh: int) -> None:
        return None

    def release(self, path: str, fh: int) -> None:
        os.close(fh)

    def fsync(self, path: str, datasync: int, fh: int) -> None:
        if datasync:
            os.fdatasync(fh)
        else:
            os.fsync(fh)

    # ------------------------------------------------------------ metadata
    def chmod(self, path: str, mode: int) -> None:
        os.chmod(self.copy_up(path), stat.S_IMODE(mode))

    def chown(self, path: str, uid: int, gid: int) -> None:
        uid, gid = self.uidmap.to_outside(uid), self.gidmap.to_outside(gid)
        os.lchown(self.copy_up(path), uid, gid)

    def utimens(self, path: str, times: tuple[tuple[int, int], tuple[int, int]] | None) -> None:
        utimensat(self.copy_up(path), times)

    def setxattr(self, path: str, name: str, value: bytes, options: int, position: int = 0) -> None:
        if name.startswith(copyup.PRIVATE_XATTR_PREFIXES):
            raise _err(errno.EOPNOTSUPP, path)
        os.setxattr(self.copy_up(path), name, value, options, follow_symlinks=False)

    def removexattr(self, path: str, name: str) -> None:
        if name.startswith(copyup.PRIVATE_XATTR_PREFIXES):
            raise _err(errno.EOPNOTSUPP, path)
        self.getxattr(path, name)  # ENODATA before any copy-up
        os.removexattr(self.copy_up(path), name, follow_symlinks=False)

    # ------------------------------------------------------------ namespace
    def mkdir(self, path: str, mode: int) -> None:
        upper, hid_lower = self._prepare_create(path)
        os.mkdir(upper, mode)
        self._own(upper)
        if hid_lower:
            os.setxattr(upper, OPAQUE_XATTR, b"y")
        # A new name has nothing cached below it; nothing lower shows through it.
        self.layers.remember(path, (0,))

    def mknod(self, path: str, mode: int, dev: int) -> None:
        upper, _ = self._prepare_create(path)
        os.mknod(upper, mode, dev)
        self._own(upper)

    def symlink(self, path: str, target: str) -> None:
        upper, _ = self._prepare_create(path)
        os.symlink(target, upper)
        self._own(upper)

    def link(self, path: str, existing: str) -> None:
        _i, st = self.layers.lookup(existing)
        if stat.S_ISDIR(st.st_mode):
            raise _err(errno.EPERM, existing)
        src = self.copy_up(existing)
        upper, _ = self._prepare_create(path)
        os.link(src, upper)
        names = self.hardlinks.setdefault(os.lstat(upper).st_ino, set())
        names.update((existing, path))

    def unlink(self, path: str) -> None:
        i, st = self.layers.lookup(path)
        if stat.S_ISDIR(st.st_mode):
            raise _err(errno.EISDIR, path)
        self._upper(path)
        self._remove(path, i)

    def rmdir(self, path: str) -> None:
        i, st = self.layers.lookup(path)
        if not stat.S_ISDIR(st.st_mode):
            raise _err(errno.ENOTDIR, path)
        if self.layers.list_dir(path):
            raise _err(errno.ENOTEMPTY, path)
        self._upper(path)
        self._remove(path, i)
        self.layers.forget(path)

    def _remove(self, path: str, layer: int) -> None:
        """Take `path` out of the merge: drop the upper entry, whiteout lower ones."""
        needs_whiteout = self.layers.in_lower(path)
        if layer == 0:
            upper = self._upper(path)
            st = os.lstat(upper)
            if stat.S_ISDIR(st.st_mode):
                self._rmdir_upper(upper)
            else:
                os.unlink(upper)
            if st.st_nlink <= 1:
                self.ino_map.pop(st.st_ino, None)  # the number may be reused
        else:
            self._upper_dir(path.rpartition("/")[0] or "/")
        if needs_whiteout:
            self._whiteout(path)

    def rename(self, old: str, new: str, flags: int = 0) -> None:
        if flags & _RENAME_EXCHANGE:
            raise _err(errno.EINVAL, old)
        self._upper(old)
        _i_old, st_old = self.layers.lookup(old)
        old_is_dir = stat.S_ISDIR(st_old.st_mode)
        try:
            _, st_new = self.layers.lookup(new)
        except FileNotFoundError:
            st_new = None
        if st_new is not None:
            if flags & _RENAME_NOREPLACE:
                raise _err(errno.EEXIST, new)
            if old == new:
                return
            new_is_dir = stat.S_ISDIR(st_new.st_mode)
            if old_is_dir and not new_is_dir:
                raise _err(errno.ENOTDIR, new)
            if new_is_dir and not old_is_dir:
                raise _err(errno.EISDIR, new)
            if new_is_dir and self.layers.list_dir(new):
                raise _err(errno.ENOTEMPTY, new)
        if old_is_dir and (new + "/").startswith(old + "/"):
            raise _err(errno.EINVAL, new)
        old_in_lower = self.layers.in_lower(old)
        merged_copy = old_is_dir and any(i > 0 for i in self.layers.dir_layers(old))
        # A dir with lower parts moves by copying the merged tree (no redirect_dir).
        src = self._merged_copy(old) if merged_copy else self.copy_up(old)
        new_parent = new.rpartition("/")[0] or "/"
        self._upper_dir(new_parent)
        self._clear_upper_slot(new)
        os.rename(src, self._upper(new))
        if old_is_dir:
            self.layers.forget(old)
            self.layers.forget(new)
            # As the kernel: a moved upper dir turns opaque where lower layers could
            # show through it (a merged parent), a copied one where something is below.
            into_merged = not merged_copy and len(self.layers.dir_layers(new_parent)) > 1
            if into_merged or self.layers.in_lower(new):
                self._set_opaque(new)
        if old_in_lower:
            if src != self._upper(old):
                # The old upper dir (with whiteouts in it) is replaced by a whiteout.
                try:
                    self._rmtree_upper(self._upper(old))
                except FileNotFoundError:
                    pass
            self._whiteout(old)
            self.layers.forget(old)

    def _rmtree_upper(self, upper: str) -> None:
        st = os.lstat(upper)
        if stat.S_ISDIR(st.st_mode):
            with os.scandir(upper) as it:
                for e in it:
                    self._rmtree_upper(e.path)
            os.rmdir(upper)
        else:
            os.unlink(upper)

    def _merged_copy(self, path: str) -> str:
        """Copy the merged tree at `path` into a fresh dir in the work dir."""
        tmp = self._tmp()
        try:
            self._copy_merged_into(path, tmp)
        except BaseException:
            if os.path.lexists(tmp):
                self._rmtree_upper(tmp)
            raise
        return tmp

    def _copy_merged_into(self, path: str, dst: str) -> None:
        i, st = self.layers.lookup(path)
        src = self.layers.roots[i] + path
        if not stat.S_ISDIR(st.st_mode):
            copyup.copy_node(src, st, dst)
            return
        os.mkdir(dst, 0o700)
        for name in self.layers.list_dir(path):
            self._copy_merged_into(f"{path}/{name}", f"{dst}/{name}")
        copyup.copy_xattrs(src, dst)
        copyup.copy_owner_mode_times(st, dst)
