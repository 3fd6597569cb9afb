"""Layer storage drivers behind one interface (see driver.py): overlay, fuse, vfs.

`open_driver(paths, requested)` picks one: the explicit request (--storage-driver,
ROOTLESS_STORAGE_DRIVER, storage.conf's driver), else the driver already holding layers,
else the first that probes usable in the order overlay, fuse, vfs.
Call it inside the engine's user namespace: the probes mount for real.
"""

from __future__ import annotations

import importlib
from pathlib import Path

from rootless.errors import UsageError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from rootless.storage.driver import Driver

# name -> "module:class"; imported only when chosen.
DRIVERS: dict[str, str] = {
    "overlay": "rootless.storage.overlay:OverlayDriver",
    "fuse": "rootless.storage.fuse:FuseDriver",
    "vfs": "rootless.storage.vfs:VfsDriver",
}
AUTO_ORDER = ("overlay", "fuse", "vfs")


def driver_class(name: str) -> type[Driver]:
    target = DRIVERS.get(name)
    if target is None:
        raise UsageError(
            f"unknown storage driver {name!r}", hint=f"choose one of {', '.join(DRIVERS)}"
        )
    mod, attr = target.split(":")
    try:
        cls: type[Driver] = getattr(importlib.import_module(mod), attr)
    except (ImportError, AttributeError) as e:
        raise UsageError(f"storage driver {name!r} is not available: {e}") from e
    return cls


def open_driver(storage_root: Path, requested: str | None = None) -> Driver:
    """The driver for the store at `storage_root` ($data/storage)."""
    if requested:
        cls = driver_class(requested)
        return cls(storage_root / cls.name)
    # A store keeps the driver it was started with: its layers are in that format.
    for name in AUTO_ORDER:
        if (storage_root / name / "layers").is_dir() and any(
            (storage_root / name / "layers").iterdir()
        ):
            try:
                cls = driver_class(name)
            except UsageError:
                continue
            return cls(storage_root / name)
    for name in AUTO_ORDER:
        try:
            cls = driver_class(name)
        except UsageError:
            continue
        if cls.probe(storage_root / name).usable:
            return cls(storage_root / name)
    cls = driver_class("vfs")
    return cls(storage_root / "vfs")
