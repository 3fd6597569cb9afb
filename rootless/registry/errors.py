"""Registry errors: each names the registry and what to do."""

from __future__ import annotations

from rootless.errors import EngineError, NotFound


class RegistryError(EngineError):
    pass


class AuthRequired(RegistryError):
    pass


class ManifestUnknown(NotFound):
    pass


class Unreachable(RegistryError):
    pass


class UnsupportedMediaType(RegistryError):
    pass


class Blocked(RegistryError):
    pass
