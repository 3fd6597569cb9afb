"""Variable substitution per instruction, with Docker's ARG/ENV scoping rules.

- Substitution applies to ADD, COPY, ENV, EXPOSE, FROM, LABEL, STOPSIGNAL, USER,
  VOLUME, WORKDIR and ARG (ONBUILD triggers when they run). RUN/CMD/ENTRYPOINT text is
  left to the shell; of RUN only the --mount values are expanded.
- One instruction sees one snapshot: `ENV a=1 b=$a` gives b the *previous* a.
- ARGs before the first FROM are global: they feed FROM lines only; a stage sees one
  only after re-declaring it (`ARG NAME`). A --build-arg overrides an ARG's default.
- ENV overrides an ARG of the same name. The automatic platform ARGs (TARGETOS, ...)
  are global; the proxy ARGs (HTTP_PROXY, ...) reach RUN without being declared.
"""

from __future__ import annotations

import dataclasses
import platform as _platform
from collections.abc import Iterable, Mapping

from rootless.build.errors import DockerfileError
from rootless.build.heredoc import Heredoc
from rootless.build.instructions import (
    Add,
    Arg,
    ArgDef,
    Copy,
    Env,
    Expose,
    From,
    Instruction,
    KeyValue,
    Label,
    Run,
    StopSignal,
    User,
    Volume,
    Workdir,
)
from rootless.build.mounts import parse_mount
from rootless.build.shell import Shell

EXPANDED_INSTRUCTIONS = frozenset(
    {
        "add",
        "copy",
        "env",
        "expose",
        "from",
        "label",
        "stopsignal",
        "user",
        "volume",
        "workdir",
        "arg",
    }
)
PROXY_ARGS = (
    "HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy", "FTP_PROXY", "ftp_proxy",
    "NO_PROXY", "no_proxy", "ALL_PROXY", "all_proxy",
)  # fmt: skip

_ARCH = {"x86_64": "amd64", "amd64": "amd64", "aarch64": "arm64", "arm64": "arm64",
         "armv7l": "arm/v7", "armv6l": "arm/v6", "i686": "386", "i386": "386",
         "ppc64le": "ppc64le", "s390x": "s390x", "riscv64": "riscv64"}  # fmt: skip


def host_platform() -> str:
    machine = _platform.machine().lower()
    return "linux/" + _ARCH.get(machine, machine)


def platform_args(target: str | None = None, build: str | None = None) -> dict[str, str]:
    """TARGETPLATFORM/TARGETOS/TARGETARCH/TARGETVARIANT and the BUILD* ones."""
    out: dict[str, str] = {}
    for prefix, value in (
        ("TARGET", target or host_platform()),
        ("BUILD", build or host_platform()),
    ):
        os_, _, rest = value.partition("/")
        arch, _, variant = rest.partition("/")
        out[prefix + "PLATFORM"] = value
        out[prefix + "OS"] = os_
        out[prefix + "ARCH"] = arch
        out[prefix + "VARIANT"] = variant
    return out


class Expander:
    """Expands words against one fixed environment (one instruction's snapshot)."""

    def __init__(self, env: Mapping[str, str], escape: str = "\\") -> None:
        self.env = dict(env)
        self.shell = Shell(escape)
        self.unmatched: set[str] = set()

    def word(self, text: str) -> str:
        r = self.shell.process(text, self.env, split=False)
        self.unmatched |= r.unmatched
        return r.result

    def words(self, text: str) -> list[str]:
        r = self.shell.process(text, self.env)
        self.unmatched |= r.unmatched
        return r.words

    def opt(self, text: str | None) -> str | None:
        return None if text is None else self.word(text)

    def heredoc(self, doc: Heredoc) -> Heredoc:
        """An inline COPY/ADD file: `$VAR` expanded unless the marker was quoted; quotes
        in the body are data, not syntax."""
        if not doc.expand:
            return doc
        raw = Shell("\\", skip_quotes=True).process(doc.content, self.env, split=False)
        return dataclasses.replace(doc, content=raw.result)


def expand_instruction(
    instr: Instruction,
    env: Mapping[str, str],
    escape: str = "\\",
    filename: str = "Dockerfile",
) -> Instruction:
    """`instr` with variables substituted from `env` (instructions that do not expand
    are returned unchanged). Errors carry FILE:LINE of the instruction."""
    x = Expander(env, escape)
    try:
        return _expand(instr, x)
    except DockerfileError as e:
        raise e.located(filename, instr.line, instr.end_line) from None


def _pairs(pairs: Iterable[KeyValue], x: Expander) -> list[KeyValue]:
    return [KeyValue(x.word(p.key), x.word(p.value)) for p in pairs]


def _expand(instr: Instruction, x: Expander) -> Instruction:
    rep = dataclasses.replace
    if isinstance(instr, Env):
        return rep(instr, pairs=_pairs(instr.pairs, x))
    if isinstance(instr, Label):
        return rep(instr, pairs=_pairs(instr.pairs, x))
    if isinstance(instr, Arg):
        return rep(instr, args=[ArgDef(x.word(a.name), x.opt(a.default)) for a in instr.args])
    if isinstance(instr, From):
        return rep(instr, image=x.word(instr.image), platform=x.opt(instr.platform))
    if isinstance(instr, Copy):
        return rep(
            instr,
            sources=[x.word(s) for s in instr.sources],
            dest=x.word(instr.dest),
            from_=x.opt(instr.from_),
            chown=x.opt(instr.chown),
            chmod=x.opt(instr.chmod),
            exclude=[x.word(e) for e in instr.exclude],
            heredocs=[x.heredoc(h) for h in instr.heredocs],
        )
    if isinstance(instr, Add):
        return rep(
            instr,
            sources=[x.word(s) for s in instr.sources],
            dest=x.word(instr.dest),
            chown=x.opt(instr.chown),
            chmod=x.opt(instr.chmod),
            checksum=x.opt(instr.checksum),
            exclude=[x.word(e) for e in instr.exclude],
            heredocs=[x.heredoc(h) for h in instr.heredocs],
        )
    if isinstance(instr, Expose):
        return rep(instr, ports=[w for p in instr.ports for w in x.words(p)])
    if isinstance(instr, User):
        return rep(instr, user=x.word(instr.user))
    if isinstance(instr, Workdir):
        return rep(instr, path=x.word(instr.path))
    if isinstance(instr, StopSignal):
        return rep(instr, signal=x.word(instr.signal))
    if isinstance(instr, Volume):
        return rep(instr, paths=[x.word(p) for p in instr.paths])
    if isinstance(instr, Run) and instr.mount_specs:
        return rep(instr, mounts=[parse_mount(s, x.word) for s in instr.mount_specs])
    return instr


def resolve_global_args(
    global_args: Iterable[Arg],
    build_args: Mapping[str, str],
    builtins: Mapping[str, str] | None = None,
    filename: str = "Dockerfile",
) -> dict[str, str]:
    """Values of the ARGs before the first FROM (plus the automatic platform ARGs).

    Each default sees the ARGs before it; a build arg replaces the default; an ARG with
    neither stays unset.
    """
    values = dict(platform_args() if builtins is None else builtins)
    for instr in global_args:
        for a in instr.args:
            if a.name in build_args:
                values[a.name] = build_args[a.name]
            elif a.default is not None:
                try:
                    values[a.name] = Shell().process_word(a.default, values)
                except DockerfileError as e:
                    raise e.located(filename, instr.line, instr.end_line) from None
            # declared without a value: stays unset, or keeps a built-in value
    return values


class StageScope:
    """The variables of one stage while the builder walks its instructions.

    `apply(instr)` returns the expanded instruction and records ARG/ENV effects, so the
    next instruction sees them. `env` is what the image config keeps; `expansion_env()`
    is what `$VAR` sees; `run_env()` is the environment of RUN commands.
    """

    def __init__(
        self,
        global_values: Mapping[str, str],
        build_args: Mapping[str, str],
        base_env: Mapping[str, str] | Iterable[str] = (),
        escape: str = "\\",
        filename: str = "Dockerfile",
    ) -> None:
        self.filename = filename
        self.global_values = dict(global_values)
        self.build_args = dict(build_args)
        self.escape = escape
        self.args: dict[str, str] = {}
        self.declared: set[str] = set()
        self.env: dict[str, str] = (
            dict(base_env) if isinstance(base_env, Mapping) else _env_list(base_env)
        )

    def expansion_env(self) -> dict[str, str]:
        return {**self.args, **self.env}  # ENV wins over ARG

    def run_env(self) -> dict[str, str]:
        proxies = {k: v for k, v in self.build_args.items() if k in PROXY_ARGS}
        return {**proxies, **self.args, **self.env}

    def apply(self, instr: Instruction) -> Instruction:
        expanded = expand_instruction(instr, self.expansion_env(), self.escape, self.filename)
        if isinstance(expanded, Env):
            for p in expanded.pairs:
                self.env[p.key] = p.value
        elif isinstance(expanded, Arg):
            for a in expanded.args:
                self.declared.add(a.name)
                if a.name in self.build_args:
                    self.args[a.name] = self.build_args[a.name]
                elif a.default is not None:
                    self.args[a.name] = a.default
                elif a.name in self.global_values:
                    self.args[a.name] = self.global_values[a.name]
                else:
                    self.args.pop(a.name, None)
        return expanded


def _env_list(items: Iterable[str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in items:
        k, _, v = item.partition("=")
        out[k] = v
    return out


def expand_from(
    instr: From, global_values: Mapping[str, str], filename: str = "Dockerfile"
) -> From:
    """A FROM line sees only the global ARGs."""
    result = expand_instruction(instr, global_values, filename=filename)
    assert isinstance(result, From)
    return result
