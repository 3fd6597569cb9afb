"""cgroup v2 for a container when the tree is ours to write (delegated), else nothing.

As runc in rootless mode: without a writable cgroup v2 hierarchy (v1 or hybrid hosts,
no systemd delegation) the container runs without a cgroup of its own and
linux.resources is ignored with one warning line. Only when the bundle names a
linux.cgroupsPath: absolute paths are under /sys/fs/cgroup, relative ones under the
caller's own cgroup.
"""

from __future__ import annotations

import os

from rootless import syscalls as sc
from rootless.errors import EngineError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

MOUNT = "/sys/fs/cgroup"
CGROUP2_SUPER_MAGIC = 0x63677270
CONTROLLERS = ("cpu", "memory", "pids")


class CgroupError(EngineError):
    """A limit the bundle asks for could not be applied."""


def _own_cgroup() -> str:
    with open("/proc/self/cgroup") as f:
        for line in f:
            if line.startswith("0::"):
                return line[3:].strip()
    return "/"


def target(cfg: dict[str, Any]) -> str | None:
    """The cgroup directory the bundle asks for, or None."""
    path = (cfg.get("linux") or {}).get("cgroupsPath")
    if not path or ":" in path:  # "slice:prefix:name" is systemd's form: not supported
        return None
    if not path.startswith("/"):
        path = os.path.join(_own_cgroup(), path)
    return os.path.normpath(os.path.join(MOUNT, path.lstrip("/")))


def limits(resources: dict[str, Any]) -> dict[str, str]:
    """linux.resources -> cgroup v2 interface files."""
    out: dict[str, str] = {}
    mem = resources.get("memory") or {}
    if mem.get("limit") is not None:
        out["memory.max"] = "max" if int(mem["limit"]) < 0 else str(int(mem["limit"]))
        if mem.get("swap") is not None and int(mem["limit"]) >= 0:
            out["memory.swap.max"] = (
                "max" if int(mem["swap"]) < 0 else str(max(0, int(mem["swap"]) - int(mem["limit"])))
            )
    if mem.get("reservation") is not None:
        out["memory.low"] = str(int(mem["reservation"]))
    pids = resources.get("pids") or {}
    if pids.get("limit") is not None:
        out["pids.max"] = "max" if int(pids["limit"]) <= 0 else str(int(pids["limit"]))
    cpu = resources.get("cpu") or {}
    if cpu.get("quota") is not None or cpu.get("period") is not None:
        quota = cpu.get("quota")
        quota_s = "max" if quota is None or int(quota) <= 0 else str(int(quota))
        out["cpu.max"] = f"{quota_s} {int(cpu.get('period') or 100000)}"
    if cpu.get("shares"):
        # runc's conversion of cgroup v1 shares [2, 262144] to v2 weight [1, 10000]
        shares = int(cpu["shares"])
        out["cpu.weight"] = str(1 + ((shares - 2) * 9999) // 262142)
    for key, value in (resources.get("unified") or {}).items():
        out[str(key)] = str(value)
    return out


def setup(cfg: dict[str, Any], pid: int) -> str | None:
    """Create the container's cgroup, apply limits, move `pid` in; its path or None."""
    resources = (cfg.get("linux") or {}).get("resources") or {}
    wanted = limits(resources)
    path = target(cfg)
    if path is None or not _writable_v2(path):
        if wanted:
            os.write(
                2,
                b"rootless-runtime: warning: no writable cgroup v2 tree: linux.resources ignored\n",
            )
        return None
    _enable_controllers(path)
    for name, value in wanted.items():
        try:
            sc.write_proc(os.path.join(path, name), value)
        except OSError as e:
            raise CgroupError(f"cgroup {name}={value}: {e.strerror}") from None
    sc.write_proc(os.path.join(path, "cgroup.procs"), str(pid))
    return path


def _writable_v2(path: str) -> bool:
    try:
        if sc.fs_magic(MOUNT) != CGROUP2_SUPER_MAGIC:
            return False
        os.makedirs(path, exist_ok=True)
    except OSError:
        return False
    return os.access(os.path.join(path, "cgroup.procs"), os.W_OK)


def _enable_controllers(path: str) -> None:
    """Best effort: enable cpu/memory/pids from the first writable ancestor down."""
    rel = os.path.relpath(path, MOUNT)
    parts = [] if rel == "." else rel.split("/")
    for i in range(len(parts)):
        parent = os.path.join(MOUNT, *parts[:i])
        control = os.path.join(parent, "cgroup.subtree_control")
        for ctl in CONTROLLERS:
            try:
                sc.write_proc(control, f"+{ctl}")
            except OSError:
                pass


def procs(path: str) -> list[int]:
    try:
        with open(os.path.join(path, "cgroup.procs")) as f:
            return [int(x) for x in f.read().split()]
    except OSError:
        return []


def remove(path: str | None) -> None:
    if path:
        try:
            os.rmdir(path)
        except OSError:
            pass
