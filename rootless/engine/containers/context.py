"""What every container verb needs: paths, the store, the runtime; inside the userns."""

from __future__ import annotations

from dataclasses import dataclass

from rootless.engine.containers.ociruntime import Runtime
from rootless.engine.containers.record import MonitorStatus, Record
from rootless.engine.containers.state import ContainerState
from rootless.engine.containers.status import live_state
from rootless.engine.containers.store import Store
from rootless.paths import Paths

TYPE_CHECKING = False
if TYPE_CHECKING:
    from rootless.userns.info import UsernsInfo


@dataclass
class Ctx:
    """The engine as a container verb sees it, after joining the user namespace."""

    paths: Paths
    store: Store
    host_uid: int = 0  # our uid outside the user namespace (for --userns keep-id)
    host_gid: int = 0

    def runtime(self, rec: Record) -> Runtime:
        return Runtime.for_paths(self.paths, rec.runtime)

    def state(self, rec: Record) -> tuple[ContainerState, MonitorStatus | None]:
        return live_state(self.store.dir(rec.id), rec)


def open_ctx(paths: Paths) -> Ctx:
    """Join the engine's user namespace (single-threaded, before anything else)."""
    from rootless.paths import ensure_dirs
    from rootless.userns import enter

    ensure_dirs(paths)
    return ctx_in_userns(paths, enter(paths))


def ctx_in_userns(paths: Paths, info: UsernsInfo) -> Ctx:
    """The context once this process joined the user namespace `info` describes."""
    uid = next((out for inside, out, _ in info.uid_map if inside == 0), 0)
    gid = next((out for inside, out, _ in info.gid_map if inside == 0), 0)
    return Ctx(paths, Store(paths), uid, gid)
