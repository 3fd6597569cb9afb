"""`compose ps/logs/top/port/images`: read-only views of the project's containers."""

from __future__ import annotations

import json
import sys
from typing import TYPE_CHECKING, Any

import click

from rootless.cli.compose_lifecycle import orchestrator

if TYPE_CHECKING:
    from rootless.compose.orchestrator import Orchestrator


def _table(header: list[str], rows: list[list[str]]) -> None:
    widths = [max(len(str(c)) for c in col) for col in zip(header, *rows, strict=False)]
    for row in [header, *rows]:
        click.echo("   ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=False)).rstrip())


@click.command("ps", help="List the project's containers.")
@click.argument("services", nargs=-1)
@click.option("-a", "--all", "all_", is_flag=True, help="Also stopped containers.")
@click.option("-q", "--quiet", is_flag=True, help="Only ids.")
@click.option("--services", "list_services", is_flag=True, help="Only service names.")
@click.option("--status", multiple=True, help="Filter by state (running, exited, created...).")
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table")
@click.pass_context
def ps(
    ctx: click.Context,
    services: tuple[str, ...],
    all_: bool,
    quiet: bool,
    list_services: bool,
    status: tuple[str, ...],
    fmt: str,
) -> None:
    from rootless.compose import labels as L
    from rootless.engine.containers.view import summary

    orch = orchestrator(ctx)
    rows = []
    for ex in orch.containers(orch.order(services, with_deps=False) if services else ()):
        row = summary(orch.ctx, ex.record)
        if status and row["State"] not in status:
            continue
        if not all_ and not status and row["State"] not in ("running", "paused", "restarting"):
            continue
        row["Service"] = ex.service
        row["Project"] = orch.project.name
        row["Name"] = row["Names"]
        row["Publishers"] = _publishers(orch, ex.record.id)
        row["Labels"] = row.pop("LabelsMap")
        row["Labels"].pop(L.CONFIG_HASH, None)
        rows.append(row)
    if quiet:
        for r in rows:
            click.echo(r["Id"])
    elif list_services:
        for name in dict.fromkeys(r["Service"] for r in rows):
            click.echo(name)
    elif fmt == "json":
        click.echo(json.dumps(rows))
    else:
        _table(
            ["NAME", "IMAGE", "COMMAND", "SERVICE", "CREATED", "STATUS", "PORTS"],
            [
                [r["Names"], r["Image"], json.dumps(r["Command"][:20]), r["Service"],
                 r["RunningFor"], r["Status"], _ports_text(r["Publishers"])]
                for r in rows
            ],
        )  # fmt: skip


def _publishers(orch: Orchestrator, cid: str) -> list[dict[str, Any]]:
    from rootless.engine import network_hook

    return [
        {"URL": p.get("host_ip") or "0.0.0.0", "TargetPort": p.get("container_port"),
         "PublishedPort": p.get("host_port"), "Protocol": p.get("proto", "tcp")}
        for p in network_hook.ports(orch.paths, cid)
    ]  # fmt: skip


def _ports_text(pubs: list[dict[str, Any]]) -> str:
    return ", ".join(
        f"{p['URL']}:{p['PublishedPort']}->{p['TargetPort']}/{p['Protocol']}" for p in pubs
    )


@click.command("logs", help="Show the project's container logs (colored per service).")
@click.argument("services", nargs=-1)
@click.option("-f", "--follow", is_flag=True, help="Follow the output.")
@click.option("-n", "--tail", default="all", help="Lines from the end of each log (or all).")
@click.option("--since", default=None, help="Since a timestamp or a duration (10m).")
@click.option("-t", "--timestamps", is_flag=True, help="Show timestamps.")
@click.option("--no-color", is_flag=True, help="Monochrome output.")
@click.option("--no-log-prefix", is_flag=True, help="Don't prefix lines with the container.")
@click.pass_context
def logs(
    ctx: click.Context,
    services: tuple[str, ...],
    follow: bool,
    tail: str,
    since: str | None,
    timestamps: bool,
    no_color: bool,
    no_log_prefix: bool,
) -> None:
    from rootless.compose.logmux import LogOptions, stream
    from rootless.errors import UsageError

    if tail != "all" and not tail.isdigit():
        raise UsageError(f"invalid --tail {tail!r}", hint="use a number or all")
    orch = orchestrator(ctx)
    recs = [ex.record for ex in orch.containers(orch.order(services, with_deps=False))]
    opts = LogOptions(
        follow=follow,
        tail=None if tail == "all" else int(tail),
        since=since,
        timestamps=timestamps,
        prefix=not no_log_prefix,
        color=not no_color and sys.stdout.isatty(),
    )
    stream(orch.ctx, recs, opts, lambda line: click.echo(line))


@click.command("top", help="Show the processes of the project's running containers.")
@click.argument("services", nargs=-1)
@click.pass_context
def top(ctx: click.Context, services: tuple[str, ...]) -> None:
    from rootless.engine.containers.manage import top as top_of

    orch = orchestrator(ctx)
    for ex in orch.containers(orch.order(services, with_deps=False)):
        if orch.ctx.state(ex.record)[0].value != "running":
            continue
        rows = top_of(orch.ctx, ex.record.id)
        click.echo(ex.name)
        if rows:
            header = list(rows[0])
            _table(header, [[str(r.get(h, "")) for h in header] for r in rows])
        click.echo("")


@click.command("port", help="Print the public address of a service's port.")
@click.argument("service")
@click.argument("private_port", type=int)
@click.option("--protocol", type=click.Choice(["tcp", "udp"]), default="tcp")
@click.option("--index", type=int, default=1, help="Which replica.")
@click.pass_context
def port(ctx: click.Context, service: str, private_port: int, protocol: str, index: int) -> None:
    from rootless.errors import NotFound

    orch = orchestrator(ctx)
    ex = orch.running(service, index)
    for p in _publishers(orch, ex.record.id):
        if p["TargetPort"] == private_port and p["Protocol"] == protocol:
            click.echo(f"{p['URL']}:{p['PublishedPort']}")
            return
    raise NotFound(f"no port {private_port}/{protocol} published for service {service}")


@click.command("images", help="List the images the project's containers use.")
@click.argument("services", nargs=-1)
@click.option("-q", "--quiet", is_flag=True, help="Only image ids.")
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table")
@click.pass_context
def images(ctx: click.Context, services: tuple[str, ...], quiet: bool, fmt: str) -> None:
    orch = orchestrator(ctx)
    rows = orch.images(orch.order(services, with_deps=False) if services else ())
    if quiet:
        for r in dict.fromkeys(r["ID"] for r in rows):
            click.echo(r)
    elif fmt == "json":
        click.echo(json.dumps(rows))
    else:
        _table(
            ["CONTAINER", "REPOSITORY", "TAG", "IMAGE ID", "SIZE"],
            [[r["Container"], r["Repository"], r["Tag"], r["ID"], r["Size"]] for r in rows],
        )


COMMANDS = [ps, logs, top, port, images]
