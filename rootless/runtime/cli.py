"""`rootless-runtime`: runc's command line over this package.

Errors print one line to stderr and exit 1, as runc does; `run` and `exec` exit with the
container process's status (128+N when killed by signal N).
"""

from __future__ import annotations

import os
import sys

from rootless.errors import EngineError, UsageError, failure_line

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from rootless.runtime.exec import ExecOptions
    from rootless.runtime.state import Store

VERSION = "0.1.0"


def default_root() -> str:
    """Like runc: $XDG_RUNTIME_DIR/<name> for users (also as root of a user namespace),
    /run/<name> for real root."""
    xdg = os.environ.get("XDG_RUNTIME_DIR")
    if xdg and os.path.isdir(xdg) and (os.geteuid() != 0 or _in_userns()):
        return os.path.join(xdg, "rootless-runtime")
    if os.geteuid() == 0 and not _in_userns():
        return "/run/rootless-runtime"
    return f"/tmp/rootless-oci-runtime-{os.getuid()}"


def _in_userns() -> bool:
    try:
        with open("/proc/self/uid_map") as f:
            return f.read().split() != ["0", "0", "4294967295"]
    except OSError:
        return False


class Args:
    """Parsed command line: options by long name (dashes -> underscores), positionals."""

    def __init__(self, cmd: str, opts: dict[str, Any], rest: list[str]) -> None:
        self.cmd = cmd
        self.opts = opts
        self.rest = rest

    def __getattr__(self, name: str) -> Any:
        try:
            return self.opts[name]
        except KeyError:
            raise AttributeError(name) from None


# Per command: long name -> (short alias, kind). kind: "bool", "str", "int" or "list".
_CREATE = {
    "bundle": ("b", "str"),
    "console-socket": ("", "str"),
    "pid-file": ("", "str"),
    "preserve-fds": ("", "int"),
    "no-pivot": ("", "bool"),
    "no-new-keyring": ("", "bool"),
}
_COMMANDS: dict[str, tuple[dict[str, tuple[str, str]], list[str], bool]] = {
    # name: (options, positional names, whether extra positionals are allowed)
    "create": (_CREATE, ["id"], False),
    "run": ({**_CREATE, "detach": ("d", "bool"), "keep": ("", "bool")}, ["id"], False),
    "start": ({}, ["id"], False),
    "state": ({}, ["id"], False),
    "kill": ({"all": ("a", "bool")}, ["id", "signal?"], False),
    "delete": ({"force": ("f", "bool")}, ["id"], False),
    "ps": ({"format": ("f", "str")}, ["id"], True),
    "list": ({"format": ("f", "str"), "quiet": ("q", "bool")}, [], False),
    "features": ({}, [], False),
    "exec": (
        {
            "console-socket": ("", "str"),
            "cwd": ("", "str"),
            "env": ("e", "list"),
            "tty": ("t", "bool"),
            "user": ("u", "str"),
            "additional-gids": ("g", "list"),
            "process": ("p", "str"),
            "detach": ("d", "bool"),
            "pid-file": ("", "str"),
            "cap": ("c", "list"),
            "no-new-privs": ("", "bool"),
            "preserve-fds": ("", "int"),
        },
        ["id"],
        True,
    ),
}
_GLOBAL = {
    "root": ("", "str"),
    "log": ("", "str"),
    "log-format": ("", "str"),
    "debug": ("", "bool"),
    "systemd-cgroup": ("", "bool"),
    "rootless": ("", "str"),
}
USAGE = (
    "usage: rootless-runtime [--root DIR] COMMAND [OPTIONS] ID ...\n"
    "commands: create, start, run, state, kill [--all] ID [SIGNAL], delete [--force],\n"
    "          exec [-p process.json | CMD ARGS...], ps [--format json], list, features\n"
)


def _parse_options(
    argv: list[str], table: dict[str, tuple[str, str]], stop_at_positional: bool
) -> tuple[dict[str, Any], list[str]]:
    """getopt-like parsing of --long[=v], -s v and Go-style -long; `--` ends options."""
    shorts = {short: long for long, (short, _kind) in table.items() if short}
    opts: dict[str, Any] = {}
    for long, (_short, kind) in table.items():
        opts[long.replace("-", "_")] = (
            False if kind == "bool" else [] if kind == "list" else 0 if kind == "int" else None
        )
    rest: list[str] = []
    i = 0
    while i < len(argv):
        arg = argv[i]
        i += 1
        if arg == "--":
            rest += argv[i:]
            break
        if not arg.startswith("-") or arg == "-":
            rest.append(arg)
            if stop_at_positional:
                rest += argv[i:]
                break
            continue
        name, eq, value = arg.lstrip("-").partition("=")
        if not arg.startswith("--") and name in shorts:
            name = shorts[name]
        if name not in table:
            raise UsageError(f"unknown option {arg}")
        kind = table[name][1]
        key = name.replace("-", "_")
        if kind == "bool":
            opts[key] = value.lower() not in ("false", "0") if eq else True
            continue
        if not eq:
            if i >= len(argv):
                raise UsageError(f"option {arg} needs a value")
            value = argv[i]
            i += 1
        if kind == "int" or (kind == "list" and name == "additional-gids"):
            try:
                number = int(value)
            except ValueError:
                raise UsageError(f"option {arg} needs a number, not {value!r}") from None
            if kind == "int":
                opts[key] = number
            else:
                opts[key].append(number)
        elif kind == "list":
            opts[key].append(value)
        else:
            opts[key] = value
    return opts, rest


def parse_args(argv: list[str]) -> Args:
    if argv and argv[0] in ("-v", "--version", "version"):
        return Args("version", {}, [])
    if not argv or argv[0] in ("-h", "--help", "help"):
        return Args("help", {}, [])
    glob, rest = _parse_options(argv, _GLOBAL, stop_at_positional=True)
    if not rest:
        raise UsageError("no command given")
    cmd, argv = rest[0], rest[1:]
    if cmd not in _COMMANDS:
        raise UsageError(f"unknown command {cmd!r}")
    table, positional, extra = _COMMANDS[cmd]
    opts, rest = _parse_options(argv, table, stop_at_positional=extra)
    opts.update(glob)
    required = [p for p in positional if not p.endswith("?")]
    if len(rest) < len(required):
        raise UsageError(f"{cmd}: missing {' '.join(required[len(rest) :]).upper()}")
    for name in positional:
        opts[name.rstrip("?")] = rest.pop(0) if rest else None
    if rest and rest[0] == "--":
        rest.pop(0)
    if rest and not extra:
        raise UsageError(f"{cmd}: unexpected argument {rest[0]!r}")
    return Args(cmd, opts, rest)


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    args: Args | None = None
    try:
        args = parse_args(argv)
        code = dispatch(args)
    except (EngineError, OSError) as e:
        code = _fail(args, failure_line(e))
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except OSError:
            pass
    os._exit(code)  # no interpreter teardown: it is measurable per container


def _fail(args: Args | None, message: str) -> int:
    """One line on stderr; also into --log (as runc: engines read errors from there)."""
    print(f"rootless-runtime: {message}", file=sys.stderr)
    log = args.opts.get("log") if args is not None else None
    if log:
        from rootless.runtime import jsonlite
        from rootless.runtime.state import now_rfc3339

        if args is not None and args.opts.get("log_format") == "json":
            line = jsonlite.dumps({"level": "error", "msg": message, "time": now_rfc3339()})
        else:
            line = f'time="{now_rfc3339()}" level=error msg="{message}"'
        try:
            with open(log, "a") as f:
                f.write(line + "\n")
        except OSError:
            pass
    return 1


def dispatch(args: Args) -> int:
    from rootless.runtime.state import Store

    if args.cmd == "help":
        sys.stdout.write(USAGE)
        return 0
    if args.cmd == "version":
        print(f"rootless-runtime version {VERSION}\nspec: 1.0.2")
        return 0
    store = Store(os.path.abspath(args.root or default_root()))
    cmd = args.cmd
    if cmd in ("create", "run"):
        from rootless.runtime.create import CreateOptions

        opts = CreateOptions(
            cid=args.id,
            bundle=args.bundle or ".",
            pid_file=args.pid_file,
            console_socket=args.console_socket,
            preserve_fds=args.preserve_fds,
        )
        if cmd == "create":
            from rootless.runtime.create import create

            create(store, opts)
            return 0
        from rootless.runtime.run import run

        return run(store, opts, args.detach, args.keep)
    if cmd == "features":
        from rootless.runtime.features import features

        print(_pretty(features()))
        return 0
    if cmd == "list":
        return _list(store, args.format or "table", args.quiet)
    if cmd == "exec":
        from rootless.runtime.exec import exec_in

        return exec_in(store, _exec_options(store, args))
    from rootless.runtime import lifecycle

    if cmd == "start":
        lifecycle.start(store, args.id)
    elif cmd == "state":
        print(_pretty(lifecycle.state(store, args.id)))
    elif cmd == "kill":
        lifecycle.kill(store, args.id, lifecycle.parse_signal(args.signal or "SIGTERM"), args.all)
    elif cmd == "delete":
        lifecycle.delete(store, args.id, args.force)
    elif cmd == "ps":
        st = store.load(args.id)
        pids = lifecycle.container_pids(st)
        if args.format == "json":
            print(_pretty(pids, None))
        else:
            sys.stdout.write(lifecycle.ps_table(pids, args.rest))
    return 0


def _pretty(obj: Any, indent: int | None = 2) -> str:
    import json  # not on the create/start/run path

    return json.dumps(obj, indent=indent)


def _list(store: Store, fmt: str, quiet: bool) -> int:
    rows = []
    for cid in store.list():
        st = store.load(cid)
        rows.append(st.to_oci(store.status(st)))
    if quiet:
        for r in rows:
            print(r["id"])
    elif fmt == "json":
        print(_pretty(rows, None))
    else:
        print(f"{'ID':<20}{'PID':<10}{'STATUS':<10}{'BUNDLE':<40}CREATED")
        for r in rows:
            print(f"{r['id']:<20}{r['pid']:<10}{r['status']:<10}{r['bundle']:<40}{r['created']}")
    return 0


def _exec_options(store: Store, args: Args) -> ExecOptions:
    import json

    from rootless.runtime.exec import ExecOptions
    from rootless.runtime.spec import User, parse_process

    if args.process:
        try:
            with open(args.process, "rb") as f:
                proc = parse_process(json.load(f))
        except (OSError, ValueError) as e:
            raise EngineError(f"cannot read process file {args.process}: {e}") from None
    else:
        if not args.rest:
            raise UsageError("exec needs a command or --process FILE")
        base = store.load(args.id).config.get("process") or {"args": ["sh"]}
        proc = parse_process(base)
        proc.args = list(args.rest)
        proc.terminal = args.tty
        if args.cwd:
            proc.cwd = args.cwd
        if args.env:
            proc.env = [*proc.env, *args.env]
        if args.user:
            uid, _, gid = args.user.partition(":")
            proc.user = User(uid=int(uid), gid=int(gid or 0), additional_gids=args.additional_gids)
        elif args.additional_gids:
            proc.user.additional_gids = list(args.additional_gids)
        if args.no_new_privs:
            proc.no_new_privileges = True
        if args.cap and proc.capabilities is not None:
            c = proc.capabilities
            for name in args.cap:
                for s in (c.bounding, c.effective, c.permitted, c.ambient, c.inheritable):
                    if name not in s:
                        s.append(name)
    return ExecOptions(
        cid=args.id,
        process=proc,
        detach=args.detach,
        pid_file=args.pid_file,
        console_socket=args.console_socket,
        preserve_fds=args.preserve_fds,
    )
