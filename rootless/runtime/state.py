"""Container state on disk: one directory per container under the runtime's --root.

ROOT/ID/state.json   what `state` reports, plus what later verbs need
ROOT/ID/exec.fifo    exists while the container is "created": init blocks opening
                     it for writing until `start` reads it (as runc does)
ROOT/ID/lock         flock serialising verbs on one container
"""

from __future__ import annotations

import errno
import os
import time

from rootless.errors import Conflict, EngineError, NotFound
from rootless.runtime import jsonlite
from rootless.runtime.spec import Record
from rootless.syscalls import proc_start_time as proc_start_time  # the runtime's users

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

OCI_VERSION = "1.0.2"
_ID_EXTRA = set("_+-.")


class ContainerState(Record):
    __slots__ = (
        "annotations",
        "bundle",
        "cgroup",
        "config",
        "created",
        "id",
        "owner",
        "pid",
        "rootfs",
        "start_time",
    )

    def __init__(
        self,
        id: str,
        pid: int,
        bundle: str,
        rootfs: str,
        created: str,
        start_time: int,  # /proc/PID/stat field 22: guards against pid reuse
        annotations: dict[str, str] | None = None,
        config: dict[str, Any] | None = None,  # the bundle's config.json
        owner: str = "",
        cgroup: str | None = None,  # our cgroup v2 directory, when we made one
    ) -> None:
        self.id = id
        self.pid = pid
        self.bundle = bundle
        self.rootfs = rootfs
        self.created = created
        self.start_time = start_time
        self.annotations = annotations or {}
        self.config = config or {}
        self.owner = owner
        self.cgroup = cgroup

    def to_oci(self, status: str) -> dict[str, Any]:
        """The state object of the OCI runtime spec (plus runc's `created` and `owner`)."""
        out: dict[str, Any] = {
            "ociVersion": OCI_VERSION,
            "id": self.id,
            "pid": self.pid if status != "stopped" else 0,
            "status": status,
            "bundle": self.bundle,
            "rootfs": self.rootfs,
            "created": self.created,
            "owner": self.owner,
        }
        if self.annotations:
            out["annotations"] = self.annotations
        return out


def now_rfc3339() -> str:
    ns = time.time_ns()
    secs, frac = divmod(ns, 1_000_000_000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(secs)) + f".{frac:09d}Z"


def validate_id(cid: str) -> None:
    ok = all(c.isascii() and (c.isalnum() or c in _ID_EXTRA) for c in cid)
    if not cid or not ok or cid in (".", ".."):
        raise EngineError(f"invalid container id {cid!r}: use letters, digits, '_', '-', '+', '.'")


def write_atomic(path: str, data: bytes, mode: int = 0o644) -> None:
    """Readers see the old file or the new one (temp file + rename).

    Not rootless.fsutil.atomic_write: its tempfile import and fsyncs cost ~10 ms per
    container, and this state is volatile (it lives under XDG_RUNTIME_DIR, a tmpfs, and
    describes processes that do not survive a reboot), as runc's does.
    """
    tmp = f"{path}.{os.getpid()}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, mode)
    try:
        os.write(fd, data)
    finally:
        os.close(fd)
    try:
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise


def locked(path: str) -> int:
    """An exclusive flock on `path`, held until the returned fd is closed (or we exit)."""
    import fcntl

    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    fcntl.flock(fd, fcntl.LOCK_EX)
    return fd


class Store:
    def __init__(self, root: str) -> None:
        self.root = root

    def dir(self, cid: str) -> str:
        validate_id(cid)
        return os.path.join(self.root, cid)

    def fifo(self, cid: str) -> str:
        return os.path.join(self.dir(cid), "exec.fifo")

    def lock_path(self, cid: str) -> str:
        return os.path.join(self.dir(cid), "lock")

    def reserve(self, cid: str) -> str:
        """Create the container's directory; fail if the id is taken."""
        os.makedirs(self.root, mode=0o700, exist_ok=True)
        st = os.lstat(self.root)
        if st.st_uid != os.geteuid():
            # e.g. a directory someone else made in /tmp for us to use
            raise EngineError(f"state directory {self.root} is not owned by us")
        d = self.dir(cid)
        try:
            os.mkdir(d, 0o700)
        except FileExistsError:
            raise Conflict(f"container with id {cid} already exists") from None
        return d

    def save(self, st: ContainerState) -> None:
        data = jsonlite.dumps(st.to_dict()).encode()
        write_atomic(os.path.join(self.dir(st.id), "state.json"), data, 0o600)

    def load(self, cid: str) -> ContainerState:
        path = os.path.join(self.dir(cid), "state.json")
        try:
            data = jsonlite.load_file(path)
        except FileNotFoundError:
            raise NotFound(f"container {cid} does not exist") from None
        except (OSError, ValueError) as e:
            raise EngineError(f"container {cid}: unreadable state: {e}") from None
        return ContainerState(**data)

    def status(self, st: ContainerState) -> str:
        if proc_start_time(st.pid) != st.start_time:
            return "stopped"
        return "created" if os.path.exists(self.fifo(st.id)) else "running"

    def remove(self, cid: str) -> None:
        """The state dir holds only flat files (state.json, lock, exec.fifo, temp files)."""
        d = self.dir(cid)
        try:
            names = os.listdir(d)
        except FileNotFoundError:
            return
        for name in names:
            try:
                os.unlink(os.path.join(d, name))
            except FileNotFoundError:
                pass
        try:
            os.rmdir(d)
        except OSError:
            import shutil

            shutil.rmtree(d, ignore_errors=True)

    def list(self) -> list[str]:
        try:
            names = sorted(os.listdir(self.root))
        except OSError as e:
            if e.errno == errno.ENOENT:
                return []
            raise
        return [n for n in names if os.path.exists(os.path.join(self.root, n, "state.json"))]
