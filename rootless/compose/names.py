"""The project name: `-p`, then COMPOSE_PROJECT_NAME, then `name:`, then the directory.

A name the user typed (-p, COMPOSE_PROJECT_NAME) must already be valid; one derived
from `name:` or a directory is normalised silently (lower-case, only [a-z0-9_-], no
leading `_`/`-`), as docker compose does.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from rootless.compose.errors import ComposeError

_VALID = re.compile(r"^[a-z0-9][a-z0-9_-]*$")


def normalize_name(name: str) -> str:
    kept = "".join(c for c in name.lower() if c.isascii() and (c.isalnum() or c in "_-"))
    return kept.lstrip("_-")


def check_explicit(name: str) -> str:
    if not _VALID.match(name):
        raise ComposeError(
            f'invalid project name "{name}": must consist only of lowercase alphanumeric '
            "characters, hyphens, and underscores as well as start with a letter or number"
        )
    return name


def project_name(
    flag: str | None, env: Mapping[str, str], model_name: str | None, directory: str
) -> str:
    if flag:
        return check_explicit(flag)
    from_env = env.get("COMPOSE_PROJECT_NAME")
    if from_env:
        return check_explicit(from_env)
    if model_name:
        name = normalize_name(model_name)
        if name:
            return name
    name = normalize_name(directory.rstrip("/").rsplit("/", 1)[-1])
    if not name:
        raise ComposeError(
            "project name must not be empty (pass -p NAME, set COMPOSE_PROJECT_NAME or "
            "add a top-level name: key)"
        )
    return name
