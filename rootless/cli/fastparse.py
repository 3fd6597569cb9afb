"""A click-free parser for `rootless [GLOBAL OPTIONS] run|create [OPTIONS] IMAGE [CMD]...`.

Importing click and building the run command's ~60 options costs more than the rest
of the CLI's start-up. This parser reads the same option table (cli/runflags.py) and
produces exactly the kwargs click would, or declines (returns None) for anything it
does not handle the way click does: --help, --version, unknown or malformed options,
invalid choices or numbers, a missing image. The click path then runs and reports
errors in its own words. tests/unit/test_cli_fastparse.py checks the two agree.
"""

from __future__ import annotations

import os

from rootless.cli.runexec import GlobalOpts
from rootless.cli.runflags import CHOICE, FLAG, INT, MULTI, RUN_OPTIONS, Opt, limit_opts

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence
    from typing import Any

COMMANDS = ("run", "create")


class GroupOpt:
    """One of the `rootless` group's options: read here, and declared for click from this
    same table (cli/group.py). A plain class: a frozen dataclass costs ~0.6 ms to create
    at every start."""

    __slots__ = ("choices", "default", "dest", "envvar", "help")

    def __init__(
        self,
        dest: str,
        envvar: str | None,
        choices: tuple[str, ...] = (),
        help: str | None = None,
        default: str | None = None,
    ) -> None:
        self.dest = dest
        self.envvar = envvar
        self.choices = choices  # none: a path
        self.help = help
        self.default = default


GROUP_OPTIONS: dict[str, GroupOpt] = {
    "--root": GroupOpt("root", "ROOTLESS_ROOT", help="Data directory."),
    "--runroot": GroupOpt(
        "runroot", "ROOTLESS_RUNROOT", help="Runtime directory (pids, sockets, locks)."
    ),
    "--config-dir": GroupOpt("config_dir", "ROOTLESS_CONFIG_DIR", help="Configuration directory."),
    "--cgroup-limits": GroupOpt(
        "cgroup_limits",
        "ROOTLESS_CGROUP_LIMITS",
        ("warn", "require"),
        "Without a delegated cgroup v2 subtree: warn and run (default), or fail.",
    ),
    "--storage-driver": GroupOpt(
        "storage_driver",
        "ROOTLESS_STORAGE_DRIVER",
        ("overlay", "fuse", "vfs"),
        "Layer storage driver (default: overlay, else fuse, else vfs).",
    ),
    "--log-level": GroupOpt(
        "log_level", None, ("debug", "info", "warning", "error"), default="warning"
    ),
}


class FastArgs:
    """A command line the fast path handles: the command and its parsed options."""

    __slots__ = ("command", "kw", "opts")

    def __init__(self, command: str, opts: GlobalOpts, kw: dict[str, Any]) -> None:
        self.command = command  # "run" or "create"
        self.opts = opts
        self.kw = kw  # what click passes to the command function

    def execute(self) -> None:
        from rootless.cli.runexec import create_command, run_command

        self.opts.apply()
        (run_command if self.command == "run" else create_command)(self.opts, self.kw)


class _Decline(Exception):
    """The fast parser leaves this command line to click."""


def parse(argv: Sequence[str], environ: Mapping[str, str] | None = None) -> FastArgs | None:
    env = os.environ if environ is None else environ
    try:
        opts, i = _parse_group(argv, env)
        if i >= len(argv) or argv[i] not in COMMANDS:
            return None
        return FastArgs(argv[i], opts, _parse_command(argv[i + 1 :]))
    except _Decline:
        return None


def _parse_group(argv: Sequence[str], env: Mapping[str, str]) -> tuple[GlobalOpts, int]:
    given: dict[str, str] = {}
    i = 0
    while i < len(argv) and argv[i].startswith("-") and argv[i] != "-":
        name, eq, value = argv[i].partition("=")
        opt = GROUP_OPTIONS.get(name)
        if opt is None:  # --help, --version, -v, --, unknown
            raise _Decline
        if eq:
            i += 1
        else:
            value, i = _next_value(argv, i)
        given[opt.dest] = _checked_choice(opt.choices, value)
    for opt in GROUP_OPTIONS.values():
        # click: a flag beats its environment variable; an empty variable counts as unset
        if opt.dest not in given and opt.envvar and env.get(opt.envvar):
            given[opt.dest] = _checked_choice(opt.choices, env[opt.envvar])
    return GlobalOpts(**given), i


def _checked_choice(choices: tuple[str, ...], value: str) -> str:
    if choices and value not in choices:
        raise _Decline
    return value


def _next_value(args: Sequence[str], i: int) -> tuple[str, int]:
    """The value of the option at args[i], taken from the next argument (as click does,
    even when it starts with a dash), and the index after it."""
    if i + 1 >= len(args):
        raise _Decline  # click: "requires an argument"
    return args[i + 1], i + 2


def _options_by_name() -> dict[str, Opt]:
    return {d: o for o in (*RUN_OPTIONS, *limit_opts()) for d in o.decls}


def _parse_command(args: Sequence[str]) -> dict[str, Any]:
    table = _options_by_name()
    kw: dict[str, Any] = {o.dest: o.empty() for o in table.values()}
    i = 0
    while i < len(args):
        arg = args[i]
        if arg == "--":
            i += 1
            break
        if not arg.startswith("-") or arg == "-":
            break  # the image: everything after it is the command, as is
        if arg == "--help":
            raise _Decline
        if arg.startswith("--"):
            i = _long_option(args, i, table, kw)
        else:
            i = _short_options(args, i, table, kw)
    if i >= len(args):
        raise _Decline  # click: missing argument IMAGE
    kw["image"] = args[i]
    kw["command"] = tuple(args[i + 1 :])
    return kw


def _long_option(args: Sequence[str], i: int, table: dict[str, Opt], kw: dict[str, Any]) -> int:
    name, eq, value = args[i].partition("=")
    opt = table.get(name)
    if opt is None:
        raise _Decline
    if opt.kind == FLAG:
        if eq:
            raise _Decline  # click: "does not take a value"
        kw[opt.dest] = True
        return i + 1
    return _take_value(opt, value if eq else None, args, i, kw)


def _short_options(args: Sequence[str], i: int, table: dict[str, Opt], kw: dict[str, Any]) -> int:
    """A cluster such as -it or -e K=V or -eK=V: flags until one takes a value, which
    is the rest of the cluster or else the next argument."""
    arg = args[i]
    for k in range(1, len(arg)):
        opt = table.get("-" + arg[k])
        if opt is None:
            raise _Decline
        if opt.kind == FLAG:
            kw[opt.dest] = True
            continue
        return _take_value(opt, arg[k + 1 :] or None, args, i, kw)
    return i + 1


def _take_value(
    opt: Opt, inline: str | None, args: Sequence[str], i: int, kw: dict[str, Any]
) -> int:
    """Store the value of the option at args[i]: `inline` (after `=`, possibly empty, or
    the rest of a short cluster) when given, else the next argument; the index after it."""
    if inline is not None:
        _store(opt, inline, kw)
        return i + 1
    value, i = _next_value(args, i)
    _store(opt, value, kw)
    return i


def _store(opt: Opt, value: str, kw: dict[str, Any]) -> None:
    if opt.kind == MULTI:
        kw[opt.dest] = (*kw[opt.dest], value)
    elif opt.kind == INT:
        try:
            kw[opt.dest] = int(value)
        except ValueError:
            raise _Decline from None
    elif opt.kind == CHOICE:
        kw[opt.dest] = _checked_choice(opt.choices, value)
    else:
        kw[opt.dest] = value
