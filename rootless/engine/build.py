"""The build service: what `rootless build` (and compose's build:) call.

Joins the engine's user namespace first (layers keep their owners; the overlay driver
mounts), then runs the builder on the image store.
"""

from __future__ import annotations

import os
from pathlib import Path

from rootless.build.builder import BuildOptions
from rootless.errors import UsageError
from rootless.images.store import Image
from rootless.paths import Paths


def parse_build_args(items: list[str], environ: dict[str, str] | None = None) -> dict[str, str]:
    """`--build-arg K=V`; a bare `K` takes K from our environment (dropped if unset)."""
    env = os.environ if environ is None else environ
    out: dict[str, str] = {}
    for item in items:
        key, eq, value = item.partition("=")
        if not key:
            raise UsageError(f"invalid --build-arg {item!r}", hint="use --build-arg NAME=VALUE")
        if eq:
            out[key] = value
        elif key in env:
            out[key] = env[key]
    return out


def parse_labels(items: list[str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in items:
        key, _, value = item.partition("=")
        if not key:
            raise UsageError(f"invalid --label {item!r}", hint="use --label KEY=VALUE")
        out[key] = value
    return out


def build(paths: Paths, opts: BuildOptions) -> Image:
    from rootless.build.builder import Builder
    from rootless.engine.images import store

    if not Path(opts.context).is_dir():
        raise UsageError(f"build context {opts.context} is not a directory")
    s = store(paths)  # joins the user namespace
    return Builder(paths, s, opts).build()
