"""`compose kill/pause/unpause/rm`: the container verbs applied to a project's services."""

from __future__ import annotations

import click

from rootless.cli.compose_lifecycle import orchestrator


@click.command("kill", help="Send a signal to the project's running containers.")
@click.argument("services", nargs=-1)
@click.option("-s", "--signal", "sig", default="SIGKILL", help="Signal to send.")
@click.pass_context
def kill(ctx: click.Context, services: tuple[str, ...], sig: str) -> None:
    from rootless.engine.containers.stop import kill as kill_one
    from rootless.engine.containers.stop import parse_signal

    parse_signal(sig)  # a bad name fails before anything is signalled
    orch = orchestrator(ctx)
    orch.each_running(services, "Killed", lambda cid: kill_one(orch.ctx, cid, sig))


@click.command("pause", help="Pause the project's running containers.")
@click.argument("services", nargs=-1)
@click.pass_context
def pause(ctx: click.Context, services: tuple[str, ...]) -> None:
    from rootless.engine.containers.pause import pause as pause_one

    orch = orchestrator(ctx)
    orch.each_running(services, "Paused", lambda cid: pause_one(orch.ctx, cid))


@click.command("unpause", help="Unpause the project's paused containers.")
@click.argument("services", nargs=-1)
@click.pass_context
def unpause(ctx: click.Context, services: tuple[str, ...]) -> None:
    from rootless.engine.containers.pause import unpause as unpause_one
    from rootless.engine.containers.state import ContainerState

    orch = orchestrator(ctx)

    def one(cid: str) -> None:
        rec = orch.ctx.store.load(cid)
        if orch.ctx.state(rec)[0] == ContainerState.PAUSED:
            unpause_one(orch.ctx, cid)

    orch.each_running(services, "Unpaused", one)


@click.command("rm", help="Remove the project's stopped containers.")
@click.argument("services", nargs=-1)
@click.option("-f", "--force", is_flag=True, help="Don't ask (there is no prompt; accepted).")
@click.option("-s", "--stop", "stop_first", is_flag=True, help="Stop the containers first.")
@click.option("-v", "--volumes", is_flag=True, help="Remove their anonymous volumes too.")
@click.pass_context
def rm(
    ctx: click.Context, services: tuple[str, ...], force: bool, stop_first: bool, volumes: bool
) -> None:
    orch = orchestrator(ctx)
    if not orch.remove(services, stop_first=stop_first, volumes=volumes):
        orch.say("No stopped containers")


COMMANDS = [kill, pause, unpause, rm]
