"""The images service: what the CLI (and containers, build, compose) call.

Operations that create or delete layer files (load, import, commit, rmi, prune) first
join the engine's user namespace, so layer owners map through the subuid range and the
overlay driver can mount. Read-only ones (list, inspect, history, save) do not need it.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from rootless.errors import UsageError
from rootless.images import reference
from rootless.images.store import Image, ImageStore, register_in_use
from rootless.paths import Paths

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import IO, Any, BinaryIO

ENV_DRIVER = "ROOTLESS_STORAGE_DRIVER"


def configured_driver(paths: Paths) -> str | None:
    """--storage-driver / ROOTLESS_STORAGE_DRIVER, else storage.conf's [storage] driver."""
    name = os.environ.get(ENV_DRIVER)
    if name:
        return name
    conf = paths.config / "storage.conf"
    if conf.is_file():
        import tomllib

        try:
            data = tomllib.loads(conf.read_text())
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
            raise UsageError(f"{conf}: invalid TOML: {e}") from e
        value = (data.get("storage") or {}).get("driver")
        if value:
            return str(value)
    return None


def store(paths: Paths, *, userns: bool = True) -> ImageStore:
    """The image store with its driver; joins the user namespace unless userns=False."""
    if userns:
        from rootless.userns import enter

        enter(paths)
    from rootless.storage import open_driver

    register_in_use(containers_using_images)
    return ImageStore(paths, open_driver(paths.storage, configured_driver(paths)))


def read_store(paths: Paths) -> ImageStore:
    """For read-only commands: no namespace, no driver."""
    return ImageStore(paths)


def containers_using_images(paths: Paths) -> dict[str, list[str]]:
    """image id -> names of the containers created from it (any state)."""
    try:
        from rootless.engine.containers.store import Store
    except ImportError:  # no containers service in this build
        return {}
    users: dict[str, list[str]] = {}
    for rec in Store(paths).records():
        users.setdefault(rec.image_id, []).append(rec.name or rec.id[:12])
    return users


@dataclass
class ImageRow:
    """One line of `images`."""

    id: str
    repository: str
    tag: str
    digest: str
    created: str
    size: int
    names: list[str]


def rows(paths: Paths) -> list[tuple[Image, list[tuple[str, str]]]]:
    """Images newest first, each with its (repository, tag) pairs ("<none>" if none)."""
    out = []
    for img in sorted(read_store(paths).images(), key=lambda i: i.created, reverse=True):
        pairs = []
        for n in img.names:
            r = reference.parse(n)
            pairs.append((r.name, r.tag or "latest"))
        out.append((img, pairs or [("<none>", "<none>")]))
    return out


def get(paths: Paths, ref: str) -> Image:
    return read_store(paths).get(ref)


def inspect(paths: Paths, ref: str) -> dict[str, Any]:
    """Docker/Podman-shaped image inspect."""
    s = read_store(paths)
    img = s.get(ref)
    cfg = img.config
    return {
        "Id": img.id,
        "Digest": img.digest,
        "RepoTags": img.names,
        "RepoDigests": [f"{reference.parse(n).name}@{img.digest}" for n in img.names],
        "Created": cfg.get("created", ""),
        "Author": cfg.get("author", ""),
        "Architecture": cfg.get("architecture", ""),
        "Os": cfg.get("os", ""),
        "Config": cfg.get("config", {}),
        "RootFS": {"Type": "layers", "Layers": cfg.get("rootfs", {}).get("diff_ids", [])},
        "Size": img.size,
        "History": cfg.get("history", []),
        "Labels": (cfg.get("config") or {}).get("Labels"),
        "ManifestType": s.read_json_blob(img.digest).get("mediaType", ""),
        "TopLayer": img.top_layer or "",
    }


def history(paths: Paths, ref: str) -> list[dict[str, Any]]:
    """Newest first; layer sizes matched to the history entries that made a layer."""
    s = read_store(paths)
    img = s.get(ref)
    idx = s.read_index()
    sizes = [int(idx.layers.get(c, {}).get("size", 0)) for c in img.layers]
    out = []
    li = 0
    for h in img.config.get("history", []):
        size = 0
        if not h.get("empty_layer") and li < len(sizes):
            size = sizes[li]
            li += 1
        out.append({"id": "<missing>", "created": h.get("created", ""),
                    "created_by": h.get("created_by", ""), "size": size,
                    "comment": h.get("comment", "")})  # fmt: skip
    out.reverse()
    if out:
        out[0]["id"] = img.id
    return out


def tag(paths: Paths, ref: str, names: list[str]) -> list[str]:
    s = read_store(paths)
    return [s.tag(ref, n) for n in names]


def remove(paths: Paths, ref: str, force: bool = False) -> tuple[str, list[str]]:
    return store(paths).remove(ref, force=force)


def prune(paths: Paths, all_unused: bool = False) -> list[str]:
    return store(paths).prune(all_unused)


def check(paths: Paths, verify_blobs: bool = False) -> list[str]:
    return store(paths).check(verify_blobs)


def load(
    paths: Paths, source: BinaryIO | Path, progress: Callable[[str, int], None] | None = None
) -> list[Image]:
    from rootless.images.load import load as do_load

    return do_load(store(paths), source, progress)


def save(paths: Paths, refs: list[str], fmt: str, output: Path | None) -> list[Image]:
    from rootless.images.save import FORMATS
    from rootless.images.save import save as do_save

    if fmt not in FORMATS:
        raise UsageError(f"unknown format {fmt!r}", hint=f"use one of {', '.join(FORMATS)}")
    return do_save(read_store(paths), refs, fmt, output)


def import_tarball(
    paths: Paths,
    source: IO[bytes],
    name: str | None,
    changes: list[str],
    message: str = "",
) -> Image:
    """A rootfs tarball becomes a one-layer image (short names go to localhost/)."""
    from rootless.images.create import apply_changes, create_image

    names = [reference.parse(name, default_registry=reference.LOCALHOST).tagged] if name else []
    config = apply_changes(
        {"Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"]}, changes
    )
    return create_image(
        store(paths), source, config=config, names=names, created_by="rootless import",
        comment=message,
    )  # fmt: skip


def commit_layer(
    paths: Paths,
    base_ref: str | None,
    layer: IO[bytes] | None,
    *,
    config: dict[str, Any] | None = None,
    name: str | None = None,
    created_by: str = "",
    comment: str = "",
    author: str = "",
) -> Image:
    """For commit/build: base image + one layer tar (None = config-only step)."""
    from rootless.images.create import create_image

    s = store(paths)
    base = s.get(base_ref) if base_ref else None
    names = [reference.parse(name, default_registry=reference.LOCALHOST).tagged] if name else []
    return create_image(
        s, layer, base=base, config=config, names=names, created_by=created_by,
        comment=comment, author=author,
    )  # fmt: skip
