"""The container record: one JSON file per container, written atomically under its lock.

Two files, two writers: `container.json` is the engine's (config, name, mounts, the state it
last set); `monitor.json` is the monitor's (pids, exit code, times, restarts). Neither writer
ever rewrites the other's file, so the monitor needs no engine code and no engine lock.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from rootless.engine.containers.state import ContainerState
from rootless.engine.runspec import RunSpec

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


def now_iso() -> str:
    t = time.time()
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t)) + f".{int(t % 1 * 1e9):09d}Z"


@dataclass
class Record:
    """container.json: what the engine knows about one container."""

    id: str
    name: str
    image: str  # the reference the user gave
    image_id: str
    spec: RunSpec
    created: str = field(default_factory=now_iso)
    state: ContainerState = ContainerState.CREATED
    runtime: str = "runc"
    rootfs: str = ""  # mounted rootfs path while mounted, else ""
    storage_driver: str = ""
    netns: str = ""  # path of the network namespace the network hook made, if any
    command: list[str] = field(default_factory=list)  # resolved process args
    image_config: dict[str, Any] = field(default_factory=dict)
    stop_requested: bool = False  # set by stop/kill: the monitor must not restart
    cgroup: str = ""  # cgroups: the container's cgroup v2 directory while it exists
    oom_killed: bool = False  # cgroups: memory.events oom_kill > 0 when it last stopped
    error: str = ""

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["state"] = self.state.value
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Record:
        d = dict(d)
        d["spec"] = RunSpec.from_dict(d["spec"])
        d["state"] = ContainerState(d.get("state", "created"))
        known = cls.__dataclass_fields__
        return cls(**{k: v for k, v in d.items() if k in known})


@dataclass
class MonitorStatus:
    """What the monitor last wrote (see rootless/monitor/status.py for the writer)."""

    pid: int = 0
    pid_start: str = ""  # /proc/PID/stat start time: guards against pid reuse
    container_pid: int = 0
    status: str = ""  # starting | running | exited | failed
    exit_code: int | None = None
    started_at: str = ""
    finished_at: str = ""
    restarts: int = 0
    error: str = ""

    @classmethod
    def load(cls, path: Path) -> MonitorStatus | None:
        try:
            with open(path, "rb") as f:
                d = json.load(f)
        except (OSError, ValueError):
            return None
        known = cls.__dataclass_fields__
        return cls(**{k: v for k, v in d.items() if k in known})


class ContainerDir:
    """Paths of one container's files under $data/containers/<id>/."""

    def __init__(self, base: Path, cid: str) -> None:
        self.path = base / cid

    @property
    def record(self) -> Path:
        return self.path / "container.json"

    @property
    def monitor(self) -> Path:
        return self.path / "monitor.json"

    @property
    def bundle(self) -> Path:
        return self.path / "bundle"

    @property
    def log(self) -> Path:
        return self.path / "ctr.log"

    @property
    def attach_socket(self) -> Path:
        return self.path / "attach"

    @property
    def runtime_log(self) -> Path:
        return self.path / "bundle" / "runtime.log"


def write_json(path: Path, obj: Any) -> None:
    """Atomic for readers (tmp + rename), without fsync: records are reconciled with
    /proc on every read, so losing the last write to a power cut costs nothing, while
    fsync costs milliseconds on every `run`."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
    try:
        os.write(fd, json.dumps(obj).encode())
    finally:
        os.close(fd)
    os.replace(tmp, path)


def save(cdir: ContainerDir, rec: Record) -> None:
    write_json(cdir.record, rec.to_dict())


def load(cdir: ContainerDir) -> Record:
    with open(cdir.record, "rb") as f:
        return Record.from_dict(json.load(f))


def proc_start_time(pid: int) -> str:
    """Field 22 of /proc/PID/stat, '' when the process is gone."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            data = f.read()
    except OSError:
        return ""
    return data.rsplit(b")", 1)[1].split()[19].decode()


def alive(pid: int, start: str) -> bool:
    """True while process `pid` is the one that was started at `start`."""
    if pid <= 0:
        return False
    now = proc_start_time(pid)
    if not now:
        return False
    if start and now != start:
        return False
    # A zombie is not alive for our purposes.
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            st = f.read().rsplit(b")", 1)[1].split()[0]
        return st not in (b"Z", b"X")
    except OSError:
        return False
