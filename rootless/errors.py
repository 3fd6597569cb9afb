"""The engine's error hierarchy. The CLI maps each to one line and an exit code.

Exit codes follow Docker/Podman: 125 engine error, 126 cannot invoke the command,
127 command not found; anything else is the container's own exit status.
"""

from __future__ import annotations

EXIT_ENGINE = 125
EXIT_CANNOT_INVOKE = 126
EXIT_NOT_FOUND = 127


class EngineError(Exception):
    """An error the user can act on. str(err) is the one line we print."""

    exit_code = EXIT_ENGINE

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.hint = hint

    def line(self) -> str:
        msg = str(self)
        return f"{msg} ({self.hint})" if self.hint else msg


class UsageError(EngineError):
    """Bad flags or arguments."""


class NotFound(EngineError):
    """A named object (image, container, volume, network) does not exist."""


class Conflict(EngineError):
    """A name is taken, or an object is in a state that forbids the action."""


class CannotInvoke(EngineError):
    exit_code = EXIT_CANNOT_INVOKE


class CommandNotFound(EngineError):
    exit_code = EXIT_NOT_FOUND


def failure_line(e: BaseException) -> str:
    """One line for a failure: an EngineError's own line, an OSError's reason and file
    (as `rootless-runtime` prints and logs them), else the exception's type and text."""
    if isinstance(e, EngineError):
        return e.line()
    if isinstance(e, OSError):
        return f"{e.strerror or e}: {e.filename}" if e.filename else str(e.strerror or e)
    return f"{type(e).__name__}: {e}"
