"""Fixtures for the walkthrough tests: the course's Docker Hub images, offline.

scripts/walkthrough-images.sh builds the stand-ins (hello-world, httpd, ubuntu, postgres,
python, redis) as OCI layouts; a real docker-registry on 127.0.0.1 serves them under those
names, and the isolated engine's registries.conf searches that registry for short names,
so `rootless run hello-world` pulls exactly as it would from Docker Hub.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pexpect
import pytest

from tests.conftest import REPO, TEST_IMAGES, Env, Result, need, remove_engine_data
from tests.integration.registry_server import Registry, run_registry, skopeo_copy

IMAGES_DIR = TEST_IMAGES / "walkthrough"
SCRIPT = REPO / "scripts" / "walkthrough-images.sh"
NAMES = ("hello-world", "httpd", "ubuntu", "postgres", "python", "redis")
# bash's prompt in the Debian-based stand-ins: root@<hostname = short id>:<cwd>#
PROMPT = r"root@([0-9a-zA-Z_.-]+):[^\r\n#]*# "


@dataclass
class WalkRegistry:
    registry: Registry
    pushed: set[str] = field(default_factory=set)

    @property
    def host(self) -> str:
        return self.registry.host

    def offer(self, *names: str) -> None:
        """Push the stand-ins `names` (once per session) as HOST/NAME:latest."""
        for name in names:
            if name in self.pushed:
                continue
            build_images(name)
            layout = IMAGES_DIR / name
            need(
                (layout / "index.json").is_file(),
                f"walkthrough image layout {layout}",
                "run scripts/walkthrough-images.sh as the test user",
            )
            skopeo_copy(
                f"oci:{layout}:latest",
                f"docker://{self.host}/{name}:latest",
                "--dest-tls-verify=false",
            )
            self.pushed.add(name)


@dataclass
class Walk:
    """One isolated engine wired to the walkthrough registry, plus course helpers."""

    rl: Env
    reg: WalkRegistry
    home: Path  # stands in for ~ in the course's commands
    spawned: list[pexpect.spawn] = field(default_factory=list)
    started: list[subprocess.Popen[str]] = field(default_factory=list)

    def run(self, *args: str, timeout: float = 300, cwd: Path | None = None) -> Result:
        """The CLI as a user types it (optionally from a directory, like `build .`)."""
        exe = shutil.which("rootless")
        cmd = [exe, *args] if exe else [sys.executable, "-m", "rootless", *args]
        p = subprocess.run(
            cmd, capture_output=True, text=True, timeout=timeout, env=self.rl.env(), cwd=cwd
        )
        return Result(p.returncode, p.stdout, p.stderr)

    def ok(self, *args: str, timeout: float = 300, cwd: Path | None = None) -> Result:
        """Run a step that must succeed; the failure names the course command."""
        r = self.run(*args, timeout=timeout, cwd=cwd)
        assert r.rc == 0, f"`rootless {' '.join(args)}` -> {r.rc}\n{r.err[-3000:]}"
        return r

    def spawn(self, *args: str, timeout: float = 60, cwd: Path | None = None) -> pexpect.spawn:
        """An interactive step on a real pty (`run -it`, `exec -it`)."""
        exe = shutil.which("rootless")
        assert exe, "the rootless console script is not on PATH"
        c = pexpect.spawn(
            exe,
            list(args),
            env=self.rl.env(),
            encoding="utf-8",
            timeout=timeout,
            dimensions=(40, 160),
            cwd=str(cwd) if cwd else None,
        )
        self.spawned.append(c)
        return c

    def popen(self, *args: str, cwd: Path | None = None) -> subprocess.Popen[str]:
        """A foreground step left running (`compose up`), ended by the test."""
        exe = shutil.which("rootless")
        assert exe, "the rootless console script is not on PATH"
        log = open(self.rl.home / f"popen-{len(self.started)}.log", "w")  # noqa: SIM115
        p = subprocess.Popen(
            [exe, *args],
            stdout=log,
            stderr=subprocess.STDOUT,
            text=True,
            env=self.rl.env(),
            cwd=cwd,
            start_new_session=True,
        )
        self.started.append(p)
        return p

    def cleanup(self) -> None:
        for c in self.spawned:
            with contextlib.suppress(Exception):
                c.close(force=True)
        for p in self.started:
            if p.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(p.pid, signal.SIGKILL)
                p.wait(timeout=30)
        with contextlib.suppress(Exception):
            self.run("rm", "-af", timeout=120)
        for proj in self.rl.home.glob("*/compose.yaml"):
            with contextlib.suppress(Exception):
                self.run("compose", "down", timeout=120, cwd=proj.parent)
        with contextlib.suppress(Exception):
            self.run("network", "prune", "-f", timeout=60)
        # Files written by container users belong to subuids: remove them from inside.
        for d in self.rl.home.iterdir():
            if d.name not in ("data", "run", "config"):
                self.run("unshare", "rm", "-rf", str(d), timeout=120)
        remove_engine_data(self.rl)


def build_images(*names: str) -> None:
    """Build (or find up to date) the stand-ins `names` with walkthrough-images.sh."""
    need(shutil.which("mmdebstrap"), "mmdebstrap", "apt-get install mmdebstrap (setup-host.sh)")
    p = subprocess.run(["bash", str(SCRIPT), *names], capture_output=True, text=True, timeout=3000)
    need(
        p.returncode == 0,
        f"walkthrough images ({SCRIPT.name} {' '.join(names)}): {p.stderr[-1500:]}",
        "check the Debian mirror is reachable and mmdebstrap --mode=unshare works",
    )


@pytest.fixture(scope="session", name="walk_registry")
def walk_registry_fixture(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WalkRegistry]:
    need(shutil.which("docker-registry"), "docker-registry", "apt-get install docker-registry")
    need(shutil.which("skopeo"), "skopeo", "apt-get install skopeo")
    workdir = tmp_path_factory.mktemp("walkthrough-registry")
    with run_registry(workdir) as reg:
        yield WalkRegistry(reg)
    shutil.rmtree(workdir / "storage", ignore_errors=True)  # hundreds of MB of blobs


@pytest.fixture(name="walk")
def walk_fixture(rl: Env, walk_registry: WalkRegistry) -> Iterator[Walk]:
    rl.config.mkdir(parents=True, exist_ok=True)
    host = walk_registry.host
    (rl.config / "registries.conf").write_text(
        f'unqualified-search-registries = ["{host}"]\n\n'
        f'[[registry]]\nlocation = "{host}"\ninsecure = true\n'
    )
    w = Walk(rl, walk_registry, rl.home)
    yield w
    w.cleanup()


# ---- small helpers the tests share ----
def port_or_free(preferred: int) -> int:
    """The course's literal host port when it is free here, else any free port."""
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", preferred))
            return preferred
        except OSError:
            s.bind(("127.0.0.1", 0))
            return int(s.getsockname()[1])


def http_get(url: str, deadline_s: float) -> str:
    """GET `url`, retrying until the service answers or the deadline passes."""
    end = time.monotonic() + deadline_s
    last: Exception | None = None
    while time.monotonic() < end:
        try:
            with urllib.request.urlopen(url, timeout=5) as r:
                return str(r.read().decode())
        except (urllib.error.URLError, OSError) as e:
            last = e
            time.sleep(0.5)
    raise AssertionError(f"no answer from {url} in {deadline_s:.0f} s: {last}")


def wait_for(what: str, cond: object, deadline_s: float, step: float = 0.5) -> None:
    end = time.monotonic() + deadline_s
    while time.monotonic() < end:
        if cond():  # type: ignore[operator]
            return
        time.sleep(step)
    raise AssertionError(f"timed out after {deadline_s:.0f} s waiting for {what}")


def shell(c: pexpect.spawn, line: str, timeout: float = 60) -> str:
    """Type `line` at the bash prompt; return what it printed before the next prompt."""
    typed(c, line)
    c.expect(PROMPT, timeout=timeout)
    return str(c.before)


def typed(c: pexpect.spawn, line: str) -> None:
    """Send a command line and wait for its echo: bash may redraw the prompt before it."""
    c.sendline(line)
    c.expect_exact(line, timeout=30)


def apt_install(c: pexpect.spawn, line: str, timeout: float = 600) -> str:
    """`apt update && apt install PKGS` as typed in the course, answering its question."""
    typed(c, line)
    seen = ""
    while True:
        i = c.expect([r"Do you want to continue\? \[Y/n\] ", PROMPT], timeout=timeout)
        seen += str(c.before)
        if i == 0:
            c.sendline("Y")
            continue
        return seen


def exit_shell(c: pexpect.spawn) -> int:
    c.sendline("exit")
    c.expect(pexpect.EOF, timeout=60)
    c.close()
    return int(c.exitstatus if c.exitstatus is not None else -1)
