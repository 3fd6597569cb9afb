"""The registry service: pull, push, login, logout (what the CLI and `run --pull` call)."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from rootless.images.store import Image
from rootless.paths import Paths
from rootless.registry import credentials
from rootless.registry.config import RegistriesConf, load
from rootless.registry.platform import host as host_platform
from rootless.registry.platform import parse as parse_platform

Progress = Callable[[str, int, int | None], None]


def registries(paths: Paths) -> RegistriesConf:
    return load(paths.config)


@contextmanager
def _progress(quiet: bool) -> Iterator[Progress | None]:
    """rich progress bars per layer on a terminal; nothing otherwise."""
    if quiet or not sys.stderr.isatty():
        yield None
        return
    from rich.progress import BarColumn, DownloadColumn, Progress, TaskID, TextColumn

    bars: dict[str, TaskID] = {}
    with Progress(
        TextColumn("{task.description}"), BarColumn(), DownloadColumn(), transient=False
    ) as prog:

        def update(digest: str, done: int, total: int | None) -> None:
            if digest not in bars:
                bars[digest] = prog.add_task(digest[7:19], total=total)
            prog.update(bars[digest], completed=done)

        yield update


def pull(paths: Paths, ref: str, *, platform: str | None = None, quiet: bool = False) -> Image:
    from rootless.engine.images import store as image_store
    from rootless.registry.pull import PullOptions
    from rootless.registry.pull import pull as do_pull

    plat = parse_platform(platform) if platform else host_platform()
    conf = registries(paths)
    store = image_store(paths)  # joins the user namespace before any thread starts
    store.cleanup_debris()
    with _progress(quiet) as progress:
        return do_pull(store, conf, ref, PullOptions(platform=plat, progress=progress))


def push(
    paths: Paths,
    source: str,
    dest: str | None = None,
    *,
    fmt: str | None = None,
    chunked: bool = False,
    quiet: bool = False,
) -> str:
    from rootless.engine.images import read_store
    from rootless.images import reference
    from rootless.registry.client import RegistryClient
    from rootless.registry.push import PushOptions
    from rootless.registry.push import push as do_push

    store = read_store(paths)
    img = store.get(source)
    target = reference.parse(dest or source)
    conf = registries(paths)
    endpoint, repo = conf.endpoints(target.name)[-1]
    others = [
        reference.parse(n).repository
        for n in img.names
        if reference.parse(n).registry == target.registry
    ]
    with (
        _progress(quiet) as progress,
        RegistryClient(
            endpoint.host, insecure=endpoint.insecure or conf.is_insecure(endpoint.host)
        ) as client,
    ):
        digest, _ = do_push(
            client,
            store,
            img.digest,
            repo,
            target.tag or "latest",
            PushOptions(format=fmt, chunked=chunked, mount_from=others, progress=progress),
        )
    return digest


def login(paths: Paths, registry: str, username: str, password: str) -> str:
    from rootless.registry.client import RegistryClient

    conf = registries(paths)
    creds = credentials.Credentials(username, password)
    with RegistryClient(registry, insecure=conf.is_insecure(registry)) as client:
        client.with_credentials(creds)
        client.ping()
    return str(credentials.store(registry, creds))


def logout(registry: str) -> bool:
    return credentials.remove(registry)
