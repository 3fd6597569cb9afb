"""cgroup v2 setup against a directory laid out like a delegated cgroupfs (the kernel's
part, enforcing limits, is not what is tested here; the host has no delegation)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from rootless import syscalls as sc
from rootless.runtime import cgroups


@pytest.fixture
def fake_tree(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setattr(cgroups, "MOUNT", str(tmp_path))
    monkeypatch.setattr(sc, "fs_magic", lambda path: cgroups.CGROUP2_SUPER_MAGIC)
    leaf = tmp_path / "user.slice" / "ctr"
    leaf.mkdir(parents=True)
    for name in (
        "cgroup.procs",
        "memory.max",
        "memory.swap.max",
        "pids.max",
        "cpu.max",
        "cpu.weight",
    ):
        (leaf / name).write_text("")
    for d in (tmp_path, tmp_path / "user.slice"):
        (d / "cgroup.subtree_control").write_text("")
    return leaf


def test_limits_translation() -> None:
    got = cgroups.limits(
        {
            "memory": {"limit": 64 << 20, "swap": 96 << 20, "reservation": 1 << 20},
            "pids": {"limit": 32},
            "cpu": {"quota": 50000, "period": 100000, "shares": 1024},
            "unified": {"io.weight": "50"},
        }
    )
    assert got == {
        "memory.max": str(64 << 20),
        "memory.swap.max": str(32 << 20),
        "memory.low": str(1 << 20),
        "pids.max": "32",
        "cpu.max": "50000 100000",
        "cpu.weight": "39",
        "io.weight": "50",
    }
    assert cgroups.limits({"memory": {"limit": -1}, "pids": {"limit": 0}}) == {
        "memory.max": "max",
        "pids.max": "max",
    }


def test_setup_writes_limits_and_moves_the_pid(fake_tree: Path) -> None:
    cfg = {
        "linux": {
            "cgroupsPath": "/user.slice/ctr",
            "resources": {"memory": {"limit": 1 << 20}, "pids": {"limit": 10}},
        }
    }
    path = cgroups.setup(cfg, 4242)
    assert path == str(fake_tree)
    assert (fake_tree / "memory.max").read_text() == str(1 << 20)
    assert (fake_tree / "pids.max").read_text() == "10"
    assert (fake_tree / "cgroup.procs").read_text() == "4242"
    # Controllers were enabled above the leaf (a plain file keeps overlapping writes).
    assert (fake_tree.parent / "cgroup.subtree_control").read_text().startswith("+")
    assert cgroups.procs(str(fake_tree)) == [4242]


def test_no_cgroup_v2_means_skip_with_one_warning(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(cgroups, "MOUNT", str(tmp_path))
    monkeypatch.setattr(sc, "fs_magic", lambda path: 0x01021994)  # tmpfs: a hybrid host
    cfg = {"linux": {"cgroupsPath": "/x", "resources": {"pids": {"limit": 5}}}}
    assert cgroups.setup(cfg, 1) is None
    assert capfd.readouterr().err.count("linux.resources ignored") == 1
    assert not (tmp_path / "x").exists()
    assert cgroups.setup({"linux": {}}, 1) is None
    assert capfd.readouterr().err == ""


def test_relative_and_systemd_paths(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cgroups, "_own_cgroup", lambda: "/user.slice/me")
    assert cgroups.target({"linux": {"cgroupsPath": "ctr"}}) == "/sys/fs/cgroup/user.slice/me/ctr"
    assert cgroups.target({"linux": {"cgroupsPath": "/a/../b"}}) == "/sys/fs/cgroup/b"
    assert cgroups.target({"linux": {"cgroupsPath": "system.slice:rl:ctr"}}) is None
    assert cgroups.target({}) is None
    assert os.path.isabs(cgroups.MOUNT)
