"""A real terminal, driven through a pty (pexpect): run -it, exec -it, detach and attach."""

from __future__ import annotations

import shutil
import time
from collections.abc import Iterator

import pexpect
import pytest

from tests.conftest import Env
from tests.integration.test_containers_support import assert_no_debris, force_cleanup

PROMPT = r"/ # "  # busybox ash; it may query the cursor position after it


def spawn(rl: Env, *args: str) -> pexpect.spawn:
    exe = shutil.which("rootless")
    assert exe
    return pexpect.spawn(
        exe, list(args), env=rl.env(), encoding="utf-8", timeout=30, dimensions=(30, 100)
    )


@pytest.fixture
def deb(rl: Env, debian_image: str) -> Iterator[Env]:
    yield rl
    force_cleanup(rl)


@pytest.fixture
def eng(rl: Env, busybox_image: str) -> Iterator[Env]:
    yield rl
    force_cleanup(rl)


@pytest.mark.slow
def test_run_it_debian_bash(deb: Env) -> None:
    c = spawn(deb, "run", "-it", "--rm", "debian:bookworm", "bash")
    c.expect(r"root@[0-9a-f]{12}:/# ")
    c.sendline("echo pid=$$ tty=$(tty)")
    c.expect(r"pid=(\d+) tty=(\S+)")
    assert c.match.group(1) == "1"
    assert c.match.group(2).startswith("/dev/pts/")
    c.sendline("stty size")
    c.expect(r"(\d+) (\d+)\r\n")
    assert (c.match.group(1), c.match.group(2)) == ("30", "100")
    c.setwinsize(40, 120)  # SIGWINCH -> resize message -> TIOCSWINSZ on the pty
    time.sleep(0.3)
    c.sendline("stty size")
    c.expect(r"40 120\r\n")
    c.sendline("sleep 60")
    time.sleep(0.5)
    c.sendintr()  # Ctrl-C is a byte in raw mode; the container's tty makes it SIGINT
    c.expect(r"root@[0-9a-f]{12}:/# ")
    c.sendline("exit 3")
    c.expect(pexpect.EOF)
    c.close()
    assert c.exitstatus == 3
    assert_no_debris(deb)


def test_detach_keys_and_attach_back(eng: Env) -> None:
    c = spawn(eng, "run", "-it", "--name", "tty1", "busybox", "sh")
    c.expect(PROMPT)
    c.sendline("echo before")
    c.expect("before")
    c.send("\x10\x11")  # ctrl-p ctrl-q
    c.expect(pexpect.EOF)
    c.close()
    assert c.exitstatus == 0
    assert eng.run("inspect", "-f", "{{.State.Status}}", "tty1").out.strip() == "running"
    a = spawn(eng, "attach", "tty1")
    time.sleep(0.3)
    a.sendline("echo again $((40+2))")
    a.expect("again 42")
    a.sendline("exit 5")
    a.expect(pexpect.EOF)
    a.close()
    assert a.exitstatus == 5
    eng.run("rm", "tty1", check=True)
    assert_no_debris(eng)


def test_exec_it_into_running_container(eng: Env) -> None:
    eng.run("run", "-d", "--name", "host1", "busybox", "sleep", "600", check=True)
    c = spawn(eng, "exec", "-it", "host1", "sh")
    c.expect(PROMPT)
    c.sendline("tty; echo in=$((6*7))")
    c.expect(r"/dev/pts/\d+")
    c.expect("in=42")
    c.sendline("exit 4")
    c.expect(pexpect.EOF)
    c.close()
    assert c.exitstatus == 4
    eng.run("rm", "-f", "host1", check=True)
    assert_no_debris(eng)
