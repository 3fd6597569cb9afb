"""Teardown after a container stopped, and `container cleanup` (the monitor's exit command).

Idempotent and lock-protected: the attached CLI and the monitor's cleanup command may
both arrive; the second finds nothing left to do.
"""

from __future__ import annotations

import contextlib
import shutil
from collections.abc import Callable

from rootless.engine.containers import rootfs
from rootless.engine.containers.context import Ctx
from rootless.engine.containers.record import Record
from rootless.engine.containers.state import ContainerState
from rootless.errors import NotFound

S = ContainerState


def teardown(ctx: Ctx, rec: Record, *, runtime_done: bool = False) -> None:
    """Release what a stopped container used: runtime state, network, rootfs mount.
    runtime_done: the monitor is deleting the runtime's state (it says when it did)."""
    if not runtime_done:
        ctx.runtime(rec).delete(rec.id)
    if rec.spec.network != "none":  # see start.prepare: none never reaches the hook
        from rootless.engine import network_hook

        with contextlib.suppress(Exception):
            network_hook.teardown(ctx.paths, rec)
    rec.netns = ""
    if rec.cgroup:  # cgroups: record OOMKilled, remove the container's cgroup
        from rootless.engine import cgroups_hook

        cgroups_hook.teardown(rec)
    if rec.rootfs:
        rootfs.unmount(ctx.paths, rec.id, rec.storage_driver)
        rec.rootfs = ""


def destroy(
    ctx: Ctx,
    rec: Record,
    *,
    runtime_done: bool = False,
    runtime_wait: Callable[[], None] | None = None,
) -> None:
    """Remove every trace of a stopped container (its lock held).
    runtime_wait: returns once the runtime's state is deleted; called before the bundle
    goes, as the runtime deleting it concurrently works in there."""
    teardown(ctx, rec, runtime_done=runtime_done)
    rootfs.remove(ctx.paths, rec.id, rec.storage_driver)
    ctx.store.release_name(rec.name, rec.id)
    if runtime_wait is not None:
        runtime_wait()
    shutil.rmtree(ctx.store.dir(rec.id).path, ignore_errors=True)
    with contextlib.suppress(FileNotFoundError):
        (ctx.paths.locks / f"ctr-{rec.id}.lock").unlink()


def remove_anonymous_volumes(ctx: Ctx, rec: Record) -> list[str]:
    """The container's anonymous volumes no other container uses (rm -v, --rm)."""
    from rootless.engine.mounts import parse_spec

    if not rec.image_config.get("Volumes") and not any(
        m.kind == "volume" and not m.source for m in parse_spec(rec.spec)
    ):
        return []  # none: skip the volume store, which reads every container's record
    from rootless.engine.volumes import VolumeStore

    return VolumeStore(ctx.paths).remove_anonymous(rec)


def cleanup_locked(
    ctx: Ctx,
    rec: Record,
    *,
    runtime_done: bool = False,
    runtime_wait: Callable[[], None] | None = None,
) -> bool:
    """Teardown if stopped; remove with --rm. False when it runs (again)."""
    state, _ = ctx.state(rec)
    if state in (S.RUNNING, S.RESTARTING, S.PAUSED):
        return False
    if rec.spec.remove:
        destroy(ctx, rec, runtime_done=runtime_done, runtime_wait=runtime_wait)
        remove_anonymous_volumes(ctx, rec)  # --rm takes its anonymous volumes, as Docker
        return True
    if rec.rootfs or rec.netns or rec.state != S.EXITED:
        teardown(ctx, rec, runtime_done=runtime_done)
        if rec.state != S.CREATED:
            rec.state = S.EXITED
        ctx.store.save(rec)
    return True


def cleanup(ctx: Ctx, ref: str) -> None:
    try:
        cid = ctx.store.resolve(ref)
    except NotFound:
        return
    with ctx.store.lock(cid):
        try:
            rec = ctx.store.load(cid)
        except NotFound:
            return
        cleanup_locked(ctx, rec)
