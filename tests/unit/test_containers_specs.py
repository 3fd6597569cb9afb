"""RunSpec parsing, the state machine, names and ids: the pure parts of the containers
service."""

from __future__ import annotations

import re
import threading
from pathlib import Path

import pytest

from rootless.engine import runspec as R
from rootless.engine.containers.state import ContainerState, can, require
from rootless.engine.containers.store import Store
from rootless.engine.names import new_id, random_name, short_id, validate_name
from rootless.errors import Conflict, UsageError
from rootless.paths import Paths


def test_env_parsing_like_docker() -> None:
    assert R.parse_env(["A=1", "B=", "C=x=y"], {}) == {"A": "1", "B": "", "C": "x=y"}
    assert R.parse_env(["HOME"], {"HOME": "/h"}) == {"HOME": "/h"}
    assert R.parse_env(["UNSET"], {}) == {}
    for bad in ("=v", "", "A B=1"):
        with pytest.raises(UsageError):
            R.parse_env([bad], {})


def test_env_file(tmp_path: Path) -> None:
    f = tmp_path / "e"
    f.write_text("# c\n\nA=1\n  B=2  \n")
    assert R.parse_env_file(str(f)) == ["A=1", "B=2"]
    with pytest.raises(UsageError, match="cannot read env file"):
        R.parse_env_file(str(tmp_path / "missing"))


def test_restart_ulimit_tmpfs_security_entrypoint() -> None:
    assert R.parse_restart("on-failure:3") == R.RestartPolicy("on-failure", 3)
    assert R.parse_restart("always") == R.RestartPolicy("always", 0)
    for bad in ("sometimes", "always:2", "on-failure:x", "on-failure:-1"):
        with pytest.raises(UsageError):
            R.parse_restart(bad)
    assert R.parse_ulimit("nofile=10:20") == R.Ulimit("nofile", 10, 20)
    assert R.parse_ulimit("nproc=5") == R.Ulimit("nproc", 5, 5)
    for bad in ("nofile", "bogus=1", "nofile=20:10", "nofile=a"):
        with pytest.raises(UsageError):
            R.parse_ulimit(bad)
    assert R.parse_tmpfs(["/t:size=1m"]) == {"/t": "size=1m"}
    with pytest.raises(UsageError):
        R.parse_tmpfs(["rel"])
    spec = R.RunSpec(image="x")
    R.parse_security_opts(["seccomp=unconfined", "no-new-privileges=false"], spec)
    assert spec.seccomp == "unconfined" and not spec.no_new_privileges
    with pytest.raises(UsageError):
        R.parse_security_opts(["bogus"], spec)
    assert R.parse_entrypoint('["/bin/sh", "-c"]') == ["/bin/sh", "-c"]
    assert R.parse_entrypoint("echo hi") == ["echo", "hi"]
    assert R.parse_entrypoint("") == []
    assert R.parse_entrypoint(None) is None


def test_runspec_roundtrips_through_json() -> None:
    spec = R.RunSpec(
        image="busybox",
        command=["sh"],
        restart=R.RestartPolicy("on-failure", 2),
        ulimits=[R.Ulimit("nofile", 1, 2)],
    )
    assert R.RunSpec.from_dict(spec.to_dict()) == spec


def test_state_machine() -> None:
    S = ContainerState
    assert can("start", S.CREATED) and can("start", S.EXITED) and not can("start", S.RUNNING)
    assert can("exec", S.RUNNING) and not can("exec", S.EXITED)
    assert can("remove", S.EXITED) and not can("remove", S.RUNNING)
    assert can("unpause", S.PAUSED) and not can("pause", S.PAUSED)
    with pytest.raises(Conflict) as e:
        require("remove", S.RUNNING, "web")
    assert (
        e.value.line() == "cannot remove container web: it is running (stop it first or use rm -f)"
    )


def test_ids_and_names() -> None:
    cid = new_id()
    assert re.fullmatch(r"[0-9a-f]{64}", cid) and short_id(cid) == cid[:12]
    assert new_id() != cid
    assert re.fullmatch(r"[a-z]+_[a-z]+", random_name())
    assert validate_name("web-1.a_b") == "web-1.a_b"
    for bad in ("", "-x", "a/b", "a b", "x" * 200):
        with pytest.raises(UsageError):
            validate_name(bad)


def _store(tmp_path: Path) -> Store:
    return Store(Paths(data=tmp_path / "data", config=tmp_path / "c", runtime=tmp_path / "run"))


def test_names_are_unique_under_concurrency(tmp_path: Path) -> None:
    store = _store(tmp_path)
    got: list[str] = []
    errors: list[Exception] = []

    def claim(i: int) -> None:
        try:
            got.append(store.claim_name("same", f"{i:064x}"))
        except Conflict as e:
            errors.append(e)

    threads = [threading.Thread(target=claim, args=(i,)) for i in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert got == ["same"] and len(errors) == 19
    assert "already in use" in str(errors[0])
    generated = {store.claim_name(None, f"{i:064x}") for i in range(50)}
    assert len(generated) == 50
    owner = store.name_owner("same")
    assert owner is not None
    store.release_name("same", "f" * 64)  # not the owner: kept
    assert store.name_owner("same") == owner
    store.release_name("same", owner)
    assert store.name_owner("same") is None


def test_reconciled_state_from_monitor_status_and_proc(tmp_path: Path) -> None:
    import json
    import os
    import subprocess

    from rootless.engine.containers.record import ContainerDir, Record, proc_start_time
    from rootless.engine.containers.status import exit_code, live_state, status_error

    d = ContainerDir(tmp_path, "c" * 64)
    d.path.mkdir()
    rec = Record(id="c" * 64, name="n", image="busybox", image_id="i", spec=R.RunSpec(image="x"))
    rec.state = ContainerState.RUNNING
    me = os.getpid()

    def write(**kw: object) -> None:
        d.monitor.write_text(json.dumps(kw))

    write(pid=me, pid_start=proc_start_time(me), status="running", container_pid=me)
    assert live_state(d, rec)[0] == ContainerState.RUNNING
    dead = subprocess.Popen(["true"])
    dead.wait()
    # The monitor is gone, its container still runs: running, unsupervised, said so.
    write(pid=dead.pid, pid_start="1", status="running", container_pid=me)
    state, ms = live_state(d, rec)
    assert state == ContainerState.RUNNING and "monitor" in status_error(ms)
    write(pid=dead.pid, pid_start="1", status="running", container_pid=dead.pid)
    assert live_state(d, rec)[0] == ContainerState.EXITED  # both gone: never "running"
    # A reused pid (other start time) is not our monitor.
    write(pid=me, pid_start="12345", status="running", container_pid=dead.pid)
    assert live_state(d, rec)[0] == ContainerState.EXITED
    write(pid=me, pid_start=proc_start_time(me), status="exited", exit_code=3)
    state, ms = live_state(d, rec)
    assert state == ContainerState.EXITED and exit_code(ms) == 3
    write(status="failed", error='exec: "x": executable file not found in $PATH')
    assert exit_code(live_state(d, rec)[1]) == 127
