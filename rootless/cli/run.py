"""run and create as click commands: the flags come from cli/runflags.py, the work
from cli/runexec.py (`rootless run` itself usually takes the click-free fast path in
cli/fastparse.py; this is the fallback for --help, errors and anything it declines)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import click

from rootless.cli.runexec import GlobalOpts, create_command, run_command
from rootless.cli.runflags import CHOICE, FLAG, INT, MULTI, RUN_OPTIONS, Opt

CTX = {"help_option_names": ["--help"], "allow_interspersed_args": False}


def click_option(o: Opt) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    kw: dict[str, Any] = {"help": o.help}
    if o.kind == FLAG:
        kw["is_flag"] = True
    elif o.kind == MULTI:
        kw["multiple"] = True
    elif o.kind == INT:
        kw["type"] = int
    elif o.kind == CHOICE:
        kw["type"] = click.Choice(list(o.choices))
    if o.default is not None:
        kw["default"] = o.default
    return click.option(*o.decls, o.dest, **kw)


def run_options(f: Callable[..., Any]) -> Callable[..., Any]:
    opts = [
        *(click_option(o) for o in RUN_OPTIONS),
        click.argument("image"),
        click.argument("command", nargs=-1, type=click.UNPROCESSED),
    ]
    for o in reversed(opts):
        f = o(f)
    from rootless.cgroups.flags import limit_options  # cgroups: --memory, --cpus, ...

    return limit_options(f)


def global_opts(ctx: click.Context) -> GlobalOpts:
    obj = ctx.find_root().obj or {}
    return GlobalOpts(
        root=obj.get("root"),
        runroot=obj.get("runroot"),
        config_dir=obj.get("config_dir"),
        cgroup_limits=obj.get("cgroup_limits"),
    )


@click.command(context_settings=CTX, help="Create and run a container.")
@run_options
@click.pass_context
def run(ctx: click.Context, **kw: Any) -> None:
    run_command(global_opts(ctx), kw)


@click.command(context_settings=CTX, help="Create a container without starting it.")
@run_options
@click.pass_context
def create(ctx: click.Context, **kw: Any) -> None:
    create_command(global_opts(ctx), kw)
