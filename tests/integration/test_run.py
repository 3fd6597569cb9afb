"""`rootless run` end to end as the unprivileged user: real user namespace, real overlay
or fuse storage, runc, our monitor."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest

from tests.conftest import Env
from tests.integration.test_containers_support import assert_no_debris, force_cleanup

HEX64 = re.compile(r"^[0-9a-f]{64}$")


@pytest.fixture
def eng(rl: Env, busybox_image: str) -> Iterator[Env]:
    yield rl
    force_cleanup(rl)


def test_run_echo_hello(eng: Env) -> None:
    r = eng.run("run", "--rm", "busybox", "echo", "hello")
    assert (r.rc, r.out) == (0, "hello\n"), r.err
    assert_no_debris(eng)


def test_two_containers_from_one_image_get_ids_and_names(eng: Env) -> None:
    a = eng.run("run", "busybox", "true")
    b = eng.run("run", "busybox", "true")
    assert a.rc == 0 and b.rc == 0, a.err + b.err
    rows = eng.run("ps", "-a", "--format", "json", check=True).json()
    assert isinstance(rows, list) and len(rows) == 2
    ids = {r["Id"] for r in rows}
    names = {r["Names"] for r in rows}
    assert len(ids) == 2 and all(HEX64.match(i) for i in ids)
    assert len(names) == 2 and all(re.match(r"^[a-z]+_[a-z]+\d*$", n) for n in names)
    assert {r["ID"] for r in rows} == {i[:12] for i in ids}
    q = eng.run("ps", "-aq", check=True).out.split()
    assert sorted(q) == sorted(i[:12] for i in ids)
    assert eng.run("rm", *names, check=True).rc == 0
    assert_no_debris(eng)


def test_exit_codes(eng: Env) -> None:
    assert eng.run("run", "--rm", "busybox", "sh", "-c", "exit 7").rc == 7
    r = eng.run("run", "--rm", "busybox", "no-such-command")
    assert r.rc == 127, r.err
    assert "no-such-command" in r.err and len(r.err.strip().splitlines()) == 1
    r = eng.run("run", "--rm", "busybox", "/etc/passwd")
    assert r.rc == 126, r.err
    # Killed by a signal: 128+N, as shells report it (pid 1 ignores its own SIGKILL,
    # so the shell runs under --init).
    assert eng.run("run", "--rm", "--init", "busybox", "sh", "-c", "kill -9 $$").rc == 137
    assert_no_debris(eng)


def test_file_written_in_one_container_is_absent_in_the_next(eng: Env) -> None:
    r = eng.run("run", "--rm", "busybox", "sh", "-c", "echo x > /marker && cat /marker")
    assert (r.rc, r.out) == (0, "x\n"), r.err
    assert eng.run("run", "--rm", "busybox", "test", "-e", "/marker").rc == 1
    assert_no_debris(eng)


def test_stdout_and_stderr_and_stdin(eng: Env) -> None:
    r = eng.run("run", "--rm", "busybox", "sh", "-c", "echo out; echo err >&2")
    assert (r.out, r.err) == ("out\n", "err\n")
    r = eng.run("run", "--rm", "-i", "busybox", "sh", "-c", "tr a-z A-Z", input="piped\n")
    assert (r.rc, r.out) == (0, "PIPED\n"), r.err
    # Without -i the container's stdin is empty.
    r = eng.run("run", "--rm", "busybox", "cat", input="ignored\n")
    assert (r.rc, r.out) == (0, "")
    assert_no_debris(eng)


def test_run_flags_reach_the_container(eng: Env, tmp_path) -> None:  # type: ignore[no-untyped-def]
    envfile = tmp_path / "env"
    envfile.write_text("# comment\nFROM_FILE=1\n")
    r = eng.run(
        "run", "--rm", "-e", "A=b c", "--env-file", str(envfile), "-w", "/tmp",
        "--hostname", "box", "-u", "nobody", "busybox",
        "sh", "-c", 'echo "$A|$FROM_FILE|$(pwd)|$(hostname)|$(id -u)"',
    )  # fmt: skip
    assert (r.rc, r.out) == (0, "b c|1|/tmp|box|65534\n"), r.err
    r = eng.run("run", "--rm", "--entrypoint", "echo", "busybox", "via", "entrypoint")
    assert r.out == "via entrypoint\n"
    r = eng.run("run", "--rm", "--read-only", "busybox", "touch", "/x")
    assert r.rc != 0 and "Read-only" in r.err
    r = eng.run("run", "--rm", "--read-only", "--tmpfs", "/scratch", "busybox",
                "sh", "-c", "touch /scratch/x && echo ok")  # fmt: skip
    assert r.out == "ok\n", r.err
    r = eng.run("run", "--rm", "--init", "busybox", "cat", "/proc/1/cmdline")
    assert r.rc == 0 and r.out.startswith("/run/rootless-init"), r.out
    r = eng.run("run", "--rm", "--ulimit", "nofile=512:512", "busybox", "sh", "-c", "ulimit -n")
    assert r.out == "512\n", r.err
    r = eng.run(
        "run", "--rm", "--cap-drop", "ALL", "busybox", "grep", "CapEff", "/proc/self/status"
    )
    assert r.out.split()[-1] == "0000000000000000"
    r = eng.run("run", "--rm", "--network", "none", "busybox", "ip", "link")
    assert "lo" in r.out and "eth0" not in r.out
    assert_no_debris(eng)


def test_bad_input_one_line_exit_125_no_debris(eng: Env) -> None:
    cases = [
        ("run", "--rm", "no-such-image-here", "true"),
        ("run", "--rm", "--no-such-flag", "busybox", "true"),
        ("run", "--rm", "-e", "=novalue", "busybox", "true"),
        ("run", "--rm", "--restart", "sometimes", "busybox", "true"),
        ("run", "--rm", "--cap-add", "NOT_A_CAP", "busybox", "true"),
        ("run", "--rm", "--name", "bad/name", "busybox", "true"),
    ]
    for args in cases:
        r = eng.run(*args)
        assert r.rc == 125, (args, r.rc, r.err)
        assert len(r.err.strip().splitlines()) == 1, (args, r.err)
        assert r.err.startswith("Error:"), r.err
        assert_no_debris(eng)
    # A name conflict leaves the first container alone and nothing of the second.
    eng.run("create", "--name", "taken", "busybox", "true", check=True)
    r = eng.run("run", "--rm", "--name", "taken", "busybox", "true")
    assert r.rc == 125 and "already in use" in r.err and len(r.err.strip().splitlines()) == 1
    assert len(eng.run("ps", "-aq").out.split()) == 1
    eng.run("rm", "taken", check=True)
    assert_no_debris(eng)


def test_security_flags(eng: Env) -> None:
    def status(*flags: str) -> dict[str, str]:
        r = eng.run("run", "--rm", *flags, "busybox", "cat", "/proc/self/status")
        assert r.rc == 0, r.err
        return dict(ln.split(":\t", 1) for ln in r.out.splitlines() if ":\t" in ln)

    default = status()
    assert default["NoNewPrivs"] == "1" and default["Seccomp"] == "2"  # Docker's profile
    assert default["CapEff"] == "00000000a80425fb"  # Docker's default capability set
    priv = status("--privileged")
    assert priv["Seccomp"] == "0" and int(priv["CapEff"], 16) > int(default["CapEff"], 16)
    loose = status(
        "--security-opt", "seccomp=unconfined", "--security-opt", "no-new-privileges=false"
    )
    assert loose["Seccomp"] == "0" and loose["NoNewPrivs"] == "0"
    assert status("--cap-drop", "ALL", "--cap-add", "NET_ADMIN")["CapEff"] == "0000000000001000"
    assert_no_debris(eng)
