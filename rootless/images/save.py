"""`rootless save`: docker-archive, oci-archive (tar of an OCI layout) or oci-dir.

Blobs are written as stored, so manifest and config digests survive the round trip.
docker-archive layers must be plain tars named by diff id, so compressed layers are
decompressed on the way out (their size is known from unpacking).
"""

from __future__ import annotations

import io
import json
import os
import shutil
import tarfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any, Literal

from rootless.errors import UsageError
from rootless.images import reference
from rootless.images.compress import decompressed
from rootless.images.load import canonical_json
from rootless.images.store import MEDIA_OCI_INDEX, MEDIA_OCI_MANIFEST, Image, ImageStore

SaveFormat = Literal["docker-archive", "oci-archive", "oci-dir"]
FORMATS: tuple[SaveFormat, ...] = ("docker-archive", "oci-archive", "oci-dir")


def _blobs_of(store: ImageStore, img: Image) -> list[str]:
    manifest = store.read_json_blob(img.digest)
    return [
        img.digest,
        manifest["config"]["digest"],
        *(lay["digest"] for lay in manifest["layers"]),
    ]


def _oci_index(store: ImageStore, images: list[tuple[Image, list[str]]]) -> dict[str, Any]:
    manifests = []
    for img, names in images:
        size = store.blob_path(img.digest).stat().st_size
        mt = store.read_json_blob(img.digest).get("mediaType", MEDIA_OCI_MANIFEST)
        for name in names or [""]:
            desc: dict[str, Any] = {"mediaType": mt, "digest": img.digest, "size": size}
            if name:
                desc["annotations"] = {
                    "org.opencontainers.image.ref.name": name,
                    "io.containerd.image.name": name,
                }
            manifests.append(desc)
    return {"schemaVersion": 2, "mediaType": MEDIA_OCI_INDEX, "manifests": manifests}


def _names_for(img: Image, ref: str) -> list[str]:
    """The names to record: the one the user asked for if it is a name, else all."""
    try:
        wanted = set(reference.lookup_candidates(ref))
    except reference.BadReference:
        wanted = set()
    chosen = [n for n in img.names if n in wanted]
    return chosen or list(img.names)


class _TarWriter:
    def __init__(self, tf: tarfile.TarFile) -> None:
        self.tf = tf
        self.seen: set[str] = set()

    def data(self, name: str, data: bytes) -> None:
        ti = tarfile.TarInfo(name)
        ti.size = len(data)
        ti.mode = 0o644
        self.tf.addfile(ti, io.BytesIO(data))

    def dir(self, name: str) -> None:
        ti = tarfile.TarInfo(name)
        ti.type = tarfile.DIRTYPE
        ti.mode = 0o755
        self.tf.addfile(ti)

    def file(self, name: str, src: Path) -> None:
        if name in self.seen:
            return
        self.seen.add(name)
        ti = tarfile.TarInfo(name)
        ti.size = src.stat().st_size
        ti.mode = 0o644
        with open(src, "rb") as f:
            self.tf.addfile(ti, f)

    def stream(self, name: str, src: IO[bytes], size: int) -> None:
        if name in self.seen:
            return
        self.seen.add(name)
        ti = tarfile.TarInfo(name)
        ti.size = size
        ti.mode = 0o644
        self.tf.addfile(ti, src)


@contextmanager
def _tar_out(output: Path | None) -> Iterator[tarfile.TarFile]:
    """A tar stream to `output` (written beside it, renamed at the end) or stdout."""
    import sys

    if output is None:
        with tarfile.open(fileobj=sys.stdout.buffer, mode="w|") as tf:
            yield tf
        return
    tmp = output.with_name(f".{output.name}.tmp-{os.getpid()}")
    try:
        with open(tmp, "wb") as f, tarfile.open(fileobj=f, mode="w|") as tf:
            yield tf
        os.replace(tmp, output)
    finally:
        tmp.unlink(missing_ok=True)


def save(store: ImageStore, refs: list[str], fmt: SaveFormat, output: Path | None) -> list[Image]:
    if fmt not in FORMATS:
        raise UsageError(f"unknown format {fmt!r}", hint=f"use one of {', '.join(FORMATS)}")
    images = []
    for ref in refs:
        img = store.get(ref)
        images.append((img, _names_for(img, ref)))
    if fmt == "oci-dir":
        if output is None:
            raise UsageError("--format oci-dir needs -o DIR")
        _save_oci_dir(store, images, output)
    elif fmt == "oci-archive":
        with _tar_out(output) as tf:
            w = _TarWriter(tf)
            w.data("oci-layout", b'{"imageLayoutVersion":"1.0.0"}')
            w.dir("blobs")
            w.dir("blobs/sha256")
            for img, _ in images:
                for digest in _blobs_of(store, img):
                    w.file(f"blobs/sha256/{digest[7:]}", store.blob_path(digest))
            w.data("index.json", canonical_json(_oci_index(store, images)))
    else:
        with _tar_out(output) as tf:
            _save_docker(store, images, _TarWriter(tf))
    return [img for img, _ in images]


def _save_oci_dir(store: ImageStore, images: list[tuple[Image, list[str]]], out: Path) -> None:
    if out.exists() and any(out.iterdir()) and not (out / "oci-layout").exists():
        raise UsageError(f"{out} exists and is not an OCI layout; refusing to write into it")
    blobs = out / "blobs" / "sha256"
    blobs.mkdir(parents=True, exist_ok=True)
    for img, _ in images:
        for digest in _blobs_of(store, img):
            dest = blobs / digest[7:]
            if not dest.exists():
                tmp = dest.with_name(dest.name + ".tmp")
                shutil.copyfile(store.blob_path(digest), tmp)
                os.replace(tmp, dest)
    from rootless.fsutil import atomic_write

    atomic_write(out / "oci-layout", b'{"imageLayoutVersion":"1.0.0"}')
    # Merge with images already in the layout (podman/skopeo do the same).
    index = _oci_index(store, images)
    try:
        old = json.loads((out / "index.json").read_text())
        names = {
            (m.get("annotations") or {}).get("org.opencontainers.image.ref.name")
            for m in index["manifests"]
        }
        kept = [
            m
            for m in old.get("manifests", [])
            if (m.get("annotations") or {}).get("org.opencontainers.image.ref.name") not in names
        ]
        index["manifests"] = kept + index["manifests"]
    except (OSError, ValueError):
        pass
    atomic_write(out / "index.json", canonical_json(index))


def _save_docker(store: ImageStore, images: list[tuple[Image, list[str]]], w: _TarWriter) -> None:
    idx = store.read_index()
    entries = []
    repositories: dict[str, dict[str, str]] = {}
    for img, names in images:
        manifest = store.read_json_blob(img.digest)
        cfg_digest = manifest["config"]["digest"]
        w.file(f"{cfg_digest[7:]}.json", store.blob_path(cfg_digest))
        layer_files = []
        for lay, chain in zip(manifest["layers"], img.layers, strict=True):
            rec = idx.layers[chain]
            diff_hex = rec["diff_id"][7:]
            name = f"{diff_hex}.tar"
            with store.open_blob(lay["digest"]) as raw:
                plain, _ = decompressed(raw)
                w.stream(name, plain, int(rec["size"]))
            layer_files.append(name)
        tags = list(names)
        entries.append(
            {"Config": f"{cfg_digest[7:]}.json", "RepoTags": tags, "Layers": layer_files}
        )
        for n in names:
            r = reference.parse(n)
            repositories.setdefault(r.name, {})[r.tag or "latest"] = (
                layer_files[-1][:-4] if layer_files else ""
            )
    w.data("manifest.json", json.dumps(entries).encode())
    w.data("repositories", json.dumps(repositories).encode())
