"""`compose exec` and `compose run`: a command in a service's container / a new one-off."""

from __future__ import annotations

import sys
from typing import Any

import click

from rootless.cli.compose_lifecycle import orchestrator

CTX = {"allow_interspersed_args": False}


def _env(items: tuple[str, ...]) -> dict[str, str]:
    from rootless.engine.runspec import parse_env

    return parse_env(list(items))


@click.command("exec", context_settings=CTX, help="Run a command in a running service container.")
@click.option("-d", "--detach", is_flag=True, help="Run in the background.")
@click.option("-T", "--no-tty", "no_tty", is_flag=True, help="Don't allocate a pseudo-terminal.")
@click.option("-e", "--env", multiple=True, help="Set an environment variable.")
@click.option("-u", "--user", default=None, help="Run as this user.")
@click.option("-w", "--workdir", default=None, help="Working directory.")
@click.option("--index", type=int, default=1, help="Which replica.")
@click.option("--privileged", is_flag=True, help="All capabilities.")
@click.argument("service")
@click.argument("command", nargs=-1, required=True, type=click.UNPROCESSED)
@click.pass_context
def exec_(
    ctx: click.Context,
    detach: bool,
    no_tty: bool,
    env: tuple[str, ...],
    user: str | None,
    workdir: str | None,
    index: int,
    privileged: bool,
    service: str,
    command: tuple[str, ...],
) -> None:
    from rootless.engine.containers.exec import ExecSpec
    from rootless.engine.containers.exec import exec_ as exec_container

    orch = orchestrator(ctx)
    ex = orch.running(service, index)
    tty = not no_tty and not detach and sys.stdin.isatty() and sys.stdout.isatty()
    code = exec_container(
        orch.ctx,
        ex.record.id,
        ExecSpec(
            command=list(command),
            interactive=tty,
            tty=tty,
            detach=detach,
            env=_env(env),
            user=user,
            workdir=workdir,
            privileged=privileged,
        ),
    )
    sys.exit(code)


@click.command(
    "run", context_settings=CTX, help="Run a one-off command in a new service container."
)
@click.option("--rm", "remove", is_flag=True, help="Remove the container when it exits.")
@click.option("-d", "--detach", is_flag=True, help="Run in the background, print the name.")
@click.option("-T", "--no-tty", "no_tty", is_flag=True, help="Don't allocate a pseudo-terminal.")
@click.option("-i", "--interactive", is_flag=True, default=False, help="Keep stdin open.")
@click.option("-e", "--env", multiple=True, help="Set an environment variable.")
@click.option("--name", default=None, help="Container name.")
@click.option("--entrypoint", default=None, help="Override the entrypoint.")
@click.option("-u", "--user", default=None, help="Run as this user.")
@click.option("-w", "--workdir", default=None, help="Working directory.")
@click.option("--no-deps", is_flag=True, help="Don't start the service's dependencies.")
@click.option("--service-ports", is_flag=True, help="Publish the service's ports.")
@click.argument("service")
@click.argument("command", nargs=-1, type=click.UNPROCESSED)
@click.pass_context
def run(ctx: click.Context, service: str, command: tuple[str, ...], **kw: Any) -> None:
    from rootless.engine.runspec import parse_entrypoint

    orch = orchestrator(ctx)
    tty = not kw["no_tty"] and not kw["detach"] and sys.stdin.isatty() and sys.stdout.isatty()
    rec, code = orch.run(
        service,
        list(command) or None,
        remove=bool(kw["remove"]),
        detach=bool(kw["detach"]),
        no_deps=bool(kw["no_deps"]),
        env=_env(kw["env"]),
        name=kw["name"],
        entrypoint=parse_entrypoint(kw["entrypoint"]),
        user=kw["user"],
        workdir=kw["workdir"],
        service_ports=bool(kw["service_ports"]),
        tty=tty,
        interactive=bool(kw["interactive"]) or tty,
    )
    if code is None:
        click.echo(rec.name)
        return
    sys.exit(code)


COMMANDS = [exec_, run]
