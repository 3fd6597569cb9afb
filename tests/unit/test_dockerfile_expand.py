"""Per-instruction variable substitution with Docker's ARG/ENV scoping."""

from __future__ import annotations

import pytest

from rootless.build.dockerfile import parse_dockerfile
from rootless.build.errors import ExpansionError
from rootless.build.expand import (
    EXPANDED_INSTRUCTIONS,
    StageScope,
    expand_from,
    expand_instruction,
    platform_args,
    resolve_global_args,
)
from rootless.build.heredoc import Heredoc
from rootless.build.instructions import (
    Add,
    Arg,
    Cmd,
    Copy,
    Env,
    Expose,
    Healthcheck,
    Instruction,
    KeyValue,
    Label,
    Onbuild,
    Run,
    StopSignal,
    User,
    Volume,
    Workdir,
)


def walk(
    text: str, build_args: dict[str, str] | None = None, base_env: tuple[str, ...] = ()
) -> tuple[list[Instruction], StageScope]:
    df = parse_dockerfile(text)
    g = resolve_global_args(df.global_args, build_args or {}, builtins={})
    scope = StageScope(g, build_args or {}, base_env)
    return [scope.apply(i) for i in df.stages[-1].instructions], scope


def test_which_instructions_expand() -> None:
    assert {"add", "copy", "env", "expose", "from", "label", "stopsignal", "user", "volume",
            "workdir"} <= EXPANDED_INSTRUCTIONS  # fmt: skip
    got, _ = walk(
        "FROM a\nENV V=x\nRUN echo $V\nCMD echo $V\nHEALTHCHECK CMD echo $V\nONBUILD RUN echo $V\n"
        "USER $V\nWORKDIR /$V\nVOLUME /$V\nSTOPSIGNAL SIG$V\nLABEL $V=$V\nEXPOSE $V\n"
        "ADD $V /$V\nCOPY --chown=$V --chmod=$V --from=$V ${V} /\n"
    )
    run, cmd, hc, ob = got[1:5]
    assert isinstance(run, Run) and run.cmd == "echo $V"
    assert isinstance(cmd, Cmd) and cmd.cmd == "echo $V"
    assert isinstance(hc, Healthcheck) and hc.test == ["CMD-SHELL", "echo $V"]
    assert isinstance(ob, Onbuild) and ob.expression == "RUN echo $V"
    user, wd, vol, sig, label, expose, add, copy = got[5:]
    assert isinstance(user, User) and user.user == "x"
    assert isinstance(wd, Workdir) and wd.path == "/x"
    assert isinstance(vol, Volume) and vol.paths == ["/x"]
    assert isinstance(sig, StopSignal) and sig.signal == "SIGx"
    assert isinstance(label, Label) and label.pairs == [KeyValue("x", "x")]
    assert isinstance(expose, Expose) and expose.ports == ["x"]
    assert isinstance(add, Add) and (add.sources, add.dest) == (["x"], "/x")
    assert isinstance(copy, Copy)
    assert (copy.chown, copy.chmod, copy.from_, copy.sources) == ("x", "x", "x", ["x"])


def test_one_snapshot_per_instruction() -> None:
    got, scope = walk("FROM a\nENV abc=hello\nENV abc=bye def=$abc\nENV ghi=$abc\n")
    assert got[1] == Env(
        pairs=[KeyValue("abc", "bye"), KeyValue("def", "hello")],
        line=3,
        end_line=3,
        original=got[1].original,
    )
    assert scope.env == {"abc": "bye", "def": "hello", "ghi": "bye"}


def test_quotes_and_escapes_are_removed() -> None:
    _, scope = walk('FROM a\nENV A="a b" B=c\\ d C=\'$A\' D="$A" E=\\$A\n')
    assert scope.env == {"A": "a b", "B": "c d", "C": "$A", "D": "", "E": "$A"}  # D: one snapshot


def test_env_overrides_arg_and_build_args_override_defaults() -> None:
    text = "FROM a\nARG CONT_IMG_VER\nENV CONT_IMG_VER=v1.0.0\nRUN x\n"
    _, scope = walk(text, {"CONT_IMG_VER": "v2.0.1"})
    assert scope.expansion_env()["CONT_IMG_VER"] == "v1.0.0"
    text = "FROM a\nARG CONT_IMG_VER\nENV CONT_IMG_VER=${CONT_IMG_VER:-v1.0.0}\n"
    assert walk(text, {"CONT_IMG_VER": "v2.0.1"})[1].env["CONT_IMG_VER"] == "v2.0.1"
    assert walk(text)[1].env["CONT_IMG_VER"] == "v1.0.0"
    _, scope = walk("FROM a\nARG X=default\nARG Y=$X-y\n", {"X": "cli"})
    assert scope.args == {"X": "cli", "Y": "cli-y"}


def test_undeclared_build_args_are_invisible_but_proxies_reach_run() -> None:
    _, scope = walk("FROM a\nWORKDIR /$SECRET\n", {"SECRET": "s", "HTTP_PROXY": "http://p"})
    assert "SECRET" not in scope.expansion_env()
    assert scope.run_env() == {"HTTP_PROXY": "http://p"}


def test_global_args_feed_from_only_until_redeclared() -> None:
    text = (
        "ARG BASE=alpine\nARG TAG=3.$MINOR\nARG MINOR=19\nARG REG\n"
        "FROM ${REG:-docker.io}/$BASE:$TAG AS one\nRUN x\nWORKDIR /$BASE\nARG BASE\nWORKDIR /$BASE\n"
    )
    df = parse_dockerfile(text)
    g = resolve_global_args(df.global_args, {"TAG": "edge"}, builtins={})
    assert g == {"BASE": "alpine", "TAG": "edge", "MINOR": "19"}
    assert expand_from(df.stages[0].base, g).image == "docker.io/alpine:edge"
    assert resolve_global_args(df.global_args, {}, builtins={})["TAG"] == "3."  # MINOR came later
    scope = StageScope(g, {"TAG": "edge"})
    got = [scope.apply(i) for i in df.stages[0].instructions]
    assert isinstance(got[1], Workdir) and got[1].path == "/"
    assert isinstance(got[3], Workdir) and got[3].path == "/alpine"


def test_platform_args_are_global_builtins() -> None:
    p = platform_args("linux/arm/v7", "linux/amd64")
    assert p["TARGETARCH"] == "arm" and p["TARGETVARIANT"] == "v7" and p["BUILDOS"] == "linux"
    df = parse_dockerfile(
        "FROM --platform=$BUILDPLATFORM img:$TARGETARCH\nARG TARGETARCH\nWORKDIR /$TARGETARCH\n"
    )
    g = resolve_global_args(df.global_args, {}, builtins=p)
    base = expand_from(df.stages[0].base, g)
    assert (base.image, base.platform) == ("img:arm", "linux/amd64")
    scope = StageScope(g, {})
    wd = [scope.apply(i) for i in df.stages[0].instructions][1]
    assert isinstance(wd, Workdir) and wd.path == "/arm"


def test_base_image_env_is_visible() -> None:
    got, _ = walk("FROM a\nENV PATH=/opt/bin:$PATH\n", base_env=("PATH=/usr/bin", "EMPTY="))
    assert isinstance(got[0], Env) and got[0].pairs == [KeyValue("PATH", "/opt/bin:/usr/bin")]


def test_copy_heredoc_bodies_expand_unless_quoted() -> None:
    got, _ = walk("FROM a\nENV X=1\nCOPY <<A <<'B' /d/\n\"$X\" '$X'\nA\n$X\nB\n")
    copy = got[1]
    assert isinstance(copy, Copy)
    assert copy.heredocs == [Heredoc("A", "\"1\" '1'\n"), Heredoc("B", "$X\n", expand=False)]


def test_run_mount_values_expand() -> None:
    got, _ = walk("FROM a\nARG ID=pip\nRUN --mount=type=cache,id=$ID,target=/root/.cache/$ID x\n")
    run = got[1]
    assert isinstance(run, Run)
    assert (run.mounts[0].id, run.mounts[0].target) == ("pip", "/root/.cache/pip")


def test_expose_field_splits() -> None:
    got, _ = walk('FROM a\nENV P="80 443"\nEXPOSE $P 22\n')
    assert isinstance(got[1], Expose) and got[1].ports == ["80", "443", "22"]


def test_arg_defaults_expand_and_unset_mandatory_fails_with_location() -> None:
    _, scope = walk('FROM a\nARG A=1 B="$A two"\n')
    assert scope.args == {"A": "1", "B": " two"}  # one snapshot: A is not yet set for B
    with pytest.raises(ExpansionError) as err:
        walk("FROM a\n\nWORKDIR ${DIR:?set DIR with --build-arg}\n")
    assert str(err.value).startswith("Dockerfile:3: failed to process")
    assert "DIR: set DIR with --build-arg" in err.value.message


def test_backtick_escape_for_expansion() -> None:
    df = parse_dockerfile("# escape=`\nFROM a\nENV P=C:\\dir`$HOME\n")
    scope = StageScope({}, {}, escape=df.escape)
    env = scope.apply(df.stages[0].instructions[0])
    assert isinstance(env, Env) and env.pairs == [KeyValue("P", "C:\\dir$HOME")]


def test_expand_instruction_leaves_others_alone() -> None:
    df = parse_dockerfile("FROM a\nARG X\n")
    arg = df.stages[0].instructions[0]
    assert isinstance(arg, Arg)
    assert expand_instruction(arg, {"X": "1"}) == arg
