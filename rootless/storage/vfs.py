"""vfs: every layer and every container is a full copy. Slow and big, works everywhere
(any filesystem, no mount permission needed)."""

from __future__ import annotations

import os
import stat
import subprocess
from collections.abc import Iterator
from pathlib import Path

from rootless.errors import NotFound
from rootless.storage.driver import Change, Driver, DriverStatus, StorageError, remove_tree


def copy_tree(src: Path, dst: Path) -> None:
    """Copy a tree keeping owners, modes, times, xattrs, hard links, special files.

    `cp -a` does all of that with copy_file_range/reflinks; Python has no equivalent."""
    dst.mkdir(parents=True, exist_ok=True)
    p = subprocess.run(
        ["cp", "-a", "--reflink=auto", "--", f"{src}/.", str(dst)],
        capture_output=True,
        text=True,
    )
    if p.returncode != 0:
        raise StorageError(f"copying {src} to {dst} failed: {p.stderr.strip()[:300]}")


class VfsDriver(Driver):
    name = "vfs"
    whiteouts = "delete"

    @classmethod
    def probe(cls, home: Path) -> DriverStatus:
        return DriverStatus(cls.name, home, True, "full copies; works on any filesystem")

    def _populate_from_parent(self, parent: str, diff: Path) -> None:
        copy_tree(self.layer_dir(parent), diff)

    def rootfs(self, container_id: str) -> Path:
        return self.container_dir(container_id) / "rootfs"

    def create_container(self, container_id: str, layer_id: str | None) -> None:
        final = self.container_dir(container_id)
        if final.exists():
            raise StorageError(f"container storage {container_id[:12]} already exists")
        if layer_id and not self.exists(layer_id):
            raise NotFound(f"layer {layer_id[:12]} is missing from the vfs store")
        staging = self.containers / f".tmp-{container_id}"
        if staging.exists():
            remove_tree(staging)
        (staging / "rootfs").mkdir(parents=True)
        if layer_id:
            copy_tree(self.layer_dir(layer_id), staging / "rootfs")
            (staging / "layer").write_text(layer_id)
        os.rename(staging, final)

    def mount(self, container_id: str) -> Path:
        root = self.rootfs(container_id)
        if not root.is_dir():
            raise NotFound(f"no storage for container {container_id[:12]}")
        return root

    def unmount(self, container_id: str) -> None:
        pass

    def shift_ids(self, container_id: str, offset: int) -> None:
        """The container's rootfs is its own full copy: chown it in place."""
        from rootless.storage.idshift import shift_tree

        shift_tree(self.rootfs(container_id), offset)

    def changes(self, container_id: str) -> Iterator[Change]:
        layer = self.container_layer(container_id)
        base = self.layer_dir(layer) if layer else None
        yield from _compare(base, self.rootfs(container_id), "")


def _lstat(p: Path) -> os.stat_result | None:
    try:
        return p.lstat()
    except FileNotFoundError:
        return None


def _same(a: os.stat_result, b: os.stat_result, pa: Path, pb: Path) -> bool:
    if stat.S_IFMT(a.st_mode) != stat.S_IFMT(b.st_mode):
        return False
    if (a.st_mode, a.st_uid, a.st_gid) != (b.st_mode, b.st_uid, b.st_gid):
        return False
    if stat.S_ISDIR(a.st_mode):
        return True  # contents compared entry by entry
    if stat.S_ISLNK(a.st_mode):
        return os.readlink(pa) == os.readlink(pb)
    return a.st_size == b.st_size and a.st_mtime_ns == b.st_mtime_ns


def _compare(base: Path | None, top: Path, rel: str) -> Iterator[Change]:
    """Changes from base/rel to top/rel, parents before children (naive diff, like
    containers/storage's vfs: mtime + size + metadata)."""
    tdir = top / rel if rel else top
    bdir = (base / rel if rel else base) if base else None
    tnames = set(os.listdir(tdir))
    bnames = set(os.listdir(bdir)) if bdir and bdir.is_dir() and not bdir.is_symlink() else set()
    for name in sorted(tnames | bnames):
        r = f"{rel}/{name}" if rel else name
        t = _lstat(tdir / name) if name in tnames else None
        b = _lstat(bdir / name) if bdir and name in bnames else None
        if t is None:
            yield Change("delete", r, None)
            continue
        if b is None:
            yield Change("add", r, tdir / name)
        elif not _same(b, t, bdir / name, tdir / name):  # type: ignore[operator]
            if stat.S_ISDIR(b.st_mode) != stat.S_ISDIR(t.st_mode):
                yield Change("delete", r, None)
                yield Change("add", r, tdir / name)
            else:
                yield Change("modify", r, tdir / name)
        if stat.S_ISDIR(t.st_mode):
            yield from _compare(base if b is not None and stat.S_ISDIR(b.st_mode) else None,
                                top, r)  # fmt: skip
