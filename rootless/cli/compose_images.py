"""`compose build/pull/push`: the project's images."""

from __future__ import annotations

import click

from rootless.cli.compose_lifecycle import orchestrator


@click.command("build", help="Build the images of services that have a build: section.")
@click.argument("services", nargs=-1)
@click.option("--no-cache", is_flag=True, help="Don't use the build cache.")
@click.option("--pull", is_flag=True, help="Always pull newer base images.")
@click.option("-q", "--quiet", is_flag=True, help="Print nothing but errors.")
@click.pass_context
def build(
    ctx: click.Context, services: tuple[str, ...], no_cache: bool, pull: bool, quiet: bool
) -> None:
    from rootless.compose.resources import build as build_one

    orch = orchestrator(ctx)
    say = (lambda _line: None) if quiet else orch.say
    for name in orch.order(services, with_deps=False):
        svc = orch.project.services[name]
        if svc.build is not None:
            build_one(orch.paths, orch.project, svc, say, no_cache=no_cache, pull=pull, quiet=quiet)


@click.command("pull", help="Pull the images of services that name one.")
@click.argument("services", nargs=-1)
@click.option("-q", "--quiet", is_flag=True, help="Print nothing but errors.")
@click.option("--ignore-pull-failures", is_flag=True, help="Warn and go on when a pull fails.")
@click.option("--include-deps", is_flag=True, help="Also pull the dependencies' images.")
@click.pass_context
def pull(
    ctx: click.Context,
    services: tuple[str, ...],
    quiet: bool,
    ignore_pull_failures: bool,
    include_deps: bool,
) -> None:
    from rootless.compose.resources import pull as pull_one
    from rootless.errors import EngineError

    orch = orchestrator(ctx)
    say = (lambda _line: None) if quiet else orch.say
    for name in orch.order(services, with_deps=include_deps):
        svc = orch.project.services[name]
        if not svc.image or (svc.build is not None and svc.pull_policy != "always"):
            continue  # built locally
        try:
            pull_one(orch.paths, svc.image, say, platform=svc.platform)
        except EngineError as e:
            if not ignore_pull_failures:
                raise
            orch.say(f"WARN: pull of {svc.image} failed: {e.line()}")


@click.command("push", help="Push the images of services that have build: and image:.")
@click.argument("services", nargs=-1)
@click.option("--ignore-push-failures", is_flag=True, help="Warn and go on when a push fails.")
@click.option("-q", "--quiet", is_flag=True, help="Print nothing but errors.")
@click.pass_context
def push(
    ctx: click.Context, services: tuple[str, ...], ignore_push_failures: bool, quiet: bool
) -> None:
    from rootless.engine.registry import push as push_image
    from rootless.errors import EngineError

    orch = orchestrator(ctx)
    for name in orch.order(services, with_deps=False):
        svc = orch.project.services[name]
        if not svc.image or svc.build is None:
            continue
        try:
            if not quiet:
                orch.say(f"Image {svc.image}  Pushing")
            push_image(orch.paths, svc.image, quiet=True)
            if not quiet:
                orch.say(f"Image {svc.image}  Pushed")
        except EngineError as e:
            if not ignore_push_failures:
                raise
            orch.say(f"WARN: push of {svc.image} failed: {e.line()}")


COMMANDS = [build, pull, push]
