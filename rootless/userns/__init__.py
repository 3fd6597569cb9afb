"""The user's user namespace: subuid/subgid maps, the pause process, joining it.

Importing this package costs nothing (not even `typing`); the work is imported when
first called.
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import TypeVar

    from rootless.paths import Paths
    from rootless.userns.info import UsernsInfo

    T = TypeVar("T")

__all__ = ["UsernsInfo", "call_in_userns", "enter", "in_userns", "stop_pause"]


def __getattr__(name: str) -> object:
    if name == "UsernsInfo":
        from rootless.userns.info import UsernsInfo

        return UsernsInfo
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def enter(paths: Paths) -> UsernsInfo:
    """Join (creating if needed) the pause process's user + mount namespace.

    Idempotent; must run while the process is single-threaded. Afterwards
    os.getuid() == 0. Raises rootless.errors.EngineError with a one-line cause and fix.
    """
    from rootless.userns.join import enter as _enter

    return _enter(paths)


def in_userns() -> bool:
    """True if this process already joined the engine's user namespace."""
    from rootless.userns.join import in_userns as _in

    return _in()


def call_in_userns(paths: Paths, fn: Callable[..., T], *args: object) -> T:
    """Run fn(*args) in a forked child inside the namespace; return its (pickled) result."""
    from rootless.userns.join import call_in_userns as _call

    return _call(paths, fn, *args)


def stop_pause(paths: Paths) -> int | None:
    """Kill this engine's pause process, if running; return its pid."""
    from rootless.userns.pause import stop

    return stop(paths.runtime)
