"""The click group of `rootless`: global options, subcommands imported only when invoked
(fast --help). cli/main.py imports it only when the fast path declines."""

from __future__ import annotations

import importlib

import click

from rootless import __version__
from rootless.cli.main import COMMANDS, HELP


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
    from rootless.cli.runexec import GlobalOpts

    # Exports --storage-driver, configures logging: the same as the fast path does.
    GlobalOpts(root, runroot, config_dir, cgroup_limits, storage_driver, log_level).apply()
    ctx.obj = {
        "root": root,
        "runroot": runroot,
        "config_dir": config_dir,
        "cgroup_limits": cgroup_limits,
    }
