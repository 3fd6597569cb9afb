"""What cgroup hierarchy this host has, and what is delegated to us."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

CGROUP2_SUPER_MAGIC = 0x63677270
CGROUP_ROOT = Path("/sys/fs/cgroup")

DELEGATE_FIX = (
    "ask an admin to delegate a cgroup v2 subtree: with systemd, a drop-in "
    "/etc/systemd/system/user@.service.d/delegate.conf with "
    "the lines [Service] and Delegate=cpu cpuset io memory pids, then re-login; on a batch "
    "system, run inside a job whose cgroup is owned by you"
)


@dataclass
class CgroupInfo:
    """What the host's cgroup setup allows us: layout, our own cgroup, delegation."""

    version: str  # "v2", "hybrid", "v1", "none"
    unified_mount: str | None
    own_cgroup: str | None
    own_path: str | None
    writable: bool
    controllers: list[str] = field(default_factory=list)
    delegated: list[str] = field(default_factory=list)
    systemd_user_manager: bool = False
    reason: str | None = None
    fix: str | None = None


def _fs_type_is_cgroup2(path: Path) -> bool:
    from rootless.syscalls import fs_magic

    try:
        return fs_magic(path) == CGROUP2_SUPER_MAGIC
    except OSError:
        return False


def unified_mountpoint() -> tuple[str, str | None]:
    if _fs_type_is_cgroup2(CGROUP_ROOT):
        return "v2", str(CGROUP_ROOT)
    unified = CGROUP_ROOT / "unified"
    if _fs_type_is_cgroup2(unified):
        return "hybrid", str(unified)
    if CGROUP_ROOT.is_dir() and any(CGROUP_ROOT.iterdir()):
        return "v1", None
    return "none", None


ENGINE_LEAF = "engine"  # where CgroupManager.prepare moves the delegated root's processes


def own_cgroup() -> str | None:
    """Our cgroup v2 path; the delegated root when we live in its `engine` leaf."""
    try:
        for line in Path("/proc/self/cgroup").read_text().splitlines():
            if line.startswith("0::"):
                path = line[3:]
                if path.rstrip("/").endswith("/" + ENGINE_LEAF):
                    return path.rstrip("/").rsplit("/", 1)[0] or "/"
                return path
    except OSError:
        pass
    return None


def detect() -> CgroupInfo:
    version, mnt = unified_mountpoint()
    own = own_cgroup()
    info = CgroupInfo(
        version=version, unified_mount=mnt, own_cgroup=own, own_path=None, writable=False
    )
    info.systemd_user_manager = Path(f"/run/user/{os.getuid()}/systemd/private").exists()
    if mnt is None:
        info.reason = f"no cgroup v2 hierarchy (layout: {version})"
        info.fix = "boot with systemd.unified_cgroup_hierarchy=1 and " + DELEGATE_FIX
        return info
    if own is None:
        info.reason = "this process has no cgroup v2 membership (0:: line missing)"
        info.fix = DELEGATE_FIX
        return info
    path = Path(mnt) / own.lstrip("/")
    info.own_path = str(path)
    try:
        info.controllers = (path / "cgroup.controllers").read_text().split()
    except OSError:
        info.controllers = []
    info.writable = os.access(path, os.W_OK) and os.access(path / "cgroup.procs", os.W_OK)
    if info.writable:
        info.delegated = list(info.controllers)
    if version == "hybrid":
        info.reason = "cgroups are hybrid v1/v2; the v2 tree has " + (
            ", ".join(info.controllers) or "no controllers"
        )
    if not info.writable:
        info.reason = (info.reason + "; " if info.reason else "") + (
            f"cgroup {own} is not writable by uid {os.getuid()} (not delegated)"
        )
        info.fix = DELEGATE_FIX
    elif not info.delegated:
        info.reason = "no controllers are enabled in the delegated cgroup"
        info.fix = DELEGATE_FIX
    return info
