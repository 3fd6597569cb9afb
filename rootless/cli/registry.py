from __future__ import annotations

import sys

import click

from rootless.cli.main import paths_from


@click.command(help="Pull an image from a registry.")
@click.argument("image")
@click.option("--platform", default=None, help="os/arch[/variant] (default: this host's).")
@click.option("-q", "--quiet", is_flag=True, help="No progress output.")
@click.pass_context
def pull(ctx: click.Context, image: str, platform: str | None, quiet: bool) -> None:
    from rootless.engine.registry import pull as do_pull

    img = do_pull(paths_from(ctx), image, platform=platform, quiet=quiet)
    click.echo(img.id)


@click.command(help="Push an image to a registry.")
@click.argument("image")
@click.argument("destination", required=False)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["oci", "v2s2"]),
    default=None,
    help="Manifest format to push (default: as stored).",
)
@click.option("--chunked", is_flag=True, help="Upload blobs in chunks.")
@click.option("-q", "--quiet", is_flag=True)
@click.option(
    "--digestfile",
    type=click.Path(),
    default=None,
    help="Write the pushed manifest digest to this file.",
)
@click.pass_context
def push(
    ctx: click.Context,
    image: str,
    destination: str | None,
    fmt: str | None,
    chunked: bool,
    quiet: bool,
    digestfile: str | None,
) -> None:
    from rootless.engine.registry import push as do_push

    if destination and destination.startswith("docker://"):
        destination = destination.removeprefix("docker://")
    digest = do_push(paths_from(ctx), image, destination, fmt=fmt, chunked=chunked, quiet=quiet)
    if digestfile:
        with open(digestfile, "w") as f:
            f.write(digest)
    if not quiet:
        click.echo(digest)


@click.command(help="Log in to a registry (credentials stored 0600).")
@click.argument("registry")
@click.option("-u", "--username", default=None)
@click.option("-p", "--password", default=None, help="Prefer --password-stdin.")
@click.option("--password-stdin", is_flag=True, help="Read the password from stdin.")
@click.pass_context
def login(
    ctx: click.Context,
    registry: str,
    username: str | None,
    password: str | None,
    password_stdin: bool,
) -> None:
    from rootless.engine.registry import login as do_login
    from rootless.errors import UsageError

    if password_stdin:
        if password:
            raise UsageError("--password and --password-stdin are mutually exclusive")
        password = sys.stdin.readline().rstrip("\n")
    if not username:
        if not sys.stdin.isatty():
            raise UsageError("no username: pass -u USER")
        username = click.prompt("Username")
    if password is None:
        if not sys.stdin.isatty():
            raise UsageError("no password: use --password-stdin")
        password = click.prompt("Password", hide_input=True)
    do_login(paths_from(ctx), registry, username, password)
    click.echo("Login Succeeded!")


@click.command(help="Log out of a registry.")
@click.argument("registry")
def logout(registry: str) -> None:
    from rootless.engine.registry import logout as do_logout
    from rootless.errors import NotFound

    if not do_logout(registry):
        raise NotFound(f"not logged in to {registry}")
    click.echo(f"Removed login credentials for {registry}")
