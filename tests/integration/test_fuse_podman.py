"""Interop: rootless Podman (Debian's 4.3) with `mount_program = fuse-overlay` runs a
container that writes, deletes and renames files; `podman diff` shows exactly that.

Podman gets its own storage (CONTAINERS_STORAGE_CONF with a temp graphroot/runroot),
containers.conf and XDG_RUNTIME_DIR, so its pause process is ours to end afterwards.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tarfile
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import TEST_IMAGES, need
from tests.integration.test_overlay_semantics_harness import REPO


class Podman:
    def __init__(self, base: Path) -> None:
        self.base = base
        self.xdg = base / "xdg"
        self.xdg.mkdir(mode=0o700)
        self.calls = base / "mount-program.log"
        self.wrapper = base / "fuse-overlay"
        # The mount program podman runs: our fuse-overlay, logging its command line.
        self.wrapper.write_text(
            "#!/bin/sh\n"
            f'echo "$@" >> {self.calls}\n'
            f'PYTHONPATH={REPO} exec {sys.executable} -m fuse_overlay.cli "$@"\n'
        )
        self.wrapper.chmod(0o755)
        (base / "storage.conf").write_text(
            "[storage]\n"
            'driver = "overlay"\n'
            f'graphroot = "{base}/graph"\n'
            f'rootless_storage_path = "{base}/graph"\n'
            f'runroot = "{base}/run"\n'
            "[storage.options.overlay]\n"
            f'mount_program = "{self.wrapper}"\n'
        )
        (base / "containers.conf").write_text(
            "[engine]\n"
            'cgroup_manager = "cgroupfs"\n'
            'events_logger = "file"\n'
            f'events_logfile_path = "{base}/events.log"\n'
            'runtime = "runc"\n'
        )
        self.env = dict(
            os.environ,
            CONTAINERS_STORAGE_CONF=str(base / "storage.conf"),
            CONTAINERS_CONF=str(base / "containers.conf"),
            XDG_RUNTIME_DIR=str(self.xdg),
        )

    def run(self, *args: str, check: bool = True, timeout: float = 120) -> str:
        p = subprocess.run(
            ["podman", *args], capture_output=True, text=True, env=self.env, timeout=timeout
        )
        if check:
            assert p.returncode == 0, f"podman {' '.join(args)}: {p.stderr[-3000:]}"
        return p.stdout

    def close(self) -> None:
        self.run("rm", "-a", "-f", check=False)
        self.run(
            "unshare",
            "sh",
            "-c",
            f"umount {self.base}/graph/overlay 2>/dev/null; rm -rf {self.base}/graph {self.base}/run",
            check=False,
        )
        pidfile = self.xdg / "libpod" / "tmp" / "pause.pid"
        if pidfile.exists():
            try:
                os.kill(int(pidfile.read_text().strip()), signal.SIGKILL)
            except (ValueError, ProcessLookupError):
                pass


@pytest.fixture
def podman() -> Iterator[Podman]:
    need(shutil.which("podman"), "podman (Debian package podman)")
    need(shutil.which("runc"), "runc (Debian package runc)")
    base = Path(tempfile.mkdtemp(prefix="fo-podman-"))
    pm = Podman(base)
    try:
        yield pm
    finally:
        pm.close()
        shutil.rmtree(base, ignore_errors=True)


def _our_daemons(base: Path) -> list[str]:
    found = []
    for p in os.listdir("/proc"):
        if p.isdigit():
            try:
                cmd = Path(f"/proc/{p}/cmdline").read_bytes()
            except OSError:
                continue
            if b"fuse_overlay.cli" in cmd and os.fsencode(str(base)) in cmd:
                found.append(p)
    return found


def test_podman_with_fuse_overlay_as_mount_program(podman: Podman) -> None:
    image = TEST_IMAGES / "busybox"
    need(
        (image / "index.json").exists(),
        f"busybox OCI layout at {image}",
        "scripts/make-test-images.sh",
    )
    archive = podman.base / "busybox.tar"
    with tarfile.open(archive, "w") as tar:
        tar.add(image, arcname=".")
    out = podman.run("load", "-i", str(archive))
    assert "busybox" in out
    script = (
        "echo new > /newfile && rm /bin/zcat && mv /etc/passwd /etc/passwd.moved "
        "&& mkdir /newdir && echo x > /newdir/x && cat /etc/passwd.moved | head -1"
    )
    out = podman.run(
        "run",
        "--name",
        "c1",
        "--network",
        "none",
        "docker.io/library/busybox:latest",
        "sh",
        "-c",
        script,
    )
    assert out.startswith("root:")
    diff = set(podman.run("diff", "c1").split("\n")) - {""}
    expected = {
        "A /newfile",
        "D /bin/zcat",
        "C /bin",
        "C /etc",
        "D /etc/passwd",
        "A /etc/passwd.moved",
        "A /newdir",
        "A /newdir/x",
    }
    assert diff == expected
    # podman really went through our program, with fuse-overlayfs' command line
    calls = podman.calls.read_text().splitlines()
    assert calls and all(c.startswith("-o lowerdir=") for c in calls)
    assert any("upperdir=" in c and "workdir=" in c for c in calls)
    # ...and left no daemon behind once the container stopped (podman unmounts
    # lazily; the daemon ends when the kernel lets go of the mount)
    deadline = time.monotonic() + 15
    while _our_daemons(podman.base) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _our_daemons(podman.base)
