"""`rootless build`: build an image from a Dockerfile (podman's flags and output)."""

from __future__ import annotations

from pathlib import Path

import click

from rootless.cli.main import paths_from


@click.command(help="Build an image from a Dockerfile.")
@click.argument("context", default=".", type=click.Path())
@click.option(
    "-f",
    "--file",
    "dockerfile",
    default=None,
    help="Dockerfile (default: CONTEXT/Dockerfile, then dockerfile).",
)
@click.option("-t", "--tag", "tags", multiple=True, help="Name the image (repeatable).")
@click.option(
    "--build-arg", "build_args", multiple=True, help="NAME=VALUE for an ARG (repeatable)."
)
@click.option("--label", "labels", multiple=True, help="KEY=VALUE label on the image (repeatable).")
@click.option("--target", default=None, help="Build this stage (name or index).")
@click.option("--no-cache", is_flag=True, help="Run every step; do not use the layer cache.")
@click.option("--pull", is_flag=True, help="Always pull the base images.")
@click.option("-q", "--quiet", is_flag=True, help="Print only the image id.")
@click.option("--iidfile", type=click.Path(), default=None, help="Write the image id to this file.")
@click.option("--platform", default=None, help="os/arch (only this host's platform).")
@click.option(
    "--network",
    type=click.Choice(["default", "slirp4netns", "none", "host"]),
    default="default",
    help="Network of RUN steps (default: slirp4netns).",
)
@click.pass_context
def build(
    ctx: click.Context,
    context: str,
    dockerfile: str | None,
    tags: tuple[str, ...],
    build_args: tuple[str, ...],
    labels: tuple[str, ...],
    target: str | None,
    no_cache: bool,
    pull: bool,
    quiet: bool,
    iidfile: str | None,
    platform: str | None,
    network: str,
) -> None:
    from rootless.build.builder import BuildOptions
    from rootless.engine import build as svc
    from rootless.fsutil import atomic_write

    opts = BuildOptions(
        context=Path(context).resolve(),
        dockerfile=dockerfile,
        tags=list(tags),
        build_args=svc.parse_build_args(list(build_args)),
        labels=svc.parse_labels(list(labels)),
        target=target,
        no_cache=no_cache,
        pull=pull,
        quiet=quiet,
        platform=platform,
        network="default" if network == "slirp4netns" else network,
    )
    image = svc.build(paths_from(ctx), opts)
    if iidfile:
        atomic_write(iidfile, f"sha256:{image.id}".encode())
    click.echo(image.id)
