"""rm: remove stopped containers; -f stops them first."""

from __future__ import annotations

from rootless.engine.containers.cleanup import destroy, remove_anonymous_volumes
from rootless.engine.containers.context import Ctx
from rootless.engine.containers.state import ContainerState, require
from rootless.engine.containers.stop import stop_locked
from rootless.engine.containers.waiting import RUNNING_STATES
from rootless.errors import NotFound


def remove(ctx: Ctx, ref: str, *, force: bool = False, volumes: bool = False) -> str:
    """Remove one container; returns its id. -f on a missing one is not an error."""
    try:
        cid = ctx.store.resolve(ref)
    except NotFound:
        if force:
            return ""
        raise
    with ctx.store.lock(cid):
        rec = ctx.store.load(cid)
        state, _ = ctx.state(rec)
        if state in RUNNING_STATES:
            if not force:
                require("remove", state, rec.name)
            stop_locked(ctx, rec, timeout=0)
            if not ctx.store.dir(cid).record.exists():
                return cid  # it was a --rm container: stopping removed it
            state, _ = ctx.state(rec)
        if state == ContainerState.REMOVING and not force:
            require("remove", state, rec.name)
        rec.state = ContainerState.REMOVING
        ctx.store.save(rec)
        destroy(ctx, rec)
        if volumes:
            remove_anonymous_volumes(ctx, rec)
    return cid
