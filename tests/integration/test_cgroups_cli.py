"""cgroups through the real CLI on this hybrid v1/v2 host (nothing delegated): limit flags
warn once and the container runs; `--cgroup-limits require` (flag or engine.conf) fails
with exit 125 and one line; inspect shows the limits; stats falls back to /proc; update
records the new limits. Real limits are tested in the VM (tests/vm)."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from rootless.cgroups.detect import detect
from tests.conftest import Env
from tests.integration.test_containers_support import assert_no_debris, force_cleanup


@pytest.fixture
def eng(rl: Env, busybox_image: str) -> Iterator[Env]:
    info = detect()
    if info.writable and {"memory", "pids"} <= set(info.delegated):
        pytest.fail("this host delegates cgroups: these tests expect the hybrid host")
    yield rl
    force_cleanup(rl)


def test_limit_flag_warns_once_and_runs(eng: Env) -> None:
    r = eng.run("run", "--rm", "--memory", "50m", "--pids-limit", "10", "busybox", "echo", "ran")
    assert (r.rc, r.out) == (0, "ran\n"), r.err
    lines = r.err.strip().splitlines()
    assert len(lines) == 1, r.err
    assert lines[0].startswith("WARNING: resource limits ignored (memory, pids)")
    assert "not delegated" in lines[0] and "fix:" in lines[0] and "Delegate=" in lines[0]
    assert_no_debris(eng)


def test_require_policy_flag_fails_with_one_line(eng: Env) -> None:
    r = eng.run("--cgroup-limits", "require", "run", "--rm", "--memory", "50m", "busybox", "true")
    assert r.rc == 125
    lines = r.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: resource limits need"), r.err
    assert eng.run("ps", "-aq", check=True).out.strip() == ""  # nothing created


def test_require_policy_from_engine_conf(eng: Env) -> None:
    eng.config.mkdir(parents=True, exist_ok=True)
    (eng.config / "engine.conf").write_text('[engine]\ncgroup_limits = "require"\n')
    r = eng.run("create", "--cpus", "0.5", "busybox", "true")
    assert r.rc == 125 and "cpu" in r.err, r.err
    # Without limit flags the policy does not matter.
    assert eng.run("run", "--rm", "busybox", "true").rc == 0
    (eng.config / "engine.conf").write_text('cgroup_limits = "sometimes"\n')
    bad = eng.run("run", "--rm", "--cpus", "1", "busybox", "true")
    assert bad.rc == 125 and "cgroup_limits must be one of" in bad.err


@pytest.mark.parametrize(
    ("flags", "words"),
    [
        (["--memory", "5"], "at least 6MB"),
        (["--cpus", "abc"], "invalid --cpus"),
        (["--memory-swap", "10m"], "needs --memory"),
        (["--device-read-bps", "/dev/no-such-disk:1mb"], "/dev/no-such-disk"),
        (["--blkio-weight", "5"], "between 10 and 1000"),
    ],
)
def test_bad_limit_flags_are_one_line_errors(eng: Env, flags: list[str], words: str) -> None:
    r = eng.run("run", "--rm", *flags, "busybox", "true")
    assert r.rc == 125 and words in r.err and len(r.err.strip().splitlines()) == 1, r.err


def test_inspect_stats_update_without_delegation(eng: Env) -> None:
    r = eng.run(
        "run", "-d", "--name", "lim", "--memory", "64m", "--cpus", "1.5", "--cpu-shares", "512",
        "--pids-limit", "50", "--cpuset-cpus", "0", "busybox", "sleep", "60",
    )  # fmt: skip
    assert r.rc == 0, r.err
    hc = eng.run("inspect", "lim", check=True).json()[0]["HostConfig"]  # type: ignore[index]
    assert (hc["Memory"], hc["NanoCpus"], hc["CpuShares"]) == (64 << 20, 1_500_000_000, 512)
    assert (hc["PidsLimit"], hc["CpusetCpus"]) == (50, "0")
    state = eng.run("inspect", "--format", "{{.State.OOMKilled}}", "lim", check=True).out
    assert state.strip() == "false"

    # stats: from /proc (no cgroup): pids, memory, the host's memory as the limit.
    st = eng.run("stats", "--no-stream", "--interval", "0.2", "--format", "json", "lim")
    assert st.rc == 0, st.err
    row = json.loads(st.out)
    assert row["Name"] == "lim" and row["Source"] == "proc" and row["PIDs"] == "1"
    assert row["MemUsageBytes"] > 0 and row["MemLimitBytes"] > row["MemUsageBytes"]
    assert row["CPUPerc"].endswith("%")
    table = eng.run("stats", "--no-stream", "--interval", "0.2", check=True).out.splitlines()
    assert table[0].split()[:3] == ["CONTAINER", "ID", "NAME"] and "lim" in table[1]
    tmpl = eng.run("stats", "--no-stream", "--interval", "0.2", "--format", "{{.Name}}:{{.PIDs}}")
    assert tmpl.out.strip() == "lim:1", tmpl.err

    # update: warns (no cgroup to change now), records the limits for inspect/next start.
    up = eng.run("update", "--memory", "128m", "--pids-limit", "70", "lim")
    assert up.rc == 0 and up.err.startswith("WARNING: resource limits ignored"), up.err
    hc = eng.run("inspect", "lim", check=True).json()[0]["HostConfig"]  # type: ignore[index]
    assert (hc["Memory"], hc["PidsLimit"], hc["NanoCpus"]) == (128 << 20, 70, 1_500_000_000)
    req = eng.run("--cgroup-limits", "require", "update", "--memory", "256m", "lim")
    assert req.rc == 125 and len(req.err.strip().splitlines()) == 1, req.err
    assert eng.run("update", "lim").rc == 125  # no flag: nothing to do
    eng.run("rm", "-f", "lim", check=True)
    assert_no_debris(eng)
