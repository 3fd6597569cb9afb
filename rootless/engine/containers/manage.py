"""Small verbs: rename, restart, top, port, prune."""

from __future__ import annotations

import os

from rootless.engine.containers.cleanup import destroy
from rootless.engine.containers.context import Ctx
from rootless.engine.containers.procs import container_pids, proc_row
from rootless.engine.containers.record import Record
from rootless.engine.containers.start import start_locked
from rootless.engine.containers.state import ContainerState, require
from rootless.engine.containers.stop import stop_locked
from rootless.engine.names import validate_name
from rootless.errors import Conflict


def rename(ctx: Ctx, ref: str, new: str) -> Record:
    validate_name(new)
    cid = ctx.store.resolve(ref)
    with ctx.store.lock(cid):
        rec = ctx.store.load(cid)
        require("rename", ctx.state(rec)[0], rec.name)
        if new == rec.name:
            return rec
        with ctx.store.names_lock():
            if not ctx.store._claim(new, cid):
                raise Conflict(f'the container name "{new}" is already in use')
            old = rec.name
            rec.name = new
            ctx.store.save(rec)
            try:
                os.unlink(ctx.store.names_dir / old)
            except FileNotFoundError:
                pass
    return rec


def restart(ctx: Ctx, ref: str, timeout: float | None = None) -> Record:
    cid = ctx.store.resolve(ref)
    with ctx.store.lock(cid):
        rec = ctx.store.load(cid)
        require("restart", ctx.state(rec)[0], rec.name)
        stop_locked(ctx, rec, timeout)
        from rootless.engine.containers.cleanup import teardown

        teardown(ctx, rec)
        rec.state = ContainerState.EXITED
        start_locked(ctx, rec)
    return rec


def top(ctx: Ctx, ref: str) -> list[dict[str, str]]:
    cid = ctx.store.resolve(ref)
    rec = ctx.store.load(cid)
    state, ms = ctx.state(rec)
    require("top", state, rec.name)
    rows = []
    from rootless.engine import cgroups_hook  # cgroups: its cgroup's processes when it has one

    in_cgroup = cgroups_hook.pids(rec)
    for pid in (
        in_cgroup if in_cgroup is not None else container_pids(ms.container_pid if ms else 0)
    ):
        row = proc_row(pid)
        if row:
            rows.append(row)
    return rows


def port(ctx: Ctx, ref: str) -> list[str]:
    """Published ports as `podman port` prints them: 80/tcp -> 0.0.0.0:8080."""
    from rootless.engine.network_hook import ports

    cid = ctx.store.resolve(ref)
    out = []
    for p in ports(ctx.paths, cid):
        host_ip = p.get("host_ip") or "0.0.0.0"
        out.append(f"{p['container_port']}/{p.get('proto', 'tcp')} -> {host_ip}:{p['host_port']}")
    return out


def prune(ctx: Ctx) -> list[str]:
    removed = []
    for rec in list(ctx.store.records()):
        with ctx.store.lock(rec.id):
            try:
                cur = ctx.store.load(rec.id)
            except Exception:
                continue
            if ctx.state(cur)[0] in (ContainerState.EXITED, ContainerState.CREATED):
                destroy(ctx, cur)
                removed.append(cur.id)
    return removed
