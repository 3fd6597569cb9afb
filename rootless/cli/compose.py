"""`rootless compose`: the compose group, its global options and `compose config`.

Extension point for the orchestrator's verbs (up, down, ps, build, logs, ...): add a
command to `compose` below and call `load(ctx)` to get the typed `Project`
(rootless.compose.model) built from the group's -f/-p/--env-file/--profile/
--project-directory options; `Project.service_order()` gives a depends_on-safe order.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import click

if TYPE_CHECKING:
    from rootless.compose.model import Project


@dataclass
class ComposeOptions:
    files: list[str] = field(default_factory=list)
    project_name: str | None = None
    project_directory: str | None = None
    env_files: list[str] = field(default_factory=list)
    profiles: list[str] = field(default_factory=list)


def load(ctx: click.Context) -> Project:
    """The project the group's options describe; warnings go to stderr."""
    from rootless.compose.loader import ProjectOptions, load_project

    opts: ComposeOptions = ctx.find_object(ComposeOptions) or ComposeOptions()
    project = load_project(
        ProjectOptions(
            files=opts.files,
            project_name=opts.project_name,
            project_directory=opts.project_directory,
            env_files=opts.env_files,
            profiles=opts.profiles,
        )
    )
    for warning in project.warnings:
        click.echo(f"WARN: {warning}", err=True)
    return project


@click.group(help="Define and run multi-container applications (compose spec).")
@click.option(
    "-f", "--file", "files", multiple=True, help="Compose file (repeatable; - for stdin)."
)
@click.option("-p", "--project-name", default=None, help="Project name.")
@click.option("--project-directory", default=None, help="Base directory for relative paths.")
@click.option("--env-file", "env_files", multiple=True, help="Environment file (repeatable).")
@click.option("--profile", "profiles", multiple=True, help="Enable a profile (repeatable).")
@click.pass_context
def compose(
    ctx: click.Context,
    files: tuple[str, ...],
    project_name: str | None,
    project_directory: str | None,
    env_files: tuple[str, ...],
    profiles: tuple[str, ...],
) -> None:
    ctx.obj = ComposeOptions(
        files=list(files),
        project_name=project_name,
        project_directory=project_directory,
        env_files=list(env_files),
        profiles=list(profiles),
    )


@compose.command("config", help="Validate the compose files and print the normalized model.")
@click.option("--format", "fmt", type=click.Choice(["yaml", "json"]), default="yaml")
@click.option("-q", "--quiet", is_flag=True, help="Only validate; print nothing.")
@click.option("--services", is_flag=True, help="Print the service names, one per line.")
@click.option("--volumes", is_flag=True, help="Print the volume names, one per line.")
@click.option("--networks", is_flag=True, help="Print the network names, one per line.")
@click.option("--profiles", "list_profiles", is_flag=True, help="Print the profile names.")
@click.option("--images", is_flag=True, help="Print the image names, one per line.")
@click.option("-o", "--output", default=None, help="Write the model to this file instead.")
@click.pass_context
def config(
    ctx: click.Context,
    fmt: str,
    quiet: bool,
    services: bool,
    volumes: bool,
    networks: bool,
    list_profiles: bool,
    images: bool,
    output: str | None,
) -> None:
    project = load(ctx)
    if quiet:
        return
    if services:
        for name in project.services:
            click.echo(name)
    elif volumes:
        for name in project.volumes:
            click.echo(name)
    elif networks:
        for name in project.networks:
            click.echo(name)
    elif list_profiles:
        every = [*project.services.values(), *project.disabled.values()]
        for name in sorted({p for svc in every for p in svc.profiles}):
            click.echo(name)
    elif images:
        for svc in project.services.values():
            click.echo(svc.image or f"{project.name}-{svc.name}")
    else:
        if fmt == "json":
            text = json.dumps(project.model, indent=2) + "\n"
        else:
            from rootless.compose.yamlio import dump

            text = dump(project.model)
        if output is None:
            click.echo(text, nl=False)
            return
        from rootless.errors import EngineError
        from rootless.fsutil import atomic_write

        try:
            atomic_write(output, text.encode("utf-8"))
        except OSError as e:
            raise EngineError(f"cannot write {output}: {e.strerror}") from None


def _attach_verbs() -> None:
    """The orchestrator's verbs live in compose_*.py; the group stays one import away."""
    from rootless.cli import (
        compose_images,
        compose_inspect,
        compose_lifecycle,
        compose_oneoff,
        compose_signals,
    )

    for module in (
        compose_lifecycle,
        compose_inspect,
        compose_oneoff,
        compose_images,
        compose_signals,
    ):
        for command in module.COMMANDS:
            compose.add_command(command)


_attach_verbs()
