"""`rootless run/stats/pause/update/inspect/top` with real cgroup v2 limits, inside the
qemu VM (scripts/vm-test.sh) whose /job cgroup is delegated to the test user.

Python under TCG is slow (a CLI call takes seconds), so one long-running container serves
the cpu, pids, stats, pause, update and top checks."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import Env

pytestmark = pytest.mark.skipif(  # allowed-skip: these only mean something inside the VM
    os.environ.get("ROOTLESS_IN_VM") != "1", reason="run through scripts/vm-test.sh"
)

CONTAINERS = Path("/sys/fs/cgroup/job/containers")
BUSYBOX = Path("/opt/images/busybox")


@pytest.fixture(scope="module")
def eng(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Env]:
    base = tmp_path_factory.mktemp("eng")
    e = Env(root=base / "data", runroot=base / "run", config=base / "config", home=base)
    # The VM's filesystems are tmpfs on Linux 6.1: no user xattrs, so no overlay upper.
    e.extra_env = {"ROOTLESS_STORAGE_DRIVER": "vfs"}
    assert (BUSYBOX / "index.json").is_file(), "run_vm.py copies the busybox layout here"
    e.run("load", "-q", "-i", str(BUSYBOX), check=True, timeout=300)
    yield e
    e.run("rm", "-af", timeout=300)
    pidfile = e.runroot / "pause.pid"
    if pidfile.exists():
        os.kill(int(pidfile.read_text().split()[0]), 9)


def usage_usec(cg: Path) -> int:
    for line in (cg / "cpu.stat").read_text().splitlines():
        k, _, v = line.partition(" ")
        if k == "usage_usec":
            return int(v)
    raise AssertionError("no usage_usec in cpu.stat")


def test_memory_limit_oom_kill_is_137_and_oomkilled(eng: Env) -> None:
    r = eng.run(
        "run", "--name", "oom", "--network", "none", "--memory", "50m", "busybox",
        "dd", "if=/dev/zero", "of=/dev/null", "bs=100M", "count=1",
    )  # fmt: skip
    assert r.rc == 137, (r.rc, r.err)
    fmt = "{{.State.OOMKilled}} {{.State.ExitCode}} {{.HostConfig.Memory}}"
    out = eng.run("inspect", "--format", fmt, "oom", check=True).out.split()
    assert out == ["true", "137", str(50 << 20)]


def test_limits_stats_pause_update_top_on_one_container(eng: Env) -> None:
    # A subshell starts 30 sleepers (pids.max 10 refuses most forks: ash's subshell exits
    # at the first refused fork), then the container's shell spins on the CPU.
    script = "(i=0; while [ $i -lt 30 ]; do sleep 600 & i=$((i+1)); done); while :; do :; done"
    r = eng.run(
        "run", "-d", "--name", "busy", "--network", "none", "--cpus", "0.3", "--pids-limit", "10",
        "busybox", "sh", "-c", script,
    )  # fmt: skip
    assert r.rc == 0, r.err
    cid = r.out.strip()
    cg = CONTAINERS / cid
    assert (cg / "cpu.max").read_text().split() == ["30000", "100000"]
    assert (cg / "pids.max").read_text().strip() == "10"
    time.sleep(2)

    # --pids-limit: the fork bomb stops at 10.
    assert int((cg / "pids.current").read_text()) <= 10
    assert int((cg / "pids.events").read_text().split()[1]) > 0  # "max N": forks refused

    # --cpus 0.3: about 30% of a CPU, from cpu.stat (tolerance +-0.12 CPU under TCG).
    u0, t0 = usage_usec(cg), time.monotonic()
    time.sleep(4)
    share = (usage_usec(cg) - u0) / 1e6 / (time.monotonic() - t0)
    print(f"figure: --cpus 0.3 busy loop used {share:.3f} CPU (cpu.stat over 4 s)")
    assert 0.18 <= share <= 0.42, share

    # stats agrees with the cgroup files.
    st = json.loads(eng.run("stats", "--no-stream", "--format", "json", "busy", check=True).out)
    assert st["Source"] == "cgroup"
    assert int(st["PIDs"]) == int((cg / "pids.current").read_text())
    print(f"figure: stats CPUPerc {st['CPUPerc']}, PIDs {st['PIDs']}")
    assert 15.0 <= float(st["CPUPerc"].rstrip("%")) <= 45.0, st["CPUPerc"]
    assert abs(st["CPUUsec"] - usage_usec(cg)) < 3_000_000
    assert st["MemLimitBytes"] > 0

    # top lists the cgroup's processes.
    top = eng.run("top", "busy", check=True).out.splitlines()
    pids = {int(p) for p in (cg / "cgroup.procs").read_text().split()}
    assert {int(line.split()[1]) for line in top[1:]} == pids

    # pause freezes: no CPU time advances; unpause thaws.
    eng.run("pause", "busy", check=True)
    assert "frozen 1" in (cg / "cgroup.events").read_text()
    f0 = usage_usec(cg)
    time.sleep(1.5)
    frozen_usec = usage_usec(cg) - f0
    print(f"figure: {frozen_usec} us of CPU in 1.5 s while paused")
    assert frozen_usec < 20_000
    state = eng.run("inspect", "--format", "{{.State.Status}}", "busy", check=True).out.strip()
    assert state == "paused"
    eng.run("unpause", "busy", check=True)
    assert "frozen 0" in (cg / "cgroup.events").read_text()
    f1 = usage_usec(cg)
    time.sleep(1)
    assert usage_usec(cg) - f1 > 50_000

    # update changes the running container's limits; inspect shows them.
    eng.run("update", "--pids-limit", "20", "--memory", "64m", "busy", check=True)
    assert (cg / "pids.max").read_text().strip() == "20"
    assert (cg / "memory.max").read_text().strip() == str(64 << 20)
    fmt = "{{.HostConfig.PidsLimit}} {{.HostConfig.Memory}} {{.HostConfig.NanoCpus}}"
    shown = eng.run("inspect", "--format", fmt, "busy", check=True).out.split()
    assert shown == ["20", str(64 << 20), str(300_000_000)]

    eng.run("rm", "-f", "busy", check=True, timeout=300)
    assert not cg.exists(), "the container's cgroup is removed with it"


def test_device_read_bps_throttles_a_read(eng: Env) -> None:
    # Read 3 MiB of the VM's virtio disk at 1 MiB/s: about 3 s, timed inside the container.
    script = (
        "cat /proc/uptime; dd if=/disk of=/dev/null bs=64k count=48 2>/dev/null; cat /proc/uptime"
    )
    r = eng.run(
        "run", "--rm", "--network", "none", "-v", "/dev/vda:/disk", "--device-read-bps", "/dev/vda:1mb",
        "busybox", "sh", "-c", script,
    )  # fmt: skip
    assert r.rc == 0, r.err
    t0, t1 = (float(line.split()[0]) for line in r.out.splitlines()[:2])
    print(f"figure: 3 MiB read at --device-read-bps 1mb took {t1 - t0:.2f} s")
    assert t1 - t0 >= 2.0, f"3 MiB at 1 MiB/s took {t1 - t0:.2f}s"
