"""pause/unpause: the runtime's freezer when cgroups allow, else SIGSTOP/SIGCONT of every
process in the container (no cgroup delegation for users on this kind of host)."""

from __future__ import annotations

import contextlib
import os
import signal

from rootless.engine.containers.context import Ctx
from rootless.engine.containers.procs import container_pids
from rootless.engine.containers.record import Record
from rootless.engine.containers.state import ContainerState, require


def _signal_all(ctx: Ctx, rec: Record, sig: int) -> None:
    _, ms = ctx.state(rec)
    if not ms or not ms.container_pid:
        return
    for pid in container_pids(ms.container_pid):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, sig)


def pause(ctx: Ctx, ref: str) -> Record:
    cid = ctx.store.resolve(ref)
    with ctx.store.lock(cid):
        rec = ctx.store.load(cid)
        state, _ = ctx.state(rec)
        require("pause", state, rec.name)
        from rootless.engine import cgroups_hook  # cgroups: cgroup.freeze when it has one

        frozen = cgroups_hook.freeze(rec, True)
        if not frozen and ctx.runtime(rec).call("pause", rec.id, check=False).returncode != 0:
            _signal_all(ctx, rec, signal.SIGSTOP)
        rec.state = ContainerState.PAUSED
        ctx.store.save(rec)
    return rec


def resume_for_signal(ctx: Ctx, rec: Record) -> None:
    from rootless.engine import cgroups_hook  # cgroups: thaw its cgroup when it has one

    if cgroups_hook.freeze(rec, False):
        return
    ctx.runtime(rec).call("resume", rec.id, check=False)
    _signal_all(ctx, rec, signal.SIGCONT)


def unpause(ctx: Ctx, ref: str) -> Record:
    cid = ctx.store.resolve(ref)
    with ctx.store.lock(cid):
        rec = ctx.store.load(cid)
        state, _ = ctx.state(rec)
        require("unpause", state, rec.name)
        resume_for_signal(ctx, rec)
        rec.state = ContainerState.RUNNING
        ctx.store.save(rec)
    return rec
