"""Finding a path in a stack of layer directories, the way the kernel overlay does.

layer 0 is the upper (writable) dir when there is one; the rest are the lower dirs,
top first. On-disk format is the kernel's user-namespace one, so one layer store serves
both: a whiteout is a 0/0 character device, an opaque dir carries user.overlay.opaque=y.
Where char devices cannot be made (an unprivileged mount outside a user namespace),
whiteouts fall back to empty `.wh.NAME` files, as fuse-overlayfs does.
"""

from __future__ import annotations

import errno
import os
import stat

OPAQUE_XATTR = "user.overlay.opaque"
WH_PREFIX = ".wh."
WH_OPAQUE = ".wh..wh..opq"


def is_whiteout(st: os.stat_result) -> bool:
    return stat.S_ISCHR(st.st_mode) and st.st_rdev == 0


def _maybe_device(e: os.DirEntry[str]) -> bool:
    """Not a dir, file or symlink by d_type: worth an lstat to see if it's a whiteout."""
    return not (
        e.is_file(follow_symlinks=False) or e.is_dir(follow_symlinks=False) or e.is_symlink()
    )


def enoent(path: str) -> OSError:
    return OSError(errno.ENOENT, os.strerror(errno.ENOENT), path)


class Layers:
    """Path lookups over `roots` (top first). Directory lookups are cached; every
    mutation of a directory's place in the stack must call forget()/remember()."""

    def __init__(self, roots: list[str], has_upper: bool, aufs_whiteouts: bool = False) -> None:
        self.roots = roots
        self.has_upper = has_upper
        self.aufs = aufs_whiteouts  # also honour `.wh.NAME` files
        self._dirs: dict[str, tuple[int, ...]] = {}
        self._kids: dict[str, set[str]] = {}  # cached dir -> its cached subdirs

    # ---- cache ----
    def forget(self, path: str) -> None:
        """Drop the cached stacks of `path` and everything under it."""
        self._dirs.pop(path, None)
        for kid in self._kids.pop(path, ()):
            self.forget(kid)

    def remember(self, path: str, layers: tuple[int, ...]) -> None:
        self._dirs[path] = layers
        if path != "/":
            self._kids.setdefault(path.rpartition("/")[0] or "/", set()).add(path)

    # ---- lookups ----
    def is_opaque(self, i: int, path: str) -> bool:
        real = self.roots[i] + path
        try:
            if os.getxattr(real, OPAQUE_XATTR, follow_symlinks=False) == b"y":
                return True
        except OSError:
            pass
        return self.aufs and os.path.lexists(real + "/" + WH_OPAQUE)

    def _aufs_hidden(self, i: int, path: str) -> bool:
        head, _, name = path.rpartition("/")
        return os.path.lexists(f"{self.roots[i]}{head}/{WH_PREFIX}{name}")

    def dir_layers(self, path: str) -> tuple[int, ...]:
        """Layers holding directory `path` that are visible in the merge, top first."""
        cached = self._dirs.get(path)
        if cached is not None:
            return cached
        if path == "/":
            found = self._stack_below("/", range(len(self.roots)))
        else:
            parent = path.rpartition("/")[0] or "/"
            found = self._stack_below(path, self.dir_layers(parent))
        if not found:
            raise enoent(path)
        self.remember(path, found)
        return found

    def _stack_below(self, path: str, candidates: object) -> tuple[int, ...]:
        found: list[int] = []
        for i in candidates:  # type: ignore[attr-defined]
            try:
                st = os.lstat(self.roots[i] + path)
            except FileNotFoundError:
                if self.aufs and path != "/" and self._aufs_hidden(i, path):
                    break
                continue
            if not stat.S_ISDIR(st.st_mode):
                if not found and not is_whiteout(st):
                    raise OSError(errno.ENOTDIR, os.strerror(errno.ENOTDIR), path)
                break  # a whiteout or a non-dir hides everything below
            found.append(i)
            if self.is_opaque(i, path):
                break
        return tuple(found)

    def lookup(self, path: str, below: int = 0) -> tuple[int, os.stat_result]:
        """(layer, lstat) of the topmost visible entry for `path` in layers >= below."""
        if path == "/":
            i = self.dir_layers("/")[0]
            return i, os.lstat(self.roots[i])
        parent = path.rpartition("/")[0] or "/"
        for i in self.dir_layers(parent):
            if i < below:
                continue
            try:
                st = os.lstat(self.roots[i] + path)
            except FileNotFoundError:
                if self.aufs and self._aufs_hidden(i, path):
                    break
                continue
            if is_whiteout(st):
                break
            return i, st
        raise enoent(path)

    def in_lower(self, path: str) -> bool:
        """Does a lower layer show something at `path` (so deleting it needs a whiteout)?"""
        try:
            self.lookup(path, below=1)
        except OSError:
            return False
        return True

    def upper_whiteout(self, path: str) -> bool:
        """Is there a whiteout for `path` in the upper dir?"""
        try:
            st = os.lstat(self.roots[0] + path)
        except FileNotFoundError:
            return self.aufs and self._aufs_hidden(0, path)
        return is_whiteout(st)

    def list_dir(self, path: str) -> list[str]:
        return [name for name, _, _ in self.entries(path)]

    def entries(self, path: str) -> list[tuple[str, int, int]]:
        """The merged listing as (name, layer, d_ino): upper names shadow lower ones,
        whiteouts hide them. Type and inode come from d_type/d_ino, no stat per entry."""
        layers = self.dir_layers(path)
        seen: set[str] = set()
        out: list[tuple[str, int, int]] = []
        single = len(layers) == 1 and not self.aufs
        for i in layers:
            with os.scandir(self.roots[i] + path) as it:
                for e in it:
                    name = e.name
                    if not single:
                        if name in seen:
                            continue
                        if self.aufs and name.startswith(WH_PREFIX):
                            if name != WH_OPAQUE:
                                seen.add(name[len(WH_PREFIX) :])
                            continue
                        seen.add(name)
                    if _maybe_device(e) and is_whiteout(e.stat(follow_symlinks=False)):
                        continue
                    out.append((name, i, e.inode()))
        return out
