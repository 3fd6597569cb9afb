"""Real cgroup v2 limits, run inside the qemu VM (scripts/vm-test.sh) as the test user,
whose cgroup /job is delegated like a batch scheduler's job cgroup."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from rootless.cgroups.detect import detect
from rootless.cgroups.limits import Limits
from rootless.cgroups.manager import CgroupManager
from rootless.cgroups.policy import check

pytestmark = pytest.mark.skipif(  # allowed-skip: these only mean something inside the VM
    os.environ.get("ROOTLESS_IN_VM") != "1", reason="run through scripts/vm-test.sh"
)


@pytest.fixture
def mgr() -> CgroupManager:
    m = CgroupManager.detect()
    assert m is not None, "the VM must delegate a cgroup to the test user"
    return m


@pytest.fixture
def cgroups(mgr: CgroupManager) -> Iterator[list[Path]]:
    made: list[Path] = []
    yield made
    for cg in made:
        mgr.kill(cg)
        mgr.remove(cg)


def spawn_in(cg: Path, *cmd: str) -> subprocess.Popen[bytes]:
    def enter() -> None:
        with open(cg / "cgroup.procs", "w") as f:
            f.write("0")

    return subprocess.Popen(cmd, preexec_fn=enter)


def test_detects_delegation() -> None:
    info = detect()
    assert info.version == "v2"
    assert info.own_cgroup == "/job"
    assert info.writable
    assert {"cpu", "memory", "pids", "io"} <= set(info.delegated)
    assert check(Limits(memory=50 << 20, pids_limit=10), "require", info) is True


def test_memory_limit_oom_kills(mgr: CgroupManager, cgroups: list[Path]) -> None:
    cg = mgr.create("mem", Limits(memory=50 << 20, memory_swap=50 << 20))
    cgroups.append(cg)
    alloc = "b = bytearray(100 * 1024 * 1024)\nfor i in range(0, len(b), 4096): b[i] = 1\n"
    p = spawn_in(cg, sys.executable, "-S", "-c", alloc)
    assert p.wait(timeout=120) == -9
    assert mgr.stats(cg).oom_kills >= 1
    assert (cg / "memory.max").read_text().strip() == str(50 << 20)


def test_pids_limit_stops_fork_bomb(mgr: CgroupManager, cgroups: list[Path]) -> None:
    cg = mgr.create("pids", Limits(pids_limit=10))
    cgroups.append(cg)
    bomb = "i=0; while [ $i -lt 30 ]; do sleep 20 & i=$((i+1)); done; sleep 3"
    p = spawn_in(cg, "/bin/sh", "-c", bomb)
    time.sleep(2)
    st = mgr.stats(cg)
    assert st.pids_max == 10
    assert st.pids_current <= 10
    events = (cg / "pids.events").read_text()
    assert int(events.split()[1]) > 0, events  # "max N": forks refused
    mgr.kill(cg)
    p.wait(timeout=30)


def _busy(cg: Path) -> subprocess.Popen[bytes]:
    return spawn_in(cg, sys.executable, "-S", "-c", "while True: pass")


def test_cpus_limit_keeps_busy_loop_near_30_percent(
    mgr: CgroupManager, cgroups: list[Path]
) -> None:
    cg = mgr.create("cpu", Limits(cpus=0.3))
    cgroups.append(cg)
    assert (cg / "cpu.max").read_text().split() == ["30000", "100000"]
    p = _busy(cg)
    time.sleep(1)
    u0, t0 = mgr.stats(cg).cpu_usage_usec, time.monotonic()
    time.sleep(4)
    u1, t1 = mgr.stats(cg).cpu_usage_usec, time.monotonic()
    p.kill()
    p.wait()
    share = (u1 - u0) / 1e6 / (t1 - t0)
    # Tolerance: +-0.12 of a CPU; the VM runs under software emulation.
    assert 0.18 <= share <= 0.42, share


def test_freeze_stops_cpu_time(mgr: CgroupManager, cgroups: list[Path]) -> None:
    cg = mgr.create("frz", Limits())
    cgroups.append(cg)
    p = _busy(cg)
    time.sleep(0.5)
    mgr.freeze(cg, True)
    u0 = mgr.stats(cg).cpu_usage_usec
    time.sleep(1.5)
    u1 = mgr.stats(cg).cpu_usage_usec
    assert u1 - u0 < 20_000  # < 20 ms while frozen
    mgr.freeze(cg, False)
    time.sleep(1)
    assert mgr.stats(cg).cpu_usage_usec - u1 > 100_000
    mgr.kill(cg)
    assert p.wait(timeout=30) == -9


def test_stats_agree_with_files(mgr: CgroupManager, cgroups: list[Path]) -> None:
    cg = mgr.create("stats", Limits(memory=64 << 20, pids_limit=20))
    cgroups.append(cg)
    p = spawn_in(cg, "/bin/sleep", "30")
    time.sleep(0.5)
    st = mgr.stats(cg)
    assert st.pids_current == int((cg / "pids.current").read_text())
    assert st.memory_max == 64 << 20
    assert st.pids_max == 20
    assert mgr.pids(cg) == [p.pid]
    mgr.kill(cg)
    p.wait(timeout=30)
    assert mgr.pids(cg) == []


def test_update_changes_running_limits(mgr: CgroupManager, cgroups: list[Path]) -> None:
    cg = mgr.create("upd", Limits(pids_limit=5))
    cgroups.append(cg)
    mgr.update(cg, Limits(pids_limit=50, memory=128 << 20))
    assert (cg / "pids.max").read_text().strip() == "50"
    assert (cg / "memory.max").read_text().strip() == str(128 << 20)
