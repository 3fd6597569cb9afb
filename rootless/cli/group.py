"""The click group of `rootless`: global options, subcommands imported only when invoked
(fast --help). cli/main.py imports it only when the fast path declines."""

from __future__ import annotations

import importlib
from collections.abc import Callable

import click

from rootless import __version__
from rootless.cli.fastparse import GROUP_OPTIONS
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


def _group_options(f: Callable[..., None]) -> Callable[..., None]:
    """The group's options from the table the click-free parser reads (one source)."""
    for name, o in reversed(GROUP_OPTIONS.items()):
        kind = click.Choice(list(o.choices)) if o.choices else click.Path()
        f = click.option(
            name,
            envvar=o.envvar,
            type=kind,
            default=o.default,
            show_default=o.default is not None,
            help=o.help,
        )(f)
    return f


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@_group_options
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
