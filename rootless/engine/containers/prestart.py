"""Start a container's monitor interpreter ahead of time (`python -S monitor/__main__.py
--go GO_FD STATUS_FD`): it loads our runtime while the CLI imports the engine and
prepares the container, then waits for the container dir on GO_FD (launch.start_monitor).

Light on purpose: `run` calls prestart() right after joining the user namespace, before
the engine's modules are imported, so the two interpreters start up side by side.
"""

from __future__ import annotations

import os
import sys

import rootless

_PACKAGE = os.path.dirname(os.path.realpath(rootless.__file__))
# Run by path, not `-m`: runpy alone is ~1 MB of the monitor's RSS.
MONITOR_MAIN = os.path.join(_PACKAGE, "monitor", "__main__.py")


class PendingMonitor:
    """A monitor interpreter started ahead of time, waiting for its container dir. A
    plain class: a dataclass costs ~0.3 ms to create at every start."""

    __slots__ = ("go_w", "pid", "status_r")

    def __init__(self, pid: int, go_w: int, status_r: int) -> None:
        self.pid = pid
        self.go_w = go_w  # write the container dir + newline, then close: the go
        self.status_r = status_r  # its one-line JSON report

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
    pkg_parent = os.path.dirname(_PACKAGE)
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
