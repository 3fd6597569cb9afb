"""Lifecycle verbs of rootless-runtime with real namespaces: create/start/exec/ps/kill
--all/delete, the console socket, hooks, fd hygiene, errors. Where runc can do the same,
the results are compared with runc's.
"""

from __future__ import annotations

import json
import os
import socket
import stat
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.integration.test_runtime_helpers import (
    SUBID_COUNT,
    SUBID_START,
    Runtime,
    base_config,
    make_rootfs,
    ours_cmd,
    runtime_pair,
)


@pytest.fixture(scope="module")
def rootfs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_rootfs(tmp_path_factory.mktemp("rt-life") / "rootfs")


@pytest.fixture
def ours(tmp_path: Path) -> Iterator[Runtime]:
    rt = Runtime("ours", ours_cmd(), tmp_path / "ours-state")
    yield rt
    rt.cleanup()


@pytest.fixture
def pair(tmp_path: Path) -> Iterator[tuple[Runtime, Runtime]]:
    with runtime_pair(tmp_path) as p:
        yield p


def started(rt: Runtime, tmp_path: Path, cid: str, cfg: dict[str, Any]) -> dict[str, Any]:
    b = rt.bundle(tmp_path, cid, cfg)
    p = rt.detached("create", "--bundle", str(b), cid)
    assert p.returncode == 0, p.stdout
    s = rt("start", cid)
    assert s.returncode == 0, s.stderr
    return rt.wait_status(cid, "running")


def test_exec_joins_the_container(
    pair: tuple[Runtime, Runtime], tmp_path: Path, rootfs: Path
) -> None:
    cfg = base_config(rootfs, ["sleep", "100"])
    cfg["hostname"] = "exec-test"
    outs = []
    for rt in pair:
        started(rt, tmp_path, "ex", cfg)
        p = rt(
            "exec",
            "ex",
            "sh",
            "-c",
            "hostname; id -u; cat /proc/1/cmdline | tr '\\0' ' '; echo; readlink /proc/self/ns/mnt >/dev/null && echo ok",
        )
        assert p.returncode == 0, p.stderr
        outs.append(p.stdout)
        code = rt("exec", "ex", "sh", "-c", "exit 3")
        assert code.returncode == 3
        env = rt("exec", "--env", "A=b", "--cwd", "/tmp", "ex", "sh", "-c", "echo $A; pwd")
        assert env.stdout == "b\n/tmp\n"
    assert outs[0] == outs[1] == "exec-test\n0\nsleep 100 \nok\n"


def test_exec_process_file_and_user(ours: Runtime, tmp_path: Path, rootfs: Path) -> None:
    started(ours, tmp_path, "pf", base_config(rootfs, ["sleep", "100"]))
    proc = {"args": ["sh", "-c", "id -u; echo $X"], "env": ["X=from-file", "PATH=/bin"], "cwd": "/"}
    pf = tmp_path / "process.json"
    pf.write_text(json.dumps(proc))
    p = ours("exec", "--process", str(pf), "pf")
    assert (p.returncode, p.stdout) == (0, "0\nfrom-file\n"), p.stderr


def test_exec_as_another_user_with_full_map(
    pair: tuple[Runtime, Runtime], tmp_path: Path, rootfs: Path
) -> None:
    from tests.integration.test_runtime_helpers import full_map

    outs = []
    for rt in pair:
        started(rt, tmp_path, "eu", full_map(base_config(rootfs, ["sleep", "100"])))
        p = rt("exec", "--user", "1000:1000", "eu", "sh", "-c", "id; grep CapEff /proc/self/status")
        assert p.returncode == 0, (rt.name, p.stderr)
        outs.append(p.stdout)
    assert outs[0] == outs[1]
    assert outs[1].startswith("uid=1000(user) gid=1000(user)")


def test_ps_and_kill_all(ours: Runtime, tmp_path: Path, rootfs: Path) -> None:
    cfg = base_config(rootfs, ["sh", "-c", "sleep 100 & sleep 100 & wait"])
    st = started(ours, tmp_path, "ps", cfg)
    d = ours.detached("exec", "-d", "ps", "sleep", "200")
    assert d.returncode == 0, d.stdout
    deadline = time.monotonic() + 10
    pids: list[int] = []
    while time.monotonic() < deadline:
        pids = json.loads(ours("ps", "--format", "json", "ps").stdout)
        if len(pids) >= 4:
            break
        time.sleep(0.05)
    assert st["pid"] in pids and len(pids) == 4, pids
    table = ours("ps", "ps")
    assert table.returncode == 0 and "PID" in table.stdout.splitlines()[0]
    assert len(table.stdout.splitlines()) == 5, table.stdout
    assert ours("kill", "--all", "ps", "KILL").returncode == 0
    ours.wait_status("ps", "stopped")
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and any(
        os.path.exists(f"/proc/{p}/stat") and _alive(p) for p in pids
    ):
        time.sleep(0.05)
    assert not [p for p in pids if _alive(p)]


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] not in ("Z", "X")
    except OSError:
        return False


def test_delete_rules(ours: Runtime, tmp_path: Path, rootfs: Path) -> None:
    started(ours, tmp_path, "del", base_config(rootfs, ["sleep", "100"]))
    p = ours("delete", "del")
    assert p.returncode == 1 and "not stopped" in p.stderr
    assert ours("delete", "--force", "del").returncode == 0
    gone = ours("state", "del")
    assert gone.returncode == 1 and "does not exist" in gone.stderr
    # A created (never started) container is deleted without --force, its init killed.
    b = ours.bundle(tmp_path, "del2", base_config(rootfs, ["true"]))
    assert ours.detached("create", "--bundle", str(b), "del2").returncode == 0
    pid = ours.state("del2")["pid"]
    assert ours("delete", "del2").returncode == 0
    assert not _alive(pid)


def test_console_socket_gets_pty_master(
    pair: tuple[Runtime, Runtime], tmp_path: Path, rootfs: Path
) -> None:
    cfg = base_config(rootfs, ["sh", "-c", "tty; echo hello; stty size"])
    cfg["process"]["terminal"] = True
    cfg["process"]["consoleSize"] = {"height": 24, "width": 80}
    outputs = []
    for rt in pair:
        path = str(tmp_path / f"{rt.name}.sock")
        srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        srv.bind(path)
        srv.listen(1)
        try:
            b = rt.bundle(tmp_path, "tty", cfg)
            p = rt.detached("create", "--bundle", str(b), "--console-socket", path, "tty")
            assert p.returncode == 0, p.stdout
            conn, _ = srv.accept()
            _, fds, _, _ = socket.recv_fds(conn, 4096, 1)
            conn.close()
            assert len(fds) == 1
            master = fds[0]
            import fcntl
            import struct
            import termios

            fcntl.ioctl(master, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 80, 0, 0))
            assert rt("start", "tty").returncode == 0
            data = b""
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline:
                try:
                    chunk = os.read(master, 4096)
                except OSError:
                    break
                if not chunk:
                    break
                data += chunk
            os.close(master)
            outputs.append(data.decode())
        finally:
            srv.close()
    assert outputs[0] == outputs[1]
    assert outputs[1] == "/dev/pts/0\r\nhello\r\n24 80\r\n"


def test_hooks_run_in_order_with_state(ours: Runtime, tmp_path: Path, rootfs: Path) -> None:
    log = tmp_path / "hooks"
    log.mkdir()
    log.chmod(0o777)
    cfg = base_config(rootfs, ["true"])
    cfg["mounts"].append(
        {"destination": "/hooks", "type": "bind", "source": str(log), "options": ["rbind", "rw"]}
    )

    def hook(name: str, where: str) -> dict[str, Any]:
        return {
            "path": "/bin/sh",
            "args": ["sh", "-c", f"cat > {where}/{name}.json; ls {where} > /dev/null"],
        }

    cfg["hooks"] = {
        "createRuntime": [hook("createRuntime", str(log))],
        "createContainer": [hook("createContainer", str(log))],
        "startContainer": [hook("startContainer", "/hooks")],
        "poststart": [hook("poststart", str(log))],
        "poststop": [hook("poststop", str(log))],
    }
    b = ours.bundle(tmp_path, "hk", cfg)
    assert ours.detached("create", "--bundle", str(b), "hk").returncode == 0
    assert {p.name for p in log.iterdir()} == {"createRuntime.json", "createContainer.json"}
    assert ours("start", "hk").returncode == 0
    ours.wait_status("hk", "stopped")
    assert ours("delete", "hk").returncode == 0
    states = {p.stem: json.loads(p.read_text()) for p in log.iterdir()}
    assert set(states) == {
        "createRuntime",
        "createContainer",
        "startContainer",
        "poststart",
        "poststop",
    }
    assert states["createRuntime"]["status"] == "creating"
    assert states["poststop"]["status"] == "stopped"
    assert all(s["id"] == "hk" and s["bundle"] == str(b) for s in states.values())
    assert states["createRuntime"]["pid"] > 0


def test_failing_hook_fails_create_and_cleans_up(
    ours: Runtime, tmp_path: Path, rootfs: Path
) -> None:
    cfg = base_config(rootfs, ["true"])
    cfg["hooks"] = {"createRuntime": [{"path": "/bin/false"}]}
    b = ours.bundle(tmp_path, "bad", cfg)
    p = ours.detached("create", "--bundle", str(b), "bad")
    assert p.returncode == 1 and "createRuntime hook /bin/false exited with status 1" in p.stdout
    assert ours("state", "bad").returncode == 1
    assert not (ours.root / "bad").exists()


def test_no_fds_leak_and_preserve_fds(ours: Runtime, tmp_path: Path, rootfs: Path) -> None:
    cfg = base_config(rootfs, ["sh", "-c", "ls /proc/self/fd | sort -n | tr '\\n' ' '"])
    b = ours.bundle(tmp_path, "fd", cfg)
    # Our own inheritable fd 3 must not reach the container unless preserved.
    r, w = os.pipe()
    try:
        for extra, expected in (([], "0 1 2 3 "), (["--preserve-fds", "1"], "0 1 2 3 4 ")):
            os.set_inheritable(r, True)
            os.dup2(r, 3) if r != 3 else None
            p = subprocess.run(
                [*ours.cmd, "--root", str(ours.root), "run", *extra, "--bundle", str(b), "fd"],
                capture_output=True,
                text=True,
                pass_fds=(3,),
                timeout=60,
            )
            assert (p.returncode, p.stdout) == (0, expected), p.stderr
    finally:
        os.close(r)
        os.close(w)


def test_bad_input_one_line_errors(ours: Runtime, tmp_path: Path, rootfs: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    p = ours("run", "--bundle", str(empty), "x")
    assert p.returncode == 1 and p.stderr.count("\n") == 1 and "no config.json" in p.stderr
    p = ours("run", "--bundle", str(empty), "../evil")
    assert p.returncode == 1 and "invalid container id" in p.stderr
    cfg = base_config(rootfs, ["no-such-binary"])
    p = ours.run(tmp_path, "nx", cfg)
    assert p.returncode == 1 and "executable file not found" in p.stderr
    assert ours("state", "nx").returncode == 1
    cfg = base_config(rootfs, ["true"])
    cfg["process"]["cwd"] = "relative"
    p = ours.run(tmp_path, "rel", cfg)
    assert p.returncode == 1 and "absolute" in p.stderr
    b = ours.bundle(tmp_path, "dup", base_config(rootfs, ["sleep", "100"]))
    assert ours.detached("create", "--bundle", str(b), "dup").returncode == 0
    p = ours.detached("create", "--bundle", str(b), "dup")
    assert p.returncode == 1 and "already exists" in p.stdout
    p = ours("kill", "dup", "NOSUCH")
    assert p.returncode == 1 and "unknown signal" in p.stderr


def test_engine_mode_lifecycle_inside_user_namespace(tmp_path: Path, rootfs: Path) -> None:
    """Mode (b): uid 0 in an existing user namespace (full subuid map), a bundle without
    a user namespace; create/start/exec/state/kill/delete in that one namespace."""
    from tests.integration.test_runtime_helpers import no_userns

    cfg = no_userns(base_config(rootfs, ["sleep", "100"]))
    b = tmp_path / "bundle"
    b.mkdir()
    (b / "config.json").write_text(json.dumps(cfg))
    rt = " ".join(ours_cmd()) + f" --root {tmp_path}/state"
    script = f"""
set -e
{rt} create --bundle {b} m >/dev/null 2>&1 </dev/null
{rt} state m | grep -q '"created"'
{rt} start m
{rt} exec m sh -c 'echo pid1=$(cat /proc/1/comm); id -u; cat /proc/self/uid_map | tr -s " "'
{rt} kill m KILL
for i in $(seq 100); do {rt} state m | grep -q '"stopped"' && break; sleep 0.05; done
{rt} state m | grep -o '"status": "[a-z]*"'
{rt} delete m
echo deleted
"""
    p = subprocess.run(
        [
            "unshare",
            "--user",
            "--map-root-user",
            f"--map-users={SUBID_START},1,{SUBID_COUNT}",
            f"--map-groups={SUBID_START},1,{SUBID_COUNT}",
            "--mount",
            "--",
            "sh",
            "-c",
            script,
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert p.returncode == 0, p.stderr
    uid = os.getuid()
    assert p.stdout.splitlines() == [
        "pid1=sleep",
        "0",
        f" 0 {uid} 1",
        f" 1 {SUBID_START} {SUBID_COUNT}",
        '"status": "stopped"',
        "deleted",
    ]


def test_features_and_state_dir_permissions(ours: Runtime, tmp_path: Path, rootfs: Path) -> None:
    f = json.loads(ours("features").stdout)
    assert f["ociVersionMax"].startswith("1.") and "user" in f["linux"]["namespaces"]
    assert "createRuntime" in f["hooks"] and f["linux"]["seccomp"]["enabled"] is True
    b = ours.bundle(tmp_path, "perm", base_config(rootfs, ["sleep", "100"]))
    assert ours.detached("create", "--bundle", str(b), "perm").returncode == 0
    mode = stat.S_IMODE((ours.root / "perm").stat().st_mode)
    assert mode == 0o700
    listing = ours("list", "--format", "json")
    assert [c["id"] for c in json.loads(listing.stdout)] == ["perm"]


def test_inside_the_engines_pause_namespace(rl: Any, tmp_path: Path, rootfs: Path) -> None:
    """The engine's real setup: `rootless unshare` joins the pause process's user+mount
    namespace (full subuid map); the runtime runs there as uid 0 on a bundle without a
    user namespace. Files made by container uid 1000 land on the host as subuid 100999."""
    from tests.integration.test_runtime_helpers import no_userns

    data = tmp_path / "vol"
    data.mkdir()
    data.chmod(0o777)
    cfg = no_userns(base_config(rootfs, ["sh", "-c", "id -u; echo $$; touch /vol/made-by-1000"]))
    cfg["process"]["user"] = {"uid": 1000, "gid": 1000}
    cfg["mounts"].append(
        {"destination": "/vol", "type": "bind", "source": str(data), "options": ["rbind"]}
    )
    b = tmp_path / "bundle"
    b.mkdir()
    (b / "config.json").write_text(json.dumps(cfg))
    cmd = [*ours_cmd(), "--root", str(tmp_path / "state"), "run", "--bundle", str(b), "eng"]
    res = rl.run("unshare", *cmd)
    assert res.rc == 0, res.err
    assert res.out == "1000\n1\n"
    assert (data / "made-by-1000").stat().st_uid == SUBID_START + 1000 - 1
