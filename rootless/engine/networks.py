"""Network records and IPAM: what `network create/ls/inspect/rm/prune` manage.

One JSON file per network under paths.networks, rewritten atomically under one lock
(paths.locks/networks.lock). The address allocations live in the same record (its
`containers` map), so IPAM survives restarts and can never hand out a duplicate:
allocation and the write that records it happen under that lock.

This module only keeps records; plugging containers in (namespaces, veths, daemons)
is network_hook.py's job.
"""

from __future__ import annotations

import contextlib
import hashlib
import ipaddress
import os
import re
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from rootless.errors import Conflict, NotFound, UsageError
from rootless.fsutil import atomic_write_json, locked, read_json
from rootless.paths import Paths

DEFAULT_NETWORK = "bridge"
DEFAULT_SUBNET = "10.88.0.0/16"
AUTO_SUBNETS = "10.89.{}.0/24"  # user-defined networks, as Podman
BUILTIN = ("host", "none")
RESERVED = (*BUILTIN, DEFAULT_NETWORK, "default", "slirp4netns", "container")
SLIRP_CIDR = ipaddress.ip_network("10.0.2.0/24")  # used inside every bridge namespace
_NAME = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9_.-]*$")


@dataclass
class Endpoint:
    container_id: str
    name: str
    ip: str
    mac: str
    ifname: str = "eth0"
    aliases: list[str] = field(default_factory=list)


@dataclass
class Network:
    name: str
    id: str
    subnet: str
    gateway: str
    driver: str = "bridge"
    internal: bool = False
    dns_enabled: bool = True
    labels: dict[str, str] = field(default_factory=dict)
    options: dict[str, str] = field(default_factory=dict)  # -o allow_host_loopback=true
    created: str = ""
    containers: dict[str, Endpoint] = field(default_factory=dict)

    @property
    def prefixlen(self) -> int:
        return ipaddress.ip_network(self.subnet).prefixlen

    @property
    def bridge_name(self) -> str:
        return "rl-" + self.id[:10]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Network:
        d = dict(d)
        d["containers"] = {k: Endpoint(**v) for k, v in d.get("containers", {}).items()}
        known = cls.__dataclass_fields__
        return cls(**{k: v for k, v in d.items() if k in known})

    def inspect(self) -> dict[str, Any]:
        """Docker's `network inspect` shape."""
        return {
            "Name": self.name,
            "Id": self.id,
            "Created": self.created,
            "Scope": "local",
            "Driver": self.driver,
            "EnableIPv6": False,
            "IPAM": {
                "Driver": "default",
                "Options": {},
                "Config": [{"Subnet": self.subnet, "Gateway": self.gateway}] if self.subnet else [],
            },
            "Internal": self.internal,
            "Attachable": False,
            "Ingress": False,
            "ConfigFrom": {"Network": ""},
            "ConfigOnly": False,
            "Containers": {
                cid: {
                    "Name": ep.name,
                    "EndpointID": hashlib.sha256(f"{self.id}{cid}".encode()).hexdigest(),
                    "MacAddress": ep.mac,
                    "IPv4Address": f"{ep.ip}/{self.prefixlen}",
                    "IPv6Address": "",
                }
                for cid, ep in sorted(self.containers.items())
            },
            "Options": {"com.docker.network.bridge.name": self.bridge_name, **self.options}
            if self.driver == "bridge"
            else {},
            "Labels": dict(self.labels),
        }


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def _builtin(name: str) -> Network:
    nid = hashlib.sha256(name.encode()).hexdigest()
    return Network(name=name, id=nid, subnet="", gateway="", driver=name, dns_enabled=False)


def mac_for(ip: str) -> str:
    """Docker's scheme: 02:42 followed by the IPv4 address."""
    return "02:42:" + ":".join(f"{b:02x}" for b in ipaddress.IPv4Address(ip).packed)


class Networks:
    def __init__(self, paths: Paths) -> None:
        self.paths = paths
        self.dir = paths.networks

    # ---- storage -----------------------------------------------------------------
    @contextlib.contextmanager
    def lock(self) -> Iterator[None]:
        with locked(self.paths.locks / "networks.lock"):
            yield

    def _file(self, name: str) -> Path:
        return self.dir / f"{name}.json"

    def _read(self, name: str) -> Network | None:
        try:
            return Network.from_dict(read_json(self._file(name)))
        except FileNotFoundError:
            return None

    def save(self, net: Network) -> None:
        self.dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        atomic_write_json(self._file(net.name), net.to_dict(), 0o600)

    def _stored(self) -> list[Network]:
        if not self.dir.is_dir():
            return []
        out = []
        for p in sorted(self.dir.glob("*.json")):
            with contextlib.suppress(FileNotFoundError, ValueError):
                out.append(Network.from_dict(read_json(p)))
        return out

    def _ensure_default(self) -> Network:
        net = self._read(DEFAULT_NETWORK)
        if net is None:
            net = Network(
                name=DEFAULT_NETWORK,
                id=hashlib.sha256(os.urandom(32)).hexdigest(),
                subnet=DEFAULT_SUBNET,
                gateway=str(ipaddress.ip_network(DEFAULT_SUBNET)[1]),
                dns_enabled=False,  # the default bridge resolves no names, as in Docker
                created=_now(),
            )
            self.save(net)
        return net

    # ---- queries -----------------------------------------------------------------
    def ls(self) -> list[Network]:
        with self.lock():
            self._ensure_default()
            stored = self._stored()
        return stored + [_builtin(n) for n in BUILTIN]

    def get(self, ref: str) -> Network:
        """By name, full id or unique id prefix."""
        if ref in BUILTIN:
            return _builtin(ref)
        with self.lock():
            if ref == DEFAULT_NETWORK:
                return self._ensure_default()
            net = self._read(ref) if _NAME.match(ref) else None
        if net:
            return net
        hits = [n for n in self.ls() if n.id.startswith(ref)] if len(ref) >= 3 else []
        if len(hits) == 1:
            return hits[0]
        if len(hits) > 1:
            raise Conflict(f"network id prefix {ref!r} is ambiguous", hint="give more digits")
        raise NotFound(f"network not found: {ref}", hint="see `rootless network ls`")

    # ---- create / remove -----------------------------------------------------------
    def create(
        self,
        name: str,
        subnet: str | None = None,
        gateway: str | None = None,
        internal: bool = False,
        labels: dict[str, str] | None = None,
        driver: str = "bridge",
        options: dict[str, str] | None = None,
    ) -> Network:
        if driver != "bridge":
            raise UsageError(f"unsupported network driver {driver!r}", hint="use bridge")
        if not _NAME.match(name) or len(name) > 128:
            raise UsageError(
                f"invalid network name {name!r}",
                hint="use letters, digits and _.- (not starting with one of _.-)",
            )
        unknown = set(options or {}) - {"allow_host_loopback", "mtu"}
        if unknown:
            raise UsageError(
                f"unsupported network option {sorted(unknown)[0]!r}",
                hint="supported: -o allow_host_loopback=true, -o mtu=N",
            )
        if name in RESERVED:
            raise Conflict(f"network name {name!r} is reserved")
        with self.lock():
            self._ensure_default()
            existing = self._stored()
            if any(n.name == name for n in existing):
                raise Conflict(f"network with name {name} already exists")
            net_subnet = self._pick_subnet(subnet, existing)
            gw = self._check_gateway(net_subnet, gateway)
            net = Network(
                name=name,
                id=hashlib.sha256(os.urandom(32)).hexdigest(),
                subnet=str(net_subnet),
                gateway=gw,
                internal=internal,
                labels=dict(labels or {}),
                options=dict(options or {}),
                created=_now(),
            )
            self.save(net)
        return net

    @staticmethod
    def _pick_subnet(subnet: str | None, existing: list[Network]) -> ipaddress.IPv4Network:
        used = [ipaddress.ip_network(n.subnet) for n in existing if n.subnet] + [SLIRP_CIDR]
        if subnet:
            try:
                want = ipaddress.ip_network(subnet, strict=False)
            except ValueError:
                raise UsageError(f"invalid subnet {subnet!r}", hint="e.g. 10.90.0.0/24") from None
            if not isinstance(want, ipaddress.IPv4Network):
                raise UsageError("only IPv4 subnets are supported")
            if want.prefixlen > 30:
                raise UsageError(f"subnet {want} is too small", hint="use /30 or larger")
            for u in used:
                if want.overlaps(u):
                    raise Conflict(f"subnet {want} overlaps {u}, already in use")
            return want
        for i in range(256):
            cand = ipaddress.IPv4Network(AUTO_SUBNETS.format(i))
            if not any(cand.overlaps(u) for u in used):
                return cand
        raise Conflict("no free subnet left in 10.89.0.0/16", hint="pass --subnet")

    @staticmethod
    def _check_gateway(subnet: ipaddress.IPv4Network, gateway: str | None) -> str:
        if not gateway:
            return str(subnet[1])
        try:
            gw = ipaddress.IPv4Address(gateway)
        except ValueError:
            raise UsageError(f"invalid gateway {gateway!r}") from None
        if gw not in subnet or gw in (subnet.network_address, subnet.broadcast_address):
            raise UsageError(f"gateway {gw} is not a host address of {subnet}")
        return str(gw)

    def remove(self, ref: str) -> Network:
        net = self.get(ref)
        if net.name in BUILTIN or net.name == DEFAULT_NETWORK:
            raise Conflict(f"{net.name} is a pre-defined network and cannot be removed")
        with self.lock():
            cur = self._read(net.name)
            if cur is None:
                raise NotFound(f"network not found: {ref}")
            if cur.containers:
                names = ", ".join(sorted(ep.name for ep in cur.containers.values()))
                raise Conflict(
                    f"network {net.name} has active endpoints ({names})",
                    hint="disconnect or remove those containers first",
                )
            self._file(net.name).unlink()
        return net

    def prune(self) -> list[str]:
        removed = []
        with self.lock():
            for net in self._stored():
                if net.name != DEFAULT_NETWORK and not net.containers:
                    self._file(net.name).unlink()
                    removed.append(net.name)
        return removed

    # ---- IPAM --------------------------------------------------------------------
    def allocate(
        self,
        ref: str,
        container_id: str,
        name: str,
        ip: str | None = None,
        aliases: list[str] | None = None,
        ifname: str = "eth0",
    ) -> tuple[Network, Endpoint]:
        """Reserve an address for a container on a network (recorded before returning)."""
        target = self.get(ref)
        if target.name in BUILTIN:
            raise UsageError(f"cannot allocate an address on the {target.name} network")
        with self.lock():
            net = self._read(target.name)
            if net is None:
                raise NotFound(f"network not found: {ref}")
            if container_id in net.containers:
                raise Conflict(f"container {name} is already connected to network {net.name}")
            subnet = ipaddress.IPv4Network(net.subnet)
            taken = {ep.ip for ep in net.containers.values()} | {net.gateway}
            if ip:
                try:
                    want = ipaddress.IPv4Address(ip)
                except ValueError:
                    raise UsageError(f"invalid --ip {ip!r}") from None
                if want not in subnet or want in (
                    subnet.network_address,
                    subnet.broadcast_address,
                ):
                    raise UsageError(f"--ip {ip} is not in network {net.name}'s subnet {subnet}")
                if str(want) in taken:
                    raise Conflict(f"address {ip} is already in use on network {net.name}")
                chosen = str(want)
            else:
                chosen = next((str(h) for h in subnet.hosts() if str(h) not in taken), "")
                if not chosen:
                    raise Conflict(f"network {net.name} has no free addresses left")
            ep = Endpoint(container_id, name, chosen, mac_for(chosen), ifname, list(aliases or []))
            net.containers[container_id] = ep
            self.save(net)
        return net, ep

    def release(self, name: str, container_id: str) -> Network | None:
        """Free a container's address on a network; the network afterwards (None: gone)."""
        with self.lock():
            net = self._read(name)
            if net is None:
                return None
            if net.containers.pop(container_id, None) is not None:
                self.save(net)
        return net

    def add_aliases(self, container_id: str, aliases: list[str]) -> list[Network]:
        """Add DNS aliases to a container's endpoints on every network it is on."""
        changed = []
        with self.lock():
            for net in self._stored():
                ep = net.containers.get(container_id)
                if ep is None:
                    continue
                ep.aliases = list(dict.fromkeys([*ep.aliases, *aliases]))
                self.save(net)
                changed.append(net)
        return changed

    def attached(self, container_id: str) -> list[tuple[Network, Endpoint]]:
        with self.lock():
            return [
                (n, n.containers[container_id])
                for n in self._stored()
                if container_id in n.containers
            ]
