"""Image commands: images, image (inspect, prune, ls, rm, tag, save, load, import,
history, check), tag, rmi, save, load, import, history."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

import click

from rootless.cli.common import for_each
from rootless.cli.main import paths_from


def _size(n: int) -> str:
    for unit in ("B", "kB", "MB", "GB"):
        if n < 1000 or unit == "GB":
            return f"{n:.0f}{unit}" if unit == "B" else f"{n:.3g}{unit}"
        n /= 1000  # type: ignore[assignment]
    return str(n)


def _ago(created: str) -> str:
    from datetime import datetime

    try:
        t = datetime.fromisoformat(created.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return created or "unknown"
    d = time.time() - t
    for secs, unit in ((86400 * 365, "year"), (86400 * 30, "month"), (86400 * 7, "week"),
                       (86400, "day"), (3600, "hour"), (60, "minute")):  # fmt: skip
        if d >= secs:
            n = int(d // secs)
            return f"{n} {unit}{'s' if n > 1 else ''} ago"
    return "Less than a minute ago"


def _render(tmpl: str, row: dict[str, Any]) -> str:
    """--format templates: {{.Field}}, {{.A.B}}, {{json .}} (rootless.cli.gotemplate)."""
    from rootless.cli.gotemplate import render_path

    return render_path(tmpl, row)


def _table(header: list[str], body: list[list[str]]) -> None:
    table = [header, *body]
    widths = [max(len(r[i]) for r in table) for i in range(len(header))]
    for r in table:
        click.echo("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip())


# ---- images / image ls ----
@click.command(help="List images.")
@click.option("-a", "--all", "all_", is_flag=True, help="Also intermediate images.")
@click.option("-q", "--quiet", is_flag=True, help="Only image ids.")
@click.option("--no-trunc", is_flag=True, help="Full image ids.")
@click.option("--format", "fmt", default=None, help="json, table or a Go-like template.")
@click.argument("reference", required=False)
@click.pass_context
def images(
    ctx: click.Context,
    all_: bool,
    quiet: bool,
    no_trunc: bool,
    fmt: str | None,
    reference: str | None,
) -> None:
    from rootless.engine import images as svc
    from rootless.images.reference import BadReference, parse

    entries = svc.rows(paths_from(ctx))
    if reference:
        try:
            want = parse(reference).name
        except BadReference:
            want = reference
        entries = [
            (img, [p for p in pairs if p[0] == want or p[0].endswith("/" + reference)])
            for img, pairs in entries
        ]
        entries = [(i, p) for i, p in entries if p]
    if quiet:
        for img, _ in entries:
            click.echo(img.id if no_trunc else img.id[:12])
        return
    rows: list[dict[str, Any]] = []
    for img, pairs in entries:
        for repo, tag in pairs:
            rows.append(
                {
                    "Id": img.id,
                    "ID": img.id if no_trunc else img.id[:12],
                    "Repository": repo,
                    "Tag": tag,
                    "Digest": img.digest,
                    "Names": img.names,
                    "RepoTags": img.names,
                    "Created": img.created,
                    "CreatedSince": _ago(img.created),
                    "Size": img.size,
                    "VirtualSize": img.size,
                    "Dangling": not img.names,
                    "Labels": (img.config.get("config") or {}).get("Labels") or {},
                }
            )
    if fmt == "json":
        seen: dict[str, dict[str, Any]] = {}
        for r in rows:
            seen.setdefault(r["Id"], r)
        click.echo(json.dumps(list(seen.values()), indent=2))
        return
    if fmt and not fmt.startswith("table"):
        for r in rows:
            click.echo(_render(fmt, r))
        return
    _table(
        ["REPOSITORY", "TAG", "IMAGE ID", "CREATED", "SIZE"],
        [[r["Repository"], r["Tag"], r["ID"], r["CreatedSince"], _size(r["Size"])] for r in rows],
    )


@click.command(name="inspect", help="Show images' details as JSON.")
@click.option("--format", "-f", "fmt", default=None, help="A Go-like template.")
@click.argument("refs", nargs=-1, required=True)
@click.pass_context
def inspect(ctx: click.Context, fmt: str | None, refs: tuple[str, ...]) -> None:
    from rootless.engine import images as svc

    out: list[dict[str, Any]] = []
    for_each(refs, lambda r: out.append(svc.inspect(paths_from(ctx), r)))
    if fmt and fmt != "json":
        for d in out:
            click.echo(_render(fmt, d))
    else:
        click.echo(json.dumps(out, indent=4))


@click.command(help="Add names to an image.")
@click.argument("image")
@click.argument("names", nargs=-1, required=True)
@click.pass_context
def tag(ctx: click.Context, image: str, names: tuple[str, ...]) -> None:
    from rootless.engine import images as svc

    svc.tag(paths_from(ctx), image, list(names))


@click.command(help="Remove images (untag a name, or delete the image).")
@click.option("-f", "--force", is_flag=True, help="Even if containers use it.")
@click.option("-a", "--all", "all_", is_flag=True, help="All images.")
@click.argument("refs", nargs=-1)
@click.pass_context
def rmi(ctx: click.Context, force: bool, all_: bool, refs: tuple[str, ...]) -> None:
    from rootless.engine import images as svc

    paths = paths_from(ctx)
    if all_:
        refs = tuple(img.id for img, _ in svc.rows(paths))
    elif not refs:
        raise click.UsageError("rmi needs at least one image (or --all)")

    def one(ref: str) -> None:
        what, items = svc.remove(paths, ref, force=force)
        for it in items:
            click.echo(f"Untagged: {it}" if what == "untagged" else f"Deleted: {it}")

    for_each(refs, one)


@click.command(help="Remove unused images (dangling only, unless -a).")
@click.option("-a", "--all", "all_", is_flag=True, help="Every image no container uses.")
@click.option("-f", "--force", is_flag=True, help="Do not ask (we never ask).")
@click.pass_context
def prune(ctx: click.Context, all_: bool, force: bool) -> None:
    from rootless.engine import images as svc

    for iid in svc.prune(paths_from(ctx), all_):
        click.echo(iid)


@click.command(help="Show how an image was built, newest layer first.")
@click.option("-q", "--quiet", is_flag=True, help="Only ids.")
@click.option("--no-trunc", is_flag=True, help="Do not shorten.")
@click.option("--format", "fmt", default=None, help="json or a Go-like template.")
@click.argument("image")
@click.pass_context
def history(ctx: click.Context, quiet: bool, no_trunc: bool, fmt: str | None, image: str) -> None:
    from rootless.engine import images as svc

    rows = svc.history(paths_from(ctx), image)
    if quiet:
        for r in rows:
            click.echo(r["id"] if no_trunc or r["id"] == "<missing>" else r["id"][:12])
        return
    if fmt == "json":
        click.echo(json.dumps(rows, indent=2))
        return
    if fmt:
        for r in rows:
            fields = {k.title().replace("_", ""): v for k, v in r.items()}
            click.echo(_render(fmt, {**r, **fields, "ID": r["id"]}))
        return
    body = []
    for r in rows:
        by = (
            r["created_by"]
            if no_trunc or len(r["created_by"]) <= 45
            else r["created_by"][:44] + "…"
        )
        iid = r["id"] if no_trunc or r["id"] == "<missing>" else r["id"][:12]
        body.append([iid, _ago(r["created"]), by, _size(r["size"]), r["comment"]])
    _table(["ID", "CREATED", "CREATED BY", "SIZE", "COMMENT"], body)


@click.command(help="Write images to an archive (docker-archive, oci-archive, oci-dir).")
@click.option(
    "-o", "--output", type=click.Path(), help="File (or dir for oci-dir); default stdout."
)
@click.option(
    "--format",
    "fmt",
    default="docker-archive",
    show_default=True,
    type=click.Choice(["docker-archive", "oci-archive", "oci-dir"]),
)
@click.argument("refs", nargs=-1, required=True)
@click.pass_context
def save(ctx: click.Context, output: str | None, fmt: str, refs: tuple[str, ...]) -> None:
    from rootless.engine import images as svc

    if output is None and sys.stdout.isatty():
        raise click.UsageError("refusing to write an archive to a terminal; use -o FILE")
    svc.save(paths_from(ctx), list(refs), fmt, Path(output) if output else None)


class _Progress:
    """A rich progress bar on stderr, only when it is a terminal.

    Started on the first update: rich refreshes from a thread, and the user namespace
    can only be joined (at the start of the load) while the process has one thread."""

    def __init__(self, total: int | None) -> None:
        self.total = total
        self.bar: Any = None
        self.enabled = sys.stderr.isatty()

    def __call__(self, what: str, n: int) -> None:
        if not self.enabled:
            return
        if self.bar is None:
            from rich.progress import (
                BarColumn,
                DownloadColumn,
                Progress,
                TextColumn,
                TransferSpeedColumn,
            )

            self.bar = Progress(
                TextColumn("{task.description}"),
                BarColumn(),
                DownloadColumn(),
                TransferSpeedColumn(),
                transient=True,
            )
            self.tasks: dict[str, Any] = {}
            self.bar.start()
        # "unpacked <layer>" events (one per layer) get their own bar: reading the
        # archive and unpacking its layers are different amounts of bytes.
        kind = "unpack" if what.startswith("unpacked ") else "read"
        if kind not in self.tasks:
            self.tasks[kind] = self.bar.add_task(kind, total=self.total if kind == "read" else None)
        self.bar.update(self.tasks[kind], advance=n, description=what[-30:])

    def stop(self) -> None:
        if self.bar is not None:
            self.bar.stop()


@click.command(help="Load images from an archive (docker-archive, oci-archive, oci-dir).")
@click.option("-i", "--input", "input_", type=click.Path(), help="File or OCI dir; default stdin.")
@click.option("-q", "--quiet", is_flag=True, help="Print nothing but errors.")
@click.pass_context
def load(ctx: click.Context, input_: str | None, quiet: bool) -> None:
    from rootless.engine import images as svc

    if input_ is None and sys.stdin.isatty():
        raise click.UsageError("no input: use -i FILE or pipe an archive to stdin")
    source: Any = Path(input_) if input_ else sys.stdin.buffer
    total = None
    if input_ and Path(input_).is_file():
        total = Path(input_).stat().st_size
    progress = _Progress(total)
    try:
        loaded = svc.load(paths_from(ctx), source, progress)
    finally:
        progress.stop()
    if not quiet:
        for img in loaded:
            click.echo(f"Loaded image: {', '.join(img.names) or 'sha256:' + img.id}")


@click.command(name="import", help="Create an image from a root filesystem tarball.")
@click.option("-c", "--change", "changes", multiple=True, help="CMD=..., ENV=K=V, ...")
@click.option("-m", "--message", default="", help="History comment.")
@click.argument("source")
@click.argument("name", required=False)
@click.pass_context
def import_(
    ctx: click.Context, changes: tuple[str, ...], message: str, source: str, name: str | None
) -> None:
    from rootless.engine import images as svc
    from rootless.errors import EngineError

    if source == "-":
        img = svc.import_tarball(paths_from(ctx), sys.stdin.buffer, name, list(changes), message)
    else:
        try:
            f = open(source, "rb")  # noqa: SIM115
        except OSError as e:
            raise EngineError(f"cannot read {source}: {e.strerror}") from None
        with f:
            img = svc.import_tarball(paths_from(ctx), f, name, list(changes), message)
    click.echo(f"sha256:{img.id}")


@click.command(help="Check the image store's consistency (exit 125 on problems).")
@click.option("--verify-blobs", is_flag=True, help="Also re-hash every blob.")
@click.pass_context
def check(ctx: click.Context, verify_blobs: bool) -> None:
    from rootless.engine import images as svc

    problems = svc.check(paths_from(ctx), verify_blobs)
    for p in problems:
        click.echo(p)
    if any(not p.startswith("debris") for p in problems):
        sys.exit(125)


@click.group(help="Manage images.")
def image() -> None:
    pass


image.add_command(images, "ls")
image.add_command(images, "list")
image.add_command(inspect)
image.add_command(prune)
image.add_command(rmi, "rm")
image.add_command(tag)
image.add_command(save)
image.add_command(load)
image.add_command(import_, "import")
image.add_command(history)
image.add_command(check)
