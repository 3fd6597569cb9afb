"""/etc/resolv.conf, /etc/hosts and /etc/hostname for a container.

The engine bind-mounts these files into the container, so updates (connect/disconnect)
rewrite them in place: a rename would leave the container looking at the old inode.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class EtcSpec:
    hostname: str
    nameservers: list[str] = field(default_factory=list)
    search: list[str] = field(default_factory=list)
    options: list[str] = field(default_factory=list)
    own_ips: list[str] = field(default_factory=list)  # this container's addresses
    aliases: list[str] = field(default_factory=list)  # extra names for own_ips
    extra_hosts: list[tuple[str, str]] = field(default_factory=list)  # --add-host name:ip


def host_resolv(path: str = "/etc/resolv.conf") -> tuple[list[str], list[str], list[str]]:
    """The host's nameservers/search/options, without loopback servers that are
    unreachable from a container's namespace."""
    ns: list[str] = []
    search: list[str] = []
    opts: list[str] = []
    try:
        lines = Path(path).read_text().splitlines()
    except OSError:
        return ns, search, opts
    for line in lines:
        words = line.split("#", 1)[0].split()
        if not words:
            continue
        if words[0] == "nameserver" and len(words) > 1:
            if not (words[1].startswith("127.") or words[1] == "::1"):
                ns.append(words[1])
        elif words[0] in ("search", "domain"):
            search = words[1:]
        elif words[0] == "options":
            opts.extend(words[1:])
    return ns, search, opts


def resolv_conf(spec: EtcSpec) -> str:
    out = [f"nameserver {n}" for n in spec.nameservers]
    if spec.search:
        out.append("search " + " ".join(spec.search))
    if spec.options:
        out.append("options " + " ".join(spec.options))
    return "\n".join(out) + "\n"


def hosts(spec: EtcSpec) -> str:
    out = [
        "127.0.0.1\tlocalhost",
        "::1\tlocalhost ip6-localhost ip6-loopback",
    ]
    for name, ip in spec.extra_hosts:
        out.append(f"{ip}\t{name}")
    names = " ".join(dict.fromkeys([spec.hostname, *spec.aliases]))
    if spec.own_ips:
        out.extend(f"{ip}\t{names}" for ip in spec.own_ips)
    else:
        out.append(f"127.0.1.1\t{names}")
    return "\n".join(out) + "\n"


def write_in_place(path: str | os.PathLike[str], text: str) -> None:
    """Rewrite a (possibly bind-mounted) file keeping its inode."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o644)
    try:
        data = text.encode()
        while data:
            data = data[os.write(fd, data) :]
    finally:
        os.close(fd)


def write_all(directory: str | os.PathLike[str], spec: EtcSpec) -> dict[str, str]:
    """Write the three files into `directory`; return {container path: host path}."""
    d = Path(directory)
    d.mkdir(parents=True, exist_ok=True)
    files = {
        "/etc/resolv.conf": (d / "resolv.conf", resolv_conf(spec)),
        "/etc/hosts": (d / "hosts", hosts(spec)),
        "/etc/hostname": (d / "hostname", spec.hostname + "\n"),
    }
    for path, text in files.values():
        write_in_place(path, text)
    return {dest: str(path) for dest, (path, _) in files.items()}


def parse_add_host(value: str) -> tuple[str, str]:
    """`--add-host name:ip` (also `name=ip`, and IPv6 addresses with colons)."""
    import ipaddress

    sep = "=" if "=" in value else ":"
    name, _, ip = value.partition(sep)
    ip = ip.strip("[]")
    try:
        ipaddress.ip_address(ip)
    except ValueError:
        raise ValueError(f"invalid --add-host {value!r}: use NAME:IP") from None
    if not name:
        raise ValueError(f"invalid --add-host {value!r}: use NAME:IP")
    return name, ip
