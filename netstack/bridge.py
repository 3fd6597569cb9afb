"""A network's bridge namespace and the veth pairs that plug containers into it.

Layout for one network (all inside the engine's user namespace):

    bridge netns:  lo, br (gateway address), tap0 (slirp4netns, default route),
                   nft masquerade for the subnet, TPROXY-style policy routing so
                   sockets bound to foreign (client) addresses get their replies
    container ns:  lo, ethN (veth peer, address from IPAM, default route via gateway)

Links, addresses and routes are set with `ip -batch` run inside the namespace rather
than pyroute2: its import alone costs 110-360 ms on these machines, which every
`rootless run` on a bridge network would pay; two short `ip` processes take ~6 ms.
"""

from __future__ import annotations

import contextlib
import ipaddress
import os
from dataclasses import dataclass

from netstack import nsutil

TPROXY_MARK = 1
TPROXY_TABLE = 100


@dataclass(frozen=True)
class BridgeSpec:
    netns: str  # path of the bridge namespace file
    bridge: str  # interface name of the bridge inside it
    subnet: str  # e.g. "10.88.0.0/16"
    gateway: str  # e.g. "10.88.0.1"
    mtu: int = 65520
    internal: bool = False  # no outbound traffic: no NAT, no slirp4netns


@dataclass(frozen=True)
class Endpoint:
    """One container's interface on one network."""

    netns: str  # the container's namespace file
    ifname: str  # name inside the container, e.g. eth0
    host_ifname: str  # the veth end on the bridge
    ip: str
    prefixlen: int
    mac: str
    gateway: str
    default_route: bool = True


class NetworkSetupError(OSError):
    pass


def setup_bridge(spec: BridgeSpec) -> None:
    """Configure a fresh bridge namespace."""
    net = ipaddress.ip_network(spec.subnet, strict=False)
    table, mark = str(TPROXY_TABLE), str(TPROXY_MARK)
    _ip(
        spec.netns,
        [
            "link set lo up",
            f"link add {spec.bridge} mtu {spec.mtu} type bridge",
            # A fixed address: by default a bridge takes the lowest of its ports', so it
            # changes as containers come and go and peers' ARP entries go stale.
            f"link set {spec.bridge} address {stable_mac(spec.gateway)} up",
            f"addr add {spec.gateway}/{net.prefixlen} dev {spec.bridge}",
            # Replies to sockets bound to foreign addresses (the real client address of
            # forwarded connections) carry the nft mark and are delivered locally
            # instead of being routed away.
            f"rule add fwmark {mark} lookup {table} priority 100",
            f"route add local 0.0.0.0/0 dev lo table {table}",
        ],
    )
    nsutil.call_in(spec.netns, lambda: nsutil.write_sysctl("net.ipv4.ip_forward", "1"))
    _nft(spec, _ruleset(spec, str(net)))


def _ip(netns: str, commands: list[str]) -> None:
    """Run `ip -batch` inside a namespace: one short process (~3 ms) instead of
    importing pyroute2 (110-360 ms seen) into every `rootless run`."""
    p = nsutil.run_in(
        netns,
        ["ip", "-batch", "-"],
        input="\n".join(commands) + "\n",
        capture_output=True,
        text=True,
    )
    if p.returncode != 0:
        raise NetworkSetupError(f"ip: {p.stderr.strip() or p.stdout.strip()}")


def _ruleset(spec: BridgeSpec, subnet: str) -> str:
    br, gw = spec.bridge, spec.gateway
    rules = [
        "table ip rootless {",
        # Traffic between containers and the gateway (forwarded connections from
        # loopback clients, DNS) needs no NAT: keep it out of conntrack.
        "  chain raw_pre { type filter hook prerouting priority raw; policy accept;",
        f'    iifname "{br}" ip daddr {gw} notrack',
        "  }",
        "  chain raw_out { type filter hook output priority raw; policy accept;",
        f'    oifname "{br}" ip saddr {gw} notrack',
        "  }",
        # Only replies to foreign (client) addresses can belong to a transparent
        # socket; the address test comes first so other packets skip the socket lookup.
        "  chain pre { type filter hook prerouting priority mangle; policy accept;",
        f'    iifname "{br}" ip daddr != {gw} socket transparent 1 meta mark set {TPROXY_MARK}',
        "  }",
    ]
    if not spec.internal:
        rules += [
            "  chain post { type nat hook postrouting priority srcnat; policy accept;",
            f'    ip saddr {subnet} oifname != "{br}" masquerade',
            "  }",
        ]
    else:
        # Nothing leaves an internal network, not even towards the bridge namespace's
        # other interfaces.
        rules += [
            "  chain leave { type filter hook forward priority filter; policy accept;",
            f'    iifname "{br}" oifname != "{br}" drop',
            "  }",
        ]
    rules.append("}")
    return "flush ruleset\n" + "\n".join(rules) + "\n"


def _nft(spec: BridgeSpec, ruleset: str) -> None:
    try:
        p = nsutil.run_in(
            spec.netns, ["nft", "-f", "-"], input=ruleset, capture_output=True, text=True
        )
    except FileNotFoundError as e:
        raise NetworkSetupError("nft not found: install nftables") from e
    if p.returncode != 0:
        raise NetworkSetupError(f"nft in bridge namespace: {p.stderr.strip()}")


def attach(spec: BridgeSpec, ep: Endpoint) -> None:
    """Create a veth pair: one end on the bridge, the other as ep.ifname in ep.netns."""
    tmp = "rlp" + os.urandom(4).hex()
    detach(spec, ep)  # a pair left over by a crash
    container = [
        "link set lo up",
        f"link set {tmp} name {ep.ifname} address {ep.mac}",
        f"addr add {ep.ip}/{ep.prefixlen} dev {ep.ifname}",
        f"link set {ep.ifname} up",
    ]
    if ep.default_route and not spec.internal:
        container.append(f"route replace default via {ep.gateway}")
    try:
        _ip(
            spec.netns,
            [
                f"link add {ep.host_ifname} mtu {spec.mtu} type veth"
                f" peer name {tmp} mtu {spec.mtu} netns {ep.netns}",
                f"link set {ep.host_ifname} master {spec.bridge} up",
            ],
        )
        _ip(ep.netns, container)
        nsutil.call_in(ep.netns, allow_ping)
    except Exception:
        detach(spec, ep)
        raise


def detach(spec: BridgeSpec, ep: Endpoint) -> None:
    """Delete the veth pair (deleting one end removes both). Idempotent."""
    if not nsutil.is_netns(spec.netns):
        return
    p = nsutil.run_in(
        spec.netns, ["ip", "link", "del", ep.host_ifname], capture_output=True, text=True
    )
    if p.returncode != 0 and "Cannot find device" not in p.stderr:
        raise NetworkSetupError(f"ip link del {ep.host_ifname}: {p.stderr.strip()}")


def allow_ping() -> None:
    """Let every mapped group use ICMP datagram sockets in this thread's namespace."""
    lo, hi = nsutil.mapped_gid_range()
    with contextlib.suppress(OSError):
        nsutil.write_sysctl("net.ipv4.ping_group_range", f"{lo} {hi}")


def setup_loopback_only(netns: str) -> None:
    """`--network none`: just lo up, by two ioctls (no pyroute2, no `ip` process)."""
    nsutil.call_in(netns, nsutil.loopback_up)


def stable_mac(ip: str) -> str:
    """Docker's scheme: 02:42 followed by the IPv4 address."""
    octets = ipaddress.IPv4Address(ip).packed
    return "02:42:" + ":".join(f"{b:02x}" for b in octets)


def check_output(netns: str, argv: list[str]) -> str:
    return str(nsutil.run_in(netns, argv, capture_output=True, text=True, check=True).stdout)
