"""Where things live: data, config and runtime directories.

Precedence for each: the global CLI flag (--root/--runroot/--config-dir), then the
environment (ROOTLESS_ROOT, ROOTLESS_RUNROOT, ROOTLESS_CONFIG_DIR), then platformdirs.
The runtime dir falls back to /tmp/rootless-runtime-UID (0700, owned by us) when
XDG_RUNTIME_DIR is unset or unusable, as in ssh/su sessions without logind.
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass
from pathlib import Path

APP = "rootless"


@dataclass(frozen=True)
class Paths:
    """The engine's three directory trees."""

    data: Path  # images, layers, containers, volumes
    config: Path  # registries.conf, auth, engine config
    runtime: Path  # pause pid, sockets, locks (tmpfs, per boot)
    runtime_fallback: bool = False  # True when XDG_RUNTIME_DIR was missing

    @property
    def storage(self) -> Path:
        return self.data / "storage"

    @property
    def containers(self) -> Path:
        return self.data / "containers"

    @property
    def volumes(self) -> Path:
        return self.data / "volumes"

    @property
    def networks(self) -> Path:
        return self.data / "networks"

    @property
    def locks(self) -> Path:
        return self.runtime / "locks"


def _xdg_runtime_dir() -> tuple[Path, bool]:
    uid = os.getuid()
    xdg = os.environ.get("XDG_RUNTIME_DIR")
    if xdg:
        p = Path(xdg)
        try:
            st = p.stat()
            if st.st_uid == uid and stat.S_ISDIR(st.st_mode) and os.access(p, os.W_OK):
                return p / APP, False
        except OSError:
            pass
    return Path(f"/tmp/{APP}-runtime-{uid}"), True


def _platform_dir(kind: str) -> str:
    import platformdirs  # only when neither a flag nor the environment names the dir

    return str(getattr(platformdirs, kind)(APP))


def resolve(
    root: str | os.PathLike[str] | None = None,
    runroot: str | os.PathLike[str] | None = None,
    config_dir: str | os.PathLike[str] | None = None,
) -> Paths:
    data = root or os.environ.get("ROOTLESS_ROOT") or _platform_dir("user_data_dir")
    config = config_dir or os.environ.get("ROOTLESS_CONFIG_DIR") or _platform_dir("user_config_dir")
    fallback = False
    run = runroot or os.environ.get("ROOTLESS_RUNROOT")
    if not run:
        run_path, fallback = _xdg_runtime_dir()
    else:
        run_path = Path(run)
    return Paths(
        data=Path(data).absolute(),
        config=Path(config).absolute(),
        runtime=run_path.absolute(),
        runtime_fallback=fallback,
    )


def ensure_private_dir(path: Path) -> Path:
    """Create `path` (and parents) and make sure it is ours and 0700.

    A runtime dir under /tmp could be pre-created by another user to hijack our
    sockets; refuse one we do not own.
    """
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    st = path.lstat()
    if st.st_uid != os.getuid() or not stat.S_ISDIR(st.st_mode):
        from rootless.errors import EngineError

        raise EngineError(
            f"{path} is not a directory owned by uid {os.getuid()}",
            hint="remove it or set XDG_RUNTIME_DIR / --runroot to a private directory",
        )
    if stat.S_IMODE(st.st_mode) & 0o077:
        os.chmod(path, 0o700)
    return path


def ensure_dirs(paths: Paths) -> Paths:
    for d in (paths.data, paths.config):
        d.mkdir(parents=True, exist_ok=True, mode=0o700)
    ensure_private_dir(paths.runtime)
    return paths
