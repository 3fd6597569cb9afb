"""Docker Compose's labels: how `up` finds what an earlier `up` made and what changed.

Containers carry project/service/number/config-hash, networks and volumes carry
project + their key, so re-running `up` converges instead of duplicating, and tools
that know Docker Compose's labels read ours.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict
from typing import Any

from rootless.compose.model import Project, Service

PROJECT = "com.docker.compose.project"
SERVICE = "com.docker.compose.service"
NUMBER = "com.docker.compose.container-number"
CONFIG_HASH = "com.docker.compose.config-hash"
ONEOFF = "com.docker.compose.oneoff"
WORKING_DIR = "com.docker.compose.project.working_dir"
CONFIG_FILES = "com.docker.compose.project.config_files"
NETWORK = "com.docker.compose.network"
VOLUME = "com.docker.compose.volume"
DEPENDS_ON = "com.docker.compose.depends_on"

# Fields that do not change what a container is: scaling and build instructions (a
# rebuilt image is caught by comparing image ids instead).
_NOT_HASHED = ("scale", "build", "profiles")


def config_hash(service: Service) -> str:
    """A stable digest of everything that defines the service's containers."""
    d: dict[str, Any] = asdict(service)
    for key in _NOT_HASHED:
        d.pop(key, None)
    d["deploy"].pop("replicas", None)
    blob = json.dumps(d, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(blob.encode()).hexdigest()


def container_labels(
    project: Project, service: Service, number: int, *, oneoff: bool
) -> dict[str, str]:
    return {
        PROJECT: project.name,
        WORKING_DIR: str(project.working_dir),
        CONFIG_FILES: ",".join(project.files),
        SERVICE: service.name,
        NUMBER: str(number),
        ONEOFF: "True" if oneoff else "False",
        CONFIG_HASH: config_hash(service),
    }
