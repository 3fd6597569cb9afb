"""`rootless info`: the facts users paste into bug reports, each probed."""

from __future__ import annotations

import os
import platform
from pathlib import Path
from typing import Any

from rootless import __version__
from rootless.engine import probes
from rootless.paths import Paths
from rootless.userns import subid


def _subid_section(kind: str, ranges: list[subid.IdRange], user: str) -> dict[str, Any]:
    if ranges:
        return {"ok": True, "ranges": [r.to_dict() for r in ranges]}
    flag = "--add-subuids" if kind == "subuid" else "--add-subgids"
    return {
        "ok": False,
        "ranges": [],
        "reason": f"no /etc/{kind} entry for {user}: only a single-id map is possible, "
        "so images with files owned by other ids are flattened to root",
        "fix": f"as root: usermod {flag} 100000-165535 {user}",
    }


def choose_storage_driver(overlay: probes.Probe, fuse: probes.Probe) -> str:
    if overlay.ok:
        return "overlay"
    if fuse.ok:
        return "fuse"
    return "vfs"


def gather(paths: Paths) -> dict[str, Any]:
    from rootless.cgroups.detect import detect

    uid, user = subid.current_user()
    userns = probes.probe_userns()
    newuidmap = probes.probe_idmap_tool("newuidmap")
    newgidmap = probes.probe_idmap_tool("newgidmap")
    subuids = subid.subuid_ranges(user, uid)
    subgids = subid.subgid_ranges(user, uid)
    slirp = probes.probe_slirp4netns()
    fuse = probes.probe_fuse()
    datafs = probes.probe_data_fs(paths.data)
    if userns.ok:
        overlay = probes.probe_overlay(paths.data)
    else:
        overlay = probes.Probe(False, "not tried", "user namespaces are unavailable", userns.fix)
    cg = detect()
    full_map = bool(subuids and subgids and newuidmap.ok and newgidmap.ok)
    idmap: dict[str, Any] = {"mode": "full" if full_map else "single"}
    if not full_map:
        idmap["reason"] = (
            "no subordinate id range or no usable newuidmap/newgidmap: "
            "a single-id map (your uid -> 0) is used"
        )
    return {
        "version": __version__,
        "host": {
            "kernel": platform.release(),
            "arch": platform.machine(),
            "os": _os_release(),
            "user": {"name": user, "uid": uid, "gid": os.getgid()},
        },
        "userns": userns.to_dict(),
        "idmap": idmap,
        "subuid": _subid_section("subuid", subuids, user),
        "subgid": _subid_section("subgid", subgids, user),
        "newuidmap": newuidmap.to_dict(),
        "newgidmap": newgidmap.to_dict(),
        "slirp4netns": slirp.to_dict(),
        "fuse": fuse.to_dict(),
        "overlay": overlay.to_dict(),
        "cgroups": {
            "version": cg.version,
            "unified_mount": cg.unified_mount,
            "own_cgroup": cg.own_cgroup,
            "controllers": cg.controllers,
            "delegated": cg.delegated,
            "systemd_user_manager": cg.systemd_user_manager,
            "limits_available": bool(cg.writable and {"memory", "cpu", "pids"} & set(cg.delegated)),
            **({"reason": cg.reason} if cg.reason else {}),
            **({"fix": cg.fix} if cg.fix else {}),
        },
        "store": {
            "data_dir": str(paths.data),
            "config_dir": str(paths.config),
            "runtime_dir": str(paths.runtime),
            "runtime_dir_fallback": paths.runtime_fallback,
            "filesystem": datafs.to_dict(),
            "storage_driver": choose_storage_driver(overlay, fuse),
        },
        "monitor_idle": probes.probe_monitor_idle().to_dict(),
        "network": {
            "default": "bridge",
            "outbound": "slirp4netns" if slirp.ok else "none (slirp4netns unavailable)",
        },
    }


def _os_release() -> str:
    try:
        for line in Path("/etc/os-release").read_text().splitlines():
            if line.startswith("PRETTY_NAME="):
                return line.split("=", 1)[1].strip().strip('"')
    except OSError:
        pass
    return platform.system()


def problems(report: dict[str, Any]) -> list[tuple[str, str, str]]:
    """(section, reason, fix) for every "no" in the report."""
    out: list[tuple[str, str, str]] = []
    for key, val in report.items():
        if isinstance(val, dict):
            if val.get("ok") is False and val.get("reason"):
                out.append((key, val["reason"], val.get("fix", "")))
            for sub, sval in val.items():
                if isinstance(sval, dict) and sval.get("ok") is False and sval.get("reason"):
                    out.append((f"{key}.{sub}", sval["reason"], sval.get("fix", "")))
    cg = report.get("cgroups", {})
    if not cg.get("limits_available") and cg.get("reason"):
        out.append(("cgroups", cg["reason"], cg.get("fix", "")))
    return out
