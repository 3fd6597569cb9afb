"""The OCI runtime command (runc-compatible CLI): which one, and how to call it.

Selection: --runtime, else $ROOTLESS_RUNTIME, else our own runtime (rootless/runtime:
the monitor calls its create/start/delete in-process, no interpreter per verb). "runc"
(or any path) selects an external runc-compatible runtime; "rootless" ours.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass

from rootless.errors import EngineError, UsageError
from rootless.paths import Paths

TYPE_CHECKING = False
if TYPE_CHECKING:
    import subprocess

OWN = ("rootless", "rootless-runtime")
DEFAULT = "rootless"


def select(requested: str | None) -> str:
    name = requested or os.environ.get("ROOTLESS_RUNTIME") or DEFAULT
    if name in OWN:
        return "rootless-runtime"
    import shutil  # only for external runtimes: not on the default `run` path

    path = name if "/" in name else shutil.which(name)
    if not path or not os.access(path, os.X_OK):
        raise UsageError(
            f"OCI runtime {name!r} not found", hint="install runc or pass --runtime PATH"
        )
    return path


@dataclass
class Runtime:
    """The OCI runtime command to call and its state dir."""

    path: str
    root: str  # the runtime's state dir

    @classmethod
    def for_paths(cls, paths: Paths, path: str) -> Runtime:
        return cls(path, str(paths.runtime / "oci"))

    @property
    def is_own(self) -> bool:
        """rootless-runtime (this package) rather than an external program."""
        return self.path == "rootless-runtime"

    def base(self, log: str | None = None) -> list[str]:
        if self.is_own:
            cmd = [sys.executable, "-m", "rootless.runtime", "--root", self.root]
        else:
            cmd = [self.path, "--root", self.root]
        if log:
            cmd += ["--log", log, "--log-format", "json"]
        return cmd

    def call(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        import subprocess  # not on the `run` path: the monitor calls our runtime itself

        p = subprocess.run(
            [*self.base(), *args], capture_output=True, text=True, stdin=subprocess.DEVNULL
        )
        if check and p.returncode != 0:
            raise EngineError(f"runtime {' '.join(args[:1])} failed: {last_line(p.stderr)}")
        return p

    def kill(self, cid: str, signal: str, all_procs: bool = False) -> bool:
        args = ["kill", *(["--all"] if all_procs else []), cid, signal]
        return self.call(*args, check=False).returncode == 0

    def delete(self, cid: str) -> None:
        self.call("delete", "--force", cid, check=False)


def last_line(text: str) -> str:
    lines = [ln for ln in text.strip().splitlines() if ln.strip()]
    if not lines:
        return "no error output"
    line = lines[-1]
    import json

    try:
        msg = json.loads(line).get("msg")
        return str(msg) if msg else line
    except (ValueError, AttributeError):
        return line
