"""The user namespace for real, as the unprivileged test user: pause process, maps, join.

Every test gets its own runroot (the `rl` fixture), hence its own pause process, which
the fixture kills by pid on teardown.
"""

from __future__ import annotations

import os
import pwd
import shutil
import signal
import subprocess
import time
from pathlib import Path

from rootless.paths import Paths, resolve
from rootless.userns import call_in_userns, enter, in_userns
from rootless.userns.pause import starttime
from tests.conftest import Env, need


def _subid(path: str) -> tuple[int, int]:
    user = pwd.getpwuid(os.getuid()).pw_name
    for line in Path(path).read_text().splitlines():
        parts = line.strip().split(":")
        if len(parts) == 3 and parts[0] in (user, str(os.getuid())):
            return int(parts[1]), int(parts[2])
    need(False, f"{user} has a range in {path}", "run scripts/setup-host.sh as root")
    raise AssertionError  # unreachable


def _pause_pid(rl: Env) -> int:
    return int((rl.runroot / "pause.pid").read_text().split()[0])


def _maps_inside() -> tuple[int, str, str, bool]:
    return (
        os.getuid(),
        Path("/proc/self/uid_map").read_text(),
        Path("/proc/self/gid_map").read_text(),
        in_userns(),
    )


def _rows(text: str) -> list[list[int]]:
    return [[int(x) for x in row.split()] for row in text.splitlines() if row.strip()]


def test_enter_gives_root_and_the_full_subuid_map(rl: Env) -> None:
    ustart, ucount = _subid("/etc/subuid")
    gstart, gcount = _subid("/etc/subgid")
    paths = resolve(rl.root, rl.runroot, rl.config)
    assert not in_userns()
    uid, uid_map, gid_map, inside = call_in_userns(paths, _maps_inside)
    assert uid == 0 and inside
    assert _rows(uid_map) == [[0, os.getuid(), 1], [1, ustart, ucount]]
    assert _rows(gid_map) == [[0, os.getgid(), 1], [1, gstart, gcount]]
    info = call_in_userns(paths, enter, paths)
    assert info.full and info.pause_pid == _pause_pid(rl)
    assert info.uid_map == [(0, os.getuid(), 1), (1, ustart, ucount)]
    # We never joined: the caller stays outside.
    assert os.getuid() != 0 and not in_userns()


def _twice(paths: Paths) -> tuple[object, object, int]:
    first = enter(paths)
    second = enter(paths)  # already inside: returns at once
    return first, second, os.getuid()


def test_enter_is_idempotent(rl: Env) -> None:
    paths = resolve(rl.root, rl.runroot, rl.config)
    first, second, uid = call_in_userns(paths, _twice, paths)
    assert first == second and uid == 0


def _ns_inside(rl: Env) -> str:
    res = rl.run("unshare", "readlink", "/proc/self/ns/user", check=True)
    return res.out.strip()


def test_pause_is_reused_across_commands(rl: Env) -> None:
    ns1 = _ns_inside(rl)
    pid1 = _pause_pid(rl)
    ns2 = _ns_inside(rl)
    pid2 = _pause_pid(rl)
    assert pid1 == pid2
    assert ns1 == ns2 == os.readlink(f"/proc/{pid1}/ns/user")
    assert ns1 != os.readlink("/proc/self/ns/user")


def test_pause_recreated_after_kill(rl: Env) -> None:
    _ns_inside(rl)
    old = _pause_pid(rl)
    os.kill(old, signal.SIGKILL)
    deadline = time.monotonic() + 5
    # Dead or a zombie (this VM's pid 1 does not reap orphans): either way not a pause.
    while starttime(old) is not None and time.monotonic() < deadline:
        time.sleep(0.01)
    assert starttime(old) is None
    res = rl.run("unshare", "id", "-u", check=True)
    assert res.out.strip() == "0"
    new = _pause_pid(rl)
    assert new != old
    assert _ns_inside(rl) == os.readlink(f"/proc/{new}/ns/user")


def _fd_report(pid: int) -> str:
    """What a pause holding extra fds is doing: its fds, state and current syscall."""
    proc = Path(f"/proc/{pid}")
    lines = []
    for fd in sorted(os.listdir(proc / "fd"), key=int):
        try:
            lines.append(f"fd {fd} -> {os.readlink(proc / 'fd' / fd)}")
        except OSError as e:
            lines.append(f"fd {fd}: {e}")
    for name in ("wchan", "syscall", "cmdline"):
        try:
            lines.append(f"{name}: {(proc / name).read_bytes()[:300]!r}")
        except OSError as e:
            lines.append(f"{name}: {e}")
    status = (proc / "status").read_text().splitlines()
    lines += [ln for ln in status if ln.split(":")[0] in ("State", "SigBlk", "SigIgn")]
    return "\n".join(lines)


def test_pause_process_is_detached_and_quiet(rl: Env) -> None:
    _ns_inside(rl)
    pid = _pause_pid(rl)
    stat = Path(f"/proc/{pid}/stat").read_text()
    fields = stat[stat.rfind(")") + 2 :].split()
    ppid, sid = int(fields[1]), int(fields[3])
    assert sid == pid  # its own session: no terminal, no SIGHUP from ours
    assert ppid != os.getpid()
    assert [os.readlink(f"/proc/{pid}/fd/{n}") for n in (0, 1, 2)] == ["/dev/null"] * 3
    # Its interpreter may still be starting (reading its modules, fd 3) when the CLI
    # returns: no fd beyond stdio once it has settled. The bound counts polls, not
    # seconds: a machine that stalls for a while (CI saw one past a 5 s deadline) uses
    # up one poll, not the whole budget before the pause has run at all.
    for _poll in range(1000):
        if sorted(os.listdir(f"/proc/{pid}/fd")) == ["0", "1", "2"]:
            break
        time.sleep(0.01)
    assert sorted(os.listdir(f"/proc/{pid}/fd")) == ["0", "1", "2"], _fd_report(pid)
    for sig in (signal.SIGHUP, signal.SIGINT):
        os.kill(pid, sig)
    time.sleep(0.1)
    after = Path(f"/proc/{pid}/stat").read_text()
    assert after[after.rfind(")") + 2 :].split()[19] == fields[19]  # same process, alive


def test_chown_inside_lands_on_subuid_outside(rl: Env, tmp_path: Path) -> None:
    ustart, _ = _subid("/etc/subuid")
    gstart, _ = _subid("/etc/subgid")
    f = tmp_path / "owned"
    f.write_text("x")
    rl.run("unshare", "chown", "1000:1000", str(f), check=True)
    st = f.stat()
    assert (st.st_uid, st.st_gid) == (ustart + 999, gstart + 999)
    res = rl.run("unshare", "stat", "-c", "%u:%g", str(f), check=True)
    assert res.out.strip() == "1000:1000"
    rl.run("unshare", "rm", str(f), check=True)  # root inside may remove it again


def test_mounts_stay_inside_and_are_shared_between_commands(rl: Env, tmp_path: Path) -> None:
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    rl.run("unshare", "mount", "-t", "tmpfs", "none", str(mnt), check=True)
    assert str(mnt) not in Path("/proc/self/mountinfo").read_text()  # not on the host
    rl.run("unshare", "sh", "-c", f"echo hi > {mnt}/f", check=True)
    assert not (mnt / "f").exists()
    res = rl.run("unshare", "cat", str(mnt / "f"), check=True)  # a later command sees it
    assert res.out == "hi\n"
    rl.run("unshare", "umount", str(mnt), check=True)


def test_unshare_passes_exit_code_env_and_cwd(rl: Env, tmp_path: Path) -> None:
    res = rl.run("unshare", "sh", "-c", 'echo "$ROOTLESS_UNSHARE"; exit 7')
    assert res.rc == 7 and res.out == "1\n"
    res = rl.run_wrapped(["env", "-C", str(tmp_path)], "unshare", "pwd", check=True)
    assert res.out.strip() == str(tmp_path)
    res = rl.run("unshare", "no-such-command-xyz")
    assert res.rc == 127
    assert res.err.strip().splitlines() == ["Error: no-such-command-xyz: command not found"]
    res = rl.run("unshare", "/etc/hostname")  # exists, not executable
    assert res.rc == 126 and len(res.err.strip().splitlines()) == 1
    res = rl.run("unshare", "ls", "-d", "-a", "/")  # the command's own flags pass through
    assert res.rc == 0 and res.out == "/\n"
    # Default command: $SHELL
    res = rl.run("unshare", input="id -u\n", env={"SHELL": "/bin/sh"}, check=True)
    assert res.out.strip() == "0"


def test_concurrent_first_commands_make_one_pause(rl: Env) -> None:
    exe = shutil.which("rootless")
    need(exe, "the rootless console script on PATH", "run tests through scripts/test.sh")
    assert exe
    procs = [
        subprocess.Popen(
            [exe, "unshare", "readlink", "/proc/self/ns/user"],
            stdout=subprocess.PIPE,
            text=True,
            env=rl.env(),
        )
        for _ in range(4)
    ]
    outs = {p.communicate(timeout=60)[0].strip() for p in procs}
    assert all(p.returncode == 0 for p in procs)
    assert len(outs) == 1
    assert outs == {os.readlink(f"/proc/{_pause_pid(rl)}/ns/user")}


def test_single_id_fallback_without_subuids(rl: Env) -> None:
    """As uid 65534 in a util-linux user namespace nobody has /etc/subuid entries."""
    need(shutil.which("unshare"), "util-linux unshare", "apt-get install util-linux")
    prefix = ["unshare", "--user", "--map-user=65534", "--map-group=65534"]
    exe = shutil.which("rootless")
    need(exe, "the rootless console script on PATH", "run tests through scripts/test.sh")
    # Both commands in the same outer namespace: a pause made in one util-linux
    # namespace cannot be joined from a sibling one.
    script = (
        f"{exe} unshare sh -c 'id -u; cat /proc/self/uid_map' && echo --- >&2 && echo --- "
        f"&& {exe} unshare id -u && {exe} unshare chown 1000 {rl.home} || echo chown=$?"
    )
    res = subprocess.run(
        [*prefix, "sh", "-c", script], capture_output=True, text=True, timeout=60, env=rl.env()
    )
    assert res.returncode == 0, res.stderr
    first, second = res.stdout.split("---\n")
    lines = first.splitlines()
    assert lines[0] == "0"
    assert _rows("\n".join(lines[1:])) == [[0, 65534, 1]]
    err_first, err_second = res.stderr.split("---\n")
    warnings = err_first.strip().splitlines()
    assert len(warnings) == 1, res.stderr
    assert "single-id" in warnings[0] and "usermod --add-subuids" in warnings[0]
    # The same pause is joined again, quietly; an unmapped owner is refused.
    assert second.splitlines() == ["0", "chown=1"]
    assert "Invalid argument" in err_second  # chown's own message


def test_pause_from_another_namespace_is_a_one_line_error(rl: Env) -> None:
    prefix = ["unshare", "--user", "--map-user=65534", "--map-group=65534"]
    assert rl.run_wrapped(prefix, "unshare", "true").rc == 0
    res = rl.run_wrapped(prefix, "unshare", "true")  # a sibling namespace: can't join
    assert res.rc == 125
    lines = res.err.strip().splitlines()
    assert len(lines) == 1 and "started from another user namespace" in lines[0], res.err


def test_single_id_fallback_without_newuidmap(rl: Env, tmp_path: Path) -> None:
    res = rl.run(
        "unshare",
        "cat",
        "/proc/self/uid_map",
        env={"ROOTLESS_NEWUIDMAP": str(tmp_path / "missing-newuidmap")},
    )
    assert res.rc == 0, res.err
    assert _rows(res.out) == [[0, os.getuid(), 1]]
    assert len(res.err.strip().splitlines()) == 1
    assert "missing" in res.err and "apt-get install uidmap" in res.err


def test_failing_newgidmap_is_a_one_line_error(rl: Env) -> None:
    # A real setuid helper that fails: newuidmap in newgidmap's place writes uid_map a
    # second time, which the kernel refuses.
    res = rl.run("unshare", "true", env={"ROOTLESS_NEWGIDMAP": "/usr/bin/newuidmap"})
    assert res.rc == 125
    lines = res.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: newuidmap refused"), res.err
    assert "usermod" in lines[0]
    assert not (rl.runroot / "pause.pid").exists()
    # Nothing half-made blocks the next attempt.
    assert rl.run("unshare", "id", "-u", check=True).out.strip() == "0"


def test_stale_pidfile_naming_another_process_is_replaced(rl: Env) -> None:
    sleeper = subprocess.Popen(["sleep", "60"])
    try:
        rl.runroot.mkdir(parents=True, mode=0o700)
        (rl.runroot / "pause.pid").write_text(f"{sleeper.pid} {starttime(sleeper.pid)}\n")
        assert rl.run("unshare", "id", "-u", check=True).out.strip() == "0"
        assert _pause_pid(rl) != sleeper.pid
        assert sleeper.poll() is None  # neither joined nor harmed
        assert os.readlink(f"/proc/{sleeper.pid}/ns/user") == os.readlink("/proc/self/ns/user")
    finally:
        sleeper.kill()
        sleeper.wait()


def _enter_with_a_thread(paths: Paths) -> str:
    import threading

    from rootless.errors import EngineError

    stop = threading.Event()
    t = threading.Thread(target=stop.wait)
    t.start()
    try:
        enter(paths)
        return "joined"
    except EngineError as e:
        return e.line()
    finally:
        stop.set()
        t.join()


def test_enter_refuses_once_threads_run(rl: Env) -> None:
    import pickle

    paths = resolve(rl.root, rl.runroot, rl.config)
    assert rl.run("unshare", "true").rc == 0  # the pause exists; only the join is left
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # a fresh process outside the namespace, as enter() expects
        try:
            os.write(w, pickle.dumps(_enter_with_a_thread(paths)))
        finally:
            os._exit(0)
    os.close(w)
    with os.fdopen(r, "rb") as f:
        line = pickle.loads(f.read())
    os.waitpid(pid, 0)
    assert "threads" in line and "before any thread starts" in line and "\n" not in line


def test_runroot_through_a_symlink_is_the_same_engine(rl: Env, tmp_path: Path) -> None:
    ns = _ns_inside(rl)
    link = tmp_path / "link"  # a symlinked parent, as /var/run -> /run
    link.symlink_to(rl.runroot.parent)
    runroot = link / rl.runroot.name
    res = rl.run("--runroot", str(runroot), "unshare", "readlink", "/proc/self/ns/user", check=True)
    assert res.out.strip() == ns
