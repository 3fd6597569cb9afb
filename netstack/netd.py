"""The per-network daemon: `python -m netstack.netd` with a JSON config on stdin.

It lives as long as the network has containers attached: it configures the bridge
namespace, holds slirp4netns' exit pipe (so slirp4netns dies with it, whatever kills
it), and serves the network's DNS names. It prints "ok" (or "error: ...") once on
stdout when ready. SIGTERM stops it; the namespace file is removed on the way out.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import sys
from dataclasses import dataclass

from netstack import nsutil


@dataclass(frozen=True)
class NetdConfig:
    netns: str
    bridge: str
    subnet: str
    gateway: str
    mtu: int = 65520
    internal: bool = False
    dns_records: str | None = None  # records file: serve names on gateway:53
    host_loopback: bool = False  # slirp4netns may reach the host's 127.0.0.1 as 10.0.2.2
    api_socket: str | None = None


def main() -> None:
    cfg = NetdConfig(**json.loads(sys.stdin.read()))
    stop_r, stop_w = os.pipe2(os.O_CLOEXEC)
    signal.signal(signal.SIGTERM, lambda *_: os.write(stop_w, b"x"))
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # a ^C to the CLI must not end the network
    slirp = None
    try:
        from netstack import bridge
        from netstack import slirp as slirp_mod
        from netstack.dns import Records, Responder

        if not nsutil.is_netns(cfg.netns):
            nsutil.create(cfg.netns)
        spec = bridge.BridgeSpec(
            cfg.netns, cfg.bridge, cfg.subnet, cfg.gateway, cfg.mtu, cfg.internal
        )
        bridge.setup_bridge(spec)
        if not cfg.internal:
            opts = slirp_mod.SlirpOptions(host_loopback=cfg.host_loopback)
            slirp = slirp_mod.Slirp.start(cfg.netns, opts, api_socket=cfg.api_socket)
        responder = None
        if cfg.dns_records:
            sock = nsutil.call_in(cfg.netns, lambda: _dns_socket(cfg.gateway))
            upstream = None if cfg.internal else slirp_mod.SLIRP_DNS
            responder = Responder(sock, Records(cfg.dns_records), upstream)
    except Exception as e:
        print(f"error: {e}", flush=True)
        if slirp:
            slirp.stop()
        nsutil.remove(cfg.netns)
        sys.exit(1)
    print("ok", flush=True)
    sys.stdout.close()
    os.dup2(os.open(os.devnull, os.O_WRONLY), 1)
    try:
        if responder:
            responder.serve(stop_r)
        else:
            os.read(stop_r, 1)
    finally:
        if slirp:
            slirp.stop()
        nsutil.remove(cfg.netns)


def _dns_socket(gateway: str) -> socket.socket:
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)
    s.bind((gateway, 53))
    return s


if __name__ == "__main__":
    main()
