"""Short-syntax volume (`SRC:DST[:OPTS]`) and port (`[IP:][HOST:]CTR[/PROTO]`) strings.

Both become the long syntax the rest of the loader and the orchestrator use. `${...}`
inside a volume string may contain colons and does not split it.
"""

from __future__ import annotations

import ipaddress
from typing import Any

_PROPAGATION = {"rprivate", "private", "rshared", "shared", "rslave", "slave"}
_SELINUX = {"z", "Z"}
_PROTOCOLS = {"tcp", "udp", "sctp"}


class SyntaxProblem(ValueError):
    """The string does not follow the short syntax; str() says how."""


def _is_path(source: str) -> bool:
    return bool(source) and source[0] in "./~"


def parse_volume(spec: str) -> dict[str, Any]:
    """`./data:/data:ro` -> {type: bind, source, target, read_only, bind: {...}}."""
    if not spec:
        raise SyntaxProblem("invalid empty volume spec")
    if len(spec) <= 2:
        return {"type": "volume", "target": spec}
    vol: dict[str, Any] = {}
    sections: list[str] = []
    buf: list[str] = []
    depth = 0
    for i, c in enumerate(spec):
        if c == "$" and spec[i + 1 : i + 2] == "{":
            depth += 1
        elif c == "}" and depth:
            depth -= 1
        elif c == ":" and depth == 0:
            if not buf:
                raise SyntaxProblem(f"invalid spec: {spec}: empty section between colons")
            sections.append("".join(buf))
            buf = []
            continue
        buf.append(c)
    if not buf:
        raise SyntaxProblem(f"invalid spec: {spec}: empty section between colons")
    sections.append("".join(buf))
    if len(sections) > 3:
        raise SyntaxProblem(f"invalid spec: {spec}: too many colons")
    if len(sections) == 1:
        vol["target"] = sections[0]
    else:
        vol["source"], vol["target"] = sections[0], sections[1]
    options = sections[2].split(",") if len(sections) == 3 else []
    bind: dict[str, Any] = {}
    volume_opts: dict[str, Any] = {}
    for opt in options:
        if opt == "ro":
            vol["read_only"] = True
        elif opt == "rw":
            vol.pop("read_only", None)
        elif opt == "nocopy":
            volume_opts["nocopy"] = True
        elif opt in _PROPAGATION:
            bind["propagation"] = opt
        elif opt in _SELINUX:
            bind["selinux"] = opt
        # other options are ignored, as compose does
    if _is_path(vol.get("source", "")):
        vol = {"type": "bind", **vol, "bind": {"create_host_path": True, **bind}}
    else:
        vol = {"type": "volume", **vol, "volume": volume_opts}
    return vol


def volume_to_string(vol: dict[str, Any]) -> str:
    """Long syntax back to the short form (`/src:/target:rw,z,shared`)."""
    options = ["ro" if vol.get("read_only") else "rw"]
    bind = vol.get("bind") or {}
    if bind.get("selinux"):
        options.append(bind["selinux"])
    if bind.get("propagation"):
        options.append(bind["propagation"])
    if (vol.get("volume") or {}).get("nocopy"):
        options.append("nocopy")
    head = ":".join(p for p in (vol.get("source"), vol.get("target")) if p)
    return f"{head}:{','.join(options)}"


def _port_range(text: str, what: str, raw: str) -> tuple[int, int]:
    lo, sep, hi = text.partition("-")
    try:
        start = int(lo)
        end = int(hi) if sep else start
    except ValueError:
        raise SyntaxProblem(f"Invalid {what}: {raw}") from None
    if not (0 <= start <= 65535 and 0 <= end <= 65535) or end < start:
        raise SyntaxProblem(f"Invalid {what}: {raw}")
    return start, end


def parse_port(spec: str) -> list[dict[str, Any]]:
    """`127.0.0.1:8080-8081:80-81/udp` -> one long-syntax entry per port."""
    parts = spec.split(":")
    ctr = parts[-1]
    host = parts[-2] if len(parts) >= 2 else ""
    ip = ":".join(parts[:-2]) if len(parts) >= 3 else ""
    ctr, _, proto = ctr.partition("/")
    proto = proto or "tcp"
    if ip:
        bare = ip[1:-1] if ip.startswith("[") and ip.endswith("]") else ip
        try:
            ipaddress.ip_address(bare)
        except ValueError:
            raise SyntaxProblem(f"Invalid ip address: {ip}") from None
        ip = bare
    if not ctr:
        raise SyntaxProblem(f"No port specified: {spec or '<empty>'}")
    start, end = _port_range(ctr, "containerPort", ctr)
    hstart = hend = 0
    if host:
        hstart, hend = _port_range(host, "hostPort", host)
        if end - start != hend - hstart and end != start:
            raise SyntaxProblem(
                f"Invalid ranges specified for container and host Ports: {ctr} and {host}"
            )
    if proto.lower() not in _PROTOCOLS:
        raise SyntaxProblem(f"Invalid proto: {proto}")
    out: list[dict[str, Any]] = []
    for i in range(end - start + 1):
        entry: dict[str, Any] = {"mode": "ingress"}
        if ip:
            entry["host_ip"] = ip
        entry["target"] = start + i
        if host:
            if start == end and hstart != hend:
                entry["published"] = f"{hstart}-{hend}"
            else:
                entry["published"] = str(hstart + i)
        entry["protocol"] = proto.lower()
        out.append(entry)
    return out
