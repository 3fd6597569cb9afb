"""The `rootless` command. Subcommands are imported only when invoked (fast --help)."""

from __future__ import annotations

import importlib
import logging
import sys
from typing import Any

import click

from rootless import __version__

# name -> "module:attribute". Each command lives in its own module under rootless.cli.
COMMANDS: dict[str, str] = {
    "info": "rootless.cli.info:info",
}

# Short help for the listing, so `rootless --help` imports no command module.
HELP: dict[str, str] = {
    "info": "Show the host's facts relevant to rootless containers.",
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
    log_level: str,
) -> None:
    """A daemonless container engine for ordinary users."""
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
