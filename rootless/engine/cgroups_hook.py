"""The containers flow's seam to cgroups (issue 12).

- create time: `check_spec` applies the warn/require policy to the limit flags;
- start: `setup` makes the container's cgroup `<delegated root>/containers/<id>` and writes
  its limits; the monitor moves the container's init into it between the runtime's
  `create` and `start` (rootless/monitor/supervisor.py, args["cgroup"]), so the limits hold
  from the container's first instruction;
- exit: `teardown` records OOMKilled (memory.events oom_kill > 0) and removes the cgroup;
- `freeze`, `pids`, `sample`, `update` serve pause/unpause, top, stats and update.

Without a delegated cgroup v2 subtree (hybrid hosts) `setup` returns "" and every other
verb falls back to what the caller did before (signals, /proc).
"""

from __future__ import annotations

import contextlib
from pathlib import Path

TYPE_CHECKING = False
if TYPE_CHECKING:
    from rootless.cgroups.limits import Limits
    from rootless.cgroups.sample import Sample
    from rootless.engine.containers.context import Ctx
    from rootless.engine.containers.record import Record
    from rootless.engine.runspec import RunSpec


def limits_of(spec: RunSpec) -> Limits:
    from rootless.cgroups.limits import from_dict

    return from_dict(getattr(spec, "resources", None))


def check_spec(spec: RunSpec, requested: str | None, config_dir: Path) -> None:
    """Warn once (or raise, with `require`) when the spec's limits cannot be applied; the
    policy: `requested` (--cgroup-limits, ROOTLESS_CGROUP_LIMITS), else engine.conf."""
    if not getattr(spec, "resources", None):
        return  # no limit flags: nothing to check (the limits and policy modules unloaded)
    from rootless.cgroups.policy import check, resolve

    policy = resolve(requested, config_dir)
    limits = limits_of(spec)
    if limits.any():
        check(limits, policy)


def setup(ctx: Ctx, rec: Record) -> str:
    """Create the container's cgroup with its limits; its path, or "" without delegation."""
    from rootless.cgroups.detect import detect

    info = detect()
    if not info.writable or not info.own_path:
        return ""  # no delegation (CgroupManager.detect's test): skip its imports
    from rootless.cgroups.manager import CgroupManager
    from rootless.cgroups.policy import missing_controllers

    mgr = CgroupManager.detect(info)
    if mgr is None:
        return ""
    limits = limits_of(rec.spec)
    if missing_controllers(info, limits):
        from rootless.cgroups.limits import Limits

        limits = Limits()  # warned (or refused) at create time: run without them
    rec.oom_killed = False
    return str(mgr.create(rec.id, limits))


def teardown(rec: Record) -> None:
    """After the container stopped: remember an OOM kill, remove its cgroup."""
    if not rec.cgroup:
        return
    from rootless.cgroups.manager import CgroupManager

    cg = Path(rec.cgroup)
    if cg.is_dir():
        if CgroupManager.stats(cg).oom_kills > 0:
            rec.oom_killed = True
        CgroupManager.kill(cg)  # stragglers the runtime did not reap (none normally)
        with contextlib.suppress(OSError):
            CgroupManager.remove(cg)
    rec.cgroup = ""


def freeze(rec: Record, frozen: bool) -> bool:
    """pause/unpause through cgroup.freeze; False when the container has no cgroup."""
    if not rec.cgroup or not Path(rec.cgroup, "cgroup.freeze").exists():
        return False
    from rootless.cgroups.manager import CgroupManager

    CgroupManager.freeze(Path(rec.cgroup), frozen)
    return True


def pids(rec: Record) -> list[int] | None:
    """The container's processes from cgroup.procs; None when it has no cgroup."""
    if not rec.cgroup:
        return None
    from rootless.cgroups.manager import CgroupManager

    return sorted(CgroupManager.pids(Path(rec.cgroup)))


def sample(rec: Record, init_pid: int) -> Sample:
    from rootless.cgroups import sample as S

    if rec.cgroup and Path(rec.cgroup).is_dir():
        return S.from_cgroup(Path(rec.cgroup), init_pid)
    from rootless.engine.containers.procs import container_pids

    return S.from_proc(container_pids(init_pid), init_pid)


def update(ctx: Ctx, ref: str, limits: Limits, policy: str) -> Record:
    """Merge `limits` into the container's record and into its live cgroup, if running."""
    from rootless.cgroups.limits import merge, to_dict
    from rootless.cgroups.manager import CgroupManager
    from rootless.engine.containers.state import ContainerState as S

    cid = ctx.store.resolve(ref)
    with ctx.store.lock(cid):
        rec = ctx.store.load(cid)
        merged = merge(limits_of(rec.spec), limits)
        merged.validate()
        state, _ = ctx.state(rec)
        live = state in (S.RUNNING, S.PAUSED) and bool(rec.cgroup)
        if state in (S.RUNNING, S.PAUSED) and not rec.cgroup:
            from rootless.cgroups.policy import check

            check(limits, policy)  # warns (saved for the next start) or raises
        if live:
            CgroupManager.update(Path(rec.cgroup), limits)
        rec.spec.resources = to_dict(merged)
        ctx.store.save(rec)
    return rec
