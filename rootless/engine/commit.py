"""commit: a container's changes become a new image layer on top of its image.

The storage driver lists what the container changed (added/modified files, deletions,
opaque dirs); rootless.images.layertar writes them as an OCI layer tar (deletions as
`.wh.` whiteouts); the new image keeps the base image's config with --change applied.
Volumes and bind mounts are not part of the container's rootfs, so they never end up in
the image (as in Docker). A running container is paused while its changes are read.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from rootless.errors import UsageError

if TYPE_CHECKING:
    from rootless.engine.containers.context import Ctx
    from rootless.engine.containers.record import Record
    from rootless.images.store import Image
    from rootless.storage.driver import Change


@dataclass
class CommitRequest:
    container: str
    image: str | None = None  # NAME[:TAG]; None = an untagged image
    message: str = ""
    author: str = ""
    changes: list[str] = field(default_factory=list)  # Dockerfile-like --change lines
    pause: bool = True


# Empty files/dirs the runtime creates as mount points are not the container's changes.
_RUNTIME_MOUNTPOINTS = frozenset(
    {"dev", "proc", "sys", "etc/hosts", "etc/hostname", "etc/resolv.conf", "run/rootless-init"}
)


def _is_mountpoint_debris(ch: Change) -> bool:
    if ch.kind != "add" or ch.path.strip("/") not in _RUNTIME_MOUNTPOINTS or ch.source is None:
        return False
    try:
        if ch.source.is_dir() and not ch.source.is_symlink():
            return not any(ch.source.iterdir())
        return ch.source.stat().st_size == 0
    except OSError:
        return False


@contextlib.contextmanager
def _paused(ctx: Ctx, rec: Record, want: bool) -> Iterator[None]:
    """Pause a running container for the duration (if asked); resume it afterwards."""
    from rootless.engine.containers import pause
    from rootless.engine.containers.state import ContainerState

    state, _ = ctx.state(rec)
    if not want or state != ContainerState.RUNNING:
        yield
        return
    pause.pause(ctx, rec.id)
    try:
        yield
    finally:
        pause.unpause(ctx, rec.id)


def commit(ctx: Ctx, req: CommitRequest) -> Image:
    """Commit container `req.container` as a new image (ctx: inside the user namespace)."""
    from rootless.engine import images as image_service
    from rootless.engine.containers import rootfs
    from rootless.images import reference
    from rootless.images.create import apply_changes
    from rootless.images.layertar import write_changes

    if req.image:
        reference.parse(req.image, default_registry=reference.LOCALHOST)  # bad name: fail first
    cid = ctx.store.resolve(req.container)
    rec = ctx.store.load(cid)
    config = apply_changes(dict(rec.image_config), req.changes)
    if rec.storage_driver in ("", "standin"):
        raise UsageError(f"container {rec.name} has no storage driver layer to commit")
    drv = rootfs.driver(ctx.paths, rec.storage_driver)
    tmpdir = ctx.paths.data / "tmp"
    tmpdir.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=tmpdir, prefix="commit-", suffix=".tar")
    try:
        with os.fdopen(fd, "w+b") as f:
            with _paused(ctx, rec, req.pause):
                write_changes((c for c in drv.changes(cid) if not _is_mountpoint_debris(c)), f)
            f.seek(0)
            return image_service.commit_layer(
                ctx.paths,
                rec.image_id,
                f,
                config=config,
                name=req.image,
                created_by=" ".join(rec.command),
                comment=req.message,
                author=req.author,
            )
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
