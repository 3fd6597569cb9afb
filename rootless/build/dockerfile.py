"""A whole Dockerfile as the builder consumes it: global ARGs and named stages.

`load()` reads a file, `parse_dockerfile()` parses text; both return a Dockerfile
whose stages hold typed instructions. `find_dockerfile()` picks the file the way
`docker build` does.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from rootless.build.errors import DockerfileError, InstructionError
from rootless.build.instructions import Arg, From, Instruction, from_node
from rootless.build.parser import ParseWarning, parse
from rootless.errors import NotFound

DEFAULT_NAMES = ("Dockerfile", "dockerfile", "Containerfile", "containerfile")


@dataclass
class Stage:
    index: int
    base: From
    instructions: list[Instruction] = field(default_factory=list)

    @property
    def name(self) -> str | None:
        return self.base.name


@dataclass
class Dockerfile:
    filename: str
    global_args: list[Arg]  # ARGs before the first FROM
    stages: list[Stage]
    escape: str = "\\"
    directives: dict[str, str] = field(default_factory=dict)  # syntax, escape, check
    warnings: list[ParseWarning] = field(default_factory=list)

    def stage(self, target: str | int | None = None) -> Stage:
        """The stage named (case-insensitively) or numbered `target`; default: the last."""
        if target is None:
            return self.stages[-1]
        if isinstance(target, int) or target.isdigit():
            index = int(target)
            if 0 <= index < len(self.stages):
                return self.stages[index]
        else:
            for s in self.stages:
                if s.name == target.lower():
                    return s
        names = ", ".join(s.name or str(s.index) for s in self.stages)
        raise NotFound(f"target stage {target!r} not found in {self.filename} (stages: {names})")


def parse_dockerfile(source: str | bytes, filename: str = "Dockerfile") -> Dockerfile:
    result = parse(source, filename)
    global_args: list[Arg] = []
    stages: list[Stage] = []
    for node in result.nodes:
        instr = from_node(node, filename)
        if isinstance(instr, From):
            if instr.name and any(s.name == instr.name for s in stages):
                raise InstructionError(
                    f"duplicate stage name {instr.name!r}", filename=filename, line=node.start_line
                )
            stages.append(Stage(len(stages), instr))
        elif not stages:
            if not isinstance(instr, Arg):
                raise InstructionError(
                    f"{node.name.upper()} before the first FROM: only ARG may come before FROM",
                    filename=filename,
                    line=node.start_line,
                )
            global_args.append(instr)
        else:
            stages[-1].instructions.append(instr)
    if not stages:
        raise InstructionError(
            "no FROM instruction: a Dockerfile needs at least one build stage",
            filename=filename,
            line=result.end_line,
        )
    return Dockerfile(
        filename, global_args, stages, result.escape, result.directives, result.warnings
    )


def find_dockerfile(context: str | os.PathLike[str], file: str | None = None) -> Path:
    """The Dockerfile for a build: `-f FILE` (relative to the working directory, as in
    docker), else Dockerfile, then dockerfile (then Containerfile/containerfile) in the
    context directory."""
    ctx = Path(context)
    if file is not None:
        path = Path(file)
        if not path.is_file():
            raise NotFound(f"Dockerfile {file} not found", hint="check the -f/--file path")
        return path
    if not ctx.is_dir():
        raise NotFound(f"build context {ctx} is not a directory")
    for name in DEFAULT_NAMES:
        if (ctx / name).is_file():
            return ctx / name
    raise NotFound(
        f"no Dockerfile in {ctx}", hint="add a Dockerfile there or name one with -f/--file"
    )


def load(path: str | os.PathLike[str]) -> Dockerfile:
    """Read and parse a Dockerfile; errors are named after the file."""
    p = Path(path)
    try:
        data = p.read_bytes()
    except OSError as e:
        raise DockerfileError(f"cannot read {p}: {e.strerror}") from None
    return parse_dockerfile(data, p.name if p.name else str(p))
