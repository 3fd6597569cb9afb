"""Create, limit, measure, freeze and kill cgroups under a delegated cgroup v2 subtree.

cgroup v2's "no internal processes" rule: a cgroup that enables controllers for its
children may not hold processes itself. So before enabling controllers in the
delegated root, we move whatever lives there (our own process, the user's shell) into
a leaf named `engine`; containers then go into siblings under `containers/`.
"""

from __future__ import annotations

import contextlib
import errno
import os
import time
from dataclasses import dataclass
from pathlib import Path

from rootless.cgroups.detect import ENGINE_LEAF, CgroupInfo, detect
from rootless.cgroups.limits import Limits, apply
from rootless.errors import EngineError

CONTAINERS = "containers"


def _write(path: Path, value: str) -> None:
    fd = os.open(path, os.O_WRONLY)
    try:
        os.write(fd, value.encode())
    finally:
        os.close(fd)


def _read(path: Path) -> str:
    return path.read_text().strip()


def _procs(cg: Path) -> list[int]:
    try:
        return [int(p) for p in _read(cg / "cgroup.procs").split()]
    except OSError:
        return []


def _kv(path: Path) -> dict[str, int]:
    out: dict[str, int] = {}
    try:
        for line in path.read_text().splitlines():
            k, _, v = line.partition(" ")
            with contextlib.suppress(ValueError):
                out[k] = int(v)
    except OSError:
        pass
    return out


@dataclass
class CgroupStats:
    """One sample of a container cgroup's counters."""

    cpu_usage_usec: int
    memory_current: int
    memory_max: int | None
    pids_current: int
    pids_max: int | None
    oom_kills: int
    io_read_bytes: int
    io_write_bytes: int


class CgroupManager:
    """The delegated subtree `root` (e.g. the user's own cgroup or a batch job's)."""

    def __init__(self, root: Path) -> None:
        self.root = root

    @classmethod
    def detect(cls, info: CgroupInfo | None = None) -> CgroupManager | None:
        info = info or detect()
        if not info.writable or not info.own_path:
            return None
        return cls(Path(info.own_path))

    def _enable(self, cg: Path, controllers: set[str]) -> None:
        available = set(_read(cg / "cgroup.controllers").split())
        enabled = set(_read(cg / "cgroup.subtree_control").split())
        want = (controllers & available) - enabled
        if want:
            _write(cg / "cgroup.subtree_control", " ".join(f"+{c}" for c in sorted(want)))

    def prepare(self, controllers: set[str]) -> Path:
        """Make `root/containers` ready to hold container cgroups with `controllers`."""
        leaf = self.root / ENGINE_LEAF
        parent = self.root / CONTAINERS
        # Move the processes living in the delegated root into a leaf (v2 rule).
        if _procs(self.root):
            leaf.mkdir(exist_ok=True)
            for pid in _procs(self.root):
                with contextlib.suppress(ProcessLookupError, OSError):
                    _write(leaf / "cgroup.procs", str(pid))
        missing = controllers - set(_read(self.root / "cgroup.controllers").split())
        if missing:
            raise EngineError(
                f"cgroup controllers {', '.join(sorted(missing))} are not delegated to {self.root}",
                hint="ask an admin to delegate them (Delegate= in systemd, or the job's cgroup)",
            )
        self._enable(self.root, controllers)
        parent.mkdir(exist_ok=True)
        self._enable(parent, controllers)
        return parent

    def create(self, name: str, limits: Limits) -> Path:
        parent = self.prepare(
            limits.controllers()
            | {"pids", "memory", "cpu"} & set(_read(self.root / "cgroup.controllers").split())
        )
        cg = parent / name
        cg.mkdir(exist_ok=True)
        apply(cg, limits)
        return cg

    @staticmethod
    def add(cg: Path, pid: int) -> None:
        _write(cg / "cgroup.procs", str(pid))

    @staticmethod
    def update(cg: Path, limits: Limits) -> dict[str, str]:
        return apply(cg, limits)

    @staticmethod
    def freeze(cg: Path, frozen: bool, timeout: float = 5.0) -> None:
        _write(cg / "cgroup.freeze", "1" if frozen else "0")
        want = "frozen 1" if frozen else "frozen 0"
        deadline = time.monotonic() + timeout
        while want not in (cg / "cgroup.events").read_text():
            if time.monotonic() > deadline:
                raise EngineError(f"cgroup {cg.name} did not {'freeze' if frozen else 'thaw'}")
            time.sleep(0.01)

    @staticmethod
    def kill(cg: Path) -> None:
        if (cg / "cgroup.kill").exists():
            _write(cg / "cgroup.kill", "1")
            return
        for pid in _procs(cg):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, 9)

    @staticmethod
    def remove(cg: Path, timeout: float = 5.0) -> None:
        deadline = time.monotonic() + timeout
        while True:
            try:
                cg.rmdir()
                return
            except FileNotFoundError:
                return
            except OSError as e:
                if e.errno != errno.EBUSY or time.monotonic() > deadline:
                    raise
                time.sleep(0.02)

    @staticmethod
    def pids(cg: Path) -> list[int]:
        return _procs(cg)

    @staticmethod
    def stats(cg: Path) -> CgroupStats:
        def opt_int(name: str) -> int | None:
            try:
                v = _read(cg / name)
            except OSError:
                return None
            return None if v == "max" else int(v)

        io_r = io_w = 0
        with contextlib.suppress(OSError):
            for line in (cg / "io.stat").read_text().splitlines():
                for field in line.split()[1:]:
                    k, _, v = field.partition("=")
                    if k == "rbytes":
                        io_r += int(v)
                    elif k == "wbytes":
                        io_w += int(v)
        return CgroupStats(
            cpu_usage_usec=_kv(cg / "cpu.stat").get("usage_usec", 0),
            memory_current=opt_int("memory.current") or 0,
            memory_max=opt_int("memory.max"),
            pids_current=opt_int("pids.current") or 0,
            pids_max=opt_int("pids.max"),
            oom_kills=_kv(cg / "memory.events").get("oom_kill", 0),
            io_read_bytes=io_r,
            io_write_bytes=io_w,
        )
