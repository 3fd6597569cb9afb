"""A container's network helper: `python -m netstack.sidecar` with JSON on stdin.

One per container that needs it (published ports, or its own slirp4netns). It inherits
the host listening sockets the engine already bound, holds slirp4netns' exit pipe,
forwards ports, and exits on SIGTERM or when the container's monitor exits: it waits
for the monitor's status file to name a process started after itself, then for that
process (pidfd). So it cannot outlive the container even if nobody tears it down.
It prints "ok" or "error: ..." once on stdout.
"""

from __future__ import annotations

import contextlib
import json
import os
import resource
import select
import signal
import socket
import sys
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from netstack.forwarder import Forwarder, SocketFactory, Target
from netstack.ports import Listener, PortMapping

MONITOR_WAIT = 120.0  # the monitor starts right after us; give up after this


@dataclass(frozen=True)
class SidecarConfig:
    target_netns: str  # where inner sockets are made (bridge or container namespace)
    target_ip: str  # the container's address in it
    transparent: bool = False
    container_netns: str | None = None  # inner sockets for loopback clients are made here
    listeners: list[dict[str, Any]] = field(default_factory=list)  # PortMapping + "fd"
    slirp_netns: str | None = None  # start slirp4netns for this container namespace
    slirp_host_loopback: bool = False
    slirp_api_socket: str | None = None
    slirp_hostfwd: list[dict[str, Any]] = field(default_factory=list)  # port driver slirp4netns
    watch_pid: int | None = None
    watch_monitor: str | None = None  # monitor.json: {"pid": N, ...}


def _start_time(pid: int) -> int:
    with open(f"/proc/{pid}/stat", "rb") as f:
        return int(f.read().rsplit(b")", 1)[1].split()[19])


def _monitor_pid(path: str, since: int) -> int | None:
    try:
        with open(path, "rb") as f:
            pid = int(json.load(f)["pid"])
        return pid if pid > 0 and _start_time(pid) >= since else None
    except (OSError, ValueError, KeyError, TypeError, IndexError):
        return None


def _wait_pid(pid: int) -> None:
    try:
        fd = os.pidfd_open(pid)
    except ProcessLookupError:
        return
    select.select([fd], [], [])
    os.close(fd)


def _watch(cfg: SidecarConfig, stop_w: int) -> None:
    pid = cfg.watch_pid
    if pid is None and cfg.watch_monitor:
        since = _start_time(os.getpid())
        deadline = time.monotonic() + MONITOR_WAIT
        while pid is None and time.monotonic() < deadline:
            pid = _monitor_pid(cfg.watch_monitor, since)
            if pid is None:
                time.sleep(0.2)
    if pid is not None:
        _wait_pid(pid)
    os.write(stop_w, b"x")


def main() -> None:
    cfg = SidecarConfig(**json.loads(sys.stdin.read()))
    # Each forwarded connection holds 2 sockets and 2 pipes, and connections linger
    # while a busy server finishes; the default soft limit of 1024 ran out under ab -c 16.
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    with contextlib.suppress(ValueError, OSError):
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    stop_r, stop_w = os.pipe2(os.O_CLOEXEC)
    signal.signal(signal.SIGTERM, lambda *_: os.write(stop_w, b"x"))
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    slirp = None
    listeners = []
    for entry in cfg.listeners:
        entry = dict(entry)
        sock = socket.socket(fileno=entry.pop("fd"))
        sock.setblocking(False)
        listeners.append(Listener(PortMapping(**entry), sock))
    try:
        if cfg.slirp_netns:
            from netstack import slirp as slirp_mod

            opts = slirp_mod.SlirpOptions(host_loopback=cfg.slirp_host_loopback)
            slirp = slirp_mod.Slirp.start(cfg.slirp_netns, opts, cfg.slirp_api_socket)
            for f in cfg.slirp_hostfwd:
                slirp.add_hostfwd(f["proto"], f["host_ip"], f["host_port"], f["port"])
        factory = SocketFactory(cfg.target_netns) if listeners else None
        loopback_factory = factory
        if factory and cfg.container_netns and cfg.container_netns != cfg.target_netns:
            loopback_factory = SocketFactory(cfg.container_netns)
    except Exception as e:
        print(f"error: {e}", flush=True)
        if slirp:
            slirp.stop()
        sys.exit(1)
    print("ok", flush=True)
    sys.stdout.close()
    os.dup2(os.open(os.devnull, os.O_WRONLY), 1)
    if cfg.watch_pid or cfg.watch_monitor:  # threads only after the factory's fork
        threading.Thread(target=_watch, args=(cfg, stop_w), daemon=True).start()
    try:
        if factory:
            _forward(cfg, listeners, factory, loopback_factory, stop_r)
        else:
            os.read(stop_r, 1)
    finally:
        if slirp:
            slirp.stop()


def _forward(
    cfg: SidecarConfig,
    listeners: list[Listener],
    factory: SocketFactory,
    loopback_factory: SocketFactory | None,
    stop_r: int,
) -> None:
    fwd = Forwarder(listeners, factory, Target(cfg.target_ip, cfg.transparent), loopback_factory)
    fwd.watch(stop_r)
    fwd.serve()
    fwd.close()
    factory.close()
    if loopback_factory and loopback_factory is not factory:
        loopback_factory.close()


if __name__ == "__main__":
    main()
