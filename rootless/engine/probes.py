"""Host probes: each fact is tried for real (fork a child and attempt it), not assumed.

Every probe returns a `Probe`: ok or not, the detail we saw, and for a "no" the
one-line reason and the fix.
"""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from rootless import syscalls


@dataclass
class Probe:
    ok: bool
    detail: str = ""
    reason: str | None = None
    fix: str | None = None
    extra: dict[str, object] = field(default_factory=dict)

    def to_dict(self) -> dict[str, object]:
        d: dict[str, object] = {"ok": self.ok, "detail": self.detail}
        if self.reason:
            d["reason"] = self.reason
        if self.fix:
            d["fix"] = self.fix
        d.update(self.extra)
        return d


def _read(path: str) -> str | None:
    try:
        return Path(path).read_text().strip()
    except OSError:
        return None


def _in_child(fn: object) -> int:
    """Run `fn()` in a forked child; return its exit status (0 = success, else errno)."""
    pid = os.fork()
    if pid == 0:  # child
        code = 1
        try:
            fn()  # type: ignore[operator]
            code = 0
        except OSError as e:
            code = e.errno or 1
        except BaseException:
            code = 1
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status)


def userns_blockers() -> tuple[str, str] | None:
    """Why unprivileged user namespaces would be refused, from the sysctls (reason, fix)."""
    clone = _read("/proc/sys/kernel/unprivileged_userns_clone")
    if clone == "0":
        return (
            "kernel.unprivileged_userns_clone is 0",
            "as root: sysctl -w kernel.unprivileged_userns_clone=1 (persist it in /etc/sysctl.d/)",
        )
    maxns = _read("/proc/sys/user/max_user_namespaces")
    if maxns == "0":
        return (
            "user.max_user_namespaces is 0",
            "as root: sysctl -w user.max_user_namespaces=28633 (persist it in /etc/sysctl.d/)",
        )
    apparmor = _read("/proc/sys/kernel/apparmor_restrict_unprivileged_userns")
    if apparmor == "1":
        return (
            "AppArmor restricts unprivileged user namespaces "
            "(kernel.apparmor_restrict_unprivileged_userns=1, Ubuntu 24.04+)",
            "as root: install an AppArmor profile allowing 'userns,' for rootless, "
            "or sysctl -w kernel.apparmor_restrict_unprivileged_userns=0",
        )
    return None


def probe_userns() -> Probe:
    code = _in_child(lambda: syscalls.unshare(syscalls.CLONE_NEWUSER))
    if code == 0:
        return Probe(True, "unshare(CLONE_NEWUSER) succeeded")
    blocker = userns_blockers()
    if blocker:
        return Probe(False, f"unshare failed: {os.strerror(code)}", blocker[0], blocker[1])
    return Probe(
        False,
        f"unshare failed: {os.strerror(code)}",
        "the kernel refused an unprivileged user namespace",
        "check that the kernel is built with CONFIG_USER_NS and no LSM forbids it",
    )


def _setuid_or_caps(path: str) -> str | None:
    """'setuid', 'setcap' or None for an idmap helper."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    if st.st_mode & stat.S_ISUID and st.st_uid == 0:
        return "setuid"
    try:
        if os.getxattr(path, "security.capability"):
            return "setcap"
    except OSError:
        pass
    return None


def probe_idmap_tool(name: str) -> Probe:
    path = f"/usr/bin/{name}"
    if not os.path.exists(path):
        found = shutil.which(name)
        if not found:
            return Probe(
                False,
                "not installed",
                f"{name} is missing, so only a single-id map is possible",
                "as root: apt-get install uidmap (Debian/Ubuntu) or dnf install shadow-utils",
            )
        path = found
    how = _setuid_or_caps(path)
    if how is None:
        return Probe(
            False,
            path,
            f"{path} is neither setuid root nor has file capabilities",
            f"as root: chmod u+s {path} (or reinstall the uidmap package)",
        )
    return Probe(True, f"{path} ({how})", extra={"path": path})


def probe_slirp4netns() -> Probe:
    path = shutil.which("slirp4netns")
    if not path:
        return Probe(
            False,
            "not installed",
            "slirp4netns is missing: containers get no outbound network",
            "as root: apt-get install slirp4netns",
        )
    try:
        out = subprocess.run([path, "--version"], capture_output=True, text=True, timeout=5)
        version = out.stdout.splitlines()[0].split()[-1] if out.stdout else "unknown"
    except (OSError, subprocess.TimeoutExpired, IndexError):
        version = "unknown"
    tun = "/dev/net/tun"
    if not os.access(tun, os.R_OK | os.W_OK):
        return Probe(
            False,
            f"{path} {version}",
            f"{tun} is not readable and writable by this user",
            f"as root: chmod 0666 {tun}",
            extra={"version": version},
        )
    return Probe(True, f"{path} {version}", extra={"version": version, "path": path})


def probe_fuse() -> Probe:
    dev = "/dev/fuse"
    fusermount = shutil.which("fusermount3")
    extra: dict[str, object] = {"fusermount3": fusermount}
    if not os.path.exists(dev):
        return Probe(
            False, "missing", f"{dev} does not exist", "as root: modprobe fuse", extra=extra
        )
    if not os.access(dev, os.R_OK | os.W_OK):
        return Probe(
            False,
            dev,
            f"{dev} is not readable and writable by this user",
            f"as root: chmod 0666 {dev}",
            extra=extra,
        )
    detail = dev + (f", {fusermount}" if fusermount else ", no fusermount3")
    return Probe(True, detail, extra=extra)


def _single_map() -> None:
    """In a child after unshare(NEWUSER): map our own uid/gid to 0."""
    uid, gid = os.geteuid(), os.getegid()
    syscalls.unshare(syscalls.CLONE_NEWUSER | syscalls.CLONE_NEWNS)
    syscalls.write_proc("/proc/self/setgroups", "deny")
    syscalls.write_proc("/proc/self/uid_map", f"0 {uid} 1")
    syscalls.write_proc("/proc/self/gid_map", f"0 {gid} 1")


def probe_overlay(workdir: Path) -> Probe:
    """Mount the kernel overlay with userxattr in a user namespace, on `workdir`'s fs."""
    workdir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".overlay-probe-", dir=workdir) as tmp:
        t = Path(tmp)
        for d in ("lower", "upper", "work", "merged"):
            (t / d).mkdir()
        (t / "lower" / "f").write_text("x")

        def attempt() -> None:
            _single_map()
            opts = f"lowerdir={t}/lower,upperdir={t}/upper,workdir={t}/work,userxattr"
            syscalls.mount("overlay", t / "merged", "overlay", 0, opts)
            # A whiteout must be creatable (0/0 char device) for deletions to work.
            os.unlink(t / "merged" / "f")

        code = _in_child(attempt)
        if code == 0:
            return Probe(True, f"overlay with userxattr mounts on {workdir}")
        return Probe(
            False,
            f"mount failed: {os.strerror(code)}",
            f"the kernel overlay cannot be mounted in a user namespace on {workdir}",
            "Linux >= 5.11 with a local filesystem supporting user xattrs is needed; "
            "the fuse driver is used instead",
        )


# statfs magic numbers of network/cluster filesystems where overlay upper dirs fail.
NETWORK_FS = {
    0x6969: "nfs",
    0x0BD00BD0: "lustre",
    0x47504653: "gpfs",
    0xFF534D42: "cifs",
    0xFE534D42: "smb2",
    0x19830326: "beegfs",
    0x00C36400: "ceph",
    0x5346414F: "afs",
}


def probe_data_fs(data_dir: Path) -> Probe:
    path = data_dir
    while not path.exists() and path != path.parent:
        path = path.parent
    try:
        magic = syscalls.fs_magic(path)
    except OSError as e:
        return Probe(False, f"statfs failed: {e.strerror}")
    name = NETWORK_FS.get(magic)
    if name:
        return Probe(
            False,
            f"{name} (0x{magic:x})",
            f"the data dir {data_dir} is on {name}; overlay upper dirs fail there",
            "use a local path: rootless --root /tmp/$USER/rootless ... (or set ROOTLESS_ROOT)",
            extra={"fs_magic": f"0x{magic:x}", "network_fs": True},
        )
    return Probe(
        True, f"local (0x{magic:x})", extra={"fs_magic": f"0x{magic:x}", "network_fs": False}
    )


def probe_monitor_idle() -> Probe:
    """The C idle monitor (rootless/monitor/idle.c), built now if missing: detached
    containers are then supervised by it (~1.7 MB RSS) instead of a Python loop (~9 MB)."""
    from rootless.monitor import idle_build

    if idle_build.forced_python():
        return Probe(True, f"Python loop ({idle_build.FORCE_ENV}=python)")
    built = idle_build.ensure_built(retry_failed=True)
    if built.path is None:
        return Probe(
            False,
            "Python loop",
            f"the C idle monitor could not be built ({built.error}); detached containers "
            "keep a Python monitor (~9 MB RSS each instead of ~2 MB)",
            built.fix,
        )
    return Probe(True, built.path, extra={"path": built.path})
