"""Waiting for a container to leave the running states (used by stop, rm -f, wait)."""

from __future__ import annotations

import time

from rootless.engine.containers.context import Ctx
from rootless.engine.containers.record import MonitorStatus, Record
from rootless.engine.containers.state import ContainerState

RUNNING_STATES = (ContainerState.RUNNING, ContainerState.PAUSED, ContainerState.RESTARTING)


def wait_stopped(ctx: Ctx, rec: Record, timeout: float | None) -> tuple[bool, MonitorStatus | None]:
    """Poll until the container is not running. (stopped?, last monitor status)."""
    deadline = None if timeout is None else time.monotonic() + timeout
    delay = 0.005
    path = ctx.store.dir(rec.id).record
    last: MonitorStatus | None = None
    while True:
        if not path.exists():  # removed meanwhile (--rm): it stopped
            return True, last
        state, ms = ctx.state(rec)
        last = ms or last
        if state not in RUNNING_STATES:
            return True, ms
        if deadline is not None and time.monotonic() >= deadline:
            return False, ms
        time.sleep(delay)
        delay = min(delay * 2, 0.1)
