"""stop and kill: signal the container through the runtime; stop escalates to SIGKILL."""

from __future__ import annotations

import contextlib
import os
import signal as sigmod

from rootless.engine.containers.context import Ctx
from rootless.engine.containers.record import Record
from rootless.engine.containers.state import ContainerState, require
from rootless.engine.containers.store import stop_file
from rootless.engine.containers.waiting import RUNNING_STATES, wait_stopped
from rootless.engine.runspec import parse_signal


def _mark_stopped_by_user(ctx: Ctx, rec: Record) -> None:
    """The monitor checks this file before applying a restart policy."""
    with contextlib.suppress(FileNotFoundError):
        stop_file(ctx.store.dir(rec.id)).touch()


def _send(ctx: Ctx, rec: Record, sig: int) -> None:
    if rec.state == ContainerState.PAUSED:
        from rootless.engine.containers.pause import resume_for_signal

        resume_for_signal(ctx, rec)
    if not ctx.runtime(rec).kill(rec.id, str(sig), all_procs=sig == sigmod.SIGKILL):
        # The runtime lost track (e.g. its state is gone): signal the pid we know.
        _, ms = ctx.state(rec)
        if ms and ms.container_pid:
            with contextlib.suppress(ProcessLookupError):
                os.kill(ms.container_pid, sig)


def stop_locked(ctx: Ctx, rec: Record, timeout: float | None = None) -> None:
    state, _ = ctx.state(rec)
    if state not in RUNNING_STATES:
        return  # stopping a stopped container is fine, as in Docker
    _mark_stopped_by_user(ctx, rec)
    t = rec.spec.stop_timeout if timeout is None else timeout
    if t > 0:
        _send(ctx, rec, parse_signal(rec.spec.stop_signal))
        done, _ = wait_stopped(ctx, rec, t)
        if done:
            _after_stop(ctx, rec)
            return
    _send(ctx, rec, sigmod.SIGKILL)
    wait_stopped(ctx, rec, 10)
    _after_stop(ctx, rec)


def _after_stop(ctx: Ctx, rec: Record) -> None:
    """Tear down now (we hold the lock) rather than leave it to the monitor's cleanup
    command: `stop` of a --rm container returns with the container gone, and a monitor
    that was killed cannot do it at all."""
    from rootless.engine.containers.cleanup import cleanup_locked

    if rec.state == ContainerState.PAUSED:
        rec.state = ContainerState.RUNNING
        ctx.store.save(rec)
    cleanup_locked(ctx, rec)


def stop(ctx: Ctx, ref: str, timeout: float | None = None) -> Record:
    cid = ctx.store.resolve(ref)
    with ctx.store.lock(cid):
        rec = ctx.store.load(cid)
        stop_locked(ctx, rec, timeout)
    return rec


def kill(ctx: Ctx, ref: str, sig: str = "KILL") -> Record:
    n = parse_signal(sig)
    cid = ctx.store.resolve(ref)
    with ctx.store.lock(cid):
        rec = ctx.store.load(cid)
        state, _ = ctx.state(rec)
        require("kill", state, rec.name)
        if n in (sigmod.SIGKILL, sigmod.SIGTERM, sigmod.SIGINT):
            _mark_stopped_by_user(ctx, rec)
        _send(ctx, rec, n)
    return rec
