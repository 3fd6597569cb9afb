"""One compose service replica -> the engine's RunSpec (pure: no engine state touched).

Everything RunSpec cannot express yet is reported in `Converted.ignored`, so the
orchestrator can warn once instead of silently dropping a key.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields

from rootless.compose import labels as L
from rootless.compose.model import PortSpec, Project, Service, VolumeMount
from rootless.engine.runspec import RunSpec, Ulimit, parse_restart
from rootless.errors import UsageError

# RunSpec fields the network hook reads when present (added by the containers engineer).
_OPTIONAL_NET_FIELDS = ("network_alias", "dns", "dns_search", "add_host", "ip")


@dataclass
class Converted:
    spec: RunSpec
    aliases: list[str] = field(default_factory=list)  # on the first network
    ignored: list[str] = field(default_factory=list)  # keys RunSpec has no field for


def image_name(project: Project, service: Service) -> str:
    """The image a service runs: `image:`, else `<project>-<service>` (built)."""
    return service.image or f"{project.name}-{service.name}"


def container_name(project: Project, service: Service, number: int) -> str:
    return service.container_name or f"{project.name}-{service.name}-{number}"


def first_container(project: Project, ref: str) -> str:
    """`service:x` -> x's first container name; anything else is a container name."""
    svc = project.services.get(ref)
    return container_name(project, svc, 1) if svc else ref


def network_mode(project: Project, service: Service) -> str:
    mode = service.network_mode
    if mode:
        if mode.startswith("service:"):
            return "container:" + first_container(project, mode.split(":", 1)[1])
        if mode == "bridge":
            return "bridge"
        return mode
    ordered = sorted(service.networks.items(), key=lambda kv: -kv[1].priority)
    names = [project.networks[key].name if key in project.networks else key for key, _ in ordered]
    return ",".join(names) if names else "none"


def publish(port: PortSpec) -> str:
    text = str(port.target)
    if port.published:
        text = f"{port.published}:{text}"
    if port.host_ip:
        host_ip = f"[{port.host_ip}]" if ":" in port.host_ip else port.host_ip
        text = f"{host_ip}:{text}" if port.published else f"{host_ip}::{text}"
    return f"{text}/{port.protocol}"


def mount(project: Project, vol: VolumeMount) -> str:
    """A volume entry in `--mount` syntax (engine/mounts.py parses it)."""
    parts = [f"type={vol.type}"]
    if vol.type == "volume" and vol.source:
        top = project.volumes.get(vol.source)
        parts.append(f"source={top.name if top else vol.source}")
    elif vol.type == "bind":
        if not vol.source:
            raise UsageError(f"bind mount for {vol.target} has no source")
        parts.append(f"source={vol.source}")
    elif vol.type not in ("volume", "tmpfs"):
        raise UsageError(f"unsupported volume type {vol.type!r}", hint="use volume, bind or tmpfs")
    parts.append(f"target={vol.target}")
    if vol.read_only:
        parts.append("readonly")
    if vol.type == "bind" and vol.propagation:
        parts.append(f"bind-propagation={vol.propagation}")
    if vol.type == "volume" and vol.nocopy:
        parts.append("volume-nocopy")
    if vol.type == "tmpfs":
        if vol.tmpfs_size:
            parts.append(f"tmpfs-size={vol.tmpfs_size}")
        if vol.tmpfs_mode is not None:
            parts.append(f"tmpfs-mode={vol.tmpfs_mode:o}")
    return ",".join(parts)


def _tmpfs(items: list[str]) -> dict[str, str]:
    out = {}
    for item in items:
        path, _, opts = item.partition(":")
        out[path] = opts
    return out


def _restart(value: str | None) -> str:
    if not value or value == "no":
        return "no"
    return value


def to_runspec(
    project: Project, service: Service, number: int, *, oneoff: bool = False
) -> Converted:
    env = {k: v for k, v in service.environment.items() if v is not None}
    spec = RunSpec(
        image=image_name(project, service),
        command=list(service.command or []),
        entrypoint=None if service.entrypoint is None else list(service.entrypoint),
        name=None if oneoff else container_name(project, service, number),
        env=env,
        workdir=service.working_dir,
        user=service.user,
        hostname=service.hostname,
        labels={
            **service.labels,
            **L.container_labels(project, service, number, oneoff=oneoff),
        },
        tty=service.tty,
        interactive=service.stdin_open,
        detach=True,
        read_only=service.read_only,
        tmpfs=_tmpfs(service.tmpfs),
        init=bool(service.init),
        restart=parse_restart(_restart(service.restart)),
        stop_signal=service.stop_signal or "SIGTERM",
        stop_timeout=int(service.stop_grace_period)
        if service.stop_grace_period is not None
        else 10,
        ulimits=[Ulimit(n, u.soft, u.hard) for n, u in service.ulimits.items()],
        cap_add=list(service.cap_add),
        cap_drop=list(service.cap_drop),
        privileged=service.privileged,
        network=network_mode(project, service),
        publish=[publish(p) for p in service.ports],
        mounts=[mount(project, v) for v in service.volumes],
        volumes_from=[_volumes_from(project, v) for v in service.volumes_from],
        pull="never",  # the orchestrator pulls or builds first, by pull_policy
    )
    conv = Converted(spec)
    if not service.network_mode and service.networks:
        key = max(service.networks, key=lambda k: service.networks[k].priority)
        net = service.networks[key]
        conv.aliases = list(dict.fromkeys([service.name, *net.aliases]))
        if net.ipv4_address:
            _set_optional(conv, "ip", net.ipv4_address, "ipv4_address")
    _set_optional(conv, "network_alias", conv.aliases, "networks.*.aliases")
    _set_optional(conv, "dns", list(service.dns), "dns")
    _set_optional(conv, "dns_search", list(service.dns_search), "dns_search")
    _set_optional(conv, "add_host", [f"{h}:{ip}" for h, ip in service.extra_hosts], "extra_hosts")
    conv.spec.resources = resources(service)
    return conv


def resources(service: Service) -> dict[str, object]:
    """deploy.resources.limits (and the legacy mem_limit/cpus/pids_limit) as RunSpec
    resources; the engine applies them to the container's cgroup, or warns."""
    from rootless.cgroups.limits import Limits, to_dict

    lim = service.deploy.limits
    return to_dict(
        Limits(
            memory=lim.memory or service.mem_limit,
            cpus=lim.cpus or service.cpus,
            pids_limit=lim.pids or service.pids_limit,
        )
    )


def _volumes_from(project: Project, item: str) -> str:
    ref, _, mode = item.partition(":")
    if ref == "container":  # container:NAME[:mode]
        ref, _, mode = mode.partition(":")
    else:
        ref = first_container(project, ref)
    return f"{ref}:{mode}" if mode else ref


def _set_optional(conv: Converted, name: str, value: object, key: str) -> None:
    if not value:
        return
    if name in {f.name for f in fields(RunSpec)}:
        setattr(conv.spec, name, value)
    else:
        conv.ignored.append(key)
