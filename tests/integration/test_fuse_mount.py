"""The `fuse-overlay` mount program: fuse-overlayfs' command line, daemonizing, SIGTERM,
errors, and file-system properties the semantic suite does not look at (inode
stability, link counts, statfs, big files, O_EXCL/O_APPEND, fsync, id mapping).

Scenarios that need root in a user namespace run there
(`python -m tests.integration.test_fuse_mount NAME`); the host-side mount (through the
setuid fusermount3) runs directly as the test user.
"""

from __future__ import annotations

import errno
import hashlib
import os
import signal
import stat
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from tests.conftest import need
from tests.integration.test_overlay_semantics_harness import (
    REPO,
    Mount,
    in_namespace_cmd,
    is_mounted,
    whiteout,
    write,
)

FUSE_OVERLAY = [sys.executable, "-m", "fuse_overlay.cli"]


def _layers(base: str) -> tuple[str, str, str, str]:
    low, up, wk, m = (os.path.join(base, n) for n in ("l", "u", "w", "m"))
    for d in (low, up, wk, m):
        os.makedirs(d, exist_ok=True)
    write(f"{low}/f", "lower\n")
    write(f"{low}/d/g", "g\n")
    return low, up, wk, m


def _daemon_pids(mountpoint: str) -> list[int]:
    pids = []
    for p in os.listdir("/proc"):
        if p.isdigit():
            try:
                argv = Path(f"/proc/{p}/cmdline").read_bytes().split(b"\0")
            except OSError:
                continue
            if b"fuse_overlay.cli" in argv and os.fsencode(mountpoint) in argv:
                pids.append(int(p))
    return pids


def _wait_gone(pid: int, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while Path(f"/proc/{pid}").exists():
        try:
            if os.waitpid(pid, os.WNOHANG)[0] == pid:
                return
        except ChildProcessError:
            pass
        assert time.monotonic() < deadline, f"pid {pid} still running"
        time.sleep(0.01)


# ------------------------------------------------------------ in the namespace
def scenario_daemonizes_and_sigterm_unmounts(base: str) -> None:
    low, up, wk, m = _layers(base)
    p = subprocess.run(
        [*FUSE_OVERLAY, "-o", f"lowerdir={low},upperdir={up},workdir={wk}", m],
        capture_output=True,
        timeout=30,
    )
    assert p.returncode == 0, p.stderr
    assert is_mounted(m)  # ready when the command returns
    assert Path(m, "f").read_text() == "lower\n"
    pids = _daemon_pids(m)
    assert len(pids) == 1, pids
    os.kill(pids[0], signal.SIGTERM)
    _wait_gone(pids[0])
    assert not is_mounted(m)


def scenario_foreground_sigterm(base: str) -> None:
    low, up, wk, m = _layers(base)
    proc = subprocess.Popen(
        [*FUSE_OVERLAY, "-f", "-o", f"lowerdir={low},upperdir={up},workdir={wk}", m]
    )
    deadline = time.monotonic() + 20
    while not is_mounted(m):
        assert proc.poll() is None and time.monotonic() < deadline
        time.sleep(0.01)
    Path(m, "new").write_text("x")
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=10) == 0
    assert not is_mounted(m)
    assert Path(up, "new").read_text() == "x"


def scenario_properties(base: str) -> None:
    low, up, wk, m = _layers(base)
    write(f"{low}/linked", "l\n")
    mnt = Mount("fuse", [low], up, wk, m)
    try:
        # stable inode numbers across calls, and through a copy-up of the parent dir
        ino = os.stat(f"{m}/f").st_ino
        assert os.stat(f"{m}/f").st_ino == ino
        assert os.stat(f"{m}/d/g").st_ino == os.stat(f"{m}/d/g").st_ino
        # hard links: one inode, link count 2
        os.link(f"{m}/linked", f"{m}/linked2")
        a, b = os.stat(f"{m}/linked"), os.stat(f"{m}/linked2")
        assert a.st_ino == b.st_ino and a.st_nlink == b.st_nlink == 2
        # a file's link count; a merged dir reports 1 like the kernel overlay
        assert os.stat(f"{m}/f").st_nlink == 1
        os.mkdir(f"{m}/newdir")
        assert os.stat(f"{m}/newdir").st_nlink == 2
        # statfs is the upper filesystem's
        sv, su = os.statvfs(m), os.statvfs(up)
        assert sv.f_blocks == su.f_blocks and sv.f_bsize == su.f_bsize
        # O_EXCL on an existing lower file, then on a fresh name
        try:
            os.open(f"{m}/f", os.O_CREAT | os.O_EXCL | os.O_WRONLY)
            raise AssertionError("O_EXCL on an existing file succeeded")
        except FileExistsError:
            pass
        os.close(os.open(f"{m}/excl", os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))
        # O_APPEND from two descriptors interleaves at the end
        fd1 = os.open(f"{m}/f", os.O_WRONLY | os.O_APPEND)
        fd2 = os.open(f"{m}/f", os.O_WRONLY | os.O_APPEND)
        os.write(fd1, b"1")
        os.write(fd2, b"2")
        os.fsync(fd1)
        os.close(fd1)
        os.close(fd2)
        assert Path(m, "f").read_text() == "lower\n12"
        # O_TRUNC on a lower file
        with open(f"{m}/d/g", "w") as f:
            f.write("t")
        assert Path(m, "d/g").read_text() == "t"
        # a big file with a hole, written and read back in 1 MiB blocks
        h = hashlib.sha256()
        with open(f"{m}/big", "wb") as f:
            for i in range(48):
                block = bytes([i]) * (1 << 20)
                h.update(block)
                f.write(block)
            f.seek(1 << 30)
            f.write(b"end")
            f.flush()
            os.fsync(f.fileno())
        assert os.stat(f"{m}/big").st_size == (1 << 30) + 3
        with open(f"{m}/big", "rb") as f:
            h2 = hashlib.sha256(f.read(48 << 20))
        assert h2.hexdigest() == h.hexdigest()
        assert os.stat(f"{up}/big").st_blocks * 512 < (100 << 20)  # the hole stayed
        # renaming a directory that lives in a lower layer
        os.rename(f"{m}/d", f"{m}/d2")
        assert Path(m, "d2/g").read_text() == "t" and not os.path.exists(f"{m}/d")
        # a fifo and a socket
        os.mkfifo(f"{m}/fifo")
        assert stat.S_ISFIFO(os.lstat(f"{m}/fifo").st_mode)
        # private overlay xattrs are not visible or settable through the mount
        try:
            os.setxattr(f"{m}/f", "user.overlay.opaque", b"y")
            raise AssertionError("user.overlay.* settable through the mount")
        except OSError as e:
            assert e.errno == errno.EOPNOTSUPP
    finally:
        mnt.close()


def scenario_uidmapping(base: str) -> None:
    low, up, wk, m = _layers(base)
    os.chown(f"{low}/f", 0, 0)
    proc = subprocess.Popen(
        [
            *FUSE_OVERLAY,
            "-f",
            "-o",
            f"lowerdir={low},upperdir={up},workdir={wk},uidmapping=1000:0:1,gidmapping=1000:0:1",
            m,
        ]
    )
    try:
        deadline = time.monotonic() + 20
        while not is_mounted(m):
            assert proc.poll() is None and time.monotonic() < deadline
            time.sleep(0.01)
        st = os.stat(f"{m}/f")
        assert (st.st_uid, st.st_gid) == (1000, 1000)  # disk 0 shows as 1000
        os.chown(f"{m}/f", 1000, 1000)  # ...and 1000 is stored as 0
        assert os.stat(f"{up}/f").st_uid == 0
    finally:
        subprocess.run(["umount", m], check=False)
        proc.wait(timeout=10)


def scenario_existing_whiteout_format(base: str) -> None:
    """Layers written for the kernel overlay read the same through fuse-overlay."""
    low, up, wk, m = _layers(base)
    whiteout(f"{up}/f")
    os.makedirs(f"{up}/d")
    os.setxattr(f"{up}/d", "user.overlay.opaque", b"y")
    mnt = Mount("fuse", [low], up, wk, m)
    try:
        assert sorted(os.listdir(m)) == ["d"]
        assert os.listdir(f"{m}/d") == []
    finally:
        mnt.close()


SCENARIOS = {
    "daemonizes_and_sigterm_unmounts": scenario_daemonizes_and_sigterm_unmounts,
    "foreground_sigterm": scenario_foreground_sigterm,
    "properties": scenario_properties,
    "uidmapping": scenario_uidmapping,
    "existing_whiteout_format": scenario_existing_whiteout_format,
}


@pytest.mark.parametrize("name", list(SCENARIOS))
def test_in_user_namespace(name: str) -> None:
    need(os.access("/dev/fuse", os.R_OK | os.W_OK), "/dev/fuse usable by the test user")
    with tempfile.TemporaryDirectory(prefix="fusemnt-") as tmp:
        script = "\n".join(
            [
                "import sys, shutil",
                f"sys.path.insert(0, {str(REPO)!r})",
                "from tests.integration.test_fuse_mount import SCENARIOS",
                "try:",
                f"    SCENARIOS[{name!r}]({tmp + '/s'!r})",
                "finally:",
                f"    shutil.rmtree({tmp + '/s'!r}, ignore_errors=True)",
            ]
        )
        cmd = [*in_namespace_cmd("x")[:-2], "-c", script]
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=180, cwd=REPO)
        assert p.returncode == 0, p.stderr[-4000:]


# ------------------------------------------------------------ on the host
def test_host_mount_through_fusermount3(tmp_path: Path) -> None:
    """Outside any namespace: libfuse mounts through the setuid fusermount3."""
    need(os.access("/dev/fuse", os.R_OK | os.W_OK), "/dev/fuse usable by the test user")
    need(os.path.exists("/usr/bin/fusermount3"), "fusermount3 (package fuse3)")
    low, up, wk, m = _layers(str(tmp_path))
    p = subprocess.run(
        [*FUSE_OVERLAY, "-o", f"lowerdir={low},upperdir={up},workdir={wk}", m],
        capture_output=True,
        text=True,
        timeout=30,
        cwd=REPO,
    )
    assert p.returncode == 0, p.stderr
    pids = _daemon_pids(m)
    try:
        assert Path(m, "f").read_text() == "lower\n"
        os.unlink(f"{m}/f")
        assert not os.path.exists(f"{m}/f")
        # Linux >= 5.8 lets anyone create the 0/0 whiteout device; older kernels get
        # the `.wh.f` file fuse-overlayfs also falls back to.
        st = os.lstat(f"{up}/f") if os.path.lexists(f"{up}/f") else None
        assert (st and stat.S_ISCHR(st.st_mode) and st.st_rdev == 0) or os.path.exists(
            f"{up}/.wh.f"
        )
        assert sorted(os.listdir(m)) == ["d"]
        os.rename(f"{m}/d", f"{m}/e")
        assert Path(m, "e/g").read_text() == "g\n"
    finally:
        subprocess.run(["fusermount3", "-u", m], check=False)
    for pid in pids:
        _wait_gone(pid)
    assert not is_mounted(m)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["/nonexistent-mnt"], "missing -o lowerdir"),
        (["-o", "lowerdir=/nonexistent-low", "{m}"], "lowerdir /nonexistent-low: not an existing"),
        (["-o", "lowerdir={low},upperdir={up}", "{m}"], "upperdir= and workdir= go together"),
        (["-o", "lowerdir={low},bogus=1", "{m}"], "unknown option 'bogus'"),
        (["-o", "lowerdir={low}"], "expected exactly one MOUNTPOINT"),
        (["-o", "lowerdir={low},uidmapping=0:1", "{m}"], "uidmapping=0:1: expected"),
    ],
)
def test_clear_errors(tmp_path: Path, args: list[str], message: str) -> None:
    low, up, _wk, m = _layers(str(tmp_path))
    argv = [a.format(low=low, up=up, m=m) for a in args]
    p = subprocess.run([*FUSE_OVERLAY, *argv], capture_output=True, text=True, timeout=30, cwd=REPO)
    assert p.returncode == 1
    assert p.stderr.startswith("fuse-overlay: ") and message in p.stderr, p.stderr
    assert len(p.stderr.strip().splitlines()) == 1
    assert not is_mounted(m)


def test_mount_failure_is_reported(tmp_path: Path) -> None:
    """A mount point the user may not mount on: one line, exit 1, nothing left behind."""
    low, up, wk, _ = _layers(str(tmp_path))
    p = subprocess.run(
        [*FUSE_OVERLAY, "-o", f"lowerdir={low},upperdir={up},workdir={wk}", "/proc"],
        capture_output=True,
        text=True,
        timeout=30,
        cwd=REPO,
    )
    assert p.returncode != 0
    assert "fuse-overlay" in p.stderr or "fuse" in p.stderr
    assert not _daemon_pids("/proc")
