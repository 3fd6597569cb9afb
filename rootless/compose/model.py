"""The typed project model the orchestrator consumes, built from the normalized dict.

Every field has its final type: durations in seconds, sizes in bytes, commands as argv
lists, ports and volumes in long form. `Project.service_order()` gives a start order
that respects depends_on.
"""

from __future__ import annotations

import shlex
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rootless.compose.errors import at
from rootless.compose.units import parse_bytes, parse_duration

Locate = Callable[[str], "str | None"]  # key path -> the file that defines it


@dataclass
class BuildSpec:
    context: str
    dockerfile: str = "Dockerfile"
    args: dict[str, str] = field(default_factory=dict)
    target: str | None = None
    labels: dict[str, str] = field(default_factory=dict)
    tags: list[str] = field(default_factory=list)
    network: str | None = None
    no_cache: bool = False
    pull: bool = False


@dataclass
class PortSpec:
    target: int
    published: str | None = None  # may be a range "8000-8010"
    host_ip: str | None = None
    protocol: str = "tcp"
    mode: str = "ingress"
    name: str | None = None


@dataclass
class VolumeMount:
    type: str  # volume, bind, tmpfs, image, npipe, cluster
    target: str
    source: str | None = None
    read_only: bool = False
    create_host_path: bool = True
    propagation: str | None = None
    selinux: str | None = None
    nocopy: bool = False
    subpath: str | None = None
    tmpfs_size: int | None = None
    tmpfs_mode: int | None = None


@dataclass
class ServiceNetwork:
    aliases: list[str] = field(default_factory=list)
    ipv4_address: str | None = None
    ipv6_address: str | None = None
    priority: int = 0
    mac_address: str | None = None


@dataclass
class Dependency:
    condition: str = "service_started"
    required: bool = True
    restart: bool = False


@dataclass
class Healthcheck:
    test: list[str] | None = None  # ["CMD", ...], ["CMD-SHELL", "..."], ["NONE"]
    interval: float | None = None
    timeout: float | None = None
    retries: int | None = None
    start_period: float | None = None
    start_interval: float | None = None
    disable: bool = False


@dataclass
class Ulimit:
    soft: int
    hard: int


@dataclass
class ResourceLimits:
    cpus: float | None = None
    memory: int | None = None
    pids: int | None = None


@dataclass
class Deploy:
    replicas: int | None = None
    limits: ResourceLimits = field(default_factory=ResourceLimits)
    reservations: ResourceLimits = field(default_factory=ResourceLimits)


@dataclass
class Service:
    name: str
    image: str | None = None
    build: BuildSpec | None = None
    command: list[str] | None = None
    entrypoint: list[str] | None = None
    environment: dict[str, str | None] = field(default_factory=dict)
    env_file: list[str] = field(default_factory=list)
    ports: list[PortSpec] = field(default_factory=list)
    expose: list[str] = field(default_factory=list)
    volumes: list[VolumeMount] = field(default_factory=list)
    volumes_from: list[str] = field(default_factory=list)
    networks: dict[str, ServiceNetwork] = field(default_factory=dict)
    network_mode: str | None = None
    depends_on: dict[str, Dependency] = field(default_factory=dict)
    healthcheck: Healthcheck | None = None
    restart: str | None = None
    user: str | None = None
    working_dir: str | None = None
    hostname: str | None = None
    domainname: str | None = None
    container_name: str | None = None
    labels: dict[str, str] = field(default_factory=dict)
    init: bool | None = None
    read_only: bool = False
    privileged: bool = False
    tty: bool = False
    stdin_open: bool = False
    tmpfs: list[str] = field(default_factory=list)
    extra_hosts: list[tuple[str, str]] = field(default_factory=list)
    dns: list[str] = field(default_factory=list)
    dns_search: list[str] = field(default_factory=list)
    stop_signal: str | None = None
    stop_grace_period: float | None = None
    cap_add: list[str] = field(default_factory=list)
    cap_drop: list[str] = field(default_factory=list)
    ulimits: dict[str, Ulimit] = field(default_factory=dict)
    deploy: Deploy = field(default_factory=Deploy)
    mem_limit: int | None = None
    cpus: float | None = None
    pids_limit: int | None = None
    shm_size: int | None = None
    pull_policy: str | None = None
    platform: str | None = None
    profiles: list[str] = field(default_factory=list)
    sysctls: dict[str, str] = field(default_factory=dict)
    security_opt: list[str] = field(default_factory=list)
    devices: list[str] = field(default_factory=list)
    links: list[str] = field(default_factory=list)
    scale: int | None = None
    extensions: dict[str, Any] = field(default_factory=dict)  # x-* keys

    @property
    def replicas(self) -> int:
        if self.deploy.replicas is not None:
            return self.deploy.replicas
        return self.scale if self.scale is not None else 1


@dataclass
class Network:
    key: str
    name: str
    driver: str = "bridge"
    internal: bool = False
    external: bool = False
    enable_ipv6: bool = False
    labels: dict[str, str] = field(default_factory=dict)
    driver_opts: dict[str, str] = field(default_factory=dict)
    subnets: list[dict[str, Any]] = field(default_factory=list)  # ipam.config entries


@dataclass
class Volume:
    key: str
    name: str
    driver: str = "local"
    external: bool = False
    labels: dict[str, str] = field(default_factory=dict)
    driver_opts: dict[str, str] = field(default_factory=dict)


@dataclass
class Project:
    name: str
    working_dir: Path
    services: dict[str, Service]
    networks: dict[str, Network] = field(default_factory=dict)
    volumes: dict[str, Volume] = field(default_factory=dict)
    secrets: dict[str, Any] = field(default_factory=dict)
    configs: dict[str, Any] = field(default_factory=dict)
    files: list[str] = field(default_factory=list)
    environment: dict[str, str] = field(default_factory=dict)
    disabled: dict[str, Service] = field(default_factory=dict)  # not in active profiles
    model: dict[str, Any] = field(default_factory=dict)  # the normalized dict
    warnings: list[str] = field(default_factory=list)

    def service_order(self, names: Iterable[str] | None = None) -> list[str]:
        """Dependencies before dependents; ties keep the file's order."""
        return topological_order({n: list(s.depends_on) for n, s in self.services.items()}, names)


def topological_order(
    graph: Mapping[str, list[str]], names: Iterable[str] | None = None
) -> list[str]:
    """Order `names` (default: all) and their dependencies so dependencies come first."""
    order: list[str] = []
    state: dict[str, int] = {}  # 1 visiting, 2 done

    def visit(node: str, path: list[str]) -> None:
        if state.get(node) == 2:
            return
        if state.get(node) == 1:
            cycle = [*path[path.index(node) :], node]
            raise ValueError("dependency cycle detected: " + " -> ".join(cycle))
        state[node] = 1
        for dep in graph.get(node, []):
            if dep in graph:
                visit(dep, [*path, node])
        state[node] = 2
        order.append(node)

    for name in list(names) if names is not None else list(graph):
        visit(name, [])
    return order


# --- building from the normalized dict ---------------------------------------------------


class _Builder:
    def __init__(self, locate: Locate) -> None:
        self.locate = locate

    def fail(self, path: str, message: str) -> Exception:
        return at(self.locate(path), path, message)

    def duration(self, value: Any, path: str) -> float | None:
        if value is None:
            return None
        try:
            return parse_duration(value)
        except ValueError as e:
            raise self.fail(path, str(e)) from None

    def size(self, value: Any, path: str) -> int | None:
        if value is None:
            return None
        try:
            return parse_bytes(value)
        except ValueError as e:
            raise self.fail(path, str(e)) from None

    def integer(self, value: Any, path: str) -> int | None:
        if value is None:
            return None
        try:
            return int(value)
        except (TypeError, ValueError):
            raise self.fail(path, f"expected an integer, got {value!r}") from None

    def number(self, value: Any, path: str) -> float | None:
        if value is None:
            return None
        try:
            return float(value)
        except (TypeError, ValueError):
            raise self.fail(path, f"expected a number, got {value!r}") from None

    def argv(self, value: Any, path: str) -> list[str] | None:
        if value is None:
            return None
        if isinstance(value, list):
            return [str(v) for v in value]
        try:
            return shlex.split(str(value))
        except ValueError as e:
            raise self.fail(path, f"cannot split command: {e}") from None

    def service(self, name: str, d: Mapping[str, Any]) -> Service:
        p = f"services.{name}"
        svc = Service(name=name)
        svc.image = d.get("image")
        if d.get("build") is not None:
            b = d["build"]
            svc.build = BuildSpec(
                context=str(b.get("context", ".")),
                dockerfile=str(b.get("dockerfile", "Dockerfile")),
                args={k: v for k, v in (b.get("args") or {}).items() if v is not None},
                target=b.get("target"),
                labels=dict(b.get("labels") or {}),
                tags=[str(t) for t in b.get("tags") or []],
                network=b.get("network"),
                no_cache=bool(b.get("no_cache", False)),
                pull=bool(b.get("pull", False)),
            )
        svc.command = self.argv(d.get("command"), f"{p}.command")
        svc.entrypoint = self.argv(d.get("entrypoint"), f"{p}.entrypoint")
        svc.environment = dict(d.get("environment") or {})
        svc.env_file = [e["path"] if isinstance(e, dict) else e for e in d.get("env_file") or []]
        svc.ports = [
            PortSpec(
                target=int(port["target"]),
                published=None if port.get("published") is None else str(port["published"]),
                host_ip=port.get("host_ip"),
                protocol=str(port.get("protocol", "tcp")),
                mode=str(port.get("mode", "ingress")),
                name=port.get("name"),
            )
            for port in d.get("ports") or []
        ]
        svc.expose = [str(e) for e in d.get("expose") or []]
        svc.volumes = [
            self.volume(v, f"{p}.volumes[{i}]") for i, v in enumerate(d.get("volumes") or [])
        ]
        svc.volumes_from = [str(v) for v in d.get("volumes_from") or []]
        for net, cfg in (d.get("networks") or {}).items():
            cfg = cfg or {}
            svc.networks[net] = ServiceNetwork(
                aliases=[str(a) for a in cfg.get("aliases") or []],
                ipv4_address=cfg.get("ipv4_address"),
                ipv6_address=cfg.get("ipv6_address"),
                priority=int(cfg.get("priority") or 0),
                mac_address=cfg.get("mac_address"),
            )
        svc.network_mode = d.get("network_mode")
        for dep, cfg in (d.get("depends_on") or {}).items():
            cfg = cfg or {}
            svc.depends_on[dep] = Dependency(
                condition=str(cfg.get("condition", "service_started")),
                required=bool(cfg.get("required", True)),
                restart=bool(cfg.get("restart", False)),
            )
        if d.get("healthcheck") is not None:
            h, hp = d["healthcheck"], f"{p}.healthcheck"
            test = h.get("test")
            if isinstance(test, str):
                test = ["CMD-SHELL", test]
            svc.healthcheck = Healthcheck(
                test=[str(t) for t in test] if test is not None else None,
                interval=self.duration(h.get("interval"), f"{hp}.interval"),
                timeout=self.duration(h.get("timeout"), f"{hp}.timeout"),
                retries=self.integer(h.get("retries"), f"{hp}.retries"),
                start_period=self.duration(h.get("start_period"), f"{hp}.start_period"),
                start_interval=self.duration(h.get("start_interval"), f"{hp}.start_interval"),
                disable=bool(h.get("disable", False)) or test == ["NONE"],
            )
        for key in ("restart", "user", "working_dir", "hostname", "domainname"):
            value = d.get(key)
            setattr(svc, key, None if value is None else str(value))
        svc.container_name = d.get("container_name")
        svc.labels = {k: "" if v is None else v for k, v in (d.get("labels") or {}).items()}
        svc.init = d.get("init")
        for key in ("read_only", "privileged", "tty", "stdin_open"):
            setattr(svc, key, bool(d.get(key, False)))
        svc.tmpfs = [str(t) for t in d.get("tmpfs") or []]
        svc.extra_hosts = [
            (h.partition("=")[0], h.partition("=")[2]) for h in d.get("extra_hosts") or []
        ]
        svc.dns = [str(x) for x in d.get("dns") or []]
        svc.dns_search = [str(x) for x in d.get("dns_search") or []]
        svc.stop_signal = d.get("stop_signal")
        svc.stop_grace_period = self.duration(d.get("stop_grace_period"), f"{p}.stop_grace_period")
        svc.cap_add = [str(c) for c in d.get("cap_add") or []]
        svc.cap_drop = [str(c) for c in d.get("cap_drop") or []]
        for limit, value in (d.get("ulimits") or {}).items():
            lp = f"{p}.ulimits.{limit}"
            if isinstance(value, dict):
                soft = self.integer(value.get("soft"), f"{lp}.soft")
                hard = self.integer(value.get("hard"), f"{lp}.hard")
                soft = hard if soft is None else soft
                hard = soft if hard is None else hard
                if soft is None or hard is None:
                    raise self.fail(lp, "expected soft and/or hard")
                svc.ulimits[limit] = Ulimit(soft, hard)
            else:
                n = self.integer(value, lp)
                assert n is not None
                svc.ulimits[limit] = Ulimit(n, n)
        deploy = d.get("deploy") or {}
        svc.deploy = Deploy(
            replicas=self.integer(deploy.get("replicas"), f"{p}.deploy.replicas"),
            limits=self.limits(
                (deploy.get("resources") or {}).get("limits"), f"{p}.deploy.resources.limits"
            ),
            reservations=self.limits(
                (deploy.get("resources") or {}).get("reservations"),
                f"{p}.deploy.resources.reservations",
            ),
        )
        svc.mem_limit = self.size(d.get("mem_limit"), f"{p}.mem_limit")
        svc.shm_size = self.size(d.get("shm_size"), f"{p}.shm_size")
        svc.cpus = self.number(d.get("cpus"), f"{p}.cpus")
        svc.pids_limit = self.integer(d.get("pids_limit"), f"{p}.pids_limit")
        svc.scale = self.integer(d.get("scale"), f"{p}.scale")
        svc.pull_policy = d.get("pull_policy")
        svc.platform = d.get("platform")
        svc.profiles = [str(x) for x in d.get("profiles") or []]
        svc.sysctls = {k: "" if v is None else v for k, v in (d.get("sysctls") or {}).items()}
        svc.security_opt = [str(x) for x in d.get("security_opt") or []]
        svc.devices = [
            x if isinstance(x, str) else str(x.get("source")) for x in d.get("devices") or []
        ]
        svc.links = [str(x) for x in d.get("links") or []]
        svc.extensions = {k: v for k, v in d.items() if str(k).startswith("x-")}
        return svc

    def limits(self, d: Any, path: str) -> ResourceLimits:
        d = d or {}
        return ResourceLimits(
            cpus=self.number(d.get("cpus"), f"{path}.cpus"),
            memory=self.size(d.get("memory"), f"{path}.memory"),
            pids=self.integer(d.get("pids"), f"{path}.pids"),
        )

    def volume(self, v: Mapping[str, Any], path: str) -> VolumeMount:
        bind = v.get("bind") or {}
        vol = v.get("volume") or {}
        tmpfs = v.get("tmpfs") or {}
        return VolumeMount(
            type=str(v.get("type", "volume")),
            target=str(v.get("target", "")),
            source=None if v.get("source") in (None, "") else str(v["source"]),
            read_only=bool(v.get("read_only", False)),
            create_host_path=bool(bind.get("create_host_path", True)),
            propagation=bind.get("propagation"),
            selinux=bind.get("selinux"),
            nocopy=bool(vol.get("nocopy", False)),
            subpath=vol.get("subpath"),
            tmpfs_size=self.size(tmpfs.get("size"), f"{path}.tmpfs.size"),
            tmpfs_mode=self.integer(tmpfs.get("mode"), f"{path}.tmpfs.mode"),
        )


def _str_map(value: Any) -> dict[str, str]:
    return {str(k): "" if v is None else str(v) for k, v in (value or {}).items()}


def build_project(
    model: Mapping[str, Any],
    *,
    working_dir: Path,
    locate: Locate,
    disabled: Mapping[str, Any] | None = None,
) -> Project:
    b = _Builder(locate)
    services = {n: b.service(n, s) for n, s in (model.get("services") or {}).items()}
    networks = {}
    for key, n in (model.get("networks") or {}).items():
        networks[key] = Network(
            key=key,
            name=str(n.get("name", key)),
            driver=str(n.get("driver") or "bridge"),
            internal=bool(n.get("internal", False)),
            external=bool(n.get("external", False)),
            enable_ipv6=bool(n.get("enable_ipv6", False)),
            labels=_str_map(n.get("labels")),
            driver_opts=_str_map(n.get("driver_opts")),
            subnets=list((n.get("ipam") or {}).get("config") or []),
        )
    volumes = {}
    for key, v in (model.get("volumes") or {}).items():
        volumes[key] = Volume(
            key=key,
            name=str(v.get("name", key)),
            driver=str(v.get("driver") or "local"),
            external=bool(v.get("external", False)),
            labels=_str_map(v.get("labels")),
            driver_opts=_str_map(v.get("driver_opts")),
        )
    return Project(
        name=str(model.get("name", "")),
        working_dir=working_dir,
        services=services,
        networks=networks,
        volumes=volumes,
        secrets=dict(model.get("secrets") or {}),
        configs=dict(model.get("configs") or {}),
        disabled={n: b.service(n, s) for n, s in (disabled or {}).items()},
        model=dict(model),
    )
