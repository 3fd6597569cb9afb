"""The seam between containers and netstack: setup(container) / teardown(container).

Call these inside the engine's user namespace (after rootless.userns.enter):

    net = network_hook.setup(paths, record)      # before the runtime creates it
    # bundle: linux.namespaces network path = net.netns_path (None: --network host)
    #         bind-mount net.etc_files {"/etc/resolv.conf": host_path, ...}
    ... start the monitor / container ...
    network_hook.teardown(paths, record)         # after it exited, on rm; idempotent

setup() fails before anything runs when a published port is busy, and undoes its own
partial work on any error. Per-container state (namespace, endpoints, the sidecar's pid,
published ports) is kept in $runtime/networks/containers/<id>.json.

Modes (`--network`): bridge (default network), NAME[,NAME...] (user-defined bridges),
slirp4netns[:allow_host_loopback=true,port_handler=slirp4netns], none, host,
container:NAME. Extra RunSpec fields are read with getattr so older specs keep working:
ip, dns, dns_search, dns_option, add_host, network_alias, publish_all, port_driver.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import socket
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rootless.errors import Conflict, EngineError, NotFound, UsageError
from rootless.fsutil import atomic_write_json, locked, read_json

if TYPE_CHECKING:
    from rootless.engine.networks import Endpoint, Network, Networks
    from rootless.paths import Paths

log = logging.getLogger(__name__)

SLIRP_GUEST = "10.0.2.100"
SLIRP_DNS = "10.0.2.3"
HOST_LOOPBACK_ENV = "ROOTLESS_ALLOW_HOST_LOOPBACK"  # "1": slirp4netns may reach 127.0.0.1


class NetworkError(EngineError):
    """Network setup failed."""


@dataclass
class NetworkSetup:
    netns_path: str | None  # None: the host's namespace (--network host)
    etc_files: dict[str, str]  # container path -> host file to bind-mount
    hostname: str
    ports: list[dict[str, Any]] = field(default_factory=list)
    # The same facts for callers that write their own /etc files (prefer etc_files:
    # those are the ones connect/disconnect keep up to date).
    ip: str | None = None
    hosts: list[str] = field(default_factory=list)  # extra /etc/hosts lines
    resolv_conf: str | None = None


@dataclass
class ContainerNet:
    """What setup() did for one container (the runtime state teardown undoes)."""

    container_id: str
    name: str
    mode: str  # bridge | slirp4netns | none | host | container
    netns: str = ""
    owns_netns: bool = True
    networks: list[str] = field(default_factory=list)  # bridge networks attached
    sidecar_pid: int = 0
    ports: list[dict[str, Any]] = field(default_factory=list)
    etc_dir: str = ""
    hostname: str = ""
    dns: list[str] = field(default_factory=list)
    dns_search: list[str] = field(default_factory=list)
    dns_option: list[str] = field(default_factory=list)
    add_host: list[str] = field(default_factory=list)
    aliases: list[str] = field(default_factory=list)
    slirp_host_loopback: bool = False
    api_socket: str = ""  # slirp4netns' API socket (it leaves the file behind)


# ---------------------------------------------------------------- paths and state


def _state_dir(paths: Paths) -> Path:
    return paths.runtime / "networks"


def _state_file(paths: Paths, cid: str) -> Path:
    return _state_dir(paths) / "containers" / f"{cid}.json"


def _lock(paths: Paths, cid: str) -> Any:
    return locked(paths.locks / f"net-ctr-{cid}.lock")


def load_state(paths: Paths, cid: str) -> ContainerNet | None:
    try:
        d = read_json(_state_file(paths, cid))
    except (FileNotFoundError, ValueError):
        return None
    known = ContainerNet.__dataclass_fields__
    return ContainerNet(**{k: v for k, v in d.items() if k in known})


def _save_state(paths: Paths, st: ContainerNet) -> None:
    f = _state_file(paths, st.container_id)
    f.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    atomic_write_json(f, asdict(st), 0o600)


def _net_dir(paths: Paths, net: Network) -> Path:
    d = _state_dir(paths) / net.id[:16]
    d.mkdir(parents=True, exist_ok=True, mode=0o700)
    return d


def bridge_netns(paths: Paths, net: Network) -> str:
    return str(paths.runtime / "netns" / f"net-{net.id[:16]}")


def _networks(paths: Paths) -> Networks:
    from rootless.engine.networks import Networks

    return Networks(paths)


# ---------------------------------------------------------------- the network daemon


def _netd_alive(paths: Paths, net: Network) -> bool:
    from netstack import nsutil

    try:
        d = read_json(_net_dir(paths, net) / "netd.json")
    except (FileNotFoundError, ValueError):
        return False
    return _alive(int(d["pid"]), str(d.get("start", ""))) and nsutil.is_netns(
        bridge_netns(paths, net)
    )


def _ensure_netd(paths: Paths, net: Network) -> None:
    """Start the network's daemon (bridge namespace, slirp4netns, DNS) unless running."""
    from netstack import process

    with locked(paths.locks / f"netd-{net.id[:16]}.lock"):
        if _netd_alive(paths, net):
            return
        _stop_netd_locked(paths, net)  # a stale namespace or a dying daemon
        d = _net_dir(paths, net)
        loopback = net.options.get("allow_host_loopback", "") in ("1", "true") or (
            os.environ.get(HOST_LOOPBACK_ENV) == "1"
        )
        mtu = int(net.options.get("mtu", 65520))
        _write_names(paths, net)
        cfg = {
            "netns": bridge_netns(paths, net),
            "bridge": net.bridge_name,
            "subnet": net.subnet,
            "gateway": net.gateway,
            "mtu": mtu,
            "internal": net.internal,
            "dns_records": str(d / "names.json") if net.dns_enabled else None,
            "host_loopback": loopback,
            "api_socket": None,  # nothing to ask slirp4netns for on a bridge network
        }
        try:
            pid = process.spawn("netstack.netd", cfg)
        except OSError as e:
            raise NetworkError(f"cannot start network {net.name}: {e}") from None
        atomic_write_json(d / "netd.json", {"pid": pid, "start": _start_time(pid)}, 0o600)


def _stop_netd_locked(paths: Paths, net: Network) -> None:
    from netstack import nsutil, process

    d = _state_dir(paths) / net.id[:16]
    with contextlib.suppress(FileNotFoundError, ValueError, KeyError):
        info = read_json(d / "netd.json")
        if _alive(int(info["pid"]), str(info.get("start", ""))):
            process.stop(int(info["pid"]))
    with contextlib.suppress(FileNotFoundError):
        (d / "netd.json").unlink()
    nsutil.remove(bridge_netns(paths, net))


def stop_network(paths: Paths, net: Network) -> None:
    """Stop a network's daemon and drop its namespace (on rm, or when left empty)."""
    with locked(paths.locks / f"netd-{net.id[:16]}.lock"):
        _stop_netd_locked(paths, net)


def _names_of(net: Network) -> dict[str, list[str]]:
    names: dict[str, list[str]] = {}
    for cid, ep in net.containers.items():
        for n in dict.fromkeys([ep.name, cid[:12], *ep.aliases]):
            names.setdefault(n, []).append(ep.ip)
    return names


def _write_names(paths: Paths, net: Network | None = None) -> None:
    """Rewrite the DNS records of every network with names (a change on one network
    changes the views of containers that are also on others)."""
    from netstack.dns import write_records

    nets = [n for n in _networks(paths).ls() if n.dns_enabled]
    own = {n.name: _names_of(n) for n in nets}
    for n in nets:
        views: dict[str, dict[str, list[str]]] = {}
        for cid, ep in n.containers.items():
            view: dict[str, list[str]] = {}
            for other in nets:
                if other.name != n.name and cid in other.containers:
                    for name, ips in own[other.name].items():
                        view.setdefault(name, []).extend(ips)
            if view:
                views[ep.ip] = view
        write_records(_net_dir(paths, n) / "names.json", own[n.name], views)


# ---------------------------------------------------------------- helpers


def _start_time(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            return f.read().rsplit(b")", 1)[1].split()[19].decode()
    except (OSError, IndexError):
        return ""


def _alive(pid: int, start: str) -> bool:
    from netstack.process import alive

    return pid > 0 and alive(pid) and (not start or _start_time(pid) == start)


def _spec_list(spec: Any, name: str) -> list[str]:
    v = getattr(spec, name, None) or []
    return [v] if isinstance(v, str) else list(v)


def parse_mode(network: str) -> tuple[str, list[str], dict[str, str]]:
    """`--network` value -> (mode, bridge network names, options)."""
    value = (network or "bridge").strip()
    if value in ("bridge", "default"):
        return "bridge", ["bridge"], {}
    if value in ("none", "host"):
        return value, [], {}
    if value.startswith("container:"):
        ref = value.split(":", 1)[1]
        if not ref:
            raise UsageError("--network container: needs a container name or id")
        return "container", [ref], {}
    if value == "slirp4netns" or value.startswith("slirp4netns:"):
        opts: dict[str, str] = {}
        for item in filter(None, value.partition(":")[2].split(",")):
            k, _, v = item.partition("=")
            if k not in ("allow_host_loopback", "port_handler"):
                raise UsageError(
                    f"unsupported slirp4netns option {k!r}",
                    hint="use allow_host_loopback=true, port_handler=slirp4netns|rootlesskit",
                )
            opts[k] = v
        return "slirp4netns", [], opts
    names = [n.strip() for n in value.split(",") if n.strip()]
    for n in names:
        if n in ("none", "host", "slirp4netns") or n.startswith("container:"):
            raise UsageError(f"--network {n} cannot be combined with other networks")
    return "bridge", names, {}


def _port_mappings(record: Any) -> list[Any]:
    from netstack.ports import PortMapping, PortSpecError, parse

    spec = record.spec
    out: list[PortMapping] = []
    try:
        for p in _spec_list(spec, "publish"):
            out.extend(parse(p))
    except PortSpecError as e:
        raise UsageError(str(e), hint="use -p [ip:]hostPort:containerPort[/tcp|udp]") from None
    if getattr(spec, "publish_all", False):
        exposed = (getattr(record, "image_config", None) or {}).get("ExposedPorts") or {}
        have = {(m.container_port, m.proto) for m in out}
        for key in exposed:
            port, _, proto = str(key).partition("/")
            with contextlib.suppress(ValueError):
                m = PortMapping(int(port), 0, "", proto or "tcp")
                if (m.container_port, m.proto) not in have:
                    out.append(m)
    return out


# ---------------------------------------------------------------- setup / teardown


def setup(paths: Paths, record: Any) -> NetworkSetup:
    """Give a container its network. Undoes partial work on failure."""
    spec = record.spec
    mode, names, opts = parse_mode(getattr(spec, "network", "bridge"))
    hostname = getattr(spec, "hostname", None) or record.id[:12]
    st = ContainerNet(
        container_id=record.id,
        name=record.name,
        mode=mode,
        hostname=hostname,
        etc_dir=str(_state_dir(paths) / "containers" / record.id),
        dns=_spec_list(spec, "dns"),
        dns_search=_spec_list(spec, "dns_search"),
        dns_option=_spec_list(spec, "dns_option"),
        add_host=_spec_list(spec, "add_host"),
        aliases=_spec_list(spec, "network_alias"),
        slirp_host_loopback=opts.get("allow_host_loopback") in ("1", "true")
        or os.environ.get(HOST_LOOPBACK_ENV) == "1",
    )
    _validate_add_hosts(st.add_host)
    mappings = _port_mappings(record)
    driver = getattr(spec, "port_driver", None) or ""  # `--port-driver slirp4netns`
    if driver == "slirp4netns":
        if mode != "slirp4netns":
            raise UsageError(
                "--port-driver slirp4netns needs --network slirp4netns",
                hint="bridge networks publish through rootless' own forwarder",
            )
        opts["port_handler"] = "slirp4netns"
    elif driver not in ("", "rootless", "rootlesskit", "builtin"):
        raise UsageError(f"unknown port driver {driver!r}", hint="use builtin or slirp4netns")
    with _lock(paths, record.id):
        old = load_state(paths, record.id)
        if old is not None:  # left over from an earlier run that was not torn down
            _teardown_locked(paths, old)
        try:
            return _setup_locked(paths, record, st, names, opts, mappings)
        except BaseException:
            with contextlib.suppress(Exception):
                _teardown_locked(paths, st)
            raise


def _setup_locked(
    paths: Paths,
    record: Any,
    st: ContainerNet,
    names: list[str],
    opts: dict[str, str],
    mappings: list[Any],
) -> NetworkSetup:
    from netstack import nsutil

    if st.mode == "host":
        if mappings:
            log.warning("published ports are discarded when using the host network")
        _save_state(paths, st)
        files = _write_etc(paths, st)
        return _result(None, files, st)
    if st.mode == "container":
        return _setup_joined(paths, st, names[0], mappings)

    st.netns = str(paths.runtime / "netns" / record.id)
    _save_state(paths, st)  # from here on teardown knows what to undo
    try:
        nsutil.create(st.netns)
    except OSError as e:
        raise NetworkError(f"cannot create a network namespace: {e.strerror or e}") from None
    if st.mode == "none":
        if mappings:
            log.warning("published ports are discarded when using --network none")
        _loopback_up(st.netns)
    elif st.mode == "bridge":
        ip = getattr(record.spec, "ip", None) or None
        for i, n in enumerate(names):
            _attach(paths, st, n, ifname=f"eth{i}", ip=ip if i == 0 else None)
    target_ns, target_ip, transparent = "", "", False
    if st.mode == "bridge":
        net, ep = _endpoint(paths, st.networks[0], st.container_id)
        target_ns, target_ip, transparent = bridge_netns(paths, net), ep.ip, True
    elif st.mode == "slirp4netns":
        target_ns, target_ip = st.netns, SLIRP_GUEST
    if st.mode in ("bridge", "slirp4netns"):
        _start_sidecar(paths, st, mappings, target_ns, target_ip, transparent, opts)
    _save_state(paths, st)
    files = _write_etc(paths, st)
    return _result(st.netns, files, st)


def _result(netns: str | None, files: dict[str, str], st: ContainerNet) -> NetworkSetup:
    from netstack.etcfiles import parse_add_host

    ip = None
    for line in Path(files["/etc/hosts"]).read_text().splitlines():
        addr, _, names = line.partition("\t")
        if st.hostname in names.split() and addr != "127.0.1.1":
            ip = addr
            break
    extra = [f"{a}\t{n}" for n, a in (parse_add_host(h) for h in st.add_host)]
    resolv = Path(files["/etc/resolv.conf"]).read_text()
    return NetworkSetup(netns, files, st.hostname, list(st.ports), ip, extra, resolv)


def _setup_joined(paths: Paths, st: ContainerNet, ref: str, mappings: list[Any]) -> NetworkSetup:
    from rootless.engine.containers.store import Store

    if mappings:
        raise UsageError("conflicting options: port publishing and --network container:")
    other_id = Store(paths).resolve(ref)
    other = load_state(paths, other_id) or _unhooked_state(paths, other_id)
    if other is None or not other.netns:
        raise Conflict(f"cannot join the network of container {ref}: it is not running")
    st.netns, st.owns_netns = other.netns, False
    st.etc_dir, st.hostname = other.etc_dir, other.hostname
    _save_state(paths, st)
    etc = Path(other.etc_dir)
    files = {
        "/etc/resolv.conf": str(etc / "resolv.conf"),
        "/etc/hosts": str(etc / "hosts"),
        "/etc/hostname": str(etc / "hostname"),
    }
    return _result(st.netns, files, st)


def _unhooked_state(paths: Paths, cid: str) -> ContainerNet | None:
    """A running `--network none` container never went through this hook (the runtime
    made its namespace): its network is its init's namespace, its /etc files are in its
    container dir."""
    from rootless.engine.containers.record import ContainerDir, MonitorStatus

    d = ContainerDir(paths.containers, cid)
    ms = MonitorStatus.load(d.monitor)
    if ms is None or ms.status != "running" or not ms.container_pid:
        return None
    netns = f"/proc/{ms.container_pid}/ns/net"
    if not os.path.exists(netns):
        return None
    hostname = (d.path / "hostname").read_text().strip() if (d.path / "hostname").is_file() else ""
    return ContainerNet(
        container_id=cid,
        name="",
        mode="none",
        hostname=hostname,
        etc_dir=str(d.path),
        netns=netns,
        owns_netns=False,
    )


def _loopback_up(netns: str) -> None:
    from netstack import bridge

    try:
        bridge.setup_loopback_only(netns)
    except OSError as e:
        raise NetworkError(str(e)) from None


def _endpoint(paths: Paths, name: str, cid: str) -> tuple[Network, Endpoint]:
    net = _networks(paths).get(name)
    if cid not in net.containers:
        raise NotFound(f"container {cid[:12]} is not connected to network {name}")
    return net, net.containers[cid]


def _attach(paths: Paths, st: ContainerNet, name: str, ifname: str, ip: str | None) -> None:
    from netstack import bridge

    nets = _networks(paths)
    net, ep = nets.allocate(name, st.container_id, st.name, ip, st.aliases, ifname)
    st.networks.append(net.name)
    _save_state(paths, st)
    _write_names(paths, net)
    _ensure_netd(paths, net)
    spec = bridge.BridgeSpec(
        bridge_netns(paths, net),
        net.bridge_name,
        net.subnet,
        net.gateway,
        int(net.options.get("mtu", 65520)),
        net.internal,
    )
    endpoint = bridge.Endpoint(
        netns=st.netns,
        ifname=ifname,
        host_ifname="v" + st.container_id[:7] + net.id[:6],
        ip=ep.ip,
        prefixlen=net.prefixlen,
        mac=ep.mac,
        gateway=net.gateway,
        default_route=_first_routed(paths, st) == net.name,
    )
    try:
        bridge.attach(spec, endpoint)
    except OSError as e:
        raise NetworkError(f"cannot connect to network {net.name}: {e}") from None


def _first_routed(paths: Paths, st: ContainerNet) -> str:
    nets = _networks(paths)
    for n in st.networks:
        with contextlib.suppress(EngineError):
            if not nets.get(n).internal:
                return n
    return st.networks[0] if st.networks else ""


def _detach(paths: Paths, st: ContainerNet, name: str) -> None:
    from netstack import bridge

    nets = _networks(paths)
    try:
        net = nets.get(name)
    except NotFound:
        return
    ep = net.containers.get(st.container_id)
    if ep is not None and st.netns:
        spec = bridge.BridgeSpec(bridge_netns(paths, net), net.bridge_name, net.subnet, net.gateway)
        host_if = "v" + st.container_id[:7] + net.id[:6]
        with contextlib.suppress(OSError):
            bridge.detach(
                spec,
                bridge.Endpoint(st.netns, ep.ifname, host_if, ep.ip, 0, ep.mac, net.gateway),
            )
    after = nets.release(net.name, st.container_id)
    if after is not None:
        _write_names(paths, after)
        if not after.containers:
            stop_network(paths, after)


def _socket_path(paths: Paths, name: str) -> str:
    """A unix socket path within the kernel's 108-byte limit."""
    from rootless.paths import ensure_private_dir

    p = paths.runtime / "sock" / name
    if len(str(p)) >= 100:
        # Inside the user namespace getuid() is 0 for everyone: key on our runtime dir.
        import hashlib

        tag = hashlib.sha256(str(paths.runtime).encode()).hexdigest()[:12]
        p = Path(f"/tmp/rootless-sock-{tag}") / name
    ensure_private_dir(p.parent)
    return str(p)


def _start_sidecar(
    paths: Paths,
    st: ContainerNet,
    mappings: list[Any],
    target_ns: str,
    target_ip: str,
    transparent: bool,
    opts: dict[str, str],
) -> None:
    from netstack import ports, process

    slirp = st.mode == "slirp4netns"
    use_slirp_fwd = slirp and opts.get("port_handler") == "slirp4netns"
    if not mappings and not slirp:
        return
    try:
        listeners = ports.open_listeners(mappings)
    except ports.PortInUse as e:
        raise Conflict(str(e.strerror or e), hint="choose another host port") from None
    except OSError as e:
        raise NetworkError(f"cannot publish ports: {e.strerror or e}") from None
    st.ports = [asdict(lst.mapping) for lst in listeners]
    cfg: dict[str, Any] = {
        "target_netns": target_ns,
        "target_ip": target_ip,
        "transparent": transparent,
        "container_netns": st.netns,  # loopback clients connect from in there
    }
    cdir = paths.containers / st.container_id
    if cdir.is_dir():  # a container: live as long as its monitor does
        cfg["watch_monitor"] = str(cdir / "monitor.json")
    else:  # e.g. a build step: live as long as the process that set us up
        cfg["watch_pid"] = os.getpid()
    if slirp:
        cfg["slirp_netns"] = st.netns
        cfg["slirp_host_loopback"] = st.slirp_host_loopback
        if use_slirp_fwd:
            st.api_socket = _socket_path(paths, f"slirp-{st.container_id[:12]}.sock")
            cfg["slirp_api_socket"] = st.api_socket
    try:
        if use_slirp_fwd:
            # slirp4netns binds the host ports itself: ours only proved they are free.
            cfg["slirp_hostfwd"] = [
                {
                    "proto": lst.mapping.proto,
                    "host_ip": lst.mapping.host_ip or "0.0.0.0",
                    "host_port": lst.mapping.host_port,
                    "port": lst.mapping.container_port,
                }
                for lst in listeners
                if lst.sock.family == socket.AF_INET
            ]
            for lst in listeners:
                lst.sock.close()
            listeners = []
        cfg["listeners"] = [{"fd": lst.sock.fileno(), **asdict(lst.mapping)} for lst in listeners]
        try:
            st.sidecar_pid = process.spawn(
                "netstack.sidecar", cfg, pass_fds=tuple(lst.sock.fileno() for lst in listeners)
            )
        except OSError as e:
            raise NetworkError(f"cannot start the network helper: {e}") from None
    finally:
        for lst in listeners:
            lst.sock.close()
    _save_state(paths, st)


def teardown(paths: Paths, record_or_id: Any) -> None:
    """Undo setup(): helper processes, veths, addresses, the namespace. Idempotent."""
    cid = record_or_id if isinstance(record_or_id, str) else record_or_id.id
    with _lock(paths, cid):
        st = load_state(paths, cid)
        if st is not None:
            _teardown_locked(paths, st)


def _teardown_locked(paths: Paths, st: ContainerNet) -> None:
    import shutil

    from netstack import nsutil, process

    if st.sidecar_pid:
        process.stop(st.sidecar_pid)
        st.sidecar_pid = 0
    for name in list(st.networks):
        _detach(paths, st, name)
        st.networks.remove(name)
    if st.netns and st.owns_netns:
        with contextlib.suppress(OSError):
            nsutil.remove(st.netns)
    if st.owns_netns and st.etc_dir:
        shutil.rmtree(st.etc_dir, ignore_errors=True)
    if st.api_socket:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(st.api_socket)
        with contextlib.suppress(OSError):  # only when no other socket is left in it
            os.rmdir(os.path.dirname(st.api_socket))
    with contextlib.suppress(FileNotFoundError):
        _state_file(paths, st.container_id).unlink()


# ---------------------------------------------------------------- /etc files


def _validate_add_hosts(items: list[str]) -> None:
    from netstack.etcfiles import parse_add_host

    for item in items:
        try:
            parse_add_host(item)
        except ValueError as e:
            raise UsageError(str(e)) from None


def _write_etc(paths: Paths, st: ContainerNet) -> dict[str, str]:
    from netstack import etcfiles

    ns, search, options = etcfiles.host_resolv()
    own: list[str] = []
    nameservers: list[str] = []
    nets = _networks(paths)
    for name in st.networks:
        with contextlib.suppress(EngineError):
            net = nets.get(name)
            ep = net.containers.get(st.container_id)
            if ep:
                own.append(ep.ip)
            if net.dns_enabled and net.gateway not in nameservers:
                nameservers.append(net.gateway)
            elif not net.internal and SLIRP_DNS not in nameservers:
                nameservers.append(SLIRP_DNS)
    if st.mode == "slirp4netns":
        own, nameservers = [SLIRP_GUEST], [SLIRP_DNS]
    elif st.mode == "host":
        full = Path("/etc/resolv.conf")
        nameservers = [
            ln.split()[1]
            for ln in (full.read_text().splitlines() if full.exists() else [])
            if ln.startswith("nameserver") and len(ln.split()) > 1
        ]
    elif st.mode == "none" or not nameservers:
        nameservers = ns
    spec = etcfiles.EtcSpec(
        hostname=st.hostname,
        nameservers=st.dns or nameservers,
        search=st.dns_search or search,
        options=st.dns_option or options,
        own_ips=own,
        aliases=st.aliases,
        extra_hosts=[etcfiles.parse_add_host(h) for h in st.add_host],
    )
    return etcfiles.write_all(st.etc_dir, spec)


# ---------------------------------------------------------------- connect / disconnect


def connect(
    paths: Paths,
    network: str,
    container: str,
    ip: str | None = None,
    aliases: list[str] | None = None,
) -> None:
    """`network connect NET CONTAINER` for a running container (inside the userns)."""
    from rootless.engine.containers.store import Store

    cid = Store(paths).resolve(container)
    with _lock(paths, cid):
        st = load_state(paths, cid)
        if st is None or not st.netns:
            raise Conflict(f"container {container} is not running", hint="start it first")
        if network == "none":
            if st.networks or st.mode not in ("bridge", "none"):
                raise Conflict(
                    "container cannot be connected to network none while it is connected "
                    "to other networks",
                    hint=f"disconnect it first: rootless network disconnect NET {container}",
                )
            st.mode = "none"
            _save_state(paths, st)
            return
        if network == "host" or st.mode not in ("bridge", "none"):
            raise Conflict(f"cannot connect a container in {st.mode} mode to network {network}")
        if st.mode == "none" and not st.networks:
            st.mode = "bridge"
        if aliases:
            st.aliases = list(dict.fromkeys([*st.aliases, *aliases]))
        used = {_endpoint(paths, n, cid)[1].ifname for n in st.networks}
        ifname = next(f"eth{i}" for i in range(64) if f"eth{i}" not in used)
        try:
            _attach(paths, st, network, ifname, ip)
        except BaseException:
            if network in st.networks:
                with contextlib.suppress(Exception):
                    _detach(paths, st, network)
                st.networks.remove(network)
            else:
                with contextlib.suppress(Exception):
                    _networks(paths).release(network, cid)
            _save_state(paths, st)
            raise
        _save_state(paths, st)
        _write_etc(paths, st)


def disconnect(paths: Paths, network: str, container: str) -> None:
    from rootless.engine.containers.store import Store

    cid = Store(paths).resolve(container)
    with _lock(paths, cid):
        st = load_state(paths, cid)
        net = _networks(paths).get(network)
        if st is None or net.name not in st.networks:
            if network == "none" and st is not None and st.mode == "none":
                st.mode = "bridge"
                _save_state(paths, st)
                return
            raise NotFound(f"container {container} is not connected to network {network}")
        if net.name == st.networks[0] and st.sidecar_pid:
            from netstack import process

            process.stop(st.sidecar_pid)  # its forwarding target was this network
            st.sidecar_pid = 0
            st.ports = []
        _detach(paths, st, net.name)
        st.networks.remove(net.name)
        _save_state(paths, st)
        _write_etc(paths, st)


# ---------------------------------------------------------------- queries


def add_aliases(paths: Paths, container_id: str, aliases: list[str]) -> None:
    """Extra DNS names for a running container on all its networks (compose service
    names when the RunSpec carries no network_alias)."""
    if aliases:
        for net in _networks(paths).add_aliases(container_id, aliases):
            _write_names(paths, net)


write_names = _write_names  # public name for callers that edit records themselves


def ports(paths: Paths, container_id: str) -> list[dict[str, Any]]:
    """Published ports of a container: [{container_port, host_port, host_ip, proto}]."""
    st = load_state(paths, container_id)
    return list(st.ports) if st else []


def settings(paths: Paths, container_id: str) -> dict[str, Any]:
    """Docker's NetworkSettings for `inspect`."""
    st = load_state(paths, container_id)
    out: dict[str, Any] = {"Networks": {}, "Ports": {}, "SandboxKey": st.netns if st else ""}
    if st is None:
        return out
    for name in st.networks:
        with contextlib.suppress(EngineError):
            net, ep = _endpoint(paths, name, container_id)
            out["Networks"][name] = {
                "NetworkID": net.id,
                "IPAddress": ep.ip,
                "IPPrefixLen": net.prefixlen,
                "Gateway": net.gateway,
                "MacAddress": ep.mac,
                "Aliases": ep.aliases,
            }
    for p in st.ports:
        key = f"{p['container_port']}/{p['proto']}"
        out["Ports"].setdefault(key, []).append(
            {"HostIp": p["host_ip"], "HostPort": str(p["host_port"])}
        )
    first = out["Networks"].get(st.networks[0]) if st.networks else None
    out["IPAddress"] = first["IPAddress"] if first else ""
    out["Gateway"] = first["Gateway"] if first else ""
    return out


def dumps(obj: Any) -> str:
    return json.dumps(obj, indent=2)
