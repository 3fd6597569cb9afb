"""The image store: content-addressed blobs, a name index, layers shared by chain id.

On disk ($data/storage):

    blobs/sha256/<hex>     manifests, configs, compressed layers; verified on the way in
    blobs/.tmp/            blobs being written (debris of a killed command is removed
                           by the next writer)
    images.json            {"images": {id: record}, "layers": {chain id: record}}
    storage.lock           flock held by every writer for the whole operation
    <driver>/layers/...    unpacked layers (rootless.storage.driver)

Crash safety: blobs and layers are written under temporary names and renamed into place;
an image becomes visible only when images.json is atomically rewritten, after all its
blobs and layers exist. So a killed load leaves at most unreferenced blobs/layers (reused
by the next load, removed by `image prune`) and staging debris (removed by the next
writer), never an image that lists but does not resolve.

Image.layers are chain ids, bottom-first (base layer first), as in the OCI config's
rootfs.diff_ids.
"""

from __future__ import annotations

import contextlib
import json
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from rootless.errors import Conflict, EngineError, NotFound
from rootless.fsutil import atomic_write_json, locked, read_json
from rootless.images import reference
from rootless.paths import Paths
from rootless.storage.driver import Driver

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import IO, Any, BinaryIO

MEDIA_OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
MEDIA_OCI_INDEX = "application/vnd.oci.image.index.v1+json"
MEDIA_OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
MEDIA_DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"


class CorruptBlob(EngineError):
    """A blob's content does not match its digest."""


@dataclass
class Image:
    """An image in the store: its id, manifest digest, names and OCI config."""

    id: str  # hex of the config digest (like Docker/Podman image ids)
    digest: str  # manifest digest "sha256:..."
    names: list[str]  # full name:tag forms, e.g. docker.io/library/busybox:latest
    config: dict[str, Any]  # the OCI image config (architecture, os, config, rootfs, history)
    layers: list[str]  # chain ids, bottom-first
    manifest_digest: str = ""
    created: str = ""
    size: int = 0  # sum of uncompressed layer sizes
    added: float = 0.0

    @property
    def top_layer(self) -> str | None:
        return self.layers[-1] if self.layers else None

    def to_record(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "digest": self.digest,
            "names": self.names,
            "layers": self.layers,
            "created": self.created,
            "size": self.size,
            "added": self.added,
        }


@dataclass
class LayerRecord:
    """A stored layer, keyed by its chain id."""

    chain_id: str
    diff_id: str  # sha256 of the uncompressed tar
    parent: str | None
    blob: str  # digest of the stored (maybe compressed) blob
    media_type: str
    size: int  # uncompressed size

    def to_record(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass
class Index:
    """The store's index of images and layers, as read from and written to disk."""

    images: dict[str, dict[str, Any]] = field(default_factory=dict)
    layers: dict[str, dict[str, Any]] = field(default_factory=dict)
    collect: bool = False  # set by writers: collect garbage after the index is written


def chain_ids(diff_ids: list[str]) -> list[str]:
    """OCI ChainID of each layer stack, as hex, bottom-first."""
    import hashlib  # lazily: libcrypto costs `run` 5-30 ms, and it never hashes

    out: list[str] = []
    prev = ""
    for d in diff_ids:
        prev = d if not prev else "sha256:" + hashlib.sha256(f"{prev} {d}".encode()).hexdigest()
        out.append(prev.removeprefix("sha256:"))
        prev = "sha256:" + out[-1]
    return out


# Callbacks that report which image ids are in use (by containers): image id -> short
# descriptions of the users (container names). rootless.engine.images registers one that
# reads the container records; rmi and prune consult them (only when the store was
# opened with the engine's Paths).
InUseHook = Callable[[Paths], dict[str, list[str]]]
_IN_USE_HOOKS: list[InUseHook] = []


def register_in_use(hook: InUseHook) -> None:
    if hook not in _IN_USE_HOOKS:
        _IN_USE_HOOKS.append(hook)


class ImageStore:
    def __init__(self, where: Paths | Path, driver: Driver | None = None) -> None:
        """`where`: the engine's Paths (store at paths.storage) or the storage dir itself.
        Without `driver`, one is opened on first use (ROOTLESS_STORAGE_DRIVER or auto)."""
        storage_root = where if isinstance(where, Path) else where.storage
        self.paths: Paths | None = None if isinstance(where, Path) else where
        self.root = storage_root
        self.blobs = storage_root / "blobs" / "sha256"
        self.tmp = storage_root / "blobs" / ".tmp"
        self.index_path = storage_root / "images.json"
        self.lock_path = storage_root / "storage.lock"
        self._driver = driver

    @property
    def driver(self) -> Driver:
        if self._driver is None:
            from rootless.storage import open_driver

            self._driver = open_driver(self.root, os.environ.get("ROOTLESS_STORAGE_DRIVER"))
        return self._driver

    # ---- index ----
    def read_index(self) -> Index:
        try:
            raw = read_json(self.index_path)
        except FileNotFoundError:
            return Index()
        return Index(raw.get("images", {}), raw.get("layers", {}))

    def _write_index(self, idx: Index) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        atomic_write_json(self.index_path, {"images": idx.images, "layers": idx.layers})

    @contextlib.contextmanager
    def writing(self) -> Iterator[Index]:
        """Exclusive lock, debris cleanup, then the index to modify; written on success."""
        self.root.mkdir(parents=True, exist_ok=True)
        with locked(self.lock_path):
            self.cleanup_debris()
            idx = self.read_index()
            before = json.dumps([idx.images, idx.layers], sort_keys=True)
            yield idx
            if json.dumps([idx.images, idx.layers], sort_keys=True) != before:
                self._write_index(idx)
            # Garbage goes only after the index stopped referring to it: a kill between
            # the two leaves unreferenced files (collected later), never a dangling image.
            if idx.collect:
                self._gc_layers(idx)
                self._gc_blobs(idx)

    def cleanup_debris(self) -> list[str]:
        """Remove what interrupted commands left half-written. Call under the lock."""
        removed = []
        if self.tmp.is_dir():
            for p in self.tmp.iterdir():
                # put_blob may run outside the lock (pull streams blobs first): keep the
                # temp files of processes that are still alive ("<pid>-<ns>").
                if _writer_alive(p.name):
                    continue
                p.unlink(missing_ok=True)
                removed.append(str(p))
        if self._driver is not None:
            removed += self._driver.cleanup_debris()
        return removed

    # ---- blobs ----
    def blob_path(self, digest: str) -> Path:
        algo, _, hexd = digest.partition(":")
        if algo != "sha256" or len(hexd) != 64:
            raise EngineError(f"unsupported digest {digest!r}")
        return self.blobs / hexd

    def has_blob(self, digest: str) -> bool:
        return self.blob_path(digest).is_file()

    def put_blob(self, src: IO[bytes], expected: str | None = None) -> tuple[str, int]:
        """Copy a stream into the store, verifying `expected`; returns (digest, size)."""
        self.tmp.mkdir(parents=True, exist_ok=True)
        self.blobs.mkdir(parents=True, exist_ok=True)
        import hashlib

        sha = hashlib.sha256()
        size = 0
        tmp = self.tmp / f"{os.getpid()}-{time.monotonic_ns()}"
        try:
            with open(tmp, "wb") as out:
                while chunk := src.read(1 << 20):
                    sha.update(chunk)
                    out.write(chunk)
                    size += len(chunk)
            digest = "sha256:" + sha.hexdigest()
            if expected and expected != digest:
                raise CorruptBlob(f"blob {expected} has digest {digest}: corrupt or tampered")
            os.chmod(tmp, 0o444)
            os.replace(tmp, self.blob_path(digest))
        finally:
            tmp.unlink(missing_ok=True)
        return digest, size

    def put_bytes(self, data: bytes, expected: str | None = None) -> str:
        import io

        return self.put_blob(io.BytesIO(data), expected)[0]

    def read_blob(self, digest: str) -> bytes:
        try:
            return self.blob_path(digest).read_bytes()
        except FileNotFoundError:
            raise NotFound(f"blob {digest} is missing from the store") from None

    def open_blob(self, digest: str) -> BinaryIO:
        try:
            return open(self.blob_path(digest), "rb")
        except FileNotFoundError:
            raise NotFound(f"blob {digest} is missing from the store") from None

    def read_json_blob(self, digest: str) -> dict[str, Any]:
        obj = json.loads(self.read_blob(digest))
        if not isinstance(obj, dict):
            raise CorruptBlob(f"blob {digest} is not a JSON object")
        return obj

    # ---- images ----
    def _image(self, rec: dict[str, Any]) -> Image:
        manifest = self.read_json_blob(rec["digest"])
        config = self.read_json_blob(manifest["config"]["digest"])
        return Image(
            id=rec["id"],
            digest=rec["digest"],
            names=list(rec.get("names", [])),
            config=config,
            layers=list(rec.get("layers", [])),
            manifest_digest=rec["digest"],
            created=rec.get("created", config.get("created", "")),
            size=int(rec.get("size", 0)),
            added=float(rec.get("added", 0)),
        )

    def images(self) -> list[Image]:
        idx = self.read_index()
        return [self._image(r) for r in idx.images.values()]

    def resolve_id(self, ref: str, idx: Index | None = None) -> str:
        """The id of the image `ref` names: name[:tag], name@digest, id or id prefix."""
        idx = idx or self.read_index()
        r = ref.removeprefix("sha256:")
        if r in idx.images:
            return r
        if "@" in ref:
            parsed = reference.parse(ref)
            for iid, rec in idx.images.items():
                if rec["digest"] == parsed.digest or f"sha256:{iid}" == parsed.digest:
                    return iid
            raise NotFound(f"image not known: {ref}")
        try:
            candidates = reference.lookup_candidates(ref)
        except reference.BadReference:
            if not reference.is_id_prefix(ref):
                raise
            candidates = []
        for cand in candidates:
            for iid, rec in idx.images.items():
                if cand in rec.get("names", []):
                    return iid
        if candidates and reference.names_short(ref):
            hits = sorted(
                {
                    iid
                    for iid, rec in idx.images.items()
                    if any(reference.short_match(ref, n) for n in rec.get("names", []))
                }
            )
            if len(hits) == 1:
                return hits[0]
            if len(hits) > 1:
                raise Conflict(
                    f"short name {ref!r} matches several images",
                    hint="give the full name (registry/repository:tag)",
                )
        if reference.is_id_prefix(ref):
            hits = [iid for iid in idx.images if iid.startswith(r)]
            if len(hits) == 1:
                return hits[0]
            if len(hits) > 1:
                raise Conflict(f"image id prefix {ref!r} is ambiguous", hint="give more digits")
        raise NotFound(f"image not known: {ref}")

    def get(self, ref: str) -> Image:
        idx = self.read_index()
        return self._image(idx.images[self.resolve_id(ref, idx)])

    def exists(self, ref: str) -> bool:
        try:
            self.resolve_id(ref)
        except NotFound:
            return False
        return True

    def in_use(self) -> dict[str, list[str]]:
        users: dict[str, list[str]] = {}
        if self.paths is None:
            return users
        for hook in _IN_USE_HOOKS:
            for iid, who in hook(self.paths).items():
                users.setdefault(iid, []).extend(who)
        return users

    # ---- adding images ----
    def add_layers(
        self,
        idx: Index,
        layers: list[tuple[str, str]],
        progress: Callable[[str, int], None] | None = None,
    ) -> tuple[list[str], list[str]]:
        """Make sure the layers (blob digest, media type), bottom-first, are unpacked;
        returns (chain ids, diff ids). Call inside writing()."""
        from rootless.images.unpack import unpack

        chains: list[str] = []
        diffs: list[str] = []
        parent: str | None = None
        for blob, media_type in layers:
            rec = next((r for r in idx.layers.values() if r["blob"] == blob
                        and r.get("parent") == parent), None)  # fmt: skip
            if rec and self.driver.exists(rec["chain_id"]):
                chains.append(rec["chain_id"])
                diffs.append(rec["diff_id"])
                parent = rec["chain_id"]
                continue
            # Unpack under a provisional id, then commit under the real chain id.
            provisional = "unpack-" + blob.removeprefix("sha256:")[:32] + f"-{os.getpid()}"
            dest = self.driver.create_layer(provisional, parent)
            with self.open_blob(blob) as f:
                lowers = self.driver.lower_dirs_for(parent)
                result = unpack(f, dest, self.driver.whiteouts, lowers=lowers)
            _report_notes(result.notes)
            diffs.append(result.diff_id)
            if parent:
                chain = chain_ids([f"sha256:{parent}", result.diff_id])[-1]
            else:
                chain = result.diff_id.removeprefix("sha256:")
            staging = self.driver.layers / f".tmp-{provisional}"
            final_staging = self.driver.layers / f".tmp-{chain}"
            if final_staging.exists():
                from rootless.storage.driver import remove_tree

                remove_tree(final_staging)
            os.rename(staging, final_staging)
            self.driver.commit_layer(chain)
            idx.layers[chain] = LayerRecord(
                chain, result.diff_id, parent, blob, media_type, result.size
            ).to_record()
            chains.append(chain)
            parent = chain
            if progress:
                progress(f"unpacked {blob[7:19]}", result.size)
        return chains, diffs

    def commit_image(
        self, idx: Index, manifest_digest: str, names: list[str], chains: list[str]
    ) -> Image:
        """Record an image whose blobs and layers are all in place. Inside writing()."""
        manifest = self.read_json_blob(manifest_digest)
        config_digest = manifest["config"]["digest"]
        config = self.read_json_blob(config_digest)
        want = config.get("rootfs", {}).get("diff_ids", [])
        have = [idx.layers[c]["diff_id"] for c in chains]
        if want != have:
            raise CorruptBlob(
                f"image {config_digest[7:19]}: layer contents do not match the config's diff_ids"
            )
        iid = config_digest.removeprefix("sha256:")
        for name in names:  # a name moves to the new image
            for rec in idx.images.values():
                if name in rec["names"] and rec["id"] != iid:
                    rec["names"].remove(name)
        old = idx.images.get(iid, {})
        merged = list(dict.fromkeys([*old.get("names", []), *names]))
        img = Image(
            id=iid,
            digest=manifest_digest,
            names=merged,
            config=config,
            layers=chains,
            manifest_digest=manifest_digest,
            created=str(config.get("created", "")),
            size=sum(int(idx.layers[c].get("size", 0)) for c in chains),
            added=old.get("added", time.time()),
        )
        idx.images[iid] = img.to_record()
        return img

    # ---- names ----
    def tag(self, ref: str, new_name: str) -> str:
        full = reference.parse(new_name)
        if full.digest:
            raise reference.BadReference(f"cannot tag with a digest: {new_name}")
        with self.writing() as idx:
            iid = self.resolve_id(ref, idx)
            for rec in idx.images.values():
                if full.tagged in rec["names"] and rec["id"] != iid:
                    rec["names"].remove(full.tagged)
            if full.tagged not in idx.images[iid]["names"]:
                idx.images[iid]["names"].append(full.tagged)
        return full.tagged

    def remove(self, ref: str, force: bool = False) -> tuple[str, list[str]]:
        """rmi: untag `ref` if the image has other names and ref is a name, else delete the
        image. Returns (what happened: "untagged"/"deleted", names/ids affected)."""
        with self.writing() as idx:
            iid = self.resolve_id(ref, idx)
            rec = idx.images[iid]
            name = self._matching_name(ref, rec)
            if name and len(rec["names"]) > 1:
                rec["names"].remove(name)
                return "untagged", [name]
            users = self.in_use().get(iid, [])
            if users and not force:
                raise Conflict(
                    f"image {iid[:12]} is in use by container(s) {', '.join(users)}",
                    hint="remove the containers first or use -f",
                )
            del idx.images[iid]
            self._drop_layer_records(idx)
            idx.collect = True
            return "deleted", [iid]

    def _matching_name(self, ref: str, rec: dict[str, Any]) -> str | None:
        with contextlib.suppress(reference.BadReference):
            for cand in reference.lookup_candidates(ref):
                if cand in rec["names"]:
                    return cand
        return None

    def prune(self, all_unused: bool = False) -> list[str]:
        """Remove dangling (untagged) images — or every image no container uses — then
        unreferenced layers and blobs."""
        removed = []
        with self.writing() as idx:
            users = self.in_use()
            for iid in list(idx.images):
                rec = idx.images[iid]
                if iid in users:
                    continue
                if all_unused or not rec["names"]:
                    del idx.images[iid]
                    removed.append(iid)
            self._drop_layer_records(idx)
            idx.collect = True
        return removed

    # ---- garbage collection ----
    def _referenced_layers(self, idx: Index) -> set[str]:
        refs = {c for rec in idx.images.values() for c in rec["layers"]}
        if self._driver is not None and self._driver.containers.is_dir():
            for cdir in self._driver.containers.iterdir():
                top = self._driver.container_layer(cdir.name)
                if top:
                    with contextlib.suppress(NotFound):
                        refs.update(self._driver.chain(top))
        return refs

    def _drop_layer_records(self, idx: Index) -> None:
        refs = self._referenced_layers(idx)
        for chain in list(idx.layers):
            if chain not in refs:
                del idx.layers[chain]

    def _gc_layers(self, idx: Index) -> None:
        """Remove layer dirs nothing refers to (after the index was written)."""
        refs = self._referenced_layers(idx)
        if self._driver is not None:
            # Children before parents is not required: each layer dir is self-contained.
            for chain in self._driver.layer_ids():
                if chain not in refs:
                    self._driver.remove_layer(chain)

    def _gc_blobs(self, idx: Index) -> None:
        keep: set[str] = set()
        for rec in idx.images.values():
            keep.add(rec["digest"].removeprefix("sha256:"))
            with contextlib.suppress(NotFound, CorruptBlob, KeyError):
                manifest = self.read_json_blob(rec["digest"])
                keep.add(manifest["config"]["digest"].removeprefix("sha256:"))
                keep.update(lay["digest"].removeprefix("sha256:") for lay in manifest["layers"])
        keep.update(r["blob"].removeprefix("sha256:") for r in idx.layers.values())
        if self.blobs.is_dir():
            for p in self.blobs.iterdir():
                if p.name not in keep:
                    p.unlink(missing_ok=True)

    # ---- consistency ----
    def check(self, verify_blobs: bool = False) -> list[str]:
        """Problems found (empty = consistent): every listed image resolves fully."""
        problems = []
        idx = self.read_index()
        for iid, rec in idx.images.items():
            try:
                manifest = self.read_json_blob(rec["digest"])
                cfg_digest = manifest["config"]["digest"]
                config = self.read_json_blob(cfg_digest)
                if cfg_digest.removeprefix("sha256:") != iid:
                    problems.append(f"image {iid[:12]}: config digest {cfg_digest} != id")
                diff_ids = config.get("rootfs", {}).get("diff_ids", [])
                if chain_ids(diff_ids) != rec["layers"]:
                    problems.append(f"image {iid[:12]}: layer chain does not match its config")
                for lay in manifest["layers"]:
                    if not self.has_blob(lay["digest"]):
                        problems.append(f"image {iid[:12]}: layer blob {lay['digest']} missing")
                for chain in rec["layers"]:
                    if chain not in idx.layers:
                        problems.append(f"image {iid[:12]}: layer {chain[:12]} has no record")
                    elif self._driver is not None and not self._driver.exists(chain):
                        problems.append(f"image {iid[:12]}: layer {chain[:12]} not unpacked")
            except (NotFound, CorruptBlob, KeyError, ValueError) as e:
                problems.append(f"image {iid[:12]}: {e}")
        if verify_blobs and self.blobs.is_dir():
            import hashlib

            for p in self.blobs.iterdir():
                with open(p, "rb") as f:
                    if hashlib.file_digest(f, "sha256").hexdigest() != p.name:
                        problems.append(f"blob {p.name[:12]} is corrupt")
        for d in (self.tmp,):
            if d.is_dir() and any(d.iterdir()):
                problems.append(f"debris in {d} (removed by the next writing command)")
        return problems

    def ensure_layers(self, image: Image) -> None:
        """Unpack any of the image's layers missing from the current driver (e.g. after
        switching --storage-driver): blobs are kept, so layers can be rebuilt."""
        if all(self.driver.exists(c) for c in image.layers):
            return
        with self.writing() as idx:
            rec = idx.images[image.id]
            layers = [(str(idx.layers[c]["blob"]), str(idx.layers[c]["media_type"]))
                      for c in rec["layers"]]  # fmt: skip
            chains, _ = self.add_layers(idx, layers)
            if chains != rec["layers"]:
                raise CorruptBlob(f"image {image.id[:12]}: layers unpack to different ids")

    def copy_blob_to(self, digest: str, dest: Path) -> None:
        import shutil

        shutil.copyfile(self.blob_path(digest), dest)


def _writer_alive(name: str) -> bool:
    pid = name.split("-", 1)[0]
    if not pid.isdigit() or int(pid) == os.getpid():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _report_notes(notes: list[str]) -> None:
    """One line per kind of note: device nodes are common in base images."""
    import logging

    devices = [n for n in notes if n.startswith("skipped device node")]
    if devices:
        logging.getLogger("rootless.images").info(
            "skipped %d device node(s) (cannot exist in a user namespace), e.g. %s",
            len(devices),
            devices[0].rsplit(" ", 1)[-1],
        )
    for n in [n for n in notes if not n.startswith("skipped device node")][:5]:
        logging.getLogger("rootless.images").warning("%s", n)
