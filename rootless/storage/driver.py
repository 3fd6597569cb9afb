"""The storage driver contract: layers and container root filesystems.

Modelled on containers/storage's driver.go: the whole contract fits on a screen.

On disk, under the driver's home ($data/storage/<driver>/):

    layers/<id>/diff/      the layer's files
    layers/<id>/parent     the parent layer id (absent for a base layer)
    layers/.tmp-<id>/      a layer being written; renamed into place by commit_layer,
                           so an interrupted unpack never looks like a layer
    containers/<id>/       the container's writable part and its mount point

Layer ids are chain ids (sha256 hex of the layer stack), so a layer is shared by every
image that has the same stack below it.

Whiteouts: `whiteouts == "overlay"` means a layer dir holds the kernel overlay's
user-namespace format (deleted entry = 0/0 character device, opaque dir = xattr
`user.overlay.opaque=y`) and layers are stacked at mount time (overlay, fuse);
`"delete"` means each layer is a full copy of its parent with the diff applied, whiteouts
performed as deletions (vfs). The unpacker (rootless.images.unpack) writes either form.

Every method that touches files must run inside the engine's user namespace
(rootless.userns.enter), so owners map through the subuid range.
"""

from __future__ import annotations

import os
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from rootless.errors import EngineError, NotFound

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import ClassVar, Literal

    WhiteoutFormat = Literal["overlay", "delete"]
    ChangeKind = Literal["add", "modify", "delete", "opaque"]


class StorageError(EngineError):
    """A storage driver could not do what was asked."""


@dataclass(frozen=True)
class DriverStatus:
    """Whether a storage driver works here, and why not."""

    name: str
    home: Path
    usable: bool
    reason: str = ""  # why it is not usable (one line), or notes
    details: dict[str, str] = field(default_factory=dict)


class Driver(ABC):
    name: ClassVar[str]
    whiteouts: ClassVar[WhiteoutFormat]

    def __init__(self, home: Path) -> None:
        self.home = home
        self.layers = home / "layers"
        self.containers = home / "containers"
        self.shifted = home / "shifted"  # ID-shifted image copies (--userns nomap)

    # ---- probing ----
    @classmethod
    @abstractmethod
    def probe(cls, home: Path) -> DriverStatus:
        """Can this driver work here (inside the user namespace)? Cheap, no side effects
        beyond a scratch dir under `home`."""

    # ---- layers ----
    def layer_dir(self, layer_id: str) -> Path:
        """The committed layer's files (its diff, or the full tree for vfs)."""
        return self.layers / layer_id / "diff"

    def exists(self, layer_id: str) -> bool:
        return (self.layers / layer_id / "diff").is_dir()

    def parent(self, layer_id: str) -> str | None:
        try:
            return (self.layers / layer_id / "parent").read_text().strip() or None
        except FileNotFoundError:
            return None

    def chain(self, layer_id: str) -> list[str]:
        """Layer ids from the base up to and including `layer_id` (bottom-first)."""
        out: list[str] = []
        cur: str | None = layer_id
        while cur:
            if not self.exists(cur):
                raise NotFound(f"layer {cur[:12]} is missing from the {self.name} store")
            out.append(cur)
            cur = self.parent(cur)
        return out[::-1]

    def lower_dirs_for(self, parent: str | None) -> list[Path]:
        """For a layer being unpacked on `parent`: the dirs stacked below it at mount time,
        top-first (empty for drivers whose layers are full copies)."""
        if not parent or self.whiteouts != "overlay":
            return []
        return [self.layer_dir(c) for c in reversed(self.chain(parent))]

    def create_layer(self, layer_id: str, parent: str | None) -> Path:
        """Start a layer on `parent`; returns the staging dir to unpack the diff into.
        Staging debris from an earlier interrupted attempt is discarded."""
        if parent and not self.exists(parent):
            raise NotFound(f"parent layer {parent[:12]} is missing")
        staging = self.layers / f".tmp-{layer_id}"
        if staging.exists():
            remove_tree(staging)
        (staging / "diff").mkdir(parents=True)
        if parent:
            (staging / "parent").write_text(parent)
            self._populate_from_parent(parent, staging / "diff")
        return staging / "diff"

    def _populate_from_parent(self, parent: str, diff: Path) -> None:  # noqa: B027
        """Hook for drivers whose layers are full copies (vfs)."""

    def commit_layer(self, layer_id: str) -> None:
        """Make the staged layer visible (atomic rename)."""
        staging = self.layers / f".tmp-{layer_id}"
        final = self.layers / layer_id
        if final.exists():  # someone else committed the same chain id first
            remove_tree(staging)
            return
        os.rename(staging, final)

    def remove_layer(self, layer_id: str) -> None:
        if self.shifted.is_dir():  # its ID-shifted copies (once no container uses it)
            for copy in self.shifted.glob(f"{layer_id}-*"):
                remove_tree(copy)
        d = self.layers / layer_id
        if d.exists():
            # Rename first so a half-removed layer never looks whole.
            trash = self.layers / f".tmp-rm-{layer_id}"
            os.rename(d, trash)
            remove_tree(trash)

    def layer_ids(self) -> list[str]:
        if not self.layers.is_dir():
            return []
        return sorted(p.name for p in self.layers.iterdir() if not p.name.startswith("."))

    def cleanup_debris(self, container_grace: float = 600.0) -> list[str]:
        """Remove staging dirs left by interrupted commands. Returns what was removed.

        Layer staging happens only under the image store's exclusive lock, which the
        caller must hold, so every layers/.tmp-* is debris. Container staging is not
        under that lock: only entries older than `container_grace` seconds are removed."""
        import time

        removed = []
        now = time.time()
        for base, grace in (
            (self.layers, 0.0),
            (self.containers, container_grace),
            (self.shifted, container_grace),
        ):
            if not base.is_dir():
                continue
            for p in base.iterdir():
                if not p.name.startswith(".tmp-"):
                    continue
                try:
                    if grace and now - p.lstat().st_mtime < grace:
                        continue
                except FileNotFoundError:
                    continue
                remove_tree(p)
                removed.append(str(p))
        return removed

    # ---- containers ----
    def container_dir(self, container_id: str) -> Path:
        return self.containers / container_id

    @abstractmethod
    def create_container(self, container_id: str, layer_id: str | None) -> None:
        """Prepare a writable root filesystem on top of layer `layer_id` (None = empty)."""

    @abstractmethod
    def mount(self, container_id: str) -> Path:
        """Mount (if needed) and return the container's root filesystem. Idempotent."""

    @abstractmethod
    def unmount(self, container_id: str) -> None:
        """Undo mount(). Idempotent."""

    @abstractmethod
    def changes(self, container_id: str) -> Iterator[Change]:
        """What the container changed relative to its image, parents before children.
        rootless.images.layertar.write_changes turns these into an OCI layer tar."""

    def shift_ids(self, container_id: str, offset: int) -> None:
        """Give the (unmounted) container a rootfs whose owners are moved up by `offset`
        (--userns nomap: see rootless.storage.idshift). Once, right after creation."""
        raise StorageError(f"the {self.name} driver cannot shift a container's ids")

    def remove_container(self, container_id: str) -> None:
        self.unmount(container_id)
        d = self.container_dir(container_id)
        if d.exists():
            remove_tree(d)

    def container_layer(self, container_id: str) -> str | None:
        try:
            return (self.container_dir(container_id) / "layer").read_text().strip() or None
        except FileNotFoundError:
            return None


@dataclass(frozen=True)
class Change:
    """One path the container changed. `path` is relative to the rootfs ("etc/passwd");
    `source` is where the new content lives on disk (None for delete)."""

    kind: ChangeKind
    path: str
    source: Path | None


def remove_tree(path: Path) -> None:
    """rm -rf that also copes with read-only directories inside (chmod then retry)."""
    import shutil  # here: with it come bz2 and lzma, ~2 ms of every `run`'s start-up

    def onerror(func: object, p: str, exc: object) -> None:
        try:
            os.chmod(os.path.dirname(p), 0o700)
            if os.path.isdir(p) and not os.path.islink(p):
                os.chmod(p, 0o700)
                shutil.rmtree(p, onerror=onerror)
            else:
                os.unlink(p)
        except FileNotFoundError:
            pass

    if path.is_symlink() or not path.is_dir():
        path.unlink(missing_ok=True)
        return
    shutil.rmtree(path, onerror=onerror)


def unmount_all(merged: Path, mounted: Callable[[Path], bool] = os.path.ismount) -> None:
    """Unmount `merged` until nothing is mounted there (stacked mounts included); a busy
    mount is detached lazily, as the kernel frees it once its last user goes."""
    import errno

    from rootless import syscalls

    while mounted(merged):
        try:
            syscalls.umount2(merged, 0)
        except OSError as e:
            if e.errno == errno.EBUSY:
                syscalls.umount2(merged, syscalls.MNT_DETACH)
            elif e.errno in (errno.EINVAL, errno.ENOENT):
                break
            else:
                raise
