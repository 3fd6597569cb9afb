"""Start the monitor for a container and wait for its one-line report.

The monitor is a fresh `python -S rootless/monitor/__main__.py` (no site, no click, no
engine), usually started ahead of time (prestart.py): cheap to start, small while it
lives. It double-forks, so it is nobody's child and survives the CLI; it reports on a
pipe once the container runs (or why it could not).
"""

from __future__ import annotations

import json
import os
import sys

from rootless.engine.containers.ociruntime import Runtime
from rootless.engine.containers.prestart import PendingMonitor, prestart
from rootless.engine.containers.record import ContainerDir, Record
from rootless.errors import CannotInvoke, CommandNotFound, EngineError
from rootless.monitor.protocol import ARGS_FILE
from rootless.paths import Paths

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable

LOG_MAX_SIZE = 20 * 1024 * 1024


def cleanup_command(paths: Paths, cid: str) -> tuple[list[str], dict[str, str]]:
    env = {
        "ROOTLESS_ROOT": str(paths.data),
        "ROOTLESS_RUNROOT": str(paths.runtime),
        "ROOTLESS_CONFIG_DIR": str(paths.config),
    }
    return [sys.executable, "-m", "rootless", "container", "cleanup", cid], env


def start_monitor(
    paths: Paths,
    d: ContainerDir,
    rec: Record,
    *,
    wait_attach: bool,
    pending: PendingMonitor | None = None,
    after_go: Callable[[], object] | None = None,
) -> int:
    """Hand the container to a monitor; returns the container's pid once it runs.
    `after_go`: work for the ~10 ms the monitor takes to create and start the container."""
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
    try:
        os.write(mon.go_w, str(d.path).encode() + b"\n")
    except BrokenPipeError:
        pass  # it is gone: its empty report below says so (never `run`'s exit 0 on EPIPE)
    os.close(mon.go_w)
    mon.go_w = -1
    if after_go is not None:
        after_go()
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
