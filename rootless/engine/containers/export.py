"""export: a container's whole filesystem as a tar stream (what `import` reads back).

Read from inside the user namespace, so files keep the owners the container sees
(subuid-owned files are readable there); symlinks are stored, never followed.
"""

from __future__ import annotations

import os
import tarfile
from typing import BinaryIO

from rootless.engine.containers.context import Ctx
from rootless.engine.containers.cp import _container_root


def _clean(info: tarfile.TarInfo) -> tarfile.TarInfo | None:
    # Overlay whiteouts (0/0 char devices) never appear in a merged view; other device
    # nodes are kept as entries, like docker export.
    info.uname = info.gname = ""
    return info


def export(ctx: Ctx, ref: str, out: BinaryIO) -> None:
    rec = ctx.store.load(ctx.store.resolve(ref))
    with (
        _container_root(ctx, rec) as root,
        tarfile.open(fileobj=out, mode="w|", format=tarfile.PAX_FORMAT) as tf,
    ):
        for name in sorted(os.listdir(root)):
            tf.add(os.path.join(root, name), arcname=name, recursive=True, filter=_clean)
