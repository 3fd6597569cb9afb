"""Errors of the Dockerfile front end. Each names the file and line it is about."""

from __future__ import annotations

from rootless.errors import EngineError


class DockerfileError(EngineError):
    """A Dockerfile problem: str() is `FILE:LINE: message` when the place is known.

    `message` keeps the bare upstream-compatible text (tests compare it with
    BuildKit's wording); `filename`/`lineno`/`end_lineno` say where. (`line()` is
    EngineError's one-line rendering for the CLI.)
    """

    def __init__(
        self,
        message: str,
        *,
        filename: str | None = None,
        line: int = 0,
        end_line: int = 0,
        hint: str | None = None,
    ) -> None:
        self.message = message
        self.filename = filename
        self.lineno = line
        self.end_lineno = end_line or line
        where = ""
        if filename is not None:
            where = f"{filename}:{line}: " if line else f"{filename}: "
        super().__init__(where + message, hint=hint)

    def located(self, filename: str, line: int, end_line: int = 0) -> DockerfileError:
        """The same error (same class) placed at FILE:LINE, unless it is placed already."""
        if self.filename is not None:
            return self
        return type(self)(
            self.message, filename=filename, line=line, end_line=end_line, hint=self.hint
        )


class DockerfileSyntaxError(DockerfileError):
    """The text cannot be turned into instructions (the parser's errors)."""


class InstructionError(DockerfileError):
    """An instruction is well formed text but not a valid instruction (arguments, flags)."""


class ExpansionError(DockerfileError):
    """`$VAR`/`${...}` substitution failed (bad syntax, `${V:?}` on an unset name, ...)."""
