"""`rootless load`: OCI layouts (dir or tar) and docker-archives (docker save, podman save,
skopeo copy), plain or compressed, from a file, a directory or stdin.

An archive is read once, as a stream: every file that could be a blob is copied into the
blob store (verified against its name when the name is a digest), small JSON files are
kept in memory; then manifests are resolved, layers unpacked and images recorded, all
under the store's lock, the index last (see store.py for the crash-safety argument).
"""

from __future__ import annotations

import json
import os
import tarfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, BinaryIO

from rootless.errors import EngineError
from rootless.images import reference
from rootless.images.compress import MEDIA_SUFFIX, MEDIA_TAR, decompressed, sniff
from rootless.images.store import (
    MEDIA_DOCKER_MANIFEST,
    MEDIA_OCI_CONFIG,
    MEDIA_OCI_INDEX,
    MEDIA_OCI_MANIFEST,
    Image,
    ImageStore,
    Index,
)

MANIFEST_TYPES = {MEDIA_OCI_MANIFEST, MEDIA_DOCKER_MANIFEST}
INDEX_TYPES = {MEDIA_OCI_INDEX, "application/vnd.docker.distribution.manifest.list.v2+json"}
NAME_ANNOTATIONS = ("io.containerd.image.name", "org.opencontainers.image.ref.name")
_SMALL = 16 << 20  # JSON files kept in memory up to this size
_META = {"oci-layout", "index.json", "manifest.json", "repositories"}  # not blobs

Progress = Callable[[str, int], None]  # (what, bytes) as things are processed


class BadImageArchive(EngineError):
    """An archive that is neither an OCI layout nor a docker-archive, or is incomplete."""


@dataclass
class _Archive:
    """What a pass over an archive collected."""

    files: dict[str, bytes] = field(default_factory=dict)  # small JSON files by path
    blobs: dict[str, str] = field(default_factory=dict)  # path in archive -> blob digest
    links: dict[str, str] = field(default_factory=dict)  # symlink path -> target path

    def blob_for(self, path: str) -> str:
        seen = 0
        while path in self.links and seen < 16:
            path = self.links[path]
            seen += 1
        if path in self.blobs:
            return self.blobs[path]
        raise BadImageArchive(f"the archive lacks {path!r}")

    def json(self, path: str) -> Any:
        try:
            return json.loads(self.files[path])
        except KeyError:
            raise BadImageArchive(f"the archive lacks {path!r}") from None
        except ValueError as e:
            raise BadImageArchive(f"{path} in the archive is not valid JSON: {e}") from e


def _norm(name: str) -> str:
    return os.path.normpath(name.lstrip("/")).removeprefix("./")


def read_tar(store: ImageStore, src: IO[bytes], progress: Progress | None = None) -> _Archive:
    stream, _ = decompressed(src)  # type: ignore[arg-type]
    arc = _Archive()
    try:
        with tarfile.open(fileobj=stream, mode="r|") as tf:
            for m in tf:
                name = _norm(m.name)
                if m.issym() or m.islnk():
                    base = os.path.dirname(name) if m.issym() else ""
                    arc.links[name] = _norm(os.path.join(base, m.linkname))
                    continue
                if not m.isreg():
                    continue
                f = tf.extractfile(m)
                assert f is not None
                parts = name.split("/")
                expected = None
                if len(parts) == 3 and parts[0] == "blobs" and len(parts[2]) == 64:
                    expected = f"{parts[1]}:{parts[2]}"
                if name in _META:
                    arc.files[name] = f.read(_SMALL)
                elif m.size <= _SMALL and name.endswith(".json"):
                    data = f.read()
                    arc.files[name] = data
                    arc.blobs[name] = store.put_bytes(data, expected)
                else:
                    arc.blobs[name] = store.put_blob(f, expected)[0]
                if progress:
                    progress(name, m.size)
    except tarfile.TarError as e:
        raise BadImageArchive(f"not an image archive (tar): {e}") from e
    return arc


def read_dir(store: ImageStore, root: Path, progress: Progress | None = None) -> _Archive:
    arc = _Archive()
    for p in sorted(root.rglob("*")):
        if not p.is_file():
            continue
        name = p.relative_to(root).as_posix()
        parts = name.split("/")
        expected = f"{parts[1]}:{parts[2]}" if len(parts) == 3 and parts[0] == "blobs" else None
        size = p.stat().st_size
        if name in _META or (size <= _SMALL and name.endswith(".json")):
            arc.files[name] = p.read_bytes()
            if name in _META:
                continue
        if expected and store.has_blob(expected):
            arc.blobs[name] = expected  # already verified when it was stored
        else:
            with open(p, "rb") as f:
                arc.blobs[name] = store.put_blob(f, expected)[0]
        if progress:
            progress(name, size)
    return arc


@dataclass
class _Pending:
    manifest: str  # digest
    names: list[str]


def _names_from(annotations: dict[str, str]) -> list[str]:
    for key in NAME_ANNOTATIONS:
        value = annotations.get(key)
        if value and ("/" in value or ":" in value):
            try:
                return [reference.parse(value).tagged]
            except reference.BadReference:
                continue
    return []


def _oci_images(store: ImageStore, arc: _Archive) -> list[_Pending]:
    index = arc.json("index.json")
    out: list[_Pending] = []

    def walk(desc: dict[str, Any], names: list[str]) -> None:
        mt = desc.get("mediaType", "")
        if mt in INDEX_TYPES:
            sub = store.read_json_blob(desc["digest"])
            chosen = _pick_platform(sub.get("manifests", []))
            if chosen:
                walk(chosen, names)
        elif mt in MANIFEST_TYPES or not mt:
            out.append(_Pending(desc["digest"], names))

    for desc in index.get("manifests", []):
        if not store.has_blob(desc.get("digest", "")):
            raise BadImageArchive(f"the archive lacks the blob {desc.get('digest')}")
        walk(desc, _names_from(desc.get("annotations") or {}))
    if not out:
        raise BadImageArchive("the OCI layout's index.json lists no image manifest")
    return out


def _pick_platform(manifests: list[dict[str, Any]]) -> dict[str, Any] | None:
    for m in manifests:
        plat = m.get("platform") or {}
        if plat.get("os", "linux") == "linux" and plat.get("architecture") in ("amd64", None):
            return m
    return manifests[0] if manifests else None


def _docker_images(store: ImageStore, arc: _Archive) -> list[_Pending]:
    """docker-archive: manifest.json lists config + layer files; we write an OCI manifest."""
    entries = arc.json("manifest.json")
    if not isinstance(entries, list):
        raise BadImageArchive("manifest.json is not a list")
    out = []
    for entry in entries:
        config_digest = arc.blob_for(_norm(entry["Config"]))
        config_size = store.blob_path(config_digest).stat().st_size
        layers = []
        for path in entry.get("Layers", []):
            digest = arc.blob_for(_norm(path))
            with store.open_blob(digest) as f:
                kind = sniff(f.read(4))
            layers.append(
                {
                    "mediaType": MEDIA_TAR + MEDIA_SUFFIX[kind],
                    "digest": digest,
                    "size": store.blob_path(digest).stat().st_size,
                }
            )
        manifest = {
            "schemaVersion": 2,
            "mediaType": MEDIA_OCI_MANIFEST,
            "config": {"mediaType": MEDIA_OCI_CONFIG, "digest": config_digest, "size": config_size},
            "layers": layers,
        }
        digest = store.put_bytes(canonical_json(manifest))
        names = []
        for tag in entry.get("RepoTags") or []:
            try:
                names.append(reference.parse(tag).tagged)
            except reference.BadReference:
                continue
        out.append(_Pending(digest, names))
    return out


def canonical_json(obj: Any) -> bytes:
    return json.dumps(obj, sort_keys=True, separators=(",", ":")).encode()


def load(
    store: ImageStore,
    source: BinaryIO | Path,
    progress: Progress | None = None,
) -> list[Image]:
    """Load every image in `source` (a path to a dir/tar, or an open stream)."""
    with store.writing() as idx:
        if isinstance(source, Path):
            if source.is_dir():
                arc = read_dir(store, source, progress)
            else:
                try:
                    with open(source, "rb") as f:
                        arc = read_tar(store, f, progress)
                except FileNotFoundError:
                    raise EngineError(f"no such file or directory: {source}") from None
        else:
            arc = read_tar(store, source, progress)
        if "index.json" in arc.files:
            pending = _oci_images(store, arc)
        elif "manifest.json" in arc.files:
            pending = _docker_images(store, arc)
        else:
            raise BadImageArchive(
                "not an image archive: no index.json (OCI) or manifest.json (docker-archive)"
            )
        return [_commit(store, idx, p, progress) for p in pending]


def _commit(store: ImageStore, idx: Index, p: _Pending, progress: Progress | None) -> Image:
    manifest = store.read_json_blob(p.manifest)
    if manifest.get("mediaType") in INDEX_TYPES or "manifests" in manifest:
        raise BadImageArchive(f"{p.manifest} is an index, not an image manifest")
    config_digest = manifest["config"]["digest"]
    if not store.has_blob(config_digest):
        raise BadImageArchive(f"the archive lacks the image config {config_digest}")
    layers = []
    for lay in manifest.get("layers", []):
        if not store.has_blob(lay["digest"]):
            raise BadImageArchive(f"the archive lacks the layer {lay['digest']}")
        layers.append((str(lay["digest"]), str(lay.get("mediaType", MEDIA_TAR))))
    chains, _ = store.add_layers(idx, layers, progress=progress)
    return store.commit_image(idx, p.manifest, p.names, chains)
