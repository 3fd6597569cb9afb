"""Image references parsed like Docker/Podman: [registry/][namespace/]name[:tag][@digest].

Short names are normalized for display and lookup: `busybox` ->
`docker.io/library/busybox:latest`, `user/app` -> `docker.io/user/app:latest`. The first
component is a registry when it contains `.` or `:` or is `localhost`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from rootless.errors import UsageError

DEFAULT_REGISTRY = "docker.io"
DEFAULT_TAG = "latest"
LOCALHOST = "localhost"

_COMPONENT = re.compile(r"^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$")
_TAG = re.compile(r"^[\w][\w.-]{0,127}$")
_DIGEST = re.compile(r"^[a-z0-9]+(?:[.+_-][a-z0-9]+)*:[a-f0-9]{32,}$")
_HOST = re.compile(r"^[a-zA-Z0-9.-]+(?::[0-9]+)?$|^\[[0-9a-fA-F:]+\](?::[0-9]+)?$")
_HEX = re.compile(r"^[a-f0-9]+$")


class BadReference(UsageError):
    """A malformed image name."""


@dataclass(frozen=True)
class Reference:
    """A parsed image reference: registry, repository and a tag and/or digest."""

    registry: str
    repository: str  # "library/busybox"
    tag: str | None = None
    digest: str | None = None  # "sha256:..."

    @property
    def name(self) -> str:
        """registry/repository, e.g. docker.io/library/busybox."""
        return f"{self.registry}/{self.repository}"

    def __str__(self) -> str:
        s = self.name
        if self.tag:
            s += f":{self.tag}"
        if self.digest:
            s += f"@{self.digest}"
        return s

    @property
    def tagged(self) -> str:
        """name:tag (tag defaults to latest) — the form stored in the name index."""
        return f"{self.name}:{self.tag or DEFAULT_TAG}"

    def familiar(self) -> str:
        """Shortest form for display: busybox:latest, user/app:v1, quay.io/x/y:z."""
        repo = self.repository
        if self.registry == DEFAULT_REGISTRY:
            if repo.startswith("library/"):
                repo = repo[len("library/") :]
            s = repo
        else:
            s = self.name
        return f"{s}:{self.tag or DEFAULT_TAG}"


def parse(text: str, *, default_registry: str = DEFAULT_REGISTRY) -> Reference:
    """Parse and normalize an image reference; raises BadReference with the reason."""
    orig = text
    if not text or text != text.strip():
        raise BadReference(f"invalid image name {orig!r}: empty or surrounded by spaces")
    digest = None
    if "@" in text:
        text, digest = text.split("@", 1)
        if not _DIGEST.match(digest):
            raise BadReference(f"invalid image name {orig!r}: bad digest {digest!r}")
    tag = None
    last = text.rsplit("/", 1)[-1]
    if ":" in last:
        text, tag = text.rsplit(":", 1)
        if not _TAG.match(tag):
            raise BadReference(f"invalid image name {orig!r}: bad tag {tag!r}")
    parts = text.split("/")
    if len(parts) > 1 and (
        "." in parts[0] or ":" in parts[0] or parts[0] == LOCALHOST or parts[0] != parts[0].lower()
    ):
        registry, path = parts[0], parts[1:]
        if not _HOST.match(registry):
            raise BadReference(f"invalid image name {orig!r}: bad registry {registry!r}")
    else:
        registry, path = default_registry, parts
    for comp in path:
        if not _COMPONENT.match(comp):
            hint = " (names must be lowercase)" if comp.lower() != comp else ""
            raise BadReference(f"invalid image name {orig!r}: bad component {comp!r}{hint}")
    if registry == DEFAULT_REGISTRY and len(path) == 1:
        path = ["library", *path]
    if tag is None and digest is None:
        tag = DEFAULT_TAG
    return Reference(registry, "/".join(path), tag, digest)


def is_id_prefix(text: str) -> bool:
    """Could `text` be an image id (prefix), as in `rootless rmi 3f5a`?"""
    t = text.removeprefix("sha256:")
    return 3 <= len(t) <= 64 and bool(_HEX.match(t))


def lookup_candidates(text: str) -> list[str]:
    """The name:tag forms to try for `text`: a short name (no registry written) may mean
    docker.io/library/NAME or localhost/NAME (imports, builds), as in Podman."""
    ref = parse(text)
    if ref.registry != DEFAULT_REGISTRY or text.startswith(DEFAULT_REGISTRY + "/"):
        return [ref.tagged]
    local = parse(text, default_registry=LOCALHOST)
    return [ref.tagged, local.tagged]


def names_short(text: str) -> bool:
    """True when `text` names no registry (`busybox`, `user/app:1`)."""
    first, sep, _ = text.partition("/")
    return not sep or not ("." in first or ":" in first or first == LOCALHOST)


def short_match(text: str, name: str) -> bool:
    """Does the stored `name` (registry/repo:tag) answer the short name `text`? True for
    any registry: an image pulled through a search registry in registries.conf
    (`127.0.0.1:5000/busybox:latest`) is found again as `busybox`, as in Podman."""
    want = parse(text, default_registry=LOCALHOST)
    have = parse(name)
    repo = (
        have.repository.removeprefix("library/")
        if have.registry == DEFAULT_REGISTRY
        else (have.repository)
    )
    return repo == want.repository and (have.tag or DEFAULT_TAG) == (want.tag or DEFAULT_TAG)
