"""The `rootless` command. `run`/`create` take a click-free fast path (cli/fastparse.py)
when it understands their flags; everything else goes through the click group
(cli/group.py), whose subcommands are imported only when invoked (fast --help)."""

from __future__ import annotations

import sys

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

    import click

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


def paths_from(ctx: click.Context) -> Any:
    from rootless.paths import resolve

    obj = ctx.find_root().obj or {}
    return resolve(obj.get("root"), obj.get("runroot"), obj.get("config_dir"))


def __getattr__(name: str) -> object:
    """`cli` and `LazyGroup` moved to cli/group.py (click); still importable from here."""
    if name in ("cli", "LazyGroup"):
        from rootless.cli import group

        return getattr(group, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def main() -> None:
    import gc

    # No cyclic GC while starting: the fast path is short-lived or turns it back on once
    # the container runs (runexec.collect_garbage_again); click's path gets it back now.
    gc.disable()
    _defer_inspect()
    from rootless import codecache

    codecache.install()
    try:
        from rootless.cli.fastparse import parse

        fast = parse(sys.argv[1:])
        if fast is not None:
            _guarded(fast.execute)
            return
        gc.enable()
        _guarded(_click_main)
    finally:
        codecache.save()


def _defer_inspect() -> None:
    """`dataclasses` imports `inspect` (and with it ast, dis, tokenize: ~5 ms of every
    start) only to give a class without a docstring one; ours have docstrings. Until
    something really uses it, `inspect` is a stand-in that imports the real module on
    first attribute access and takes on its contents (click, for one, uses it). An
    importlib LazyLoader module can't do this: `import` itself reads its `__spec__`."""
    if "inspect" in sys.modules:
        return
    import types

    stand_in = types.ModuleType("inspect")

    def load(name: str) -> object:
        if sys.modules.get("inspect") is stand_in:
            del sys.modules["inspect"]
        import inspect as real

        stand_in.__dict__.update(real.__dict__)
        return getattr(real, name)

    stand_in.__getattr__ = load  # type: ignore[method-assign]
    sys.modules["inspect"] = stand_in


def _click_main() -> None:
    import click

    from rootless.cli.group import cli

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


def _guarded(fn: Callable[[], object]) -> None:
    """Engine errors as one line and their exit code; Ctrl-C 130; a closed pipe 0."""
    from rootless.errors import EngineError

    try:
        fn()
    except EngineError as e:
        sys.stderr.write(f"Error: {e.line()}\n")
        sys.stderr.flush()
        sys.exit(e.exit_code)
    except KeyboardInterrupt:
        sys.exit(130)
    except BrokenPipeError:
        sys.exit(0)
