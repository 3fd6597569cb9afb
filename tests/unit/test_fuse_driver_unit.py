"""Pieces of the fuse storage driver that need no mount."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from rootless.storage import driver_class
from rootless.storage.fuse import FuseDriver, _alive, fuse_overlay_command


def test_registered_as_the_fuse_driver() -> None:
    assert driver_class("fuse") is FuseDriver
    assert FuseDriver.whiteouts == "overlay"  # layers shared with the overlay driver


def test_command_is_fuse_overlayfs_style(tmp_path: Path) -> None:
    cmd = fuse_overlay_command(
        ["/l/top", "/l/base"], tmp_path / "u", tmp_path / "w", tmp_path / "m"
    )
    assert cmd[:4] == [sys.executable, "-m", "fuse_overlay.cli", "-f"]
    assert cmd[4:] == [
        "-o",
        f"lowerdir=/l/top:/l/base,upperdir={tmp_path}/u,workdir={tmp_path}/w",
        f"{tmp_path}/m",
    ]


def test_a_reused_pid_is_not_taken_for_our_daemon(tmp_path: Path) -> None:
    # A live process that is not fuse-overlay for this mount point must never count
    # (the driver would otherwise signal a stranger).
    assert not _alive(os.getpid(), tmp_path / "merged")
    p = subprocess.Popen(["sleep", "5"])
    try:
        assert not _alive(p.pid, tmp_path / "merged")
    finally:
        p.kill()
        p.wait()
    assert not _alive(p.pid, tmp_path / "merged")


def test_unmount_without_mount_is_a_no_op(tmp_path: Path) -> None:
    drv = FuseDriver(tmp_path / "fuse")
    (drv.container_dir("c") / "merged").mkdir(parents=True)
    drv.unmount("c")
    drv.unmount("c")
