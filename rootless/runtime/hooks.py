"""OCI hooks: each gets the container state JSON on stdin; a non-zero exit is an error."""

from __future__ import annotations

import os

from rootless.errors import EngineError
from rootless.runtime import jsonlite
from rootless.runtime.spec import Hook

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


class HookError(EngineError):
    """A lifecycle hook failed."""


def run_hooks(kind: str, hooks: list[Hook], state: dict[str, Any]) -> None:
    if not hooks:
        return
    import subprocess

    data = jsonlite.dumps(state).encode()
    for h in hooks:
        argv = h.args or [h.path]
        env = dict(e.split("=", 1) for e in h.env if "=" in e) if h.env else {}
        try:
            p = subprocess.run(
                argv,
                executable=h.path,
                input=data,
                env=env,
                capture_output=True,
                timeout=h.timeout,
                close_fds=True,
            )
        except subprocess.TimeoutExpired:
            raise HookError(f"{kind} hook {h.path} timed out after {h.timeout}s") from None
        except OSError as e:
            raise HookError(f"{kind} hook {h.path}: {e.strerror}") from None
        if p.returncode != 0:
            msg = p.stderr.decode(errors="replace").strip().splitlines()
            detail = f": {msg[-1]}" if msg else ""
            raise HookError(f"{kind} hook {h.path} exited with status {p.returncode}{detail}")


def run_hooks_warn(kind: str, hooks: list[Hook], state: dict[str, Any]) -> None:
    """poststart/poststop: failures are warnings; the lifecycle goes on (runtime spec)."""
    for h in hooks:
        try:
            run_hooks(kind, [h], state)
        except HookError as e:
            os.write(2, f"warning: {e}\n".encode())
