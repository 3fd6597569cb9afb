"""Compose loading errors: each is one line naming the file, the key path and the fix."""

from __future__ import annotations

from rootless.errors import EngineError


class ComposeError(EngineError):
    """A compose file cannot be loaded as written."""


def at(source: str | None, path: str | None, message: str) -> ComposeError:
    """`compose.yaml: services.web.ports[0]: <message>`, leaving out what is unknown."""
    parts = [p for p in (source, path) if p]
    return ComposeError(": ".join([*parts, message]))
