"""What `run` and `create` do once their flags are parsed, click-free: the click
commands (cli/run.py) and the fast path (cli/fastparse.py) both end here."""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, NoReturn

    from rootless.paths import Paths


@dataclass
class GlobalOpts:
    """The `rootless` group's options (flag, else environment variable)."""

    root: str | None = None
    runroot: str | None = None
    config_dir: str | None = None
    cgroup_limits: str | None = None
    storage_driver: str | None = None
    log_level: str = "warning"

    def apply(self) -> None:
        """What the group's callback does besides remembering the paths."""
        if self.storage_driver:  # every layer of the engine reads it from the environment
            os.environ["ROOTLESS_STORAGE_DRIVER"] = self.storage_driver
        if self.log_level != "warning":  # logging costs start-up time; only when asked
            import logging

            logging.basicConfig(level=self.log_level.upper(), format="%(levelname)s: %(message)s")

    def paths(self) -> Paths:
        from rootless.paths import resolve

        return resolve(self.root, self.runroot, self.config_dir)


def run_command(opts: GlobalOpts, kw: dict[str, Any]) -> None:
    """`rootless run`: returns when detached, else exits with the container's code."""
    from rootless.cli.runflags import build_spec
    from rootless.engine.cgroups_hook import check_spec
    from rootless.paths import ensure_dirs
    from rootless.userns import enter

    spec = build_spec(kw)  # bad flags fail here, before anything is started
    paths = opts.paths()
    check_spec(spec, opts.cgroup_limits, paths.config)  # cgroups: warn, or fail (require)
    ensure_dirs(paths)
    userns = enter(paths)
    from rootless.engine.containers.prestart import prestart

    # The monitor's interpreter starts now, in the user namespace, so its start-up (and
    # its import of our runtime) overlaps the engine's imports below and the create/
    # mount/bundle work (this machine has more than one core).
    pending = prestart()
    try:
        from rootless.engine.containers.context import ctx_in_userns
        from rootless.engine.containers.run import run as run_container

        ectx = ctx_in_userns(paths, userns)
    except BaseException:
        pending.cancel()
        raise
    rec, code = run_container(ectx, spec, pending=pending, on_attach=collect_garbage_again)
    if code is None:
        if spec.detach:
            print(rec.id, flush=True)
        return
    exit_now(code)


def create_command(opts: GlobalOpts, kw: dict[str, Any]) -> None:
    """`rootless create`: prints the new container's id."""
    from rootless.cli.runflags import build_spec
    from rootless.engine.cgroups_hook import check_spec
    from rootless.engine.containers.context import open_ctx

    spec = build_spec(kw)
    paths = opts.paths()
    check_spec(spec, opts.cgroup_limits, paths.config)  # cgroups: warn, or fail (require)
    ectx = open_ctx(paths)
    from rootless.engine.containers.create import create as create_container

    rec = create_container(ectx, spec)
    print(rec.id, flush=True)


def collect_garbage_again() -> None:
    """main() turned the cyclic GC off for the start-up (imports and create allocate a
    lot and free little: 5-15 ms of collections for nothing). The container runs now and
    the CLI may relay its I/O for hours: collect again, without ever rescanning the
    start-up's objects (they live until exit anyway)."""
    import gc

    gc.freeze()
    gc.enable()


def exit_now(code: int) -> NoReturn:
    """The container is gone and the output written: skip the interpreter's teardown
    (freeing every module of the engine costs tens of ms on a busy machine)."""
    from rootless import codecache

    codecache.save()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            pass
    os._exit(code)
