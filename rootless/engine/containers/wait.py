"""wait: block until containers stop; their exit codes."""

from __future__ import annotations

from rootless.engine.containers.context import Ctx
from rootless.engine.containers.status import exit_code
from rootless.engine.containers.waiting import wait_stopped


def wait(ctx: Ctx, ref: str) -> int:
    cid = ctx.store.resolve(ref)
    rec = ctx.store.load(cid)
    _, ms = wait_stopped(ctx, rec, None)
    return exit_code(ms)
