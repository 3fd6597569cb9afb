"""The C idle monitor: detached containers are handed from the Python monitor to
rootless-monitor-idle (same pid) once they run, and back to Python when they exit.

Every test runs real containers as the test user; the Python loop (forced with
ROOTLESS_MONITOR_IDLE=python) is the reference the C program must match byte for byte.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pexpect
import pytest

from rootless.monitor import idle_build
from tests.conftest import Env, need
from tests.integration.test_containers_support import assert_no_debris, force_cleanup, wait_for
from tests.integration.test_run_tty import PROMPT, spawn

PYTHON = {idle_build.FORCE_ENV: "python"}
_TIME = re.compile(rb', "time": "[^"]*"\}')


@pytest.fixture
def eng(rl: Env, busybox_image: str) -> Iterator[Env]:
    built = idle_build.ensure_built(retry_failed=True)
    need(built.path, f"the C idle monitor builds ({built.error})", "install gcc and libc6-dev")
    yield rl
    force_cleanup(rl)


def inspect(rl: Env, ref: str) -> dict:  # type: ignore[type-arg]
    return rl.run("inspect", ref, check=True).json()[0]  # type: ignore[index,no-any-return]


def monitor_pid(rl: Env, ref: str) -> int:
    return int(inspect(rl, ref)["State"]["MonitorPid"])


def monitor_program(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")[0].decode()
    except OSError:
        return ""


def is_idle_c(pid: int) -> bool:
    return "rootless-monitor-idle-" in monitor_program(pid)


def wait_handed_off(rl: Env, ref: str) -> int:
    pid = monitor_pid(rl, ref)
    wait_for(lambda: is_idle_c(pid), 20, "the hand-off to the C idle monitor")
    return pid


def cdir(rl: Env, ref: str) -> Path:
    cid = inspect(rl, ref)["Id"]
    return rl.root / "containers" / cid


def records(path: Path) -> list[bytes]:
    """A json-file log without its time stamps (they differ between runs)."""
    return [_TIME.sub(b"", ln) for ln in path.read_bytes().splitlines(keepends=True)]


def logged_bytes(paths: list[Path], stream: str = "stdout") -> bytes:
    out = b""
    for p in paths:
        for line in p.read_bytes().splitlines():
            rec = json.loads(line)
            if rec["stream"] == stream:
                out += rec["log"].encode("utf-8", "surrogateescape")
    return out


def logs_output(rl: Env, ref: str) -> bytes:
    """`rootless logs REF` as bytes (invalid UTF-8 comes back as it went in)."""
    p = subprocess.run([sys.executable, "-m", "rootless", "logs", ref], env=rl.env(),
                       capture_output=True, timeout=60, check=True)  # fmt: skip
    return p.stdout


# Each piece is written with one write() after the monitor idles (sleep), so both monitors
# read it in one chunk: the same records, byte for byte.
PIECES = [
    b"plain\n",
    b"cr\ronly\rand crlf\r\nmixed\n\r\n",
    b"\x00nul\x00bytes and controls \x01\x08\x0b\x0c\x1b[1mbold\x1b[0m\x7f\n",
    b"invalid utf-8 \xff\xfe\xc0\xaf\xed\xa0\x80\xf4\x90\x80\x80 \xe2\x82\n",
    "valid utf-8 h\u00e9llo \u2713 \U0001f600\n".encode(),
    b'quote " backslash \\ tab \t no newline at the end',
    b"\n",
]
SCRIPT = "for f in /data/p*; do cat $f; sleep 0.3; done; cat /data/err >&2; exit 7"


def _pieces_dir(tmp: Path) -> Path:
    d = tmp / "pieces"
    d.mkdir()
    for i, data in enumerate(PIECES):
        (d / f"p{i:02d}").write_bytes(data)
    (d / "err").write_bytes(b"to stderr \xff\r\n")
    d.chmod(0o755)
    return d


def _run_pieces(rl: Env, data: Path, extra: dict[str, str] | None = None) -> tuple[str, Path]:
    # `sleep` first: the pieces come after the hand-off (or the Python loop) is in place.
    cmd = f"sleep 1; {SCRIPT}"
    cid = rl.run("run", "-d", "-v", f"{data}:/data:ro", "busybox", "sh", "-c", cmd,
                 env=extra, check=True).out.strip()  # fmt: skip
    wait_for(lambda: inspect(rl, cid)["State"]["Status"] == "exited", 30, "the exit")
    return cid, cdir(rl, cid)


def test_log_bytes_equal_the_python_monitor(eng: Env, tmp_path: Path) -> None:
    data = _pieces_dir(tmp_path)
    c_id, c_dir = _run_pieces(eng, data)
    py_id, py_dir = _run_pieces(eng, data, PYTHON)
    c_log, py_log = records(c_dir / "ctr.log"), records(py_dir / "ctr.log")
    assert c_log == py_log
    assert len(c_log) >= 10
    assert logged_bytes([c_dir / "ctr.log"]) == b"".join(PIECES)
    assert logged_bytes([c_dir / "ctr.log"], "stderr") == b"to stderr \xff\r\n"
    # The time stamps are RFC 3339 with nanoseconds, one per read chunk.
    stamps = [json.loads(ln)["time"] for ln in (c_dir / "ctr.log").read_bytes().splitlines()]
    assert all(re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z", s) for s in stamps)
    # `logs` shows the same bytes either way; the exit code is recorded.
    assert logs_output(eng, c_id) == logs_output(eng, py_id)
    assert inspect(eng, c_id)["State"]["ExitCode"] == 7
    assert inspect(eng, py_id)["State"]["ExitCode"] == 7
    eng.run("rm", c_id, py_id, check=True)
    assert_no_debris(eng)


def test_long_lines_and_rapid_output_are_logged_whole(eng: Env) -> None:
    # 100 KiB lines (more than one 32 KiB read each), then 20000 short lines at full speed.
    cmd = ("sleep 1; for i in 1 2 3; do head -c 102400 /dev/zero | tr '\\0' $i; echo; done; "
           "seq 1 20000")  # fmt: skip
    cid = eng.run("run", "-d", "busybox", "sh", "-c", cmd, check=True).out.strip()
    wait_handed_off(eng, cid)
    wait_for(lambda: inspect(eng, cid)["State"]["Status"] == "exited", 60, "the exit")
    expected = b"".join(str(i).encode() * 102400 + b"\n" for i in (1, 2, 3))
    expected += b"".join(b"%d\n" % i for i in range(1, 20001))
    assert logged_bytes([cdir(eng, cid) / "ctr.log"]) == expected
    assert logs_output(eng, cid) == expected
    for line in (cdir(eng, cid) / "ctr.log").read_bytes().splitlines():
        assert len(json.loads(line)["log"]) < 32 * 1024  # one record per read at most
    eng.run("rm", cid, check=True)


def test_rotation_at_the_size_cap_matches_python(eng: Env, tmp_path: Path) -> None:
    data = _pieces_dir(tmp_path)
    cap = {"ROOTLESS_MONITOR_LOG_MAX_SIZE": "400"}
    _, c_dir = _run_pieces(eng, data, cap)
    _, py_dir = _run_pieces(eng, data, {**cap, **PYTHON})
    assert (c_dir / "ctr.log.1").exists() and not (c_dir / "ctr.log.2").exists()
    for name in ("ctr.log", "ctr.log.1"):
        assert records(c_dir / name) == records(py_dir / name), name
    assert (c_dir / "ctr.log").stat().st_size <= 1000
    eng.run("rm", "-af", check=True)


def test_attach_tty_resize_stdin_and_detach_after_hand_off(eng: Env) -> None:
    eng.run("run", "-d", "-it", "--name", "tty1", "busybox", "sh", check=True)
    mon = wait_handed_off(eng, "tty1")
    a = spawn(eng, "attach", "tty1")
    a.sendline("echo hello-$((6*7))")
    a.expect("hello-42")
    a.setwinsize(41, 123)
    time.sleep(0.3)
    a.sendline("stty size")
    a.expect(r"41 123\r\n")
    a.sendcontrol("p")
    a.sendcontrol("q")
    a.expect(pexpect.EOF)
    a.close()
    assert inspect(eng, "tty1")["State"]["Running"]
    assert is_idle_c(mon)  # a detach leaves the C monitor in charge
    # exec works beside it; then the shell's exit is recorded through the resume.
    r = eng.run("exec", "tty1", "sh", "-c", "echo inside; exit 4")
    assert (r.rc, r.out) == (4, "inside\n")
    a = spawn(eng, "attach", "tty1")
    a.sendline("")
    a.expect(PROMPT)
    a.sendline("exit 5")
    a.expect(pexpect.EOF)
    a.close()
    assert a.exitstatus == 5
    wait_for(lambda: inspect(eng, "tty1")["State"]["Status"] == "exited", 15, "the exit")
    st = inspect(eng, "tty1")["State"]
    assert st["ExitCode"] == 5
    assert b"hello-42" in (cdir(eng, "tty1") / "ctr.log").read_bytes()
    eng.run("rm", "tty1", check=True)
    assert_no_debris(eng)


def test_attach_stdin_pipe_close_and_logs_follow(eng: Env) -> None:
    eng.run("run", "-d", "-i", "--name", "cat1", "busybox", "sh", "-c", "cat; echo done; exit 3",
            check=True)  # fmt: skip
    wait_handed_off(eng, "cat1")
    follower = subprocess.Popen(
        [sys.executable, "-m", "rootless", "logs", "-f", "cat1"],
        env=eng.env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    # attach with stdin from a pipe: its EOF is CLOSE_STDIN, so cat ends and the
    # container exits with the code attach then returns.
    r = eng.run("attach", "cat1", input="line one\nline two\n", timeout=30)
    assert r.rc == 3, r.err
    assert r.out == "line one\nline two\ndone\n"
    out, _ = follower.communicate(timeout=20)
    assert out == "line one\nline two\ndone\n"
    assert inspect(eng, "cat1")["State"]["ExitCode"] == 3
    eng.run("rm", "cat1", check=True)
    assert_no_debris(eng)


def exited_after_restarts(rl: Env, ref: str, n: int) -> bool:
    # One inspect for both: "exited" alone also holds between a run and its restart.
    d = inspect(rl, ref)
    return bool(d["State"]["Status"] == "exited" and d["RestartCount"] == n)


def test_restart_policies_hand_off_again(eng: Env) -> None:
    cid = eng.run("run", "-d", "--restart", "on-failure:2", "busybox", "sh", "-c",
                  "echo run; sleep 1; exit 3", check=True).out.strip()  # fmt: skip
    mon = wait_handed_off(eng, cid)
    wait_for(lambda: inspect(eng, cid)["RestartCount"] >= 1, 20, "a restart")
    wait_for(lambda: is_idle_c(mon) and inspect(eng, cid)["State"]["Running"], 20,
             "the hand-off after the restart")  # fmt: skip
    assert monitor_pid(eng, cid) == mon  # the same process throughout
    wait_for(lambda: exited_after_restarts(eng, cid, 2), 30, "two restarts")
    assert inspect(eng, cid)["State"]["ExitCode"] == 3
    assert eng.run("logs", cid).out.count("run") == 3
    # always: restarts, each handed off again, until stopped.
    cid = eng.run("run", "-d", "--restart", "always", "busybox", "sh", "-c", "sleep 0.5",
                  check=True).out.strip()  # fmt: skip
    mon = wait_handed_off(eng, cid)
    wait_for(lambda: inspect(eng, cid)["RestartCount"] >= 2, 30, "restarts")
    wait_for(lambda: is_idle_c(mon), 10, "the C monitor again")
    assert monitor_pid(eng, cid) == mon
    eng.run("stop", "-t", "1", cid, check=True)
    time.sleep(0.5)
    assert inspect(eng, cid)["State"]["Status"] == "exited"
    eng.run("rm", "-af", check=True)
    assert_no_debris(eng)


def _fd_kinds(pid: int) -> list[str]:
    kinds = []
    for fd in sorted(os.listdir(f"/proc/{pid}/fd"), key=int):
        target = os.readlink(f"/proc/{pid}/fd/{fd}")
        kinds.append(re.sub(r"[:\[].*", "", target).rsplit("/", 1)[-1])
    return sorted(kinds)


def test_no_fd_leaks_across_hand_offs_and_stop_kill_restart(eng: Env) -> None:
    cid = eng.run("run", "-d", "--name", "s1", "busybox", "sleep", "600", check=True).out.strip()
    mon = wait_handed_off(eng, cid)
    # stdio, the signalfd, the log, the attach socket, stdout and stderr pipes: no more.
    first = _fd_kinds(mon)
    assert first == sorted(["null", "null", "monitor.log", "anon_inode", "ctr.log", "socket",
                            "pipe", "pipe"]), first  # fmt: skip
    # The ignored signals survived the execve (SIGHUP, SIGINT, SIGPIPE).
    status = Path(f"/proc/{mon}/status").read_text()
    ignored = int(re.search(r"SigIgn:\s*([0-9a-f]+)", status).group(1), 16)  # type: ignore[union-attr]
    for sig in (signal.SIGHUP, signal.SIGINT, signal.SIGPIPE):
        assert ignored & (1 << (sig - 1)), sig
    r = eng.run("exec", "s1", "sh", "-c", "echo x; exit 2")
    assert (r.rc, r.out) == (2, "x\n")
    eng.run("restart", "-t", "1", "s1", check=True)
    mon2 = wait_handed_off(eng, "s1")
    assert _fd_kinds(mon2) == first
    eng.run("kill", "-s", "KILL", "s1", check=True)
    wait_for(lambda: inspect(eng, "s1")["State"]["Status"] == "exited", 15, "the kill")
    assert inspect(eng, "s1")["State"]["ExitCode"] == 137
    wait_for(lambda: not Path(f"/proc/{mon2}").exists() or not is_idle_c(mon2), 15, "resume")
    eng.run("rm", "s1", check=True)
    assert_no_debris(eng)


def test_killed_idle_monitor_is_detected(eng: Env) -> None:
    cid = eng.run("run", "-d", "busybox", "sleep", "600", check=True).out.strip()
    mon = wait_handed_off(eng, cid)
    os.kill(mon, signal.SIGKILL)
    time.sleep(0.3)
    st = inspect(eng, cid)["State"]
    assert st["Running"] and "monitor" in st["Error"]  # still running, unsupervised
    eng.run("stop", "-t", "1", cid, check=True, timeout=30)
    assert inspect(eng, cid)["State"]["Status"] == "exited"
    eng.run("rm", cid, check=True)
    assert_no_debris(eng)


def test_rm_force_after_hand_off(eng: Env) -> None:
    cid = eng.run("run", "-d", "busybox", "sleep", "600", check=True).out.strip()
    mon = wait_handed_off(eng, cid)
    t0 = time.monotonic()
    eng.run("rm", "-f", cid, check=True, timeout=30)
    assert time.monotonic() - t0 < 10
    wait_for(lambda: not Path(f"/proc/{mon}").exists(), 15, "the monitor to end")
    assert_no_debris(eng)
    # --rm: the resumed Python monitor's cleanup removes it after a normal exit.
    cid = eng.run("run", "-d", "--rm", "busybox", "sh", "-c", "sleep 1", check=True).out.strip()
    wait_handed_off(eng, cid)
    assert_no_debris(eng)


def test_forced_python_loop_never_hands_off(eng: Env) -> None:
    cid = eng.run("run", "-d", "busybox", "sh", "-c", "echo hi; sleep 600", env=PYTHON,
                  check=True).out.strip()  # fmt: skip
    mon = monitor_pid(eng, cid)
    wait_for(lambda: "hi" in eng.run("logs", cid).out, 15, "output")
    time.sleep(0.5)
    assert not is_idle_c(mon) and "python" in monitor_program(mon)
    eng.run("rm", "-f", cid, check=True)
    # Attached runs keep the Python loop too (no exec back to delay `run --rm`).
    r = eng.run("run", "--rm", "busybox", "sh", "-c", "echo attached; exit 6")
    assert (r.rc, r.out) == (6, "attached\n")
    assert_no_debris(eng)


def test_first_run_builds_in_the_monitor_and_a_failed_build_falls_back(
    eng: Env, tmp_path: Path
) -> None:
    # An empty cache: the monitor builds the binary after the CLI has its answer.
    cache = {"XDG_CACHE_HOME": str(tmp_path / "cache")}
    cid = eng.run("run", "-d", "busybox", "sleep", "600", env=cache, check=True).out.strip()
    mon = wait_handed_off(eng, cid)
    assert monitor_program(mon).startswith(str(tmp_path / "cache" / "rootless" / "bin"))
    eng.run("rm", "-f", cid, check=True)
    # No working compiler: the container runs under the Python loop, `info` says why.
    broken = {"XDG_CACHE_HOME": str(tmp_path / "nocc"), "CC": "/bin/false"}
    cid = eng.run("run", "-d", "busybox", "sh", "-c", "echo fine; sleep 600", env=broken,
                  check=True).out.strip()  # fmt: skip
    mon = monitor_pid(eng, cid)
    wait_for(lambda: list((tmp_path / "nocc").glob("rootless/bin/*.failed")), 20, "the build")
    wait_for(lambda: "fine" in eng.run("logs", cid).out, 15, "output")
    assert "python" in monitor_program(mon) and inspect(eng, cid)["State"]["Running"]
    info = eng.run("info", env=broken, check=True).out
    assert "monitor_idle: the C idle monitor could not be built" in info
    eng.run("rm", "-f", cid, check=True)
    assert_no_debris(eng)


def test_several_clients_one_killed_the_others_keep_the_stream(eng: Env) -> None:
    loop = "i=0; while true; do echo tick $i; i=$((i+1)); sleep 0.1; done"
    eng.run("run", "-d", "--name", "multi", "busybox", "sh", "-c", loop, check=True)
    wait_handed_off(eng, "multi")

    def attach() -> subprocess.Popen[str]:
        return subprocess.Popen(
            [sys.executable, "-m", "rootless", "attach", "--no-stdin", "multi"],
            env=eng.env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip

    a, b = attach(), attach()
    time.sleep(1.5)
    a.kill()  # its socket closes under the C monitor
    a.communicate(timeout=10)
    time.sleep(1.0)
    eng.run("kill", "-s", "KILL", "multi", check=True)
    out, _ = b.communicate(timeout=20)
    assert b.returncode == 137
    ticks = [int(ln.split()[1]) for ln in out.splitlines() if ln.startswith("tick ")]
    assert len(ticks) >= 15 and ticks == list(range(ticks[0], ticks[0] + len(ticks)))
    assert inspect(eng, "multi")["State"]["ExitCode"] == 137
    eng.run("rm", "multi", check=True)
    assert_no_debris(eng)
