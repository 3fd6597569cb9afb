"""The `rootless` command. Subcommands are imported only when invoked (fast --help)."""

from __future__ import annotations

import importlib
import sys
from typing import Any

import click

from rootless import __version__

# name -> "module:attribute". Each command lives in its own module under rootless.cli.
COMMANDS: dict[str, str] = {
    "run": "rootless.cli.run:run",
    "create": "rootless.cli.run:create",
    "start": "rootless.cli.containers:start",
    "ps": "rootless.cli.containers:ps",
    "inspect": "rootless.cli.containers:inspect",
    "logs": "rootless.cli.containers:logs",
    "stop": "rootless.cli.containers:stop",
    "kill": "rootless.cli.containers:kill",
    "rm": "rootless.cli.containers:rm",
    "wait": "rootless.cli.containers:wait",
    "attach": "rootless.cli.containers:attach",
    "exec": "rootless.cli.containers:exec_",
    "top": "rootless.cli.containers:top",
    "rename": "rootless.cli.containers:rename",
    "restart": "rootless.cli.containers:restart",
    "pause": "rootless.cli.containers:pause",
    "unpause": "rootless.cli.containers:unpause",
    "port": "rootless.cli.containers:port",
    "cp": "rootless.cli.containers:cp",
    "diff": "rootless.cli.containers:diff",
    "export": "rootless.cli.containers:export",
    "container": "rootless.cli.containers:container",
    "info": "rootless.cli.info:info",
    "pull": "rootless.cli.registry:pull",
    "push": "rootless.cli.registry:push",
    "login": "rootless.cli.registry:login",
    "logout": "rootless.cli.registry:logout",
    "network": "rootless.cli.network:network",
    "compose": "rootless.cli.compose:compose",
    "unshare": "rootless.cli.unshare:unshare",
    "images": "rootless.cli.images:images",
    "image": "rootless.cli.images:image",
    "tag": "rootless.cli.images:tag",
    "rmi": "rootless.cli.images:rmi",
    "save": "rootless.cli.images:save",
    "load": "rootless.cli.images:load",
    "import": "rootless.cli.images:import_",
    "history": "rootless.cli.images:history",
    "build": "rootless.cli.build:build",
    "volume": "rootless.cli.volume:volume",
    "commit": "rootless.cli.commit:commit",
    "stats": "rootless.cli.stats:stats",
    "update": "rootless.cli.stats:update",
}

# Short help for the listing, so `rootless --help` imports no command module.
HELP: dict[str, str] = {
    "export": "Export a container's filesystem as a tar archive.",
    "pull": "Pull an image from a registry.",
    "push": "Push an image to a registry.",
    "login": "Log in to a registry.",
    "logout": "Log out of a registry.",
    "run": "Create and run a container.",
    "create": "Create a container without starting it.",
    "start": "Start stopped containers.",
    "ps": "List containers.",
    "inspect": "Show a container's details as JSON.",
    "logs": "Show a container's output.",
    "stop": "Stop running containers.",
    "kill": "Send a signal to running containers.",
    "rm": "Remove containers.",
    "wait": "Wait for containers to stop.",
    "attach": "Attach to a running container.",
    "exec": "Run a command in a running container.",
    "top": "Show the processes of a container.",
    "rename": "Rename a container.",
    "restart": "Restart containers.",
    "pause": "Pause containers.",
    "unpause": "Resume paused containers.",
    "port": "List a container's published ports.",
    "cp": "Copy files between a container and the host.",
    "diff": "Show a container's filesystem changes.",
    "container": "Manage containers.",
    "info": "Show the host's facts relevant to rootless containers.",
    "network": "Manage networks (create, ls, inspect, rm, prune, connect, disconnect).",
    "compose": "Define and run multi-container applications (compose spec).",
    "unshare": "Run a command in the engine's user namespace (as podman unshare).",
    "images": "List images.",
    "image": "Manage images (ls, inspect, rm, tag, prune, save, load, import, history).",
    "tag": "Add names to an image.",
    "rmi": "Remove images.",
    "save": "Write images to an archive.",
    "load": "Load images from an archive.",
    "import": "Create an image from a root filesystem tarball.",
    "history": "Show an image's history.",
    "build": "Build an image from a Dockerfile.",
    "volume": "Manage volumes (create, ls, inspect, rm, prune).",
    "commit": "Create an image from a container's changes.",
    "stats": "Show containers' resource use (CPU, memory, network, block I/O, pids).",
    "update": "Change the resource limits of containers.",
}


class LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(set(COMMANDS) | set(self.commands))

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name in self.commands:
            return self.commands[name]
        target = COMMANDS.get(name)
        if target is None:
            return None
        mod, attr = target.split(":")
        cmd: click.Command = getattr(importlib.import_module(mod), attr)
        return cmd

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = [(n, HELP.get(n, "")) for n in self.list_commands(ctx)]
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--root", envvar="ROOTLESS_ROOT", type=click.Path(), help="Data directory.")
@click.option(
    "--runroot",
    envvar="ROOTLESS_RUNROOT",
    type=click.Path(),
    help="Runtime directory (pids, sockets, locks).",
)
@click.option(
    "--config-dir", envvar="ROOTLESS_CONFIG_DIR", type=click.Path(), help="Configuration directory."
)
@click.option(
    "--cgroup-limits",
    envvar="ROOTLESS_CGROUP_LIMITS",
    type=click.Choice(["warn", "require"]),
    default=None,
    help="Without a delegated cgroup v2 subtree: warn and run (default), or fail.",
)
@click.option(
    "--storage-driver",
    envvar="ROOTLESS_STORAGE_DRIVER",
    type=click.Choice(["overlay", "fuse", "vfs"]),
    default=None,
    help="Layer storage driver (default: overlay, else fuse, else vfs).",
)
@click.option(
    "--log-level",
    type=click.Choice(["debug", "info", "warning", "error"]),
    default="warning",
    show_default=True,
)
@click.version_option(
    __version__, "--version", "-v", prog_name="rootless", message="%(prog)s version %(version)s"
)
@click.pass_context
def cli(
    ctx: click.Context,
    root: str | None,
    runroot: str | None,
    config_dir: str | None,
    cgroup_limits: str | None,
    storage_driver: str | None,
    log_level: str,
) -> None:
    """A daemonless container engine for ordinary users."""
    if storage_driver:  # every layer of the engine reads the choice from the environment
        import os

        os.environ["ROOTLESS_STORAGE_DRIVER"] = storage_driver
    if log_level != "warning":  # logging costs start-up time; load it only when asked
        import logging

        logging.basicConfig(level=log_level.upper(), format="%(levelname)s: %(message)s")
    ctx.obj = {
        "root": root,
        "runroot": runroot,
        "config_dir": config_dir,
        "cgroup_limits": cgroup_limits,
    }


def paths_from(ctx: click.Context) -> Any:
    from rootless.paths import resolve

    obj = ctx.find_root().obj or {}
    return resolve(obj.get("root"), obj.get("runroot"), obj.get("config_dir"))


def main() -> None:
    from rootless.errors import EngineError

    try:
        cli.main(prog_name="rootless", standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("Aborted!", err=True)
        sys.exit(125)
    except click.exceptions.Exit as e:
        sys.exit(e.exit_code)
    except click.ClickException as e:
        # Bad flags/arguments: one line, exit 125 like docker/podman.
        click.echo(f"Error: {e.format_message()}", err=True)
        sys.exit(125)
    except EngineError as e:
        click.echo(f"Error: {e.line()}", err=True)
        sys.exit(e.exit_code)
    except KeyboardInterrupt:
        sys.exit(130)
    except BrokenPipeError:
        sys.exit(0)
