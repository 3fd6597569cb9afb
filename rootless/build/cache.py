"""The layer cache: which layer a step produced, keyed the way Docker keys it.

A step's key is sha256 over the key of the state before it (which chains the base
image id and every earlier instruction, including the layers they produced), the
expanded instruction, the build args it can see, and for COPY/ADD a checksum of the
source contents. A hit reuses the recorded layer; after a miss the new layer's diff id
enters the chain, so every later step misses too ("rebuilds from there on").

The index lives in $data/build/cache.json (atomic rewrite under a lock). Entries whose
layer was pruned from the store count as misses.
"""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from rootless.fsutil import atomic_write_json, locked, read_json


@dataclass(frozen=True)
class LayerRef:
    """A layer in the image store, as an image manifest and config need it."""

    chain_id: str
    diff_id: str
    blob: str
    media_type: str
    size: int


# A step that changed nothing: cached too, so an unchanged rebuild never reruns it.
NO_LAYER = LayerRef("", "", "", "", 0)


def step_key(parent: str, *parts: str) -> str:
    h = hashlib.sha256(parent.encode())
    for p in parts:
        h.update(b"\0")
        h.update(p.encode("utf-8", "surrogateescape"))
    return h.hexdigest()


class BuildCache:
    def __init__(self, directory: Path) -> None:
        self.dir = directory
        self.path = directory / "cache.json"
        self.lock = directory / "cache.lock"

    def _read(self) -> dict[str, dict[str, Any]]:
        try:
            data = read_json(self.path)
        except (FileNotFoundError, ValueError):
            return {"layers": {}, "images": {}}
        if not isinstance(data, dict):
            return {"layers": {}, "images": {}}
        data.setdefault("layers", {})
        data.setdefault("images", {})
        return data

    def _update(self, section: str, key: str, value: Any) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        with locked(self.lock):
            data = self._read()
            data[section][key] = value
            atomic_write_json(self.path, data, 0o600)

    def get(self, key: str) -> LayerRef | None:
        rec = self._read()["layers"].get(key)
        if not isinstance(rec, dict):
            return None
        try:
            return LayerRef(**rec)
        except TypeError:
            return None

    def put(self, key: str, layer: LayerRef) -> None:
        self._update("layers", key, asdict(layer))

    def get_image(self, key: str) -> str | None:
        """The image a fully cached build committed last time (same id again)."""
        value = self._read()["images"].get(key)
        return value if isinstance(value, str) else None

    def put_image(self, key: str, image_id: str) -> None:
        self._update("images", key, image_id)
