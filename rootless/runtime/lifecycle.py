"""The verbs on an existing container: start, state, kill, delete, ps, list.

Status is derived, never stored: the init process alive (same start time) and exec.fifo
present -> created; alive without the fifo -> running; otherwise stopped.
"""

from __future__ import annotations

import os
import time

from rootless.errors import Conflict, EngineError
from rootless.runtime.spec import parse_spec
from rootless.runtime.state import ContainerState, Store, locked, proc_start_time

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

SIGKILL = 9


def parse_signal(text: str) -> int:
    import signal

    t = text.strip().upper()
    if t.isdigit():
        n = int(t)
        if 0 < n < signal.NSIG:
            return n
        raise EngineError(f"invalid signal {text!r}")
    if not t.startswith("SIG"):
        t = "SIG" + t
    sig = getattr(signal.Signals, t, None) if t in signal.Signals.__members__ else None
    if sig is None:
        raise EngineError(f"unknown signal {text!r}")
    return int(sig)


def state(store: Store, cid: str) -> dict[str, Any]:
    st = store.load(cid)
    return st.to_oci(store.status(st))


def start(store: Store, cid: str) -> None:
    lock = locked(store.lock_path(cid)) if os.path.isdir(store.dir(cid)) else -1
    try:
        st = store.load(cid)
        status = store.status(st)
        if status != "created":
            what = "an already running" if status == "running" else "a stopped"
            raise Conflict(f"cannot start {what} container {cid}")
        _release(store, st)
    finally:
        if lock >= 0:
            os.close(lock)
    from rootless.runtime.hooks import run_hooks_warn

    spec = parse_spec(st.config, st.bundle)
    run_hooks_warn("poststart", spec.hooks.get("poststart", []), st.to_oci("running"))


def _release(store: Store, st: ContainerState) -> None:
    """Read exec.fifo: init, blocked opening it for writing, goes on to exec."""
    fifo = store.fifo(st.id)
    fd = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    try:
        while not _read_byte(fd):
            # EOF or nothing yet: init has not reopened the fifo for writing yet.
            if proc_start_time(st.pid) != st.start_time:
                # It may have written, exec'd and exited (a quick `true`) since we read.
                if _read_byte(fd):
                    break
                raise EngineError(f"container {st.id}: init exited before start")
            time.sleep(0.0005)
    finally:
        os.close(fd)
    os.unlink(fifo)


def _read_byte(fd: int) -> bool:
    try:
        return bool(os.read(fd, 1))
    except BlockingIOError:
        return False


def container_pids(st: ContainerState) -> list[int]:
    """Every process of the container: members of its pid namespace (or of its mount
    namespace if it shares ours), plus init's descendants."""
    if proc_start_time(st.pid) != st.start_time:
        return []
    cfg = st.config.get("linux", {}).get("namespaces", [])
    kinds = {n.get("type") for n in cfg}
    ns = "pid" if "pid" in kinds else "mnt"
    try:
        target = os.readlink(f"/proc/{st.pid}/ns/{ns}")
    except OSError:
        target = None
    parents: dict[int, int] = {}
    found = {st.pid}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        pid = int(name)
        try:
            with open(f"/proc/{pid}/stat", "rb") as f:
                data = f.read()
            parents[pid] = int(data[data.rfind(b")") + 2 :].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        if target is not None:
            try:
                if os.readlink(f"/proc/{pid}/ns/{ns}") == target:
                    found.add(pid)
            except OSError:
                pass
    if st.cgroup:
        from rootless.runtime import cgroups

        found.update(cgroups.procs(st.cgroup))
    # Descendants of init catch processes whose namespaces we may not read.
    changed = True
    while changed:
        changed = False
        for pid, ppid in parents.items():
            if ppid in found and pid not in found:
                found.add(pid)
                changed = True
    return sorted(found)


def kill(store: Store, cid: str, sig: int, all_processes: bool = False) -> None:
    st = store.load(cid)
    status = store.status(st)
    if status == "stopped":
        raise Conflict(f"container {cid} is not running")
    targets = container_pids(st) if all_processes else [st.pid]
    for pid in targets:
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            pass  # already gone: what we wanted


def _wait_gone(st: ContainerState, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while proc_start_time(st.pid) == st.start_time:
        if time.monotonic() > deadline:
            raise EngineError(f"container {st.id}: init {st.pid} did not exit after SIGKILL")
        time.sleep(0.002)


def delete(store: Store, cid: str, force: bool = False) -> None:
    lock = locked(store.lock_path(cid)) if os.path.isdir(store.dir(cid)) else -1
    try:
        st = store.load(cid)
        status = store.status(st)
        if status == "running" and not force:
            raise Conflict(f"cannot delete container {cid} that is not stopped: running")
        if status != "stopped":
            for pid in container_pids(st) if status == "running" else [st.pid]:
                try:
                    os.kill(pid, SIGKILL)
                except ProcessLookupError:
                    pass
            _wait_gone(st)
        if st.cgroup:
            from rootless.runtime import cgroups

            cgroups.remove(st.cgroup)
        store.remove(cid)
    finally:
        if lock >= 0:
            os.close(lock)
    from rootless.runtime.hooks import run_hooks_warn

    spec = parse_spec(st.config, st.bundle)
    run_hooks_warn("poststop", spec.hooks.get("poststop", []), st.to_oci("stopped"))


def ps_table(pids: list[int], ps_args: list[str]) -> str:
    """`ps` output (default -ef) limited to the container's pids, as runc ps prints it."""
    import subprocess

    out = subprocess.run(["ps", *(ps_args or ["-ef"])], capture_output=True, text=True, check=False)
    lines = out.stdout.splitlines()
    if not lines:
        raise EngineError(f"ps failed: {out.stderr.strip()}")
    header = lines[0].split()
    if "PID" not in header:
        raise EngineError("ps output has no PID column")
    col = header.index("PID")
    keep = [lines[0]]
    wanted = set(pids)
    for line in lines[1:]:
        fields = line.split()
        if len(fields) > col and fields[col].isdigit() and int(fields[col]) in wanted:
            keep.append(line)
    return "\n".join(keep) + "\n"
