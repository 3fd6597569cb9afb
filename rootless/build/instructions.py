"""The typed instruction model: one frozen dataclass per Dockerfile instruction.

`from_node()` turns a parser Node into its dataclass and validates arguments and
flags; every error names FILE:LINE. Values are kept as written (quotes and `$VAR`
included) so the builder can expand them per instruction with rootless.build.expand,
which returns new instances via dataclasses.replace.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass, field
from typing import ClassVar

from rootless.build.errors import DockerfileError, InstructionError
from rootless.build.flags import Kind, bool_flag, list_flag, parse_flags, string_flag
from rootless.build.heredoc import Heredoc, parse_heredoc
from rootless.build.mounts import Mount, parse_mount
from rootless.build.parser import Node

STAGE_NAME = re.compile(r"^[a-z][a-z0-9-_.]*$")
NETWORK_MODES = ("default", "none", "host")
SECURITY_MODES = ("sandbox", "insecure")


@dataclass(frozen=True, kw_only=True)
class Instruction:
    """Where an instruction came from: its lines and the logical source line."""

    keyword: ClassVar[str] = ""
    line: int = 0
    end_line: int = 0
    original: str = ""


@dataclass(frozen=True)
class KeyValue:
    key: str
    value: str


@dataclass(frozen=True, kw_only=True)
class From(Instruction):
    keyword: ClassVar[str] = "FROM"
    image: str
    name: str | None = None  # the stage name, lower-cased (`AS builder`)
    platform: str | None = None


@dataclass(frozen=True, kw_only=True)
class Run(Instruction):
    keyword: ClassVar[str] = "RUN"
    cmd: list[str] | str  # exec form: argv; shell form: one string for the shell
    shell_form: bool
    mounts: list[Mount] = field(default_factory=list)
    mount_specs: list[str] = field(default_factory=list)  # the --mount texts, unexpanded
    network: str | None = None
    security: str | None = None
    devices: list[str] = field(default_factory=list)
    heredocs: list[Heredoc] = field(default_factory=list)

    @property
    def script(self) -> Heredoc | None:
        """The here-doc that *is* the command (`RUN <<EOF`), else None.

        Otherwise here-docs are inputs of the shell command (`RUN python3 <<EOF`).
        """
        if not self.shell_form or not isinstance(self.cmd, str) or len(self.heredocs) != 1:
            return None
        marker = parse_heredoc(self.cmd.strip())
        return self.heredocs[0] if marker and marker.name == self.heredocs[0].name else None


@dataclass(frozen=True, kw_only=True)
class Copy(Instruction):
    keyword: ClassVar[str] = "COPY"
    sources: list[str]  # paths (here-doc sources are in `heredocs`)
    dest: str
    from_: str | None = None
    chown: str | None = None
    chmod: str | None = None
    link: bool = False
    parents: bool = False
    exclude: list[str] = field(default_factory=list)
    heredocs: list[Heredoc] = field(default_factory=list)  # inline files, named by marker


@dataclass(frozen=True, kw_only=True)
class Add(Instruction):
    keyword: ClassVar[str] = "ADD"
    sources: list[str]
    dest: str
    from_: None = None  # ADD has no --from (Docker rejects it); kept so COPY/ADD share a shape
    chown: str | None = None
    chmod: str | None = None
    link: bool = False
    checksum: str | None = None
    keep_git_dir: bool | None = None
    unpack: bool | None = None
    exclude: list[str] = field(default_factory=list)
    heredocs: list[Heredoc] = field(default_factory=list)


@dataclass(frozen=True, kw_only=True)
class Env(Instruction):
    keyword: ClassVar[str] = "ENV"
    pairs: list[KeyValue]


@dataclass(frozen=True, kw_only=True)
class Label(Instruction):
    keyword: ClassVar[str] = "LABEL"
    pairs: list[KeyValue]


@dataclass(frozen=True)
class ArgDef:
    name: str
    default: str | None = None  # None: declared without `=`


@dataclass(frozen=True, kw_only=True)
class Arg(Instruction):
    keyword: ClassVar[str] = "ARG"
    args: list[ArgDef]


@dataclass(frozen=True, kw_only=True)
class Expose(Instruction):
    keyword: ClassVar[str] = "EXPOSE"
    ports: list[str]


@dataclass(frozen=True, kw_only=True)
class User(Instruction):
    keyword: ClassVar[str] = "USER"
    user: str


@dataclass(frozen=True, kw_only=True)
class Workdir(Instruction):
    keyword: ClassVar[str] = "WORKDIR"
    path: str


@dataclass(frozen=True, kw_only=True)
class Volume(Instruction):
    keyword: ClassVar[str] = "VOLUME"
    paths: list[str]


@dataclass(frozen=True, kw_only=True)
class Cmd(Instruction):
    keyword: ClassVar[str] = "CMD"
    cmd: list[str] | str
    shell_form: bool


@dataclass(frozen=True, kw_only=True)
class Entrypoint(Instruction):
    keyword: ClassVar[str] = "ENTRYPOINT"
    cmd: list[str] | str
    shell_form: bool


@dataclass(frozen=True, kw_only=True)
class Shell(Instruction):
    keyword: ClassVar[str] = "SHELL"
    shell: list[str]


@dataclass(frozen=True, kw_only=True)
class StopSignal(Instruction):
    keyword: ClassVar[str] = "STOPSIGNAL"
    signal: str


@dataclass(frozen=True, kw_only=True)
class Healthcheck(Instruction):
    """`test` is Docker's form: ["NONE"], ["CMD", argv...] or ["CMD-SHELL", "cmd"].

    Durations are nanoseconds (Docker's image config unit); 0 means "default".
    """

    keyword: ClassVar[str] = "HEALTHCHECK"
    test: list[str]
    interval: int = 0
    timeout: int = 0
    start_period: int = 0
    start_interval: int = 0
    retries: int = 0

    @property
    def none(self) -> bool:
        return self.test == ["NONE"]


@dataclass(frozen=True, kw_only=True)
class Onbuild(Instruction):
    keyword: ClassVar[str] = "ONBUILD"
    expression: str  # the trigger as stored in the image (here-doc bodies appended)
    trigger: Instruction


@dataclass(frozen=True, kw_only=True)
class Maintainer(Instruction):
    keyword: ClassVar[str] = "MAINTAINER"
    maintainer: str


INSTRUCTIONS: dict[str, type[Instruction]] = {
    c.keyword.lower(): c
    for c in (
        From, Run, Copy, Add, Env, Label, Arg, Expose, User, Workdir, Volume, Cmd,
        Entrypoint, Shell, StopSignal, Healthcheck, Onbuild, Maintainer,
    )
}  # fmt: skip


# ---- helpers -------------------------------------------------------------------------

_DURATION_PART = re.compile(r"([0-9]*\.?[0-9]*)(ns|us|µs|μs|ms|s|m|h)")
_UNIT_NS = {"ns": 1, "us": 1_000, "µs": 1_000, "μs": 1_000, "ms": 1_000_000, "s": 10**9}
_UNIT_NS.update(m=60 * 10**9, h=3600 * 10**9)


def parse_duration(text: str) -> int:
    """Go's time.ParseDuration (`1m30s`, `500ms`, `0`) in nanoseconds, non-negative."""
    if text == "0":
        return 0
    pos, total = 0, 0.0
    while pos < len(text):
        m = _DURATION_PART.match(text, pos)
        if m is None or m.group(1) in ("", "."):
            raise InstructionError(f"time: invalid duration {text!r}")
        total += float(m.group(1)) * _UNIT_NS[m.group(2)]
        pos = m.end()
    if not text:
        raise InstructionError("time: invalid duration ''")
    return round(total)


def _shell_args(node: Node, args: list[str]) -> list[str] | str:
    """Exec form keeps the array; shell form is the arguments joined by spaces."""
    return list(args) if node.json else " ".join(args)


def _one(node: Node) -> str:
    if len(node.args) != 1:
        raise InstructionError(f"{node.name.upper()} requires exactly one argument")
    return node.args[0]


def _at_least_one(node: Node, args: list[str] | None = None) -> list[str]:
    args = node.args if args is None else args
    if not args:
        raise InstructionError(f"{node.name.upper()} requires at least one argument")
    return args


def _kvps(node: Node) -> list[KeyValue]:
    args = _at_least_one(node)
    pairs = []
    for i in range(0, len(args) - 2, 3):  # the parser emits key, value, separator
        if not args[i]:
            raise InstructionError(f"{node.name.upper()} names can not be blank")
        pairs.append(KeyValue(args[i], args[i + 1]))
    return pairs


def _no_flags(node: Node) -> None:
    parse_flags(node.name.upper(), node.flags, {})


def _loc(node: Node) -> dict[str, object]:
    return {"line": node.start_line, "end_line": node.end_line, "original": node.original}


# ---- one parser per instruction ------------------------------------------------------


def _from(node: Node) -> From:
    flags = parse_flags("FROM", node.flags, {"platform": Kind.STRING})
    args = node.args
    name: str | None = None
    if len(args) == 3 and args[1].lower() == "as":
        name = args[2].lower()
        if not STAGE_NAME.match(name):
            raise InstructionError(
                f"invalid name for build stage: {args[2]!r}, "
                "name can't start with a number or contain symbols"
            )
    elif len(args) != 1:
        raise InstructionError("FROM requires either one or three arguments")
    return From(image=args[0], name=name, platform=flags.get("platform") or None, **_loc(node))  # type: ignore[arg-type]


def _run(node: Node) -> Run:
    flags = parse_flags(
        "RUN",
        node.flags,
        {"mount": Kind.LIST, "network": Kind.STRING, "security": Kind.STRING, "device": Kind.LIST},
    )
    if not node.args and not node.heredocs:
        raise InstructionError("RUN requires at least one argument")
    network = string_flag(flags, "network") or None
    if network is not None and network not in NETWORK_MODES:
        raise InstructionError(f"unsupported network mode {network!r} (use default, none or host)")
    security = string_flag(flags, "security") or None
    if security is not None and security not in SECURITY_MODES:
        raise InstructionError(f"unsupported security mode {security!r} (use sandbox or insecure)")
    specs = list_flag(flags, "mount")
    return Run(
        cmd=_shell_args(node, node.args),
        shell_form=not node.json,
        mounts=[parse_mount(s) for s in specs],
        mount_specs=specs,
        network=network,
        security=security,
        devices=list_flag(flags, "device"),
        heredocs=list(node.heredocs),
        **_loc(node),  # type: ignore[arg-type]
    )


def _sources_and_dest(node: Node) -> tuple[list[str], str, list[Heredoc]]:
    keyword = node.name.upper()
    if len(node.args) < 2:
        raise InstructionError(
            f"{keyword} requires at least two arguments, but only one was provided. "
            "Destination could not be determined."
        )
    args = list(node.args)
    dest = args.pop()
    if parse_heredoc(dest) is not None:
        raise InstructionError(f"{keyword} cannot accept a heredoc as a destination")
    bodies = {h.name: h for h in node.heredocs}
    paths: list[str] = []
    inline: list[Heredoc] = []
    i = 0
    while i < len(args):
        j = i
        word = args[i]
        if re.fullmatch(r"[0-9]*<<-?", word) and i + 1 < len(args) and not node.json:
            j = i + 1  # `<< EOF` written with a space
            word += args[j]
        marker = None if node.json else parse_heredoc(word)
        if marker is not None and marker.name in bodies:
            inline.append(bodies[marker.name])
        else:
            paths.extend(args[i : j + 1])
        i = j + 1
    return paths, dest, inline


def _copy(node: Node) -> Copy:
    flags = parse_flags(
        "COPY",
        node.flags,
        {
            "from": Kind.STRING, "chown": Kind.STRING, "chmod": Kind.STRING, "link": Kind.BOOL,
            "parents": Kind.BOOL, "exclude": Kind.LIST,
        },
    )  # fmt: skip
    sources, dest, inline = _sources_and_dest(node)
    return Copy(
        sources=sources,
        dest=dest,
        from_=string_flag(flags, "from") or None,
        chown=string_flag(flags, "chown") or None,
        chmod=string_flag(flags, "chmod") or None,
        link=bool_flag(flags, "link"),
        parents=bool_flag(flags, "parents"),
        exclude=list_flag(flags, "exclude"),
        heredocs=inline,
        **_loc(node),  # type: ignore[arg-type]
    )


def _add(node: Node) -> Add:
    flags = parse_flags(
        "ADD",
        node.flags,
        {
            "chown": Kind.STRING, "chmod": Kind.STRING, "link": Kind.BOOL,
            "checksum": Kind.STRING, "keep-git-dir": Kind.BOOL, "unpack": Kind.BOOL,
            "exclude": Kind.LIST,
        },
    )  # fmt: skip
    sources, dest, inline = _sources_and_dest(node)
    return Add(
        sources=sources,
        dest=dest,
        chown=string_flag(flags, "chown") or None,
        chmod=string_flag(flags, "chmod") or None,
        link=bool_flag(flags, "link"),
        checksum=string_flag(flags, "checksum") or None,
        keep_git_dir=flags.get("keep-git-dir") if "keep-git-dir" in flags else None,  # type: ignore[arg-type]
        unpack=flags.get("unpack") if "unpack" in flags else None,  # type: ignore[arg-type]
        exclude=list_flag(flags, "exclude"),
        heredocs=inline,
        **_loc(node),  # type: ignore[arg-type]
    )


def _env(node: Node) -> Env:
    _no_flags(node)
    return Env(pairs=_kvps(node), **_loc(node))  # type: ignore[arg-type]


def _label(node: Node) -> Label:
    _no_flags(node)
    return Label(pairs=_kvps(node), **_loc(node))  # type: ignore[arg-type]


def _arg(node: Node) -> Arg:
    _no_flags(node)
    defs = []
    for word in _at_least_one(node):
        name, eq, default = word.partition("=")
        if not name:
            raise InstructionError(f"ARG names can not be blank: {word!r}")
        defs.append(ArgDef(name, default if eq else None))
    return Arg(args=defs, **_loc(node))  # type: ignore[arg-type]


def _expose(node: Node) -> Expose:
    _no_flags(node)
    return Expose(ports=list(_at_least_one(node)), **_loc(node))  # type: ignore[arg-type]


def _user(node: Node) -> User:
    _no_flags(node)
    return User(user=_one(node), **_loc(node))  # type: ignore[arg-type]


def _workdir(node: Node) -> Workdir:
    _no_flags(node)
    return Workdir(path=_one(node), **_loc(node))  # type: ignore[arg-type]


def _volume(node: Node) -> Volume:
    _no_flags(node)
    paths = _at_least_one(node)
    if any(not p.strip() for p in paths):
        raise InstructionError("VOLUME specified can not be an empty string")
    return Volume(paths=list(paths), **_loc(node))  # type: ignore[arg-type]


def _cmd(node: Node) -> Cmd:
    _no_flags(node)
    return Cmd(cmd=_shell_args(node, node.args), shell_form=not node.json, **_loc(node))  # type: ignore[arg-type]


def _entrypoint(node: Node) -> Entrypoint:
    _no_flags(node)
    return Entrypoint(cmd=_shell_args(node, node.args), shell_form=not node.json, **_loc(node))  # type: ignore[arg-type]


def _shell(node: Node) -> Shell:
    _no_flags(node)
    if node.args and not node.json:
        raise InstructionError(
            'SHELL requires the arguments to be in JSON form, e.g. ["/bin/sh", "-c"]'
        )
    return Shell(shell=list(_at_least_one(node)), **_loc(node))  # type: ignore[arg-type]


def _stopsignal(node: Node) -> StopSignal:
    _no_flags(node)
    return StopSignal(signal=_one(node), **_loc(node))  # type: ignore[arg-type]


def _maintainer(node: Node) -> Maintainer:
    _no_flags(node)
    return Maintainer(maintainer=_one(node), **_loc(node))  # type: ignore[arg-type]


def _healthcheck(node: Node) -> Healthcheck:
    args = _at_least_one(node)
    kind, rest = args[0].upper(), args[1:]
    if kind == "NONE":
        _no_flags(node)
        if rest:
            raise InstructionError("HEALTHCHECK NONE takes no arguments")
        return Healthcheck(test=["NONE"], **_loc(node))  # type: ignore[arg-type]
    flags = parse_flags(
        "HEALTHCHECK",
        node.flags,
        {
            "interval": Kind.STRING, "timeout": Kind.STRING, "start-period": Kind.STRING,
            "start-interval": Kind.STRING, "retries": Kind.STRING,
        },
    )  # fmt: skip
    if kind != "CMD":
        raise InstructionError(f"Unknown type {args[0]!r} in HEALTHCHECK (try CMD or NONE)")
    cmd = _shell_args(node, rest)
    if not cmd:
        raise InstructionError("Missing command after HEALTHCHECK CMD")
    test = ["CMD", *cmd] if isinstance(cmd, list) else ["CMD-SHELL", cmd]
    durations = {}
    for flag in ("interval", "timeout", "start-period", "start-interval"):
        text = string_flag(flags, flag)
        value = parse_duration(text) if text else 0
        if 0 < value < 1_000_000:
            raise InstructionError(f"Interval --{flag} cannot be less than 1ms")
        durations[flag.replace("-", "_")] = value
    retries = 0
    if text := string_flag(flags, "retries"):
        try:
            retries = int(text)
        except ValueError:
            raise InstructionError(f"--retries must be an integer, not {text!r}") from None
        if retries < 0:
            raise InstructionError(f"--retries cannot be negative ({retries})")
    return Healthcheck(test=test, retries=retries, **durations, **_loc(node))  # type: ignore[arg-type]


def _onbuild(node: Node) -> Onbuild:
    _no_flags(node)
    if node.sub is None:
        raise InstructionError("ONBUILD requires at least one argument")
    trigger = node.sub.name.upper()
    if trigger == "ONBUILD":
        raise InstructionError("Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed")
    if trigger in ("MAINTAINER", "FROM"):
        raise InstructionError(f"{trigger} isn't allowed as an ONBUILD trigger")
    expression = re.sub(r"(?i)^\s*ONBUILD\s*", "", node.original)
    for doc in node.heredocs:
        expression += "\n" + doc.content + doc.name
    sub = Node(
        node.sub.keyword,
        node.sub.flags,
        node.sub.args,
        json=node.sub.json,
        heredocs=list(node.heredocs),
        original=node.sub.original,
        start_line=node.start_line,
        end_line=node.end_line,
    )
    return Onbuild(expression=expression, trigger=_typed(sub), **_loc(node))  # type: ignore[arg-type]


_PARSERS = {
    "from": _from, "run": _run, "copy": _copy, "add": _add, "env": _env, "label": _label,
    "arg": _arg, "expose": _expose, "user": _user, "workdir": _workdir, "volume": _volume,
    "cmd": _cmd, "entrypoint": _entrypoint, "shell": _shell, "stopsignal": _stopsignal,
    "maintainer": _maintainer, "healthcheck": _healthcheck, "onbuild": _onbuild,
}  # fmt: skip


def _typed(node: Node) -> Instruction:
    parse = _PARSERS.get(node.name)
    if parse is None:
        close = difflib.get_close_matches(node.name.upper(), [k.upper() for k in _PARSERS], 1)
        raise InstructionError(
            f"unknown instruction: {node.keyword}",
            hint=f"did you mean {close[0]}?" if close else None,
        )
    return parse(node)


def from_node(node: Node, filename: str = "Dockerfile") -> Instruction:
    """The typed, validated instruction for `node`; errors carry FILE:LINE."""
    try:
        return _typed(node)
    except DockerfileError as e:
        raise e.located(filename, node.start_line, node.end_line) from None
