"""`rootless network ...`: create, ls, inspect, rm, prune, connect, disconnect."""

from __future__ import annotations

import json

import click

from rootless.cli.main import paths_from


def _labels(items: tuple[str, ...], what: str) -> dict[str, str]:
    from rootless.errors import UsageError

    out = {}
    for item in items:
        k, sep, v = item.partition("=")
        if not k:
            raise UsageError(f"invalid {what} {item!r}", hint=f"use --{what} KEY=VALUE")
        out[k] = v if sep else ""
    return out


@click.group(help="Manage networks.")
def network() -> None:
    pass


@network.command("create", help="Create a bridge network.")
@click.argument("name")
@click.option("--subnet", default=None, help="IPv4 subnet in CIDR form, e.g. 10.90.0.0/24.")
@click.option("--gateway", default=None, help="Gateway address (default: first host).")
@click.option("--internal", is_flag=True, help="No outbound connectivity.")
@click.option("--label", "-l", "labels", multiple=True, help="KEY=VALUE metadata.")
@click.option("--driver", "-d", default="bridge", show_default=True)
@click.option("--opt", "-o", "opts", multiple=True, help="allow_host_loopback=true, mtu=N")
@click.pass_context
def create(
    ctx: click.Context,
    name: str,
    subnet: str | None,
    gateway: str | None,
    internal: bool,
    labels: tuple[str, ...],
    driver: str,
    opts: tuple[str, ...],
) -> None:
    from rootless.engine.networks import Networks

    net = Networks(paths_from(ctx)).create(
        name,
        subnet=subnet,
        gateway=gateway,
        internal=internal,
        labels=_labels(labels, "label"),
        driver=driver,
        options=_labels(opts, "opt"),
    )
    click.echo(net.id)


@network.command("ls", help="List networks.")
@click.option("--format", "fmt", default=None, help="json")
@click.option("--quiet", "-q", is_flag=True, help="Only names.")
@click.option("--no-trunc", is_flag=True)
@click.pass_context
def ls(ctx: click.Context, fmt: str | None, quiet: bool, no_trunc: bool) -> None:
    from rootless.engine.networks import Networks

    nets = Networks(paths_from(ctx)).ls()
    if fmt in ("json", "{{json .}}"):
        click.echo(json.dumps([n.inspect() for n in nets], indent=2))
        return
    if quiet:
        for n in nets:
            click.echo(n.name)
        return
    rows = [("NETWORK ID", "NAME", "DRIVER", "SUBNET")]
    rows += [(n.id if no_trunc else n.id[:12], n.name, n.driver, n.subnet) for n in nets]
    width = [max(len(r[i]) for r in rows) for i in range(3)]
    for r in rows:
        click.echo("  ".join(c.ljust(width[i]) for i, c in enumerate(r[:3])) + "  " + r[3])


@network.command("inspect", help="Show networks in Docker's JSON shape.")
@click.argument("names", nargs=-1, required=True)
@click.option("--format", "-f", "fmt", default=None, help="json (default)")
@click.pass_context
def inspect(ctx: click.Context, names: tuple[str, ...], fmt: str | None) -> None:
    from rootless.engine.networks import Networks

    nets = Networks(paths_from(ctx))
    click.echo(json.dumps([nets.get(n).inspect() for n in names], indent=4))


@network.command("rm", help="Remove networks.")
@click.argument("names", nargs=-1, required=True)
@click.pass_context
def rm(ctx: click.Context, names: tuple[str, ...]) -> None:
    from rootless.engine.networks import Networks

    nets = Networks(paths_from(ctx))
    for n in names:
        click.echo(nets.remove(n).name)


@network.command("prune", help="Remove networks no container uses.")
@click.option("--force", "-f", is_flag=True, help="Do not ask.")
@click.pass_context
def prune(ctx: click.Context, force: bool) -> None:
    from rootless.engine.networks import Networks

    for name in Networks(paths_from(ctx)).prune():
        click.echo(name)


@network.command("connect", help="Connect a running container to a network.")
@click.argument("name")
@click.argument("container")
@click.option("--ip", default=None, help="IPv4 address on that network.")
@click.option("--alias", "aliases", multiple=True, help="Extra DNS name on that network.")
@click.pass_context
def connect(
    ctx: click.Context, name: str, container: str, ip: str | None, aliases: tuple[str, ...]
) -> None:
    from rootless.engine import network_hook
    from rootless.userns import enter

    paths = paths_from(ctx)
    enter(paths)
    network_hook.connect(paths, name, container, ip, list(aliases))


@network.command("disconnect", help="Disconnect a container from a network.")
@click.argument("name")
@click.argument("container")
@click.option("--force", "-f", is_flag=True)
@click.pass_context
def disconnect(ctx: click.Context, name: str, container: str, force: bool) -> None:
    from rootless.engine import network_hook
    from rootless.userns import enter

    paths = paths_from(ctx)
    enter(paths)
    network_hook.disconnect(paths, name, container)
