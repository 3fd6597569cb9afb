"""The builder's seam to the image store: working containers, new layers, the image.

A step that changes files (RUN, COPY, ADD) gets a working container on the current top
layer from the storage driver; its changes become an uncompressed OCI layer tar, stored
as a blob and unpacked as a layer (ImageStore.add_layers), then the container goes.
The image itself is written at the end: config, manifest, and the name index.
"""

from __future__ import annotations

import contextlib
import logging
import os
import posixpath
import secrets
import tempfile
import time
from collections.abc import Iterator
from typing import Any

from rootless.build.cache import LayerRef
from rootless.images.compress import MEDIA_TAR
from rootless.images.store import MEDIA_OCI_CONFIG, MEDIA_OCI_MANIFEST, Image, ImageStore
from rootless.storage.driver import Change

log = logging.getLogger(__name__)


def image_layers(store: ImageStore, image: Image) -> list[LayerRef]:
    idx = store.read_index()
    out = []
    for chain in image.layers:
        rec = idx.layers[chain]
        out.append(LayerRef(chain, rec["diff_id"], rec["blob"], rec["media_type"], rec["size"]))
    return out


def layer_alive(store: ImageStore, layer: LayerRef) -> bool:
    """Is a cached layer still in the store (not pruned since)?"""
    rec = store.read_index().layers.get(layer.chain_id)
    return bool(rec) and store.has_blob(layer.blob) and store.driver.exists(layer.chain_id)


@contextlib.contextmanager
def working_container(store: ImageStore, top: str | None) -> Iterator[tuple[str, str]]:
    """(container id, mounted rootfs) on layer `top`; unmounted and removed afterwards."""
    cid = "build-" + secrets.token_hex(16)
    drv = store.driver
    drv.create_container(cid, top)
    try:
        rootfs = str(drv.mount(cid))
        yield cid, rootfs
    finally:
        drv.remove_container(cid)


def _without_untouched(changes: list[Change], untouched: set[str]) -> list[Change]:
    """Drop copied-up directories in `untouched` that hold no other change."""
    if not untouched:
        return changes
    parents: set[str] = set()
    for ch in changes:
        p = posixpath.dirname(ch.path)
        while p:
            parents.add(p)
            p = posixpath.dirname(p)
    return [
        ch
        for ch in changes
        if not (ch.kind == "modify" and ch.path in untouched and ch.path not in parents)
    ]


def commit_layer(
    store: ImageStore, cid: str, below: list[LayerRef], untouched: set[str] | None = None
) -> LayerRef | None:
    """The container's changes as a new layer on `below`; None when nothing changed.
    `untouched`: directories whose copy-up alone is no change (mount point parents)."""
    from rootless.images.layertar import write_changes

    drv = store.driver
    store.tmp.mkdir(parents=True, exist_ok=True)
    t0 = time.monotonic()
    changes = _without_untouched(list(drv.changes(cid)), untouched or set())
    with tempfile.TemporaryFile(dir=store.tmp) as f:
        if write_changes(changes, f) == 0:
            return None
        t1 = time.monotonic()
        f.seek(0)
        with store.writing() as idx:
            blob, nbytes = store.put_blob(f)
            t2 = time.monotonic()
            chains, diffs = store.add_layers(
                idx, [(x.blob, x.media_type) for x in below] + [(blob, MEDIA_TAR)]
            )
            size = int(idx.layers[chains[-1]].get("size", 0))
    log.debug(
        "layer %s: %d bytes; tar %.2fs, blob %.2fs, unpack %.2fs",
        blob[7:19], nbytes, t1 - t0, t2 - t1, time.monotonic() - t2,
    )  # fmt: skip
    return LayerRef(chains[-1], diffs[-1], blob, MEDIA_TAR, size)


def commit_image(
    store: ImageStore,
    layers: list[LayerRef],
    config: dict[str, Any],
    names: list[str],
) -> Image:
    """Write the OCI config and manifest for `layers` and record the image by `names`.
    `config` is the whole OCI image config; its rootfs is filled in here."""
    from rootless.images.load import canonical_json

    config = dict(config, rootfs={"type": "layers", "diff_ids": [x.diff_id for x in layers]})
    cfg_bytes = canonical_json(config)
    with store.writing() as idx:
        chains, _ = store.add_layers(idx, [(x.blob, x.media_type) for x in layers])
        cfg_digest = store.put_bytes(cfg_bytes)
        manifest = {
            "schemaVersion": 2,
            "mediaType": MEDIA_OCI_MANIFEST,
            "config": {"mediaType": MEDIA_OCI_CONFIG, "digest": cfg_digest, "size": len(cfg_bytes)},
            "layers": [
                {
                    "mediaType": x.media_type,
                    "digest": x.blob,
                    "size": os.stat(store.blob_path(x.blob)).st_size,
                }
                for x in layers
            ],
        }
        mdigest = store.put_bytes(canonical_json(manifest))
        return store.commit_image(idx, mdigest, names, chains)
