"""overlay: the kernel's overlayfs, mounted inside our user namespace with `userxattr`.

Layers are stacked at mount time: lowerdir = the image's layer dirs (top first), a fresh
upperdir/workdir per container. Without `userxattr` the kernel mounts fine inside a user
namespace but ignores opaque markers (HOST-NOTES), so we refuse to run without it.
Layer dirs are passed as /proc/self/fd/N paths: the mount data is limited to one page,
which 64-hex-digit paths would exhaust after ~35 layers.
"""

from __future__ import annotations

import contextlib
import os
import stat
from collections.abc import Iterator
from pathlib import Path

from rootless import syscalls
from rootless.errors import NotFound
from rootless.storage.driver import (
    Change,
    Driver,
    DriverStatus,
    StorageError,
    remove_tree,
    unmount_all,
)

OPAQUE_XATTR = "user.overlay.opaque"
SHIFTED_LOWER = "lower-shifted"  # names the container's ID-shifted image copy (nomap)


def overlay_options(
    lowers: list[str], upper: Path | None, work: Path | None, *, volatile: bool = False
) -> str:
    opts = [f"lowerdir={':'.join(lowers)}"]
    if upper is not None and work is not None:
        opts += [f"upperdir={upper}", f"workdir={work}"]
        if volatile:
            opts.append("volatile")
    opts.append("userxattr")
    return ",".join(opts)


def shifted_name(layer_id: str, offset: int) -> str:
    return f"{layer_id}-{offset}"


def clear_volatile_marker(work: Path) -> None:
    """The kernel refuses to mount a volatile overlay again while the marker its last
    volatile mount left exists (it cannot know the upper dir is consistent)."""
    marker = work / "work" / "incompat" / "volatile"
    with contextlib.suppress(FileNotFoundError):
        for name in os.listdir(marker):
            remove_tree(marker / name)
        os.rmdir(marker)


class OverlayDriver(Driver):
    name = "overlay"
    whiteouts = "overlay"

    @classmethod
    def probe(cls, home: Path) -> DriverStatus:
        """Mount a tiny overlay (two lowers, upper, work) for real and unmount it."""
        import tempfile  # probing only: not on every `run`

        try:
            home.mkdir(parents=True, exist_ok=True)
            scratch = Path(tempfile.mkdtemp(prefix=".tmp-probe-", dir=home))
        except OSError as e:
            return DriverStatus(cls.name, home, False, f"cannot create {home}: {e.strerror}")
        try:
            for d in ("l1", "l2", "u", "w", "m"):
                (scratch / d).mkdir()
            # Layers need both whiteout forms on this filesystem: user xattrs and 0/0
            # character devices (the latter only as root in a user namespace).
            os.setxattr(scratch / "l1", OPAQUE_XATTR, b"y")
            os.mknod(scratch / "l2" / "wh", stat.S_IFCHR | 0o600, os.makedev(0, 0))
            opts = overlay_options(
                [str(scratch / "l1"), str(scratch / "l2")], scratch / "u", scratch / "w"
            )
            syscalls.mount("overlay", scratch / "m", "overlay", 0, opts)
            syscalls.umount2(scratch / "m", syscalls.MNT_DETACH)
            return DriverStatus(cls.name, home, True, "kernel overlayfs with userxattr")
        except OSError as e:
            return DriverStatus(
                cls.name, home, False, f"kernel overlay unusable here: {e.strerror}"
            )
        finally:
            remove_tree(scratch)

    # ---- containers ----
    def create_container(self, container_id: str, layer_id: str | None) -> None:
        final = self.container_dir(container_id)
        if final.exists():
            raise StorageError(f"container storage {container_id[:12]} already exists")
        if layer_id:
            self.chain(layer_id)  # raises NotFound if any layer is missing
        staging = self.containers / f".tmp-{container_id}"
        if staging.exists():
            remove_tree(staging)
        for d in ("upper", "work", "merged", "empty"):
            (staging / d).mkdir(parents=True)
        os.chmod(staging / "upper", 0o755)
        if layer_id:
            (staging / "layer").write_text(layer_id)
        os.rename(staging, final)

    def lower_dirs(self, container_id: str) -> list[Path]:
        """Layer dirs top-first, as overlay's lowerdir wants them (or the container's
        own ID-shifted copy of them: shift_ids)."""
        try:
            name = (self.container_dir(container_id) / SHIFTED_LOWER).read_text().strip()
            return [self.shifted / name]
        except FileNotFoundError:
            pass
        layer = self.container_layer(container_id)
        if not layer:
            return [self.container_dir(container_id) / "empty"]
        return [self.layer_dir(c) for c in reversed(self.chain(layer))]

    def mount(self, container_id: str, *, volatile: bool = False) -> Path:
        """volatile: no sync of the upper dir, ever (its umount then costs ~0.1 s less on
        a busy disk); only for containers whose upper dir is discarded when they stop."""
        cdir = self.container_dir(container_id)
        merged = cdir / "merged"
        if not cdir.is_dir():
            raise NotFound(f"no storage for container {container_id[:12]}")
        if os.path.ismount(merged):
            return merged
        fds = [
            os.open(d, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
            for d in self.lower_dirs(container_id)
        ]
        try:
            if volatile:
                clear_volatile_marker(cdir / "work")
            opts = overlay_options(
                [f"/proc/self/fd/{fd}" for fd in fds],
                cdir / "upper",
                cdir / "work",
                volatile=volatile,
            )
            try:
                syscalls.mount("overlay", merged, "overlay", 0, opts)
            except OSError as e:
                raise StorageError(
                    f"mounting the overlay for container {container_id[:12]} failed: {e.strerror}",
                    hint="run inside the engine's user namespace, or use --storage-driver vfs",
                ) from e
        finally:
            for fd in fds:
                os.close(fd)
        return merged

    def unmount(self, container_id: str) -> None:
        unmount_all(self.container_dir(container_id) / "merged")

    def shift_ids(self, container_id: str, offset: int) -> None:
        """The container's lower dir becomes a chown'ed copy of its image, made once per
        image and offset and shared, as containers/storage does for a mapping without
        idmapped mounts; the upper dir's root (the rootfs' /) goes to the shifted root.
        The image's own layers stay untouched."""
        layer = self.container_layer(container_id)
        cdir = self.container_dir(container_id)
        if layer:
            name = shifted_name(layer, offset)
            if not (self.shifted / name).is_dir():
                self._make_shifted(container_id, name, offset)
            (cdir / SHIFTED_LOWER).write_text(name)
        os.chown(cdir / "upper", offset, offset)

    def _make_shifted(self, container_id: str, name: str, offset: int) -> None:
        """Flatten the image through the container's own (still empty) mount (unless it
        has one layer), copy it, shift the copy, rename it into place (a racing twin's
        copy is dropped)."""
        from rootless.storage.idshift import shift_tree
        from rootless.storage.vfs import copy_tree

        staging = self.shifted / f".tmp-{name}-{os.getpid()}"
        if staging.exists():
            remove_tree(staging)
        try:
            lowers = self.lower_dirs(container_id)
            if len(lowers) == 1:  # a one-layer image: nothing to flatten, copy it directly
                copy_tree(lowers[0], staging)
            else:
                try:
                    copy_tree(self.mount(container_id), staging)
                finally:
                    self.unmount(container_id)
            shift_tree(staging, offset)
            os.rename(staging, self.shifted / name)
        except OSError as e:
            if not (self.shifted / name).is_dir():
                raise StorageError(f"making the ID-shifted copy of the image failed: {e}") from e
        finally:
            if staging.exists():
                remove_tree(staging)

    def changes(self, container_id: str) -> Iterator[Change]:
        cdir = self.container_dir(container_id)
        lowers = self.lower_dirs(container_id) if (cdir / "layer").exists() else []
        yield from upper_changes(cdir / "upper", lowers, "")


def _in_lowers(lowers: list[Path], rel: str) -> bool:
    return any(os.path.lexists(low / rel) for low in lowers)


def upper_changes(upper: Path, lowers: list[Path], rel: str) -> Iterator[Change]:
    """Changes recorded in an overlay upper dir (userxattr format), parents first.
    Shared with the fuse driver, whose upper dirs use the same format."""
    d = upper / rel if rel else upper
    for name in sorted(os.listdir(d)):
        r = f"{rel}/{name}" if rel else name
        p = d / name
        st = p.lstat()
        if stat.S_ISCHR(st.st_mode) and st.st_rdev == 0:
            yield Change("delete", r, None)
            continue
        if stat.S_ISDIR(st.st_mode):
            opaque = False
            with contextlib.suppress(OSError):
                opaque = os.getxattr(p, OPAQUE_XATTR, follow_symlinks=False) == b"y"
            if opaque:
                yield Change("opaque", r, p)
            else:
                yield Change("modify" if _in_lowers(lowers, r) else "add", r, p)
            yield from upper_changes(upper, [] if opaque else lowers, r)
        else:
            yield Change("modify" if _in_lowers(lowers, r) else "add", r, p)
