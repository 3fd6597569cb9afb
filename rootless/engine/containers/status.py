"""Reconcile a record with reality: the monitor's status file and /proc.

A killed monitor is detected (its pid is gone or reused) and the container is shown as
exited, never as running forever; a container process that outlived its monitor is still
shown as running so it can be stopped.
"""

from __future__ import annotations

from rootless.engine.containers.record import ContainerDir, MonitorStatus, Record, alive
from rootless.engine.containers.state import ContainerState

S = ContainerState


def live_state(d: ContainerDir, rec: Record) -> tuple[ContainerState, MonitorStatus | None]:
    ms = MonitorStatus.load(d.monitor)
    if rec.state == S.REMOVING or ms is None:
        return rec.state, ms
    return _from_monitor(rec, ms), ms


def _from_monitor(rec: Record, ms: MonitorStatus) -> ContainerState:
    if ms.status in ("starting", "running", "restarting"):
        if alive(ms.pid, ms.pid_start):
            if ms.status == "restarting":
                return S.RESTARTING
            if ms.status == "starting":
                return S.CREATED if rec.state == S.CREATED else S.RUNNING
            return S.PAUSED if rec.state == S.PAUSED else S.RUNNING
        # The monitor is gone. Its container may still run (unsupervised).
        if ms.container_pid and alive(ms.container_pid, ""):
            return S.PAUSED if rec.state == S.PAUSED else S.RUNNING
        return S.EXITED
    if ms.status in ("exited", "failed"):
        return S.EXITED
    return rec.state


def monitor_alive(ms: MonitorStatus | None) -> bool:
    return ms is not None and alive(ms.pid, ms.pid_start)


def exit_code(ms: MonitorStatus | None) -> int:
    if ms is None:
        return 0
    if ms.exit_code is not None:
        return ms.exit_code
    if ms.status == "failed":
        return 127 if "not found" in ms.error or "no such file" in ms.error else 126
    return 255 if ms.status in ("running", "restarting", "starting") else 0


def status_error(ms: MonitorStatus | None) -> str:
    if ms is None:
        return ""
    if ms.status in ("running", "restarting", "starting") and not monitor_alive(ms):
        return f"the monitor (pid {ms.pid}) died"
    return ms.error
