"""exec: run a process in a running container through the runtime's `exec`.

The runtime runs in the foreground with our stdio, so its exit status is the process's;
with -t it makes the pty, puts our terminal in raw mode and forwards resizes itself.
"""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass, field

from rootless.engine.bundle import DEFAULT_PATH, resolve_user
from rootless.engine.containers.context import Ctx
from rootless.engine.containers.safepath import open_in_root
from rootless.engine.containers.state import require
from rootless.errors import CommandNotFound, UsageError


@dataclass
class ExecSpec:
    command: list[str]
    interactive: bool = False
    tty: bool = False
    detach: bool = False
    env: dict[str, str] = field(default_factory=dict)
    user: str | None = None
    workdir: str | None = None
    privileged: bool = False


def _find_executable(rootfs: str, cmd: str, path: str) -> bool:
    cands = [cmd] if "/" in cmd else [f"{d}/{cmd}" for d in path.split(":") if d]
    for c in cands:
        try:
            fd = open_in_root(rootfs, c, os.O_PATH)
        except OSError:
            continue
        os.close(fd)
        return True
    return False


def exec_(ctx: Ctx, ref: str, spec: ExecSpec) -> int:
    if not spec.command:
        raise UsageError("exec needs a command")
    if spec.tty and not spec.detach and not os.isatty(0):
        raise UsageError("the input device is not a TTY", hint="drop -t, or run from a terminal")
    cid = ctx.store.resolve(ref)
    rec = ctx.store.load(cid)
    state, _ = ctx.state(rec)
    require("exec", state, rec.name)
    with open(ctx.store.dir(cid).bundle / "config.json", "rb") as f:
        import json

        proc = json.load(f)["process"]
    env = dict(e.split("=", 1) for e in proc.get("env", []))
    env.update(spec.env)
    if rec.rootfs and not _find_executable(
        rec.rootfs, spec.command[0], env.get("PATH", DEFAULT_PATH)
    ):
        raise CommandNotFound(
            f"{spec.command[0]}: executable file not found in $PATH of container {rec.name}"
        )
    rt = ctx.runtime(rec)
    args = [*rt.base(), "exec"]
    if spec.tty:
        args.append("--tty")
    if spec.detach:
        args.append("--detach")
    for k, v in env.items():
        args += ["--env", f"{k}={v}"]
    if spec.user:
        u = resolve_user(rec.rootfs, spec.user)
        args += ["--user", f"{u.uid}:{u.gid}"]
    else:
        args += ["--user", f"{proc['user']['uid']}:{proc['user']['gid']}"]
    args += ["--cwd", spec.workdir or proc.get("cwd", "/")]
    if spec.privileged:
        from rootless.engine.bundle import ALL_CAPS

        for c in ALL_CAPS:
            args += ["--cap", c]
    args += [cid, *spec.command]
    stdin = None if spec.interactive or spec.tty else subprocess.DEVNULL
    p = subprocess.run(args, stdin=stdin)
    return p.returncode
