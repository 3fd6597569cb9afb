"""Helpers for the runtime tests (no tests here): busybox bundles, runtimes to compare,
and cleanup of every container a test starts.
"""

from __future__ import annotations

import copy
import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.conftest import need

BUSYBOX = "/bin/busybox"


def _subid_range(path: str = "/etc/subuid") -> tuple[int, int]:
    """This user's first subordinate id range (setup-host.sh gives 100000:65536)."""
    import pwd

    name = pwd.getpwuid(os.getuid()).pw_name
    try:
        with open(path) as f:
            for line in f:
                parts = line.strip().split(":")
                if len(parts) == 3 and parts[0] in (name, str(os.getuid())):
                    return int(parts[1]), int(parts[2])
    except OSError:
        pass
    return 100000, 65536


SUBID_START, SUBID_COUNT = _subid_range()


def ours_cmd() -> list[str]:
    exe = shutil.which("rootless-runtime")
    return [exe] if exe else [sys.executable, "-m", "rootless.runtime"]


def runc_cmd() -> list[str]:
    exe = shutil.which("runc")
    need(exe, "runc on PATH", "apt-get install runc (scripts/setup-host.sh)")
    return [str(exe)]


def make_rootfs(dest: Path) -> Path:
    """A busybox rootfs: /bin/busybox + applet symlinks, /etc/passwd and /etc/group."""
    need(os.path.exists(BUSYBOX), BUSYBOX, "apt-get install busybox-static")
    (dest / "bin").mkdir(parents=True)
    (dest / "etc").mkdir()
    (dest / "tmp").mkdir(mode=0o1777)
    shutil.copy2(BUSYBOX, dest / "bin" / "busybox")
    applets = subprocess.run(
        [BUSYBOX, "--list"], capture_output=True, text=True, check=True
    ).stdout.split()
    for a in applets:
        if a != "busybox":
            os.symlink("busybox", dest / "bin" / a)
    (dest / "etc" / "passwd").write_text(
        "root:x:0:0:root:/root:/bin/sh\nuser:x:1000:1000:user:/home/user:/bin/sh\n"
    )
    (dest / "etc" / "group").write_text("root:x:0:\nwheel:x:10:user\nuser:x:1000:\n")
    return dest


def base_config(rootfs: Path, args: list[str]) -> dict[str, Any]:
    """What `runc spec --rootless` produces (runc 1.1), with the given args."""
    uid, gid = os.getuid(), os.getgid()
    caps = ["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"]
    return {
        "ociVersion": "1.0.2-dev",
        "process": {
            "terminal": False,
            "user": {"uid": 0, "gid": 0},
            "args": args,
            "env": [
                "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
                "TERM=xterm",
            ],
            "cwd": "/",
            "capabilities": {
                k: list(caps) for k in ("bounding", "effective", "permitted", "ambient")
            },
            "rlimits": [{"type": "RLIMIT_NOFILE", "hard": 1024, "soft": 1024}],
            "noNewPrivileges": True,
        },
        "root": {"path": str(rootfs), "readonly": True},
        "hostname": "runc",
        "mounts": [
            {"destination": "/proc", "type": "proc", "source": "proc"},
            {
                "destination": "/dev",
                "type": "tmpfs",
                "source": "tmpfs",
                "options": ["nosuid", "strictatime", "mode=755", "size=65536k"],
            },
            {
                "destination": "/dev/pts",
                "type": "devpts",
                "source": "devpts",
                "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620"],
            },
            {
                "destination": "/dev/shm",
                "type": "tmpfs",
                "source": "shm",
                "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"],
            },
            {
                "destination": "/dev/mqueue",
                "type": "mqueue",
                "source": "mqueue",
                "options": ["nosuid", "noexec", "nodev"],
            },
            {
                "destination": "/sys",
                "type": "none",
                "source": "/sys",
                "options": ["rbind", "nosuid", "noexec", "nodev", "ro"],
            },
        ],
        "linux": {
            "uidMappings": [{"containerID": 0, "hostID": uid, "size": 1}],
            "gidMappings": [{"containerID": 0, "hostID": gid, "size": 1}],
            "namespaces": [{"type": t} for t in ("pid", "ipc", "uts", "mount", "user")],
            "maskedPaths": [
                "/proc/acpi",
                "/proc/asound",
                "/proc/kcore",
                "/proc/keys",
                "/proc/latency_stats",
                "/proc/timer_list",
                "/proc/timer_stats",
                "/proc/sched_debug",
                "/sys/firmware",
                "/proc/scsi",
            ],
            "readonlyPaths": [
                "/proc/bus",
                "/proc/fs",
                "/proc/irq",
                "/proc/sys",
                "/proc/sysrq-trigger",
            ],
        },
    }


def full_map(cfg: dict[str, Any]) -> dict[str, Any]:
    """Map 0 -> our uid and 1..65536 -> our subordinate ids (newuidmap/newgidmap)."""
    cfg = copy.deepcopy(cfg)
    for key, own in (("uidMappings", os.getuid()), ("gidMappings", os.getgid())):
        cfg["linux"][key] = [
            {"containerID": 0, "hostID": own, "size": 1},
            {"containerID": 1, "hostID": SUBID_START, "size": SUBID_COUNT},
        ]
    return cfg


def no_userns(cfg: dict[str, Any]) -> dict[str, Any]:
    """The engine's bundles: no user namespace (the runtime runs inside one)."""
    cfg = copy.deepcopy(cfg)
    cfg["linux"]["namespaces"] = [n for n in cfg["linux"]["namespaces"] if n["type"] != "user"]
    cfg["linux"].pop("uidMappings", None)
    cfg["linux"].pop("gidMappings", None)
    return cfg


@dataclass
class Runtime:
    """One runtime binary with its own --root; remembers containers to clean up."""

    name: str
    cmd: list[str]
    root: Path
    prefix: list[str] = field(default_factory=list)  # e.g. unshare ... for mode (b)
    ids: set[str] = field(default_factory=set)

    def __call__(
        self, *args: str, timeout: float = 60, input: str | None = None
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*self.prefix, *self.cmd, "--root", str(self.root), *args],
            capture_output=True,
            text=True,
            timeout=timeout,
            input=input,
        )

    def detached(self, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        """create/run -d: the container keeps our stdio, so no pipes (they would stay open)."""
        log = self.root.parent / f"{self.name}-detached.log"
        with open(log, "w+") as f:
            p = subprocess.run(
                [*self.prefix, *self.cmd, "--root", str(self.root), *args],
                stdin=subprocess.DEVNULL,
                stdout=f,
                stderr=f,
                timeout=timeout,
            )
            f.seek(0)
            text = f.read()
        return subprocess.CompletedProcess(p.args, p.returncode, text, text)

    def popen(self, *args: str) -> subprocess.Popen[str]:
        return subprocess.Popen(
            [*self.prefix, *self.cmd, "--root", str(self.root), *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )

    def bundle(self, base: Path, cid: str, cfg: dict[str, Any]) -> Path:
        b = base / f"{self.name}-{cid}"
        b.mkdir(parents=True, exist_ok=True)
        (b / "config.json").write_text(json.dumps(cfg, indent=1))
        self.ids.add(cid)
        return b

    def run(self, base: Path, cid: str, cfg: dict[str, Any]) -> subprocess.CompletedProcess[str]:
        return self("run", "--bundle", str(self.bundle(base, cid, cfg)), cid)

    def state(self, cid: str) -> dict[str, Any]:
        p = self("state", cid)
        assert p.returncode == 0, p.stderr
        data: dict[str, Any] = json.loads(p.stdout)
        return data

    def wait_status(self, cid: str, status: str, timeout: float = 10) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            st = self.state(cid)
            if st["status"] == status or time.monotonic() > deadline:
                return st
            time.sleep(0.02)

    def cleanup(self) -> None:
        for cid in sorted(self.ids):
            self("delete", "--force", cid)
        shutil.rmtree(self.root, ignore_errors=True)


@contextmanager
def runtime_pair(tmp_path: Path) -> Iterator[tuple[Runtime, Runtime]]:
    """runc and ours, each with its own state dir, cleaned up afterwards."""
    runc = Runtime("runc", runc_cmd(), tmp_path / "runc-state")
    ours = Runtime("ours", ours_cmd(), tmp_path / "ours-state")
    try:
        yield runc, ours
    finally:
        runc.cleanup()
        ours.cleanup()


def normalize_mountinfo(text: str) -> list[str]:
    """mountinfo lines as 'mountpoint fstype per-mount-options', sorted; the cgroup tree
    (runc builds it from the host's v1 hierarchies) is left out."""
    out = []
    for line in text.splitlines():
        left, _, right = line.partition(" - ")
        fields = left.split()
        if len(fields) < 6:
            continue
        mnt, opts = fields[4], fields[5]
        fstype = right.split()[0]
        if mnt.startswith("/sys/fs/cgroup"):
            continue
        out.append(f"{mnt} {fstype} {opts}")
    return sorted(out)
