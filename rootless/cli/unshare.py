"""`rootless unshare [CMD...]`: run a command inside the engine's user namespace."""

from __future__ import annotations

import os
import sys

import click

from rootless.cli.main import paths_from


@click.command(
    help="Run COMMAND (default: $SHELL) as root in the engine's user and mount namespace, "
    "as `podman unshare`. Exits with COMMAND's status.",
    context_settings={"ignore_unknown_options": True, "allow_interspersed_args": False},
)
@click.argument("command", nargs=-1, type=click.UNPROCESSED)
@click.pass_context
def unshare(ctx: click.Context, command: tuple[str, ...]) -> None:
    from rootless.errors import CannotInvoke, CommandNotFound
    from rootless.userns import enter

    paths = paths_from(ctx)
    enter(paths)
    argv = list(command) or [os.environ.get("SHELL") or "/bin/sh"]
    env = dict(os.environ)
    # Nested `rootless` commands find the same engine; scripts can tell where they run.
    env.update(
        ROOTLESS_UNSHARE="1",
        ROOTLESS_ROOT=str(paths.data),
        ROOTLESS_RUNROOT=str(paths.runtime),
        ROOTLESS_CONFIG_DIR=str(paths.config),
    )
    sys.stdout.flush()
    sys.stderr.flush()
    try:
        os.execvpe(argv[0], argv, env)
    except FileNotFoundError:
        raise CommandNotFound(f"{argv[0]}: command not found") from None
    except OSError as e:
        raise CannotInvoke(f"cannot run {argv[0]}: {e.strerror}") from None
