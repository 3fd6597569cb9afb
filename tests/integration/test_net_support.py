"""Helpers for the netstack tests: run a test body inside a fresh user (+mount, +net)
namespace, and "containers" that are just processes in a network namespace file.

Each body runs in a forked child that maps our uid to 0 (what the engine's pause
process gives, minus the subuid range), so the pytest process itself stays unprivileged.
"""

from __future__ import annotations

import os
import pickle
import socket
import subprocess
import traceback
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace
from typing import Any

CLONE_NEWNS = 0x00020000
CLONE_NEWUSER = 0x10000000
CLONE_NEWNET = 0x40000000
MS_REC = 16384
MS_PRIVATE = 1 << 18


def in_userns(fn: Callable[..., Any], *args: Any, new_netns: bool = False) -> Any:
    """Run fn(*args) as uid 0 of a new user namespace; return its result or re-raise."""
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    uid, gid = os.getuid(), os.getgid()
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(r)
        try:
            flags = CLONE_NEWUSER | CLONE_NEWNS | (CLONE_NEWNET if new_netns else 0)
            if libc.unshare(flags) != 0:
                raise OSError(ctypes.get_errno(), "unshare")
            for path, data in (
                ("/proc/self/setgroups", "deny"),
                ("/proc/self/uid_map", f"0 {uid} 1"),
                ("/proc/self/gid_map", f"0 {gid} 1"),
            ):
                fd = os.open(path, os.O_WRONLY)
                os.write(fd, data.encode())
                os.close(fd)
            if libc.mount(b"none", b"/", None, MS_REC | MS_PRIVATE, None) != 0:
                raise OSError(ctypes.get_errno(), "make / private")
            if new_netns:
                subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
            out = (True, fn(*args))
        except BaseException as e:
            out = (False, f"{type(e).__name__}: {e}\n{traceback.format_exc()}")
        try:
            data = pickle.dumps(out)
        except Exception as e:
            data = pickle.dumps((False, f"result not picklable: {e}"))
        with os.fdopen(w, "wb") as f:
            f.write(data)
        os._exit(0)
    os.close(w)
    with os.fdopen(r, "rb") as f:
        data = f.read()
    os.waitpid(pid, 0)
    ok, value = pickle.loads(data) if data else (False, "child died without a result")
    if not ok:
        raise AssertionError(value)
    return value


def start_in(netns: str, argv: list[str], **kw: Any) -> subprocess.Popen[Any]:
    """Start a process inside the network namespace at `netns` (a "container")."""
    from netstack import nsutil

    fd = os.open(netns, os.O_RDONLY)
    try:
        return subprocess.Popen(argv, preexec_fn=lambda: nsutil.setns(fd), pass_fds=(fd,), **kw)
    finally:
        os.close(fd)


def run_in(
    netns: str, argv: list[str], timeout: float = 20, etc: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run argv in `netns`; with `etc`, in a private mount namespace that sees those
    files bind-mounted over /etc/... as a container would."""
    from netstack import nsutil

    if etc:
        binds = " && ".join(f"mount --bind {src} {dst}" for dst, src in etc.items())
        argv = ["unshare", "-m", "sh", "-c", f'{binds} && exec "$@"', "sh", *argv]
    return nsutil.run_in(netns, argv, capture_output=True, text=True, timeout=timeout)  # type: ignore[no-any-return]


def stop(*procs: subprocess.Popen[Any]) -> None:
    for p in procs:
        if p.poll() is None:
            p.kill()
        p.wait()


def fake_record(paths: Any, name: str, **spec: Any) -> SimpleNamespace:
    """What network_hook needs from a container record, plus the record file that lets
    the container store resolve its id."""
    cid = os.urandom(32).hex()
    d = Path(paths.containers) / cid
    d.mkdir(parents=True)
    (d / "container.json").write_text("{}")
    from rootless.engine.containers.store import Store

    Store(paths).claim_name(name, cid)  # so `container:NAME` and connect find it
    fields = {"network": "bridge", "publish": [], "hostname": None}
    fields.update(spec)
    return SimpleNamespace(id=cid, name=name, spec=SimpleNamespace(**fields), image_config={})


def engine_paths(tmp: Path) -> Any:
    from rootless.paths import Paths

    return Paths(data=tmp / "data", config=tmp / "config", runtime=tmp / "run")


def free_port(family: int = socket.AF_INET) -> int:
    with socket.socket(family) as s:
        s.bind(("127.0.0.1" if family == socket.AF_INET else "::1", 0))
        return int(s.getsockname()[1])


def http_get(url: str, timeout: float = 10, **kw: Any) -> str:
    p = subprocess.run(
        ["curl", "-sS", "-g", "--max-time", str(timeout), url, *kw.get("extra", [])],
        capture_output=True,
        text=True,
    )
    return p.stdout if p.returncode == 0 else f"curl failed ({p.returncode}): {p.stderr.strip()}"


def test_in_userns_maps_us_to_root() -> None:
    assert in_userns(os.getuid) == 0
