"""Pull an image: manifest (list) -> platform manifest -> config + layers -> the store.

Every blob is verified against its digest while it streams into the store; a mismatch
keeps nothing. Layers already in the store are skipped; the image becomes visible only
once all its blobs and unpacked layers are in place (ImageStore.writing()), so an
interrupted pull is cleanly restartable: complete blobs are kept and reused, partial
ones are debris the next command removes.
"""

from __future__ import annotations

import hashlib
import sys
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import IO, Any

from rootless.errors import EngineError
from rootless.images.store import CorruptBlob, Image, ImageStore
from rootless.registry import client as rc
from rootless.registry.config import RegistriesConf
from rootless.registry.errors import ManifestUnknown, RegistryError, UnsupportedMediaType
from rootless.registry.platform import Platform, pick
from rootless.registry.resolve import Target, candidates

LAYER_TYPES = {
    "application/vnd.oci.image.layer.v1.tar",
    "application/vnd.oci.image.layer.v1.tar+gzip",
    "application/vnd.oci.image.layer.v1.tar+zstd",
    "application/vnd.docker.image.rootfs.diff.tar.gzip",
    "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip",
    "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip",
}
MANIFEST_TYPES = (rc.MEDIA_OCI_MANIFEST, rc.MEDIA_DOCKER_MANIFEST)

Progress = Callable[[str, int, int | None], None]  # (digest, bytes so far, total)


@dataclass
class PullOptions:
    platform: Platform
    workers: int = 3
    progress: Progress | None = None


class _Verifying:
    """A file-like view of an HTTP body for ImageStore.put_blob, with progress."""

    def __init__(
        self, chunks: Iterator[bytes], digest: str, total: int | None, progress: Progress | None
    ) -> None:
        self._chunks = chunks
        self._buf = b""
        self._digest = digest
        self._total = total
        self._seen = 0
        self._progress = progress

    def read(self, n: int = -1) -> bytes:
        while n < 0 or len(self._buf) < n:
            try:
                chunk = next(self._chunks)
            except StopIteration:
                break
            self._buf += chunk
            self._seen += len(chunk)
            if self._progress:
                self._progress(self._digest, self._seen, self._total)
        if n < 0:
            out, self._buf = self._buf, b""
        else:
            out, self._buf = self._buf[:n], self._buf[n:]
        return out


def _verify_bytes(data: bytes, digest: str, what: str) -> None:
    algo, _, hexd = digest.partition(":")
    if algo not in ("sha256", "sha512"):
        raise UnsupportedMediaType(f"{what}: unsupported digest algorithm {algo!r}")
    if hashlib.new(algo, data).hexdigest() != hexd:
        raise CorruptBlob(f"{what}: content does not match digest {digest}")


def fetch_manifest(
    client: rc.RegistryClient, repo: str, ref: str, plat: Platform
) -> tuple[bytes, str, str]:
    """The image manifest for `plat` (resolving an index): (bytes, media type, digest)."""
    body, mt = client.get_manifest(repo, ref)
    if ref.startswith("sha256:"):
        _verify_bytes(body, ref, f"manifest {repo}@{ref}")
    doc = _json(body, f"manifest {repo}:{ref}")
    mt = mt or doc.get("mediaType", "")
    if mt in rc.INDEX_TYPES or (not mt and "manifests" in doc):
        chosen = pick(doc.get("manifests", []), plat)
        if chosen is None:
            have = ", ".join(
                "/".join(str(m.get("platform", {}).get(k, "")) for k in ("os", "architecture"))
                for m in doc.get("manifests", [])
            )
            raise ManifestUnknown(f"{repo}:{ref} has no image for {plat} (it has: {have})")
        digest = chosen["digest"]
        body, mt = client.get_manifest(repo, digest)
        _verify_bytes(body, digest, f"manifest {repo}@{digest}")
        doc = _json(body, f"manifest {repo}@{digest}")
        mt = mt or doc.get("mediaType", "")
    if mt not in MANIFEST_TYPES:
        if (
            mt == "application/vnd.docker.distribution.manifest.v1+prettyjws"
            or doc.get("schemaVersion") == 1
        ):
            raise UnsupportedMediaType(
                f"{repo}:{ref} uses the obsolete Docker schema 1 manifest; push it again "
                "with a current tool"
            )
        raise UnsupportedMediaType(f"{repo}:{ref}: unsupported manifest media type {mt!r}")
    return body, mt, "sha256:" + hashlib.sha256(body).hexdigest()


def _json(body: bytes, what: str) -> dict[str, Any]:
    import json

    try:
        doc = json.loads(body)
    except ValueError:
        raise RegistryError(f"{what}: the registry answered with invalid JSON") from None
    if not isinstance(doc, dict):
        raise RegistryError(f"{what}: not a JSON object")
    return doc


def _download(
    client: rc.RegistryClient,
    store: ImageStore,
    repo: str,
    desc: dict[str, Any],
    progress: Progress | None,
    added: list[str],
) -> None:
    digest = desc["digest"]
    if store.has_blob(digest):
        return
    with client.blob_stream(repo, digest) as resp:
        stream: IO[bytes] = _Verifying(resp.iter_bytes(1 << 20), digest, desc.get("size"), progress)  # type: ignore[assignment]
        store.put_blob(stream, expected=digest)
    added.append(digest)


def pull_target(
    store: ImageStore, conf: RegistriesConf, target: Target, opts: PullOptions
) -> Image:
    name = target.ref.name
    errors: list[EngineError] = []
    for endpoint, repo in conf.endpoints(name):
        try:
            with rc.RegistryClient(
                endpoint.host, insecure=endpoint.insecure or conf.is_insecure(endpoint.host)
            ) as client:
                return _pull_from(client, store, repo, target, opts)
        except (ManifestUnknown, CorruptBlob, UnsupportedMediaType):
            raise
        except EngineError as e:  # a mirror failing: try the next endpoint
            errors.append(e)
    raise errors[-1]


def _pull_from(
    client: rc.RegistryClient, store: ImageStore, repo: str, target: Target, opts: PullOptions
) -> Image:
    body, _mt, digest = fetch_manifest(client, repo, target.manifest_ref, opts.platform)
    manifest = _json(body, f"manifest {repo}@{digest}")
    layers = manifest.get("layers") or []
    for layer in layers:
        if layer.get("mediaType") not in LAYER_TYPES:
            raise UnsupportedMediaType(
                f"{repo}: unsupported layer media type {layer.get('mediaType')!r}"
            )
    added: list[str] = []  # blobs this pull brought in: removed again if it fails
    try:
        _download(client, store, repo, manifest["config"], None, added)
        with ThreadPoolExecutor(max_workers=max(1, opts.workers)) as pool:
            futures = [
                pool.submit(_download, client, store, repo, layer, opts.progress, added)
                for layer in layers
            ]
            for f in futures:
                f.result()
        store.put_bytes(body, expected=digest)
        names = [] if target.ref.digest and not target.ref.tag else [target.ref.tagged]
        with store.writing() as idx:
            pairs = [(lay["digest"], lay["mediaType"]) for lay in layers]
            chains, _ = store.add_layers(idx, pairs)
            return store.commit_image(idx, digest, names, chains)
    except BaseException:
        for d in added:
            store.blob_path(d).unlink(missing_ok=True)
        raise


def pull(store: ImageStore, conf: RegistriesConf, text: str, opts: PullOptions) -> Image:
    """Pull `text` (short or qualified), trying search registries in order for short names."""
    targets = candidates(text, conf)
    last: EngineError | None = None
    for t in targets:
        try:
            return pull_target(store, conf, t, opts)
        except ManifestUnknown as e:
            last = e
            if len(targets) > 1:
                print(f"note: {t.ref} not found; trying the next search registry", file=sys.stderr)
        except RegistryError as e:
            last = e
            if len(targets) == 1:
                raise
    assert last is not None
    raise last
