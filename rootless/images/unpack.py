"""Unpack a layer tar into a directory, safely, whatever the archive contains.

Every entry is created relative to an open directory fd reached component by component
with O_NOFOLLOW, so nothing can land outside `dest`:
- `..` components and hard links to paths outside the layer are refused
  (UnsafeArchive); leading `/` is dropped (the entry lands inside).
- a parent that is a symlink is refused: following it could leave the layer.
- symlinks are created as given and never followed; hard links are made with linkat
  without AT_SYMLINK_FOLLOW.
- device nodes are skipped with a note; FIFOs are created.
- owners (when running as uid 0 inside the user namespace), modes incl. setuid/setgid,
  mtimes and xattrs are preserved; directory metadata is applied last.
- a later duplicate entry replaces the earlier one.
- sparse entries keep their holes (a 1 TB sparse file costs its data, not 1 TB).

Speed without giving any of that up: decompression and hashing run on a helper thread
(compress.PrefetchingReader); no lstat per entry (create with O_EXCL, look on EEXIST);
file data goes from tarfile's stream straight to os.write.

Whiteouts become the driver's form (see rootless.storage.driver): "overlay" writes a 0/0
character device / the `user.overlay.opaque=y` xattr; "delete" removes what they hide
from the copy of the parent below (vfs).
"""

from __future__ import annotations

import errno
import os
import stat
import tarfile
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

from rootless.errors import EngineError
from rootless.images.compress import PrefetchingReader
from rootless.storage.driver import remove_tree

if TYPE_CHECKING:
    from rootless.storage.driver import WhiteoutFormat

WH_PREFIX = ".wh."
WH_OPAQUE = ".wh..wh..opq"
OPAQUE_XATTR = "user.overlay.opaque"
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_CHUNK = 1 << 20
# tarfile's stream buffer: bigger means fewer Python-level reads, but every header
# read copies what is left of it, so not too big.
_TAR_BUF = 64 << 10
_NEW_FILE = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
_FD_CACHE = 64  # directory fds kept open while unpacking
_OVERLAY_XATTRS = ("user.overlay.", "trusted.overlay.", "user.fuseoverlayfs.")


class UnsafeArchive(EngineError):
    """A layer tar tried to write outside its root (or is otherwise hostile)."""


class BadArchive(EngineError):
    """A layer is not a readable tar."""


@dataclass
class UnpackResult:
    diff_id: str  # sha256 of the uncompressed tar
    size: int  # bytes of the uncompressed tar
    entries: int = 0
    notes: list[str] = field(default_factory=list)


def clean_parts(name: str) -> list[str]:
    """Path components of a tar entry name inside the layer; refuses `..`."""
    parts = [p for p in name.split("/") if p not in ("", ".")]
    if ".." in parts:
        raise UnsafeArchive(f"layer entry {name!r} contains '..': refusing to unpack")
    return parts


def unpack(
    raw: BinaryIO,
    dest: Path,
    whiteouts: WhiteoutFormat,
    *,
    chown: bool | None = None,
    lowers: list[Path] | None = None,
) -> UnpackResult:
    """Unpack a (gzip/zstd/plain) layer tar from `raw` into the existing dir `dest`.

    `lowers` (top-first, overlay form only): the layers below; a parent directory the
    tar does not list is created with the metadata it has there, not 0755 root, so it
    does not change owner/mode when the layers are stacked."""
    hashing = PrefetchingReader(raw)
    try:
        u = _Unpacker(dest, whiteouts, os.geteuid() == 0 if chown is None else chown)
    except BaseException:
        hashing.close()
        raise
    u.lowers = lowers or []
    try:
        with tarfile.open(fileobj=hashing, mode="r|", bufsize=_TAR_BUF) as tf:
            for member in tf:
                try:
                    u.entry(tf, member)
                except OSError as e:
                    if e.errno == errno.ENOSPC:
                        raise
                    raise EngineError(
                        f"unpacking layer entry /{member.name.lstrip('/')} failed: "
                        f"{e.strerror or e}"
                    ) from e
                u.count += 1
        hashing.drain()  # the tar's trailing padding is part of the diff id
        u.finish()
    except (tarfile.TarError, EOFError) as e:
        raise BadArchive(f"layer is not a valid tar archive: {e}") from e
    except OSError as e:
        if e.errno == errno.ENOSPC:
            raise EngineError(f"no space left unpacking a layer into {dest}") from e
        raise
    finally:
        hashing.close()
        u.close()
    return UnpackResult(hashing.digest(), hashing.size, u.count, u.notes)


class _Unpacker:
    def __init__(self, dest: Path, whiteouts: WhiteoutFormat, chown: bool) -> None:
        self.root_fd = os.open(dest, _DIR_FLAGS)
        self.whiteouts = whiteouts
        self.chown = chown
        self.notes: list[str] = []
        self.count = 0
        self.dirs: dict[tuple[str, ...], tarfile.TarInfo] = {}  # metadata applied last
        self.written: set[tuple[str, ...]] = set()  # paths this layer wrote (for opaque)
        self._fds: OrderedDict[tuple[str, ...], int] = OrderedDict()
        self.lowers: list[Path] = []

    # ---- directory fds, reached without following symlinks ----
    def close(self) -> None:
        self._drop_cache()
        os.close(self.root_fd)

    def _drop_cache(self) -> None:
        """Forget every cached dir fd: called whenever a directory is removed."""
        for fd in self._fds.values():
            os.close(fd)
        self._fds.clear()

    def dir_fd(self, parts: tuple[str, ...], create: bool = True) -> int:
        """An fd for the directory `parts` (borrowed: valid until the next dir_fd call).

        Directory fds are cached (LRU): entries of a sorted tar mostly share a parent,
        so the walk usually starts from a cached ancestor, one open per new dir."""
        if not parts:
            return self.root_fd
        hit = self._fds.get(parts)
        if hit is not None:
            self._fds.move_to_end(parts)
            return hit
        start = len(parts) - 1
        while start > 0 and parts[:start] not in self._fds:
            start -= 1
        fd = os.dup(self._fds[parts[:start]] if start else self.root_fd)
        try:
            for i in range(start, len(parts)):
                p = parts[i]
                try:
                    nfd = os.open(p, _DIR_FLAGS, dir_fd=fd)
                except FileNotFoundError:
                    if not create:
                        raise
                    os.mkdir(p, 0o755, dir_fd=fd)
                    nfd = os.open(p, _DIR_FLAGS, dir_fd=fd)
                    self._implicit_dir_meta(nfd, parts[: i + 1])
                except OSError as e:
                    if e.errno not in (errno.ELOOP, errno.ENOTDIR):
                        raise
                    st = os.stat(p, dir_fd=fd, follow_symlinks=False)
                    what = "a symlink" if stat.S_ISLNK(st.st_mode) else "not a directory"
                    raise UnsafeArchive(
                        f"layer entry under {'/'.join(parts[: i + 1])!r}: parent is {what}; "
                        "refusing to write through it"
                    ) from e
                os.close(fd)
                fd = nfd
        except BaseException:
            os.close(fd)
            raise
        self._fds[parts] = fd
        if len(self._fds) > _FD_CACHE:
            os.close(self._fds.popitem(last=False)[1])
        return fd

    def _implicit_dir_meta(self, fd: int, parts: tuple[str, ...]) -> None:
        for low in self.lowers:
            try:
                st = os.lstat(low.joinpath(*parts))
            except OSError:
                continue
            if stat.S_ISDIR(st.st_mode):
                if self.chown:
                    os.fchown(fd, st.st_uid, st.st_gid)
                os.fchmod(fd, stat.S_IMODE(st.st_mode))
                os.utime(fd, ns=(st.st_atime_ns, st.st_mtime_ns))
            return

    # ---- entries ----
    def entry(self, tf: tarfile.TarFile, m: tarfile.TarInfo) -> None:
        parts = tuple(clean_parts(m.name))
        if not parts:  # the layer root itself
            if m.isdir():
                self.dirs[()] = m
            return
        parent, base = parts[:-1], parts[-1]
        if base.startswith(WH_PREFIX):
            self.whiteout(parent, base)
            return
        if m.ischr() or m.isblk():
            self.notes.append(f"skipped device node /{'/'.join(parts)}")
            return
        dfd = self.dir_fd(parent)
        self.written.add(parts)
        try:
            self.create(tf, m, dfd, base, parts)
        except FileExistsError:
            # Rare (a duplicate entry, or a dir made implicitly): creating first and
            # looking only on EEXIST saves an lstat per entry.
            dfd = self.dir_fd(parent)  # create() may have evicted the borrowed fd
            existing = _lstat(base, dfd)
            if existing is not None:
                if m.isdir() and stat.S_ISDIR(existing.st_mode):
                    self.dirs[parts] = m
                    return
                self.remove(dfd, base, existing, parent)
            self.create(tf, m, self.dir_fd(parent), base, parts)

    def create(
        self, tf: tarfile.TarFile, m: tarfile.TarInfo, dfd: int, base: str, parts: tuple[str, ...]
    ) -> None:
        """Create entry `m` as `base` in `dfd`; FileExistsError if the name is taken."""
        if m.isdir():
            os.mkdir(base, 0o700, dir_fd=dfd)
            self.dirs[parts] = m
        elif m.isreg():
            self.regular(tf, m, dfd, base)
        elif m.issym():
            os.symlink(m.linkname, base, dir_fd=dfd)
            self.meta_path(dfd, base, m, symlink=True)
        elif m.islnk():
            self.hardlink(m, dfd, base)
        elif m.isfifo():
            os.mkfifo(base, 0o600, dir_fd=dfd)
            self.meta_path(dfd, base, m)
        else:
            self.notes.append(f"skipped /{'/'.join(parts)}: unsupported tar entry type {m.type!r}")

    def regular(self, tf: tarfile.TarFile, m: tarfile.TarInfo, dfd: int, base: str) -> None:
        fd = os.open(base, _NEW_FILE, 0o600, dir_fd=dfd)
        try:
            if m.sparse is not None:
                # The archive holds only the data ranges, back to back; seek over holes.
                raw: Any = tf.fileobj
                sparse: list[tuple[int, int]] = m.sparse  # type: ignore[assignment]
                for off, n in sparse:
                    os.lseek(fd, off, os.SEEK_SET)
                    _copy(raw, fd, n)
                os.ftruncate(fd, m.size)
            else:
                # Straight from the tar stream (positioned at this entry's data): skips
                # the file object tarfile.extractfile builds per entry.
                _copy(tf.fileobj, fd, m.size)
            self.file_meta(fd, m)
        finally:
            os.close(fd)

    def file_meta(self, fd: int, m: tarfile.TarInfo) -> None:
        self.xattrs_fd(fd, m)
        if self.chown:
            _chown(os.fchown, fd, m)
        os.fchmod(fd, stat.S_IMODE(m.mode))  # after chown, which clears setuid
        ns = int(m.mtime * 1e9)
        os.utime(fd, ns=(ns, ns))

    def hardlink(self, m: tarfile.TarInfo, dfd: int, base: str) -> None:
        target = tuple(clean_parts(m.linkname))
        if not target:
            raise UnsafeArchive(f"hard link {m.name!r} points at the layer root")
        try:
            tfd = self.dir_fd(target[:-1], create=False)
            st = os.stat(target[-1], dir_fd=tfd, follow_symlinks=False)
        except FileNotFoundError:
            raise UnsafeArchive(
                f"hard link {m.name!r} -> {m.linkname!r}: target is not in this layer"
            ) from None
        if stat.S_ISDIR(st.st_mode):
            raise UnsafeArchive(f"hard link {m.name!r} -> {m.linkname!r}: target is a directory")
        # dir_fd(target) may have replaced the cached fd: reopen the link's parent.
        tdup = os.dup(tfd)
        try:
            dfd = self.dir_fd(tuple(clean_parts(m.name))[:-1])
            os.link(target[-1], base, src_dir_fd=tdup, dst_dir_fd=dfd, follow_symlinks=False)
        finally:
            os.close(tdup)

    def meta_path(self, dfd: int, base: str, m: tarfile.TarInfo, symlink: bool = False) -> None:
        if self.chown:
            _chown(lambda p, u, g: os.chown(p, u, g, dir_fd=dfd, follow_symlinks=False), base, m)
        if not symlink:
            os.chmod(base, stat.S_IMODE(m.mode), dir_fd=dfd)
        ns = int(m.mtime * 1e9)
        os.utime(base, ns=(ns, ns), dir_fd=dfd, follow_symlinks=False)

    def xattrs_fd(self, fd: int, m: tarfile.TarInfo) -> None:
        for key, value in m.pax_headers.items():
            if not key.startswith("SCHILY.xattr."):
                continue
            name = key[len("SCHILY.xattr.") :]
            if name.startswith(_OVERLAY_XATTRS):
                # The overlay's own markers (opaque, redirect, origin) come only from
                # whiteout entries: a layer must not forge them.
                self.notes.append(f"ignored xattr {name} on /{m.name.lstrip('/')}")
                continue
            data = value.encode("utf-8", "surrogateescape")
            try:
                os.setxattr(fd, name, data)
            except OSError as e:
                self.notes.append(f"xattr {name} on /{m.name.lstrip('/')} not kept: {e.strerror}")

    # ---- whiteouts ----
    def whiteout(self, parent: tuple[str, ...], base: str) -> None:
        dfd = self.dir_fd(parent)
        if base == WH_OPAQUE:
            if self.whiteouts == "overlay":
                os.setxattr(dfd, OPAQUE_XATTR, b"y")
            else:
                self.clear_unwritten(parent)
            return
        if base.startswith(WH_PREFIX + WH_PREFIX):
            return  # other AUFS metadata (.wh..wh.plnk ...): not content
        name = base[len(WH_PREFIX) :]
        if name in ("", ".", ".."):
            raise UnsafeArchive(f"layer whiteout {base!r} names no entry (or a parent)")
        existing = _lstat(name, dfd)
        if existing is not None:
            self.remove(dfd, name, existing, parent)
            dfd = self.dir_fd(parent)
        if self.whiteouts == "overlay":
            os.mknod(name, stat.S_IFCHR | 0o600, os.makedev(0, 0), dir_fd=dfd)
            self.written.add((*parent, name))

    def clear_unwritten(self, parts: tuple[str, ...]) -> None:
        """Opaque dir under vfs: drop everything below `parts` this layer did not write."""
        dfd = self.dir_fd(parts)
        for name in os.listdir(dfd):
            child = (*parts, name)
            st = _lstat(name, dfd)
            if st is None:
                continue
            if child not in self.written:
                self.remove(dfd, name, st, parts)
                dfd = self.dir_fd(parts)
            elif stat.S_ISDIR(st.st_mode):
                self.clear_unwritten(child)
                dfd = self.dir_fd(parts)

    def remove(self, dfd: int, name: str, st: os.stat_result, parent: tuple[str, ...]) -> None:
        if stat.S_ISDIR(st.st_mode):
            self._drop_cache()
            pfd = self.dir_fd(parent)
            remove_tree(Path(f"/proc/self/fd/{pfd}") / name)
            self._drop_cache()
            prefix = (*parent, name)
            self.dirs = {k: v for k, v in self.dirs.items() if k[: len(prefix)] != prefix}
        else:
            os.unlink(name, dir_fd=dfd)

    def finish(self) -> None:
        """Directory owners, modes, xattrs and times: deepest first, after their contents."""
        # Deepest first; siblings together so their parent's fd stays cached.
        for parts in sorted(self.dirs, key=lambda p: (-len(p), p)):
            m = self.dirs[parts]
            try:
                fd = self.dir_fd(parts, create=False)
            except FileNotFoundError:
                continue
            self.xattrs_fd(fd, m)
            if self.chown:
                _chown(os.fchown, fd, m)
            os.fchmod(fd, stat.S_IMODE(m.mode))
            ns = int(m.mtime * 1e9)
            os.utime(fd, ns=(ns, ns))


def _lstat(name: str, dfd: int) -> os.stat_result | None:
    try:
        return os.stat(name, dir_fd=dfd, follow_symlinks=False)
    except FileNotFoundError:
        return None


def _copy(src: Any, fd: int, n: int) -> None:
    left = n
    while left > 0:
        chunk = src.read(min(_CHUNK, left))
        if not chunk:
            raise BadArchive("layer tar is truncated (an entry's data ends early)")
        left -= len(chunk)
        while chunk:
            chunk = chunk[os.write(fd, chunk) :]


def _chown(fn: object, target: object, m: tarfile.TarInfo) -> None:
    try:
        fn(target, m.uid, m.gid)  # type: ignore[operator]
    except OSError as e:
        if e.errno == errno.EINVAL:
            raise EngineError(
                f"layer entry /{m.name.lstrip('/')} is owned by {m.uid}:{m.gid}, "
                "which is not mapped in the user namespace",
                hint="give your user a larger range in /etc/subuid and /etc/subgid",
            ) from e
        raise
