"""The project's networks, volumes and images: created on `up`, removed on `down`.

Networks and volumes are labeled with the project and their compose key, so `down` only
removes what this project made; `external: true` ones must exist and are never removed.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path

from rootless.compose import labels as L
from rootless.compose.convert import image_name
from rootless.compose.model import Project, Service
from rootless.errors import EngineError, NotFound
from rootless.paths import Paths

Say = Callable[[str], None]


def used_networks(project: Project, services: Iterable[str]) -> list[str]:
    keys: dict[str, None] = {}
    for name in services:
        svc = project.services[name]
        if not svc.network_mode:
            keys.update(dict.fromkeys(svc.networks))
    return [k for k in keys if k in project.networks]


def used_volumes(project: Project, services: Iterable[str]) -> list[str]:
    keys: dict[str, None] = {}
    for name in services:
        for v in project.services[name].volumes:
            if v.type == "volume" and v.source in project.volumes:
                keys[v.source] = None
    return list(keys)


def ensure_networks(paths: Paths, project: Project, keys: Iterable[str], say: Say) -> None:
    from rootless.engine.networks import Networks
    from rootless.errors import Conflict

    nets = Networks(paths)
    for key in keys:
        net = project.networks[key]
        try:
            nets.get(net.name)
            continue
        except NotFound:
            if net.external:
                raise EngineError(
                    f"network {net.name} declared as external, but could not be found",
                    hint=f"create it first: rootless network create {net.name}",
                ) from None
        subnet = next((str(c["subnet"]) for c in net.subnets if c.get("subnet")), None)
        gateway = next((str(c["gateway"]) for c in net.subnets if c.get("gateway")), None)
        try:
            nets.create(
                net.name,
                subnet=subnet,
                gateway=gateway,
                internal=net.internal,
                labels={**net.labels, L.PROJECT: project.name, L.NETWORK: key},
                driver=net.driver if net.driver != "default" else "bridge",
            )
        except Conflict:
            continue  # a concurrent `up` made it first
        say(f"Network {net.name}  Created")


def remove_networks(paths: Paths, project: Project, say: Say) -> None:
    """Every network labeled with this project (declared now or earlier)."""
    from rootless.engine import network_hook
    from rootless.engine.networks import Networks
    from rootless.errors import Conflict

    nets = Networks(paths)
    for net in nets.ls():
        if net.labels.get(L.PROJECT) != project.name:
            continue
        try:
            nets.remove(net.name)
        except NotFound:
            continue
        except Conflict as e:  # still used, e.g. by an orphan kept without --remove-orphans
            say(f"WARN: network {net.name} not removed: {e}")
            continue
        network_hook.stop_network(paths, net)
        say(f"Network {net.name}  Removed")


def ensure_volumes(paths: Paths, project: Project, keys: Iterable[str], say: Say) -> None:
    from rootless.engine.volumes import VolumeStore

    store = VolumeStore(paths)
    for key in keys:
        vol = project.volumes[key]
        if store.exists(vol.name):
            continue
        if vol.external:
            raise EngineError(
                f"volume {vol.name} declared as external, but could not be found",
                hint=f"create it first: rootless volume create {vol.name}",
            )
        store.create(
            vol.name,
            labels={**vol.labels, L.PROJECT: project.name, L.VOLUME: key},
            options=dict(vol.driver_opts) or None,
        )
        say(f"Volume {vol.name}  Created")


def remove_volumes(paths: Paths, project: Project, say: Say) -> None:
    """Named volumes this project made (not external ones)."""
    from rootless.engine.volumes import VolumeStore

    store = VolumeStore(paths)
    for vol in store.all():
        if vol.labels.get(L.PROJECT) != project.name:
            continue
        try:
            store.remove(vol.name)
        except NotFound:
            continue
        say(f"Volume {vol.name}  Removed")


def remove_anonymous_volumes(paths: Paths, rec: object) -> None:
    from rootless.engine.volumes import VolumeStore

    VolumeStore(paths).remove_anonymous(rec)


# ---- images ----------------------------------------------------------------------------


def image_id(paths: Paths, ref: str) -> str | None:
    from rootless.engine.images import read_store

    try:
        return read_store(paths).get(ref).id
    except NotFound:
        return None


def build(
    paths: Paths,
    project: Project,
    svc: Service,
    say: Say,
    *,
    no_cache: bool = False,
    pull: bool = False,
    quiet: bool = True,
) -> str:
    """Build a service's image, tagged `image:` or `<project>-<service>`; its id."""
    from rootless.build.builder import BuildOptions
    from rootless.engine.build import build as do_build

    assert svc.build is not None
    b = svc.build
    context = Path(b.context)
    dockerfile: str | None = b.dockerfile
    if dockerfile == "Dockerfile" and not (context / dockerfile).is_file():
        # The spec's default name; let the builder look for `dockerfile` (the course's
        # spelling) and Containerfile as `rootless build` does.
        dockerfile = None
    if dockerfile and not Path(dockerfile).is_absolute():
        dockerfile = str(context / dockerfile)
    name = image_name(project, svc)
    say(f"Image {name}  Building")
    img = do_build(
        paths,
        BuildOptions(
            context=context,
            dockerfile=dockerfile,
            tags=list(dict.fromkeys([name, *b.tags])),
            build_args=dict(b.args),
            labels=dict(b.labels),
            target=b.target,
            no_cache=no_cache or b.no_cache,
            pull=pull or b.pull,
            quiet=quiet,
            network=b.network or "default",
        ),
    )
    say(f"Image {name}  Built")
    return img.id


def pull(paths: Paths, ref: str, say: Say, *, platform: str | None = None) -> str:
    from rootless.engine.registry import pull as do_pull

    say(f"Image {ref}  Pulling")
    img = do_pull(paths, ref, platform=platform, quiet=True)
    say(f"Image {ref}  Pulled")
    return img.id


def ensure_image(
    paths: Paths,
    project: Project,
    svc: Service,
    say: Say,
    *,
    build_first: bool = False,
    no_build: bool = False,
) -> str:
    """The service's image id: built (with --build or when missing), or pulled, following
    pull_policy (missing | always | never | build)."""
    name = image_name(project, svc)
    policy = svc.pull_policy or "missing"
    have = image_id(paths, name)
    if svc.build is not None and not no_build and (build_first or policy == "build" or not have):
        return build(paths, project, svc, say)
    if policy == "always" or (have is None and policy in ("missing", "if_not_present")):
        return pull(paths, name, say, platform=svc.platform)
    if have is None:
        raise NotFound(
            f"image {name} for service {svc.name} not found locally (pull_policy: {policy})",
            hint="pull or build it first: rootless compose pull / compose build",
        )
    return have


def remove_images(paths: Paths, project: Project, mode: str, say: Say) -> None:
    """--rmi all: every service image; --rmi local: only those without an `image:` name."""
    from rootless.engine.images import remove

    for svc in project.services.values():
        if mode == "local" and svc.image:
            continue
        name = image_name(project, svc)
        try:
            remove(paths, name)
        except NotFound:
            continue
        except EngineError as e:
            say(f"WARN: image {name} not removed: {e}")
            continue
        say(f"Image {name}  Removed")
