"""The containers service's seam to images and storage.

find_image() resolves a reference to an image (id, config, top layer), pulling it when
allowed; create/mount/unmount/remove manage the container's root filesystem through the
storage driver it was created with.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from rootless.errors import NotFound
from rootless.paths import Paths

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


@dataclass
class ImageInfo:
    """The image a container is created from: id, name, config, top layer."""

    id: str
    name: str
    config: dict[str, Any] = field(default_factory=dict)  # the OCI config's "config"
    top_layer: str | None = None


def find_image(paths: Paths, ref: str, pull: str = "missing") -> ImageInfo:
    from rootless.engine.images import store as image_store

    store = image_store(paths)  # the configured driver (flag, env, storage.conf)
    img: Any = None
    if pull != "always":
        try:
            img = store.get(ref)
        except NotFound:
            img = None
    if img is None:
        if pull == "never":
            raise NotFound(
                f"image {ref} not found locally", hint="pull it first or drop --pull=never"
            )
        img = _pull(paths, ref)
    store.ensure_layers(img)
    cfg = img.config.get("config", {}) if isinstance(img.config, dict) else {}
    return ImageInfo(id=img.id, name=ref, config=cfg or {}, top_layer=img.top_layer)


def _pull(paths: Paths, ref: str) -> Any:
    """Pull through the registry service (`run --pull missing|always`)."""
    from rootless.engine.registry import pull
    from rootless.errors import EngineError

    try:
        return pull(paths, ref, quiet=True)
    except EngineError as e:
        raise NotFound(f"image {ref} not found locally and pulling it failed: {e.line()}") from None


def driver(paths: Paths, name: str | None = None) -> Any:
    """The storage driver by name (a container keeps the one it was created with)."""
    from rootless.engine.images import configured_driver
    from rootless.storage import open_driver

    return open_driver(paths.storage, name or configured_driver(paths))


def create(paths: Paths, cid: str, image: ImageInfo, userns: str | None = None) -> str:
    """Prepare the container's writable rootfs; returns the storage driver's name.
    With --userns nomap it is an ID-shifted copy of the image (rootless.storage.idshift):
    a cost paid once, here, proportional to the image's size."""
    drv = driver(paths)
    drv.create_container(cid, image.top_layer)
    if userns == "nomap":
        from rootless.engine.bundle import NOMAP_ID_OFFSET  # its mapping's offset

        try:
            drv.shift_ids(cid, NOMAP_ID_OFFSET)
        except BaseException:
            drv.remove_container(cid)
            raise
    return str(drv.name)


def mount(paths: Paths, cid: str, driver_name: str, *, discard: bool = False) -> str:
    """discard: the upper dir is thrown away when the container stops (--rm), so the
    overlay driver may skip syncing it (`volatile`): no flush at unmount."""
    drv = driver(paths, driver_name)
    if discard and drv.name == "overlay":
        return str(drv.mount(cid, volatile=True))
    return str(drv.mount(cid))


def unmount(paths: Paths, cid: str, driver_name: str) -> None:
    if driver_name:
        driver(paths, driver_name).unmount(cid)


def remove(paths: Paths, cid: str, driver_name: str) -> None:
    if driver_name:
        driver(paths, driver_name).remove_container(cid)
