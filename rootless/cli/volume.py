"""`rootless volume ...`: create, ls, inspect, rm, prune."""

from __future__ import annotations

import json
import sys
from typing import Any

import click

from rootless.cli.common import for_each
from rootless.cli.main import paths_from


def _pairs(items: tuple[str, ...], what: str) -> dict[str, str]:
    from rootless.errors import UsageError

    out = {}
    for item in items:
        k, sep, v = item.partition("=")
        if not k:
            raise UsageError(f"invalid --{what} {item!r}", hint=f"use --{what} KEY=VALUE")
        out[k] = v if sep else ""
    return out


def _store(ctx: click.Context, *, userns: bool) -> Any:
    """Volume data belongs to subuids: writers join the engine's user namespace."""
    from rootless.engine.volumes import VolumeStore
    from rootless.paths import ensure_dirs

    paths = paths_from(ctx)
    if userns:
        from rootless.userns import enter

        ensure_dirs(paths)
        enter(paths)
    return VolumeStore(paths)


@click.group(help="Manage volumes.")
def volume() -> None:
    pass


@volume.command("create", help="Create a volume (a random name when NAME is omitted).")
@click.argument("name", required=False)
@click.option("--label", "-l", "labels", multiple=True, help="KEY=VALUE metadata.")
@click.option("--opt", "-o", "opts", multiple=True, help="Driver option: o=uid=N,gid=N,mode=0755.")
@click.option("--driver", "-d", default="local", show_default=True, help="Only local.")
@click.pass_context
def create(
    ctx: click.Context,
    name: str | None,
    labels: tuple[str, ...],
    opts: tuple[str, ...],
    driver: str,
) -> None:
    from rootless.errors import UsageError

    if driver != "local":
        raise UsageError(f"unknown volume driver {driver!r}", hint="only the local driver exists")
    vol = _store(ctx, userns=True).create(
        name, labels=_pairs(labels, "label"), options=_pairs(opts, "opt")
    )
    click.echo(vol.name)


def _render(fmt: str, row: dict[str, Any]) -> str:
    from rootless.cli.gotemplate import render_path

    return render_path(fmt, row)


_HEADERS = {"Name": "VOLUME NAME", "Driver": "DRIVER", "Mountpoint": "MOUNTPOINT",
            "Labels": "LABELS", "Scope": "SCOPE", "CreatedAt": "CREATED AT"}  # fmt: skip


@volume.command("ls", help="List volumes.")
@click.option("-q", "--quiet", is_flag=True, help="Only names.")
@click.option(
    "-f", "--filter", "filters", multiple=True, help="name=, label=K[=V], dangling=, driver="
)
@click.option("--format", "fmt", default=None, help="Go template, 'table ...' or json.")
@click.pass_context
def ls(ctx: click.Context, quiet: bool, filters: tuple[str, ...], fmt: str | None) -> None:
    from rootless.engine.volumes import matches, parse_filters

    store = _store(ctx, userns=False)
    flt = parse_filters(list(filters))
    used = store.users() if "dangling" in flt else {}
    vols = [v for v in store.all() if matches(v, flt, in_use=v.name in used)]
    if quiet:
        for v in vols:
            click.echo(v.name)
        return
    rows = [v.inspect() for v in vols]
    if fmt in ("json", "{{json .}}"):
        for r in rows:
            click.echo(json.dumps(r))
        return
    if fmt is None:
        fmt = "table {{.Driver}}\\t{{.Name}}"
    if fmt.startswith("table"):
        import re

        body = fmt[len("table") :].strip() or "{{.Driver}}\\t{{.Name}}"
        header = re.sub(
            r"\{\{\s*\.(\w+)\s*\}\}", lambda m: _HEADERS.get(m.group(1), m.group(1).upper()), body
        )
        lines = [header.replace("\\t", "\t")] + [_render(body, r) for r in rows]
        cells = [ln.split("\t") for ln in lines]
        widths = [max(len(c[i]) for c in cells if i < len(c)) for i in range(max(map(len, cells)))]
        for c in cells:
            click.echo("   ".join(x.ljust(widths[i]) for i, x in enumerate(c)).rstrip())
        return
    for r in rows:
        click.echo(_render(fmt, r))


volume.add_command(ls, "list")


@volume.command("inspect", help="Show volumes' details as JSON (Mountpoint is the host path).")
@click.option("-f", "--format", "fmt", default=None, help="Go template or json.")
@click.argument("names", nargs=-1, required=True)
@click.pass_context
def inspect(ctx: click.Context, fmt: str | None, names: tuple[str, ...]) -> None:
    from rootless.errors import EngineError

    store = _store(ctx, userns=False)
    rows, failed = [], None
    for name in names:
        try:
            rows.append(store.get(name).inspect())
        except EngineError as e:
            failed = e
    if fmt and fmt != "json":
        for r in rows:
            click.echo(_render(fmt, r))
    else:
        click.echo(json.dumps(rows, indent=4))
    if failed is not None:
        click.echo(f"Error: {failed.line()}", err=True)
        sys.exit(failed.exit_code)


@volume.command("rm", help="Remove volumes (refuses ones containers use, unless -f).")
@click.option("-f", "--force", is_flag=True, help="Remove even if in use; ignore missing.")
@click.argument("names", nargs=-1, required=True)
@click.pass_context
def rm(ctx: click.Context, force: bool, names: tuple[str, ...]) -> None:
    from rootless.errors import NotFound

    store = _store(ctx, userns=True)

    def one(name: str) -> str | None:
        try:
            store.remove(name, force=force)
        except NotFound:
            if force:
                return None
            raise
        return name

    for_each(names, one)


volume.add_command(rm, "remove")


@volume.command("prune", help="Remove all volumes that no container uses.")
@click.option("-f", "--force", is_flag=True, help="Do not ask for confirmation.")
@click.option("--filter", "filters", multiple=True, help="label=K[=V], name=...")
@click.pass_context
def prune(ctx: click.Context, force: bool, filters: tuple[str, ...]) -> None:
    from rootless.engine.volumes import parse_filters

    flt = parse_filters(list(filters))
    if not force and not click.confirm(
        "WARNING! This will remove all volumes not used by at least one container. Continue?"
    ):
        return
    for name in _store(ctx, userns=True).prune(flt):
        click.echo(name)
