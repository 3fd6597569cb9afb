"""COPY/ADD planned before any container: sources matched, checksummed for the cache,
URLs downloaded; `apply(rootfs)` then writes it all in the working container."""

from __future__ import annotations

import posixpath
from dataclasses import dataclass, field

from rootless.build import copier
from rootless.build.context import Source, SourceTree
from rootless.build.errors import DockerfileError


@dataclass
class CopyPlan:
    """What a COPY/ADD will write, decided (and checksummed) before any container."""

    dest: str
    chown: str | None = None
    chmod: int | None = None
    keep_owner: bool = False
    tree: SourceTree | None = None
    sources: list[Source] = field(default_factory=list)
    files: list[tuple[str, bytes]] = field(default_factory=list)  # here-docs, downloads
    url_files: set[str] = field(default_factory=set)
    unpack: bool = False
    checksum: str = ""
    summary: str = ""

    def ownership(self, rootfs: str) -> copier.Ownership:
        if self.chown:
            uid, gid = resolve_chown(rootfs, self.chown)
            return copier.Ownership(uid, gid, self.chmod)
        if self.keep_owner:
            return copier.Ownership(None, None, self.chmod)
        return copier.Ownership(0, 0, self.chmod)

    def apply(self, rootfs: str) -> None:
        own = self.ownership(rootfs)
        many = len(self.sources) + len(self.files) > 1
        dest = self.dest if not many or self.dest.endswith("/") else self.dest + "/"
        for name, data in self.files:
            target = posixpath.join(dest, name) if dest.endswith("/") else dest
            mode = 0o600 if name in self.url_files else 0o644
            if self.chmod is not None:
                mode = self.chmod
            copier.write_file(rootfs, target, data, own, mode)
        plain = []
        for src in self.sources:
            if self.unpack and not src.is_dir and copier.is_archive(src.host):
                with open(src.host, "rb") as f:
                    copier.extract_tar(f, rootfs, dest.rstrip("/") or "/")
            else:
                plain.append(src)
        if plain:
            assert self.tree is not None
            copier.copy_sources(self.tree, plain, rootfs, dest if many else self.dest, own)


def resolve_chown(rootfs: str, spec: str) -> tuple[int, int]:
    """--chown=user[:group] by name or number, looked up in the image's passwd/group.
    A user alone also gives the group: its primary group for a name, the same number
    for a uid (Docker's rule)."""
    from rootless.engine.bundle import resolve_user
    from rootless.errors import UsageError as EngineUsage

    user, _, group = spec.partition(":")
    try:
        resolved = resolve_user(rootfs, f"{user}:{group}" if group else user)
    except EngineUsage as e:
        raise DockerfileError(f"--chown={spec}: {e}") from None
    gid = resolved.gid if group or not user.isdigit() else resolved.uid
    return resolved.uid, gid


def parse_chmod(text: str | None) -> int | None:
    if text is None:
        return None
    try:
        mode = int(text, 8)
    except ValueError:
        raise DockerfileError(f"invalid --chmod={text}: use an octal mode like 0755") from None
    if not 0 <= mode <= 0o7777:
        raise DockerfileError(f"invalid --chmod={text}: out of range")
    return mode


def is_url(src: str) -> bool:
    return src.startswith(("http://", "https://"))


def download(url: str) -> bytes:
    import urllib.error
    import urllib.request

    try:
        with urllib.request.urlopen(url, timeout=60) as resp:
            return bytes(resp.read())
    except (urllib.error.URLError, OSError, ValueError) as e:
        raise DockerfileError(f"ADD {url}: download failed: {e}") from None
