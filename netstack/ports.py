"""`-p [ip:][hostPort:]containerPort[/tcp|udp]` specs and the host listening sockets.

Listeners are bound by the engine process itself, before the container starts, so a
busy port is one clear error and nothing has been created yet. The bound sockets are
then inherited by the forwarder process.
"""

from __future__ import annotations

import errno
import ipaddress
import socket
from dataclasses import dataclass, replace


class PortSpecError(ValueError):
    pass


class PortInUse(OSError):
    pass


@dataclass(frozen=True)
class PortMapping:
    container_port: int
    host_port: int = 0  # 0: the kernel picks one (-P, or `-p 80`)
    host_ip: str = ""  # "": every address, IPv4 and IPv6
    proto: str = "tcp"

    def describe(self) -> str:
        ip = self.host_ip or "0.0.0.0"
        ip = f"[{ip}]" if ":" in ip else ip
        return f"{self.container_port}/{self.proto} -> {ip}:{self.host_port}"


def _port(text: str, what: str) -> int:
    try:
        n = int(text)
    except ValueError:
        raise PortSpecError(f"invalid {what} {text!r}: not a number") from None
    if not 0 < n < 65536:
        raise PortSpecError(f"invalid {what} {n}: must be 1-65535")
    return n


def _range(text: str, what: str) -> list[int]:
    lo, sep, hi = text.partition("-")
    a = _port(lo, what)
    b = _port(hi, what) if sep else a
    if b < a:
        raise PortSpecError(f"invalid {what} range {text!r}")
    return list(range(a, b + 1))


def parse(spec: str) -> list[PortMapping]:
    """Parse one -p value into one mapping per port of its range."""
    body, _, proto = spec.partition("/")
    proto = (proto or "tcp").lower()
    if proto not in ("tcp", "udp"):
        raise PortSpecError(f"invalid protocol {proto!r} in {spec!r}: use tcp or udp")
    host_ip = ""
    if body.startswith("["):  # [::1]:8080:80
        end = body.find("]")
        if end < 0:
            raise PortSpecError(f"invalid port spec {spec!r}: unclosed [")
        host_ip, body = body[1:end], body[end + 1 :].lstrip(":")
    parts = body.split(":")
    if len(parts) == 3:
        host_ip, host, cont = parts[0] or host_ip, parts[1], parts[2]
    elif len(parts) == 2:
        host, cont = parts
    elif len(parts) == 1:
        host, cont = "", parts[0]
    else:
        raise PortSpecError(f"invalid port spec {spec!r}: use [ip:][hostPort:]containerPort")
    if host_ip:
        try:
            ipaddress.ip_address(host_ip)
        except ValueError:
            raise PortSpecError(f"invalid host address {host_ip!r} in {spec!r}") from None
    cports = _range(cont, "container port")
    hports = _range(host, "host port") if host else [0] * len(cports)
    if len(hports) != len(cports):
        if len(cports) == 1:  # -p 8000-8010:80: docker picks one free host port
            raise PortSpecError(f"{spec!r}: a host port range needs an equal container range")
        raise PortSpecError(f"{spec!r}: host and container ranges differ in length")
    return [PortMapping(c, h, host_ip, proto) for h, c in zip(hports, cports, strict=True)]


def _bind(family: int, proto: str, ip: str, port: int) -> socket.socket:
    kind = socket.SOCK_STREAM if proto == "tcp" else socket.SOCK_DGRAM
    s = socket.socket(family, kind | socket.SOCK_CLOEXEC)
    try:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if family == socket.AF_INET6:
            s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        s.bind((ip, port))
        if kind == socket.SOCK_STREAM:
            s.listen(1024)
        s.setblocking(False)
    except BaseException:
        s.close()
        raise
    return s


@dataclass
class Listener:
    mapping: PortMapping  # host_port is the bound port
    sock: socket.socket


def open_listeners(mappings: list[PortMapping]) -> list[Listener]:
    """Bind every mapping on the host now; all or nothing."""
    out: list[Listener] = []
    try:
        for m in mappings:
            out.extend(_open_one(m))
    except BaseException:
        for lst in out:
            lst.sock.close()
        raise
    return out


def _open_one(m: PortMapping) -> list[Listener]:
    def bind(family: int, ip: str, port: int) -> socket.socket:
        try:
            return _bind(family, m.proto, ip, port)
        except OSError as e:
            if e.errno == errno.EADDRINUSE:
                shown = f"[{ip}]" if ":" in ip else ip
                raise PortInUse(
                    e.errno, f"port {shown}:{port}/{m.proto} is already in use on the host"
                ) from None
            raise

    if m.host_ip:
        fam = socket.AF_INET6 if ":" in m.host_ip else socket.AF_INET
        s = bind(fam, m.host_ip, m.host_port)
        return [Listener(replace(m, host_port=s.getsockname()[1]), s)]
    # Every address: IPv4 and, where the host has IPv6, IPv6 on the same port.
    s4 = bind(socket.AF_INET, "0.0.0.0", m.host_port)
    port = s4.getsockname()[1]
    out = [Listener(replace(m, host_port=port, host_ip="0.0.0.0"), s4)]
    try:
        s6 = bind(socket.AF_INET6, "::", port)
    except PortInUse:
        s4.close()
        raise
    except OSError as e:  # no IPv6 on this host
        if e.errno not in (errno.EAFNOSUPPORT, errno.EADDRNOTAVAIL):
            s4.close()
            raise
    else:
        out.append(Listener(replace(m, host_port=port, host_ip="::"), s6))
    return out


def is_loopback(ip: str) -> bool:
    """127/8 (also IPv4-mapped) or ::1, for addresses as the kernel reports them: string
    tests, since this runs for every forwarded connection (ipaddress took ~10 us)."""
    ip = ip.removeprefix("::ffff:")
    return ip.startswith("127.") or ip == "::1"
