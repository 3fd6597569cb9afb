"""Detached containers: logs, stop, kill, rm, wait, ps, inspect, pause, restart policy,
and what happens when the CLI or the monitor is killed."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import Env
from tests.integration.test_containers_support import (
    assert_no_debris,
    force_cleanup,
    wait_for,
)

LOOP = "i=0; while true; do echo tick $i; i=$((i+1)); sleep 0.1; done"


@pytest.fixture
def eng(rl: Env, busybox_image: str) -> Iterator[Env]:
    yield rl
    force_cleanup(rl)


def _popen(rl: Env, *args: str, **kw: object) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "rootless", *args],
        env=rl.env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        **kw,  # type: ignore[call-overload]
    )


def state(rl: Env, ref: str) -> dict:  # type: ignore[type-arg]
    return rl.run("inspect", ref, check=True).json()[0]["State"]  # type: ignore[index,no-any-return]


def test_detached_rm_logs_follow_stop(eng: Env) -> None:
    r = eng.run("run", "-d", "--rm", "--name", "ticker", "busybox", "sh", "-c", LOOP)
    assert r.rc == 0, r.err
    cid = r.out.strip()
    assert len(cid) == 64
    follower = _popen(eng, "logs", "-f", "ticker")
    wait_for(lambda: "tick 3" in eng.run("logs", "ticker").out, what="output")
    t0 = time.monotonic()
    assert eng.run("stop", "-t", "1", "ticker", check=True).out.strip() == "ticker"
    assert time.monotonic() - t0 < 8
    out, _ = follower.communicate(timeout=15)
    assert follower.returncode == 0
    lines = out.splitlines()
    assert lines[:3] == ["tick 0", "tick 1", "tick 2"]
    assert all(ln.startswith("tick ") for ln in lines)
    # --rm: stopping removed it.
    assert eng.run("ps", "-aq").out.strip() == ""
    assert eng.run("logs", "ticker").rc == 125
    assert_no_debris(eng)
    # Exiting on its own, with nobody attached: the monitor's cleanup command removes it.
    eng.run("run", "-d", "--rm", "busybox", "true", check=True)
    assert_no_debris(eng)


def test_logs_tail_timestamps_since(eng: Env) -> None:
    cid = eng.run("run", "-d", "busybox", "sh", "-c", "for i in 1 2 3 4 5; do echo l$i; done; echo e >&2",
                  check=True).out.strip()  # fmt: skip
    assert eng.run("wait", cid, check=True).out.strip() == "0"
    r = eng.run("logs", cid)
    assert r.out == "l1\nl2\nl3\nl4\nl5\n" and r.err == "e\n"
    assert eng.run("logs", "--tail", "2", cid).out == "l5\n"  # the last 2 entries: l5, e
    ts = eng.run("logs", "-t", cid).out.splitlines()
    assert ts[0].endswith(" l1") and ts[0][:4].isdigit() and "T" in ts[0]
    assert eng.run("logs", "--since", "1h", cid).out.count("\n") == 5
    assert eng.run("logs", "--since", str(int(time.time()) + 3600), cid).out == ""
    # logs -f of a stopped container prints and returns.
    assert eng.run("logs", "-f", cid, timeout=20).out.count("\n") == 5
    eng.run("rm", cid, check=True)
    assert_no_debris(eng)


def test_ps_inspect_shapes_filters_and_formats(eng: Env) -> None:
    eng.run("run", "-d", "--name", "web", "-l", "tier=front", "busybox", "sleep", "60", check=True)
    eng.run("create", "--name", "idle", "busybox", "true", check=True)
    assert eng.run("ps", "--format", "{{.Names}}").out.split() == ["web"]
    assert sorted(eng.run("ps", "-a", "--format", "{{.Names}}").out.split()) == ["idle", "web"]
    assert eng.run(
        "ps", "-a", "--filter", "label=tier=front", "--format", "{{.Names}}"
    ).out.split() == ["web"]
    assert eng.run(
        "ps", "-a", "--filter", "status=created", "--format", "{{.Names}}"
    ).out.split() == ["idle"]
    assert eng.run("ps", "-a", "--filter", "name=we", "-q").out.strip() != ""
    assert eng.run("ps", "-l", "--format", "{{.Names}} {{.State}}").out.strip() == "idle created"
    table = eng.run("ps", "--format", "table {{.Names}}\\t{{.Status}}").out.splitlines()
    assert table[0].split() == ["NAMES", "STATUS"] and table[1].startswith("web\tUp")
    assert eng.run("ps", "--filter", "bogus=1").rc == 125
    d = eng.run("inspect", "web", check=True).json()[0]
    for key in (
        "Id",
        "Created",
        "State",
        "Config",
        "HostConfig",
        "Mounts",
        "NetworkSettings",
        "Name",
    ):
        assert key in d
    assert d["Name"] == "/web" and d["State"]["Running"] and d["State"]["Pid"] > 0
    assert d["Config"]["Labels"] == {"tier": "front"}
    assert d["HostConfig"]["RestartPolicy"]["Name"] == "no"
    assert (
        eng.run("inspect", "-f", "{{.State.Status}} {{.Config.Image}}", "web").out
        == "running busybox\n"
    )
    assert eng.run("inspect", "nope").rc == 125
    eng.run("rm", "-f", "web", "idle", check=True)
    assert_no_debris(eng)


def test_kill_wait_pause_rename_restart_top(eng: Env) -> None:
    cid = eng.run("run", "-d", "--name", "k", "busybox", "sh", "-c", "trap 'exit 42' USR1; while true; do sleep 0.1; done",
                  check=True).out.strip()  # fmt: skip
    assert eng.run("top", "k", check=True).out.splitlines()[0].split()[:2] == [
        "USER",
        "PID",
    ]
    eng.run("pause", "k", check=True)
    assert state(eng, "k")["Status"] == "paused"
    eng.run("unpause", "k", check=True)
    assert state(eng, "k")["Status"] == "running"
    eng.run("rename", "k", "k2", check=True)
    assert eng.run("inspect", "-f", "{{.Name}}", cid).out.strip() == "/k2"
    waiter = _popen(eng, "wait", "k2")
    time.sleep(0.3)
    eng.run("kill", "-s", "USR1", "k2", check=True)
    out, _ = waiter.communicate(timeout=20)
    assert out.strip() == "42"
    st = state(eng, "k2")
    assert st["Status"] == "exited" and st["ExitCode"] == 42
    assert eng.run("kill", "k2").rc == 125  # not running
    eng.run("restart", "k2", check=True)
    assert state(eng, "k2")["Running"]
    eng.run("stop", "-t", "0", "k2", check=True)
    assert state(eng, "k2")["ExitCode"] == 137
    eng.run("start", "k2", check=True)
    assert state(eng, "k2")["Running"]
    eng.run("rm", "-f", "k2", check=True)
    assert_no_debris(eng)


def test_restart_policy_enforced_by_monitor(eng: Env) -> None:
    cid = eng.run("run", "-d", "--restart", "on-failure:2", "busybox", "sh", "-c", "echo run; exit 3",
                  check=True).out.strip()  # fmt: skip
    wait_for(lambda: state(eng, cid)["Status"] == "exited" and eng.run("logs", cid).out.count("run") == 3,
             20, "two restarts")  # fmt: skip
    d = eng.run("inspect", cid, check=True).json()[0]
    assert d["RestartCount"] == 2 and d["State"]["ExitCode"] == 3
    # always: restarts until stopped; stop wins over the policy.
    cid = eng.run("run", "-d", "--restart", "always", "busybox", "sh", "-c", "sleep 0.2",
                  check=True).out.strip()  # fmt: skip
    wait_for(lambda: eng.run("inspect", cid).json()[0]["RestartCount"] >= 2, 20, "restarts")  # type: ignore[index]
    eng.run("stop", "-t", "1", cid, check=True)
    time.sleep(1)
    assert state(eng, cid)["Status"] == "exited"
    eng.run("rm", "-af", check=True)
    assert_no_debris(eng)


def test_killing_the_cli_leaves_the_container_running_and_manageable(eng: Env) -> None:
    cli = _popen(eng, "run", "--name", "survivor", "busybox", "sh", "-c", LOOP)
    wait_for(lambda: "tick 2" in eng.run("logs", "survivor").out, what="output")
    cli.send_signal(signal.SIGKILL)
    cli.communicate(timeout=10)
    time.sleep(0.5)
    assert state(eng, "survivor")["Running"]
    n = eng.run("logs", "survivor").out.count("tick")
    wait_for(lambda: eng.run("logs", "survivor").out.count("tick") > n, what="more output")
    assert eng.run("ps", "--format", "{{.Names}}").out.split() == ["survivor"]
    eng.run("stop", "-t", "0", "survivor", check=True)
    eng.run("rm", "survivor", check=True)
    assert_no_debris(eng)


def test_killed_monitor_is_detected_never_a_hang(eng: Env) -> None:
    cid = eng.run("run", "-d", "busybox", "sleep", "600", check=True).out.strip()
    mon = state(eng, cid)["MonitorPid"]
    assert mon > 0
    os.kill(mon, signal.SIGKILL)
    time.sleep(0.3)
    st = state(eng, cid)
    assert st["Running"] and "monitor" in st["Error"]  # still running, unsupervised
    t0 = time.monotonic()
    eng.run("stop", "-t", "1", cid, check=True, timeout=30)
    assert time.monotonic() - t0 < 15
    assert state(eng, cid)["Status"] == "exited"
    assert "Exited" in eng.run("ps", "-a", "--format", "{{.Status}}").out
    eng.run("rm", cid, check=True)
    assert_no_debris(eng)


def test_rm_running_needs_force_and_exec_needs_running(eng: Env) -> None:
    eng.run("run", "-d", "--name", "busy", "busybox", "sleep", "600", check=True)
    r = eng.run("rm", "busy")
    assert r.rc == 125 and "rm -f" in r.err and len(r.err.strip().splitlines()) == 1
    r = eng.run("exec", "busy", "sh", "-c", "echo inside; exit 5")
    assert (r.rc, r.out) == (5, "inside\n")
    r = eng.run(
        "exec",
        "-e",
        "X=1",
        "-w",
        "/tmp",
        "-u",
        "nobody",
        "busy",
        "sh",
        "-c",
        'echo "$X $(pwd) $(id -u)"',
    )
    assert r.out == "1 /tmp 65534\n", r.err
    assert eng.run("exec", "busy", "nosuchcmd").rc == 127
    eng.run("stop", "-t", "0", "busy", check=True)
    r = eng.run("exec", "busy", "true")
    assert r.rc == 125 and "not running" not in r.out and len(r.err.strip().splitlines()) == 1
    eng.run("rm", "-f", "busy", check=True)
    assert eng.run("rm", "busy").rc == 125
    eng.run("rm", "-f", "busy", check=True)  # -f on a missing container is fine
    assert_no_debris(eng)


@pytest.mark.slow
def test_thirty_concurrent_runs_get_unique_names(eng: Env) -> None:
    procs = [_popen(eng, "run", "-d", "busybox", "true") for _ in range(30)]
    results = [(p.wait(timeout=240), p.communicate()) for p in procs]
    assert all(rc == 0 for rc, _ in results), [err for rc, (_, err) in results if rc]
    ids = {out.strip() for _, (out, _) in results}
    assert len(ids) == 30
    rows = json.loads(eng.run("ps", "-a", "--format", "json", check=True).out)
    assert len({r["Names"] for r in rows}) == 30
    eng.run("rm", "-af", check=True, timeout=240)
    assert_no_debris(eng)


def test_cp_both_ways_never_leaves_the_rootfs(eng: Env, tmp_path) -> None:  # type: ignore[no-untyped-def]
    setup = "ln -s / /escape && ln -s ../../../../../../etc /rel && mkdir /data && sleep 600"
    eng.run("run", "-d", "--name", "c1", "busybox", "sh", "-c", setup, check=True)
    wait_for(lambda: eng.run("exec", "c1", "test", "-d", "/data").rc == 0, what="setup")
    (tmp_path / "f.txt").write_text("hi\n")
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "y").write_text("y\n")
    eng.run("cp", str(tmp_path / "f.txt"), "c1:/data/", check=True)
    eng.run("cp", str(tmp_path / "d"), "c1:/data/", check=True)
    assert eng.run("exec", "c1", "cat", "/data/f.txt", "/data/d/y").out == "hi\ny\n"
    # Out through symlinks: resolved inside the container's root, never the host's.
    eng.run("cp", "c1:/escape/etc/passwd", str(tmp_path / "pw"), check=True)
    assert (tmp_path / "pw").read_text().startswith("root:x:0:0:root:/root:/bin/sh")
    assert "rootless-test" not in (tmp_path / "pw").read_text()
    eng.run("cp", "c1:/rel/group", str(tmp_path / "grp"), check=True)
    assert "rootless-test" not in (tmp_path / "grp").read_text()
    # In through symlinks: lands inside the container, the host's dir is untouched.
    eng.run("cp", str(tmp_path / "f.txt"), "c1:/escape/tmp/", check=True)
    assert eng.run("exec", "c1", "cat", "/tmp/f.txt").out == "hi\n"
    host_tmp = Path("/tmp/f.txt")
    assert not host_tmp.exists() or host_tmp.read_text() != "hi\n"
    eng.run("cp", "c1:/data", str(tmp_path / "back"), check=True)
    assert (tmp_path / "back" / "d" / "y").read_text() == "y\n"
    assert eng.run("cp", "c1:/nope", str(tmp_path)).rc == 125
    changes = eng.run("diff", "c1", check=True).out.splitlines()
    assert "A /data/f.txt" in changes and "A /escape" in changes
    assert "A /proc" not in changes
    eng.run("rm", "-f", "c1", check=True)
    assert_no_debris(eng)


def test_create_then_start_attach_prune_and_keep_id(eng: Env) -> None:
    cid = eng.run("create", "--name", "later", "busybox", "sh", "-c", "echo hi from start; exit 4",
                  check=True).out.strip()  # fmt: skip
    assert eng.run("inspect", "-f", "{{.State.Status}}", cid).out.strip() == "created"
    r = eng.run("start", "-a", "later")
    assert (r.rc, r.out) == (4, "hi from start\n"), r.err
    assert eng.run("start", "later", check=True).out.strip() == "later"  # again, detached
    assert eng.run("wait", "later").out.strip() == "4"
    r = eng.run("run", "--rm", "--userns", "keep-id", "busybox", "id", "-u")
    assert (r.rc, r.out.strip()) == (0, str(os.getuid())), r.err
    eng.run("run", "-d", "--name", "keeper", "busybox", "sleep", "600", check=True)
    pruned = eng.run("container", "prune", "-f", check=True).out.split()
    assert pruned == [cid]
    assert eng.run("container", "ls", "--format", "{{.Names}}").out.split() == ["keeper"]
    eng.run("rm", "-f", "keeper", check=True)
    assert_no_debris(eng)


def test_start_again_after_the_monitor_was_killed(eng: Env) -> None:
    eng.run("run", "-d", "--name", "phoenix", "busybox", "sleep", "600", check=True)
    st = state(eng, "phoenix")
    os.kill(st["MonitorPid"], signal.SIGKILL)
    os.kill(st["Pid"], signal.SIGKILL)
    wait_for(lambda: state(eng, "phoenix")["Status"] == "exited", what="reconciled exit")
    eng.run("start", "phoenix", check=True)  # nobody cleaned up: start copes
    assert state(eng, "phoenix")["Running"]
    eng.run("rm", "-f", "phoenix", check=True)
    assert_no_debris(eng)


def test_rm_v_and_rm_take_anonymous_volumes_only(eng: Env) -> None:
    eng.run("volume", "create", "named", check=True)
    eng.run("run", "--name", "v1", "-v", "/anon", "-v", "named:/named", "busybox",
            "sh", "-c", "echo x > /anon/f; echo y > /named/f", check=True)  # fmt: skip
    before = set(eng.run("volume", "ls", "-q", check=True).out.split())
    assert "named" in before and len(before) == 2
    eng.run("rm", "-v", "v1", check=True)
    assert eng.run("volume", "ls", "-q", check=True).out.split() == ["named"]
    eng.run("run", "--rm", "-v", "/anon2", "busybox", "true", check=True)
    assert eng.run("volume", "ls", "-q", check=True).out.split() == ["named"]
    eng.run("volume", "rm", "named", check=True)
    assert_no_debris(eng)
