"""Start the monitor for a container and wait for its one-line report.

The monitor is a fresh `python -S -m rootless.monitor` (no site, no click, no engine):
cheap to start, small while it lives. It double-forks, so it is nobody's child and
survives the CLI; it reports on a pipe once the container runs (or why it could not).
"""

from __future__ import annotations

import json
import os
import sys
from dataclasses import dataclass
from pathlib import Path

import rootless
from rootless.engine.containers.ociruntime import Runtime
from rootless.engine.containers.record import ContainerDir, Record
from rootless.errors import CannotInvoke, CommandNotFound, EngineError
from rootless.monitor.protocol import ARGS_FILE
from rootless.paths import Paths

LOG_MAX_SIZE = 20 * 1024 * 1024
# Run by path, not `-m`: runpy alone is ~1 MB of the monitor's RSS.
MONITOR_MAIN = str(Path(rootless.__file__).resolve().parent / "monitor" / "__main__.py")


def cleanup_command(paths: Paths, cid: str) -> tuple[list[str], dict[str, str]]:
    env = {
        "ROOTLESS_ROOT": str(paths.data),
        "ROOTLESS_RUNROOT": str(paths.runtime),
        "ROOTLESS_CONFIG_DIR": str(paths.config),
    }
    return [sys.executable, "-m", "rootless", "container", "cleanup", cid], env


@dataclass
class PendingMonitor:
    """A monitor interpreter started ahead of time, waiting for its container dir: its
    start-up overlaps the CLI's create/mount/bundle work instead of following it."""

    pid: int
    go_w: int
    status_r: int

    def wait(self) -> None:
        """Reap the first child (it exits at once after its fork, or on cancel)."""
        while True:
            try:
                os.waitpid(self.pid, 0)
                return
            except InterruptedError:
                continue
            except ChildProcessError:
                return

    def cancel(self) -> None:
        if self.go_w >= 0:
            os.close(self.go_w)  # EOF: it exits without doing anything
            self.go_w = -1
            self.wait()
            os.close(self.status_r)


def prestart() -> PendingMonitor:
    go_r, go_w = os.pipe()
    status_r, status_w = os.pipe()
    penv = dict(os.environ)
    pkg_parent = str(Path(rootless.__file__).resolve().parent.parent)
    penv["PYTHONPATH"] = pkg_parent + (
        os.pathsep + penv["PYTHONPATH"] if penv.get("PYTHONPATH") else ""
    )
    # posix_spawn rather than subprocess: no `subprocess` import (selectors, threading,
    # signal...) on the `run` path, and a vfork-style spawn of the big CLI process.
    null = os.devnull
    actions = [
        (os.POSIX_SPAWN_OPEN, 0, null, os.O_RDONLY, 0),
        (os.POSIX_SPAWN_OPEN, 1, null, os.O_WRONLY, 0),
        (os.POSIX_SPAWN_OPEN, 2, null, os.O_WRONLY, 0),
    ]
    try:
        for fd in (go_r, status_w):
            os.set_inheritable(fd, True)  # only these two: every other fd is O_CLOEXEC
        argv = [sys.executable, "-S", MONITOR_MAIN, "--go", str(go_r), str(status_w)]
        pid = os.posix_spawn(sys.executable, argv, penv, file_actions=actions, setsid=True)
    except BaseException:
        for fd in (go_w, status_r):
            os.close(fd)
        raise
    finally:
        os.close(go_r)
        os.close(status_w)
    return PendingMonitor(pid, go_w, status_r)


def start_monitor(
    paths: Paths,
    d: ContainerDir,
    rec: Record,
    *,
    wait_attach: bool,
    pending: PendingMonitor | None = None,
) -> int:
    """Hand the container to a monitor; returns the container's pid once it runs."""
    rt = Runtime.for_paths(paths, rec.runtime)
    cmd, env = cleanup_command(paths, rec.id)
    args = {
        "id": rec.id,
        "bundle": str(d.bundle),
        "runtime_cmd": rt.base(log="runtime.log"),
        # Our own runtime runs inside the monitor (create/start/delete as calls, same
        # state under this root); other runtimes as commands. "" = use runtime_cmd.
        "runtime_root": rt.root if rt.is_own else "",
        "tty": rec.spec.tty,
        "stdin": rec.spec.interactive,
        "wait_attach": wait_attach,
        "restart": {"name": rec.spec.restart.name, "max_retries": rec.spec.restart.max_retries},
        "log_max_size": LOG_MAX_SIZE,
        "cleanup_cmd": cmd,
        "cleanup_env": env,
        "cgroup": rec.cgroup,  # cgroups: "" when none
    }
    import marshal

    tmp = d.path / f".{ARGS_FILE}.tmp"
    tmp.write_bytes(marshal.dumps(args))
    os.replace(tmp, d.path / ARGS_FILE)
    mon = pending or prestart()
    os.write(mon.go_w, str(d.path).encode() + b"\n")
    os.close(mon.go_w)
    mon.go_w = -1
    mon.wait()  # the first child exits at once (double fork)
    with os.fdopen(mon.status_r, "rb") as f:
        line = f.readline()
    if not line:
        raise EngineError(
            f"the monitor of {rec.id[:12]} died while starting it",
            hint=f"see {d.path / 'monitor.log'}",
        )
    msg = json.loads(line)
    if not msg.get("ok"):
        raise start_error(str(msg.get("error", "unknown error")))
    return int(msg["pid"])


def start_error(err: str) -> EngineError:
    """Map the runtime's complaint to Docker's exit codes: 127 when the command is not
    found, 126 when it cannot be run. Only failures to execute the command count (runc
    and ours say `exec: "CMD": ...`, the kernel `exec format error`); anything else that
    stops the container from starting (a mount, a namespace, a map) is the engine's own
    failure (125), even when its reason reads "permission denied"."""
    low = err.lower()
    if 'exec: "' not in low and "exec format error" not in low:
        return EngineError(err)
    if "executable file not found" in low or "no such file or directory" in low:
        return CommandNotFound(err)
    if "permission denied" in low or "exec format error" in low or "is a directory" in low:
        return CannotInvoke(err)
    return EngineError(err)
