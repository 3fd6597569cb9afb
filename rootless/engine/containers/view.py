"""What ps and inspect show: Docker's shapes, built from the record and live state."""

from __future__ import annotations

import time
from typing import Any

from rootless.engine.containers.context import Ctx
from rootless.engine.containers.logs import rfc3339_to_epoch
from rootless.engine.containers.record import MonitorStatus, Record
from rootless.engine.containers.state import ContainerState
from rootless.engine.containers.status import exit_code, status_error

S = ContainerState
ZERO_TIME = "0001-01-01T00:00:00Z"


def human_ago(ts: str, now: float | None = None) -> str:
    if not ts:
        return ""
    secs = max(0, int((now or time.time()) - rfc3339_to_epoch(ts)))
    if secs < 1:
        return "Less than a second"
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60), ("second", 1)):
        if secs >= size:
            n = secs // size
            return f"{n} {unit}{'s' if n != 1 else ''}"
    return f"{secs} seconds"


def status_text(state: ContainerState, ms: MonitorStatus | None) -> str:
    if state == S.RUNNING:
        return f"Up {human_ago(ms.started_at) if ms else ''}".strip()
    if state == S.PAUSED:
        return f"Up {human_ago(ms.started_at) if ms else ''} (Paused)"
    if state == S.RESTARTING:
        return f"Restarting ({exit_code(ms)})"
    if state == S.EXITED:
        ago = human_ago(ms.finished_at) if ms and ms.finished_at else ""
        return f"Exited ({exit_code(ms)}) {ago + ' ago' if ago else ''}".strip()
    if state == S.REMOVING:
        return "Removing"
    return "Created"


def summary(ctx: Ctx, rec: Record) -> dict[str, Any]:
    """One `ps` row; keys as in Docker's --format placeholders."""
    state, ms = ctx.state(rec)
    return {
        "ID": rec.id[:12],
        "Id": rec.id,
        "Image": rec.image,
        "ImageID": rec.image_id,
        "Command": " ".join(rec.command),
        "CreatedAt": rec.created,
        "Created": int(rfc3339_to_epoch(rec.created)),
        "RunningFor": human_ago(rec.created) + " ago",
        "Status": status_text(state, ms),
        "State": state.value,
        "ExitCode": exit_code(ms) if state == S.EXITED else 0,
        "Ports": ", ".join(rec.spec.publish),
        "Names": rec.name,
        "Labels": ",".join(f"{k}={v}" for k, v in rec.spec.labels.items()),
        "LabelsMap": dict(rec.spec.labels),
        "Mounts": ",".join(v.split(":")[1] for v in rec.spec.volumes if ":" in v),
        "Networks": rec.spec.network,
        "Pid": ms.container_pid if ms and state in (S.RUNNING, S.PAUSED) else 0,
    }


def _resources(spec: Any) -> dict[str, Any]:
    from rootless.cgroups.limits import from_dict, host_config  # cgroups

    return host_config(from_dict(spec.resources))


def inspect(ctx: Ctx, rec: Record) -> dict[str, Any]:
    state, ms = ctx.state(rec)
    d = ctx.store.dir(rec.id)
    spec = rec.spec
    running = state in (S.RUNNING, S.PAUSED, S.RESTARTING)
    return {
        "Id": rec.id,
        "Created": rec.created,
        "Path": rec.command[0] if rec.command else "",
        "Args": rec.command[1:],
        "State": {
            "Status": state.value,
            "Running": running,
            "Paused": state == S.PAUSED,
            "Restarting": state == S.RESTARTING,
            "OOMKilled": rec.oom_killed,  # cgroups
            "Dead": False,
            "Pid": ms.container_pid if ms and running else 0,
            "MonitorPid": ms.pid if ms else 0,
            "ExitCode": exit_code(ms) if state == S.EXITED else 0,
            "Error": rec.error or status_error(ms),
            "StartedAt": (ms.started_at if ms else "") or ZERO_TIME,
            "FinishedAt": (ms.finished_at if ms else "") or ZERO_TIME,
        },
        "Image": rec.image_id,
        "ImageName": rec.image,
        "ResolvConfPath": str(d.path / "resolv.conf"),
        "HostnamePath": str(d.path / "hostname"),
        "HostsPath": str(d.path / "hosts"),
        "LogPath": str(d.log),
        "Name": "/" + rec.name,
        "RestartCount": ms.restarts if ms else 0,
        "Driver": rec.storage_driver,
        "Platform": "linux",
        "OCIRuntime": rec.runtime,
        "Config": {
            "Hostname": spec.hostname or rec.id[:12],
            "User": spec.user or rec.image_config.get("User", ""),
            "Tty": spec.tty,
            "OpenStdin": spec.interactive,
            "Env": [f"{k}={v}" for k, v in spec.env.items()],
            "Cmd": spec.command or rec.image_config.get("Cmd") or [],
            "Entrypoint": spec.entrypoint
            if spec.entrypoint is not None
            else rec.image_config.get("Entrypoint"),
            "Image": rec.image,
            "WorkingDir": spec.workdir or rec.image_config.get("WorkingDir", ""),
            "Labels": dict(spec.labels),
            "StopSignal": spec.stop_signal,
            "StopTimeout": spec.stop_timeout,
        },
        "HostConfig": {
            "AutoRemove": spec.remove,
            "NetworkMode": spec.network,
            "PortBindings": spec.publish,
            "RestartPolicy": {
                "Name": spec.restart.name,
                "MaximumRetryCount": spec.restart.max_retries,
            },
            "ReadonlyRootfs": spec.read_only,
            "Tmpfs": dict(spec.tmpfs),
            "Init": spec.init,
            "CapAdd": spec.cap_add,
            "CapDrop": spec.cap_drop,
            "SecurityOpt": (["no-new-privileges"] if spec.no_new_privileges else [])
            + ([f"seccomp={spec.seccomp}"] if spec.seccomp else []),
            "Privileged": spec.privileged,
            "UsernsMode": spec.userns or "",
            "Ulimits": [{"Name": u.name, "Soft": u.soft, "Hard": u.hard} for u in spec.ulimits],
            "Binds": spec.volumes,
            **_resources(spec),  # cgroups: Memory, NanoCpus, CpuShares, PidsLimit, ...
        },
        "Mounts": _mounts(ctx, rec),
        "NetworkSettings": _network_settings(ctx, rec),
        "GraphDriver": {"Name": rec.storage_driver, "Data": {"MergedDir": rec.rootfs}},
    }


def _mounts(ctx: Ctx, rec: Record) -> list[dict[str, Any]]:
    from rootless.engine.mounts import inspect_mounts

    return inspect_mounts(ctx.paths, rec.id, rec.spec, rec.image_config or {})


def _network_settings(ctx: Ctx, rec: Record) -> dict[str, Any]:
    if rec.spec.network in ("none", "host"):
        return {"Networks": {}, "Ports": {}, "SandboxKey": rec.netns, "IPAddress": ""}
    from rootless.engine.network_hook import settings

    out = settings(ctx.paths, rec.id)
    first: dict[str, Any] = next(iter(out.get("Networks", {}).values()), {})
    out.setdefault("IPAddress", first.get("IPAddress", ""))
    return out
