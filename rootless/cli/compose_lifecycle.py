"""`compose up/down/create/start/stop/restart`: parse flags, call the orchestrator."""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import click

from rootless.cli.compose import load
from rootless.cli.main import paths_from

if TYPE_CHECKING:
    from rootless.compose.orchestrator import ConvergeOptions, Orchestrator


def orchestrator(ctx: click.Context) -> Orchestrator:
    from rootless.compose.orchestrator import Orchestrator

    return Orchestrator(paths_from(ctx), load(ctx))


def parse_scale(items: tuple[str, ...]) -> dict[str, int]:
    from rootless.errors import UsageError

    out = {}
    for item in items:
        name, _, n = item.partition("=")
        if not name or not n.isdigit():
            raise UsageError(f"invalid --scale {item!r}", hint="use --scale SERVICE=NUMBER")
        out[name] = int(n)
    return out


_services = click.argument("services", nargs=-1)
_timeout = click.option(
    "-t", "--timeout", type=float, default=None, help="Seconds to wait before SIGKILL."
)


def _converge_options(f: Callable[..., Any]) -> Callable[..., Any]:
    for opt in reversed(
        [
            click.option("--build", is_flag=True, help="Build images before starting."),
            click.option("--no-build", is_flag=True, help="Don't build missing images."),
            click.option(
                "--force-recreate", is_flag=True, help="Recreate even unchanged containers."
            ),
            click.option(
                "--no-recreate", is_flag=True, help="Keep existing containers as they are."
            ),
            click.option(
                "--remove-orphans",
                is_flag=True,
                help="Remove containers of services no longer defined.",
            ),
            click.option("--scale", multiple=True, help="SERVICE=NUM (overrides replicas)."),
        ]
    ):
        f = opt(f)
    return f


def _opts(kw: dict[str, Any], no_deps: bool = False) -> ConvergeOptions:
    from rootless.compose.orchestrator import ConvergeOptions
    from rootless.errors import UsageError

    if kw["build"] and kw["no_build"]:
        raise UsageError("--build and --no-build are incompatible")
    if kw["force_recreate"] and kw["no_recreate"]:
        raise UsageError("--force-recreate and --no-recreate are incompatible")
    return ConvergeOptions(
        build=bool(kw["build"]),
        no_build=bool(kw["no_build"]),
        force_recreate=bool(kw["force_recreate"]),
        no_recreate=bool(kw["no_recreate"]),
        no_deps=no_deps,
        remove_orphans=bool(kw["remove_orphans"]),
        scale=parse_scale(kw["scale"]),
    )


@click.command("up", help="Create and start the project's containers.")
@_services
@_converge_options
@click.option("-d", "--detach", is_flag=True, help="Run in the background.")
@click.option("--no-deps", is_flag=True, help="Don't start linked services.")
@click.option("--no-start", is_flag=True, help="Create but don't start.")
@click.option("--abort-on-container-exit", is_flag=True, help="Stop all when one container stops.")
@click.option("--exit-code-from", default=None, help="Exit with this service's exit code.")
@click.option("--wait", is_flag=True, help="Wait until services are running/healthy (implies -d).")
@click.option("--wait-timeout", type=float, default=None, help="Seconds to --wait at most.")
@click.option("--no-color", is_flag=True, help="Monochrome log prefixes.")
@click.option("--no-log-prefix", is_flag=True, help="Don't prefix log lines.")
@_timeout
@click.pass_context
def up(ctx: click.Context, services: tuple[str, ...], **kw: Any) -> None:
    from rootless.compose.logmux import LogOptions, stream

    if not (kw["detach"] or kw["wait"]):
        import signal

        # Ctrl-C stops an attached `up` even when we were started with SIGINT ignored
        # (a background job of a non-interactive shell), as docker compose does.
        signal.signal(signal.SIGINT, signal.default_int_handler)

    orch = orchestrator(ctx)
    opts = _opts(kw, no_deps=bool(kw["no_deps"]))
    if kw["no_start"]:
        orch.create(services, opts)
        return
    orch.up(services, opts)
    if kw["wait"]:
        orch.wait_ready(services, kw["wait_timeout"])
        return
    if kw["detach"]:
        return
    abort = bool(kw["abort_on_container_exit"] or kw["exit_code_from"])
    recs = [ex.record for ex in orch.containers(orch.order(services))]
    log_opts = LogOptions(
        follow=True,
        prefix=not kw["no_log_prefix"],
        color=not kw["no_color"] and sys.stdout.isatty(),
        stop_on_first_exit=abort,
    )
    try:
        first = stream(orch.ctx, recs, log_opts, lambda line: click.echo(line))
    except KeyboardInterrupt:
        click.echo("Gracefully stopping... (press Ctrl+C again to force)", err=True)
        orch.stop(services, kw["timeout"])
        sys.exit(130)
    if abort:
        orch.stop(services, kw["timeout"])
        from rootless.engine.containers.status import exit_code

        which = kw["exit_code_from"]
        pick = [
            r for r in recs if which and r.spec.labels.get("com.docker.compose.service") == which
        ]
        target = pick[0] if pick else next((r for r in recs if r.name == first), None)
        if target is not None:
            sys.exit(exit_code(orch.ctx.state(target)[1]))


@click.command("create", help="Create the project's containers without starting them.")
@_services
@_converge_options
@click.pass_context
def create(ctx: click.Context, services: tuple[str, ...], **kw: Any) -> None:
    orchestrator(ctx).create(services, _opts(kw))


@click.command("start", help="Start the project's existing containers.")
@_services
@click.pass_context
def start(ctx: click.Context, services: tuple[str, ...]) -> None:
    orchestrator(ctx).start(services)


@click.command("stop", help="Stop the project's running containers.")
@_services
@_timeout
@click.pass_context
def stop(ctx: click.Context, services: tuple[str, ...], timeout: float | None) -> None:
    orchestrator(ctx).stop(services, timeout)


@click.command("restart", help="Restart the project's containers.")
@_services
@_timeout
@click.pass_context
def restart(ctx: click.Context, services: tuple[str, ...], timeout: float | None) -> None:
    orchestrator(ctx).restart(services, timeout)


@click.command("down", help="Stop and remove containers and networks (-v: volumes too).")
@click.option("-v", "--volumes", is_flag=True, help="Remove named and anonymous volumes.")
@click.option("--rmi", type=click.Choice(["all", "local"]), default=None, help="Remove images.")
@click.option(
    "--remove-orphans", is_flag=True, help="Also remove containers of undefined services."
)
@_timeout
@click.pass_context
def down(
    ctx: click.Context, volumes: bool, rmi: str | None, remove_orphans: bool, timeout: float | None
) -> None:
    orchestrator(ctx).down(volumes=volumes, rmi=rmi, remove_orphans=remove_orphans, timeout=timeout)


COMMANDS = [up, down, create, start, stop, restart]
