"""The typed instruction model, stage splitting and Dockerfile discovery."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from rootless.build.dockerfile import find_dockerfile, load, parse_dockerfile
from rootless.build.errors import DockerfileError, InstructionError
from rootless.build.heredoc import Heredoc
from rootless.build.instructions import (
    Add,
    Arg,
    ArgDef,
    Cmd,
    Copy,
    Entrypoint,
    Env,
    Expose,
    From,
    Healthcheck,
    Instruction,
    KeyValue,
    Label,
    Maintainer,
    Onbuild,
    Run,
    Shell,
    StopSignal,
    User,
    Volume,
    Workdir,
    parse_duration,
)
from rootless.errors import NotFound


def instrs(body: str) -> list[Instruction]:
    return parse_dockerfile("FROM scratch\n" + body).stages[0].instructions


def one(body: str) -> Instruction:
    (i,) = instrs(body)
    return i


def test_from_forms() -> None:
    df = parse_dockerfile(
        "ARG V=1\nFROM --platform=linux/arm64 alpine:$V AS Build\nFROM build\nFROM x as t2\n"
    )
    assert df.global_args == [Arg(args=[ArgDef("V", "1")], line=1, end_line=1, original="ARG V=1")]
    base = df.stages[0].base
    assert (base.image, base.name, base.platform, base.line) == (
        "alpine:$V",
        "build",
        "linux/arm64",
        2,
    )
    assert [s.name for s in df.stages] == ["build", None, "t2"]
    assert df.stage("BUILD") is df.stages[0] and df.stage(1) is df.stages[1]
    assert df.stage() is df.stages[2]
    with pytest.raises(NotFound, match="target stage 'nope' not found"):
        df.stage("nope")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("FROM a AS 1bad\n", "Dockerfile:1: invalid name for build stage: '1bad'"),
        ("FROM a b\n", "Dockerfile:1: FROM requires either one or three arguments"),
        ("FROM a AS x\nFROM b AS X\n", "Dockerfile:2: duplicate stage name 'x'"),
        ("RUN x\nFROM a\n", "Dockerfile:1: RUN before the first FROM"),
        ("ARG x\n", "Dockerfile:1: no FROM instruction"),
        ("FROM --plat=x a\n", "Dockerfile:1: unknown flag: --plat"),
    ],
)
def test_stage_errors(text: str, message: str) -> None:
    with pytest.raises(DockerfileError) as err:
        parse_dockerfile(text)
    assert str(err.value).startswith(message)


def test_run_forms_and_flags() -> None:
    run = one('RUN --mount=type=cache,target=/c --network=none --mount=target=/s,rw echo "$A"\n')
    assert isinstance(run, Run)
    assert run.cmd == 'echo "$A"' and run.shell_form
    assert [m.type for m in run.mounts] == ["cache", "bind"]
    assert run.mounts[1].readonly is False and run.mounts[0].target == "/c"
    assert run.network == "none"
    exec_run = one('RUN ["sh", "-c", "x"]\n')
    assert (
        isinstance(exec_run, Run) and exec_run.cmd == ["sh", "-c", "x"] and not exec_run.shell_form
    )
    doc = one("RUN <<EOF\nset -e\nEOF\n")
    assert isinstance(doc, Run) and doc.heredocs == [Heredoc("EOF", "set -e\n")]
    assert doc.script == Heredoc("EOF", "set -e\n")
    piped = one("RUN python3 <<EOF\nprint(1)\nEOF\n")
    assert isinstance(piped, Run) and piped.script is None and len(piped.heredocs) == 1


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("RUN --network=bridge x\n", "unsupported network mode 'bridge'"),
        ("RUN --mount=type=nfs,target=/x x\n", "unsupported mount type 'nfs'"),
        ("RUN --mount=type=cache x\n", "mount target is required"),
        ("RUN --mount=type=cache,target=/x,bogus=1 x\n", "unexpected key 'bogus'"),
        ("RUN\n", "RUN requires at least one argument"),
        ("COPY a\n", "COPY requires at least two arguments"),
        ("COPY --link=maybe a b\n", "expecting boolean value for flag --link, not: maybe"),
        ("COPY --from a b\n", "missing a value on flag: --from"),
        ("COPY --chown=1 --chown=2 a b\n", "duplicate flag specified: --chown"),
        ("ADD --from=x a b\n", "unknown flag: --from"),
        ("COPY a <<EOF\nx\nEOF\n", "COPY cannot accept a heredoc as a destination"),
        ("USER\n", "USER requires exactly one argument"),
        ("WORKDIR\n", "WORKDIR requires exactly one argument"),
        ("ENV\n", "ENV requires at least one argument"),
        ("ENV =x\n", "ENV names can not be blank"),
        ("EXPOSE\n", "EXPOSE requires at least one argument"),
        ('VOLUME [""]\n', "VOLUME specified can not be an empty string"),
        ("SHELL /bin/sh -c\n", "SHELL requires the arguments to be in JSON form"),
        ("SHELL []\n", "SHELL requires at least one argument"),
        ("STOPSIGNAL\n", "STOPSIGNAL requires exactly one argument"),
        ("HEALTHCHECK NONE x\n", "HEALTHCHECK NONE takes no arguments"),
        ("HEALTHCHECK CMD\n", "Missing command after HEALTHCHECK CMD"),
        ("HEALTHCHECK TCP 80\n", "Unknown type 'TCP' in HEALTHCHECK"),
        ("HEALTHCHECK --interval=5x CMD a\n", "invalid duration '5x'"),
        ("HEALTHCHECK --retries=-1 CMD a\n", "--retries cannot be negative"),
        ("HEALTHCHECK --timeout=1us CMD a\n", "cannot be less than 1ms"),
        ("ONBUILD\n", "ONBUILD requires at least one argument"),
        ("ONBUILD ONBUILD RUN x\n", "Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed"),
        ("ONBUILD FROM x\n", "FROM isn't allowed as an ONBUILD trigger"),
        ("ONBUILD COPY a\n", "COPY requires at least two arguments"),
        ("USER --x=1 me\n", "unknown flag: --x"),
        ("RUNN echo\n", "unknown instruction: RUNN"),
    ],
)
def test_validation_errors_name_file_and_line(body: str, message: str) -> None:
    with pytest.raises(InstructionError) as err:
        parse_dockerfile("FROM scratch\n" + body, filename="app/Dockerfile")
    assert str(err.value).startswith("app/Dockerfile:2: ")
    assert message in err.value.message
    assert err.value.lineno == 2


def test_unknown_instruction_suggests() -> None:
    with pytest.raises(InstructionError) as err:
        parse_dockerfile("FROM a\nCOPPY a b\n")
    assert err.value.hint == "did you mean COPY?"
    assert err.value.line() == "Dockerfile:2: unknown instruction: COPPY (did you mean COPY?)"


def test_copy_and_add() -> None:
    c = one("COPY --from=build --chown=1:2 --chmod=0755 --link --exclude=*.md a b /dst/\n")
    assert c == Copy(
        sources=["a", "b"], dest="/dst/", from_="build", chown="1:2", chmod="0755", link=True,
        exclude=["*.md"], line=2, end_line=2, original=c.original,
    )  # fmt: skip
    j = one('COPY ["a b", "/d"]\n')
    assert isinstance(j, Copy) and j.sources == ["a b"] and j.dest == "/d"
    h = one("COPY <<A << B src /d\nx\nA\ny\nB\n")
    assert isinstance(h, Copy) and h.sources == ["src"]
    assert h.heredocs == [Heredoc("A", "x\n"), Heredoc("B", "y\n")]
    a = one("ADD --checksum=sha256:ab --keep-git-dir=false --unpack https://x/y.tgz /d\n")
    assert isinstance(a, Add)
    assert (a.checksum, a.keep_git_dir, a.unpack, a.sources) == (
        "sha256:ab",
        False,
        True,
        ["https://x/y.tgz"],
    )


def test_env_label_arg() -> None:
    env = one('ENV A=1 B="two words" C=x\\ y\n')
    assert isinstance(env, Env)
    assert env.pairs == [KeyValue("A", "1"), KeyValue("B", '"two words"'), KeyValue("C", "x\\ y")]
    legacy = one("ENV PATH /usr/bin:$PATH\n")
    assert isinstance(legacy, Env) and legacy.pairs == [KeyValue("PATH", "/usr/bin:$PATH")]
    label = one('LABEL a.b=c "d e"=f\n')
    assert isinstance(label, Label) and label.pairs == [
        KeyValue("a.b", "c"),
        KeyValue('"d e"', "f"),
    ]
    arg = one('ARG A B= C="x y"\n')
    assert isinstance(arg, Arg)
    assert arg.args == [ArgDef("A"), ArgDef("B", ""), ArgDef("C", '"x y"')]


def test_simple_instructions() -> None:
    got = instrs(
        'EXPOSE 80/tcp 53/udp\nUSER app:app\nWORKDIR /srv\nVOLUME /a /b\nVOLUME ["/c"]\n'
        'CMD ["run"]\nCMD run it\nENTRYPOINT ["tini", "--"]\nSHELL ["/bin/bash", "-c"]\n'
        "STOPSIGNAL SIGTERM\nMAINTAINER me <m@e>\n"
    )
    assert got[0] == Expose(
        ports=["80/tcp", "53/udp"], line=2, end_line=2, original=got[0].original
    )
    assert isinstance(got[1], User) and got[1].user == "app:app"
    assert isinstance(got[2], Workdir) and got[2].path == "/srv"
    assert isinstance(got[3], Volume) and got[3].paths == ["/a", "/b"]
    assert isinstance(got[4], Volume) and got[4].paths == ["/c"]
    assert isinstance(got[5], Cmd) and got[5].cmd == ["run"] and not got[5].shell_form
    assert isinstance(got[6], Cmd) and got[6].cmd == "run it" and got[6].shell_form
    assert isinstance(got[7], Entrypoint) and got[7].cmd == ["tini", "--"]
    assert isinstance(got[8], Shell) and got[8].shell == ["/bin/bash", "-c"]
    assert isinstance(got[9], StopSignal) and got[9].signal == "SIGTERM"
    assert isinstance(got[10], Maintainer) and got[10].maintainer == "me <m@e>"


def test_healthcheck() -> None:
    hc = one(
        "HEALTHCHECK --interval=1m30s --timeout=500ms --start-period=2s --retries=3 CMD curl -f x\n"
    )
    assert isinstance(hc, Healthcheck)
    assert hc.test == ["CMD-SHELL", "curl -f x"] and not hc.none
    assert (hc.interval, hc.timeout, hc.start_period, hc.retries) == (
        90 * 10**9,
        5 * 10**8,
        2 * 10**9,
        3,
    )
    ex = one('HEALTHCHECK CMD ["/bin/check", "-q"]\n')
    assert isinstance(ex, Healthcheck) and ex.test == ["CMD", "/bin/check", "-q"]
    none = one("HEALTHCHECK none\n")
    assert isinstance(none, Healthcheck) and none.none and none.test == ["NONE"]


def test_parse_duration() -> None:
    assert parse_duration("0") == 0
    assert parse_duration("1h2m3.5s") == (3600 + 120 + 3.5) * 10**9
    assert parse_duration(".5s") == 5 * 10**8
    assert parse_duration("10us") == 10_000
    for bad in ("", "5", "s", "1d"):
        with pytest.raises(InstructionError):
            parse_duration(bad)


def test_onbuild() -> None:
    ob = one("ONBUILD RUN --network=none make\n")
    assert isinstance(ob, Onbuild) and ob.expression == "RUN --network=none make"
    assert isinstance(ob.trigger, Run) and ob.trigger.network == "none" and ob.trigger.line == 2
    doc = one("onbuild copy <<F /f\nhi\nF\n")
    assert isinstance(doc, Onbuild) and doc.expression == "copy <<F /f\nhi\nF"
    assert isinstance(doc.trigger, Copy) and doc.trigger.heredocs == [Heredoc("F", "hi\n")]


def test_warnings_and_directives_reach_the_model() -> None:
    df = parse_dockerfile("# syntax=docker/dockerfile:1\nFROM a\nRUN a \\\n\n b\n")
    assert df.directives == {"syntax": "docker/dockerfile:1"}
    assert len(df.warnings) == 1 and df.warnings[0].line == 5


def test_find_dockerfile(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(NotFound, match="no Dockerfile in"):
        find_dockerfile(tmp_path)
    (tmp_path / "dockerfile").write_text("FROM a\n")
    assert find_dockerfile(tmp_path) == tmp_path / "dockerfile"
    (tmp_path / "Dockerfile").write_text("FROM b\n")
    if os.path.samefile(tmp_path / "Dockerfile", tmp_path / "dockerfile"):
        pytest.fail("case-insensitive temp filesystem: the test needs a case-sensitive one")
    assert find_dockerfile(tmp_path) == tmp_path / "Dockerfile"
    other = tmp_path / "build" / "Custom.df"
    other.parent.mkdir()
    other.write_text("FROM c\nRUN x \\\n  y\n")
    monkeypatch.chdir(tmp_path)
    assert find_dockerfile(tmp_path / "build", "build/Custom.df") == Path("build/Custom.df")
    with pytest.raises(NotFound, match=r"Dockerfile missing\.df not found"):
        find_dockerfile(tmp_path, "missing.df")
    with pytest.raises(NotFound, match="is not a directory"):
        find_dockerfile(tmp_path / "nope")
    df = load(other)
    assert df.filename == "Custom.df"
    run = df.stages[0].instructions[0]
    assert isinstance(run, Run) and run.cmd == "x   y"


def test_load_names_errors_after_the_file(tmp_path: Path) -> None:
    p = tmp_path / "Dockerfile"
    p.write_text("FROM a\nCOPY x\n")
    with pytest.raises(DockerfileError, match=r"^Dockerfile:2: COPY requires"):
        load(p)
    with pytest.raises(DockerfileError, match="cannot read"):
        load(tmp_path / "absent")


def test_from_is_a_dataclass_with_location() -> None:
    base = parse_dockerfile("\n\nFROM img AS b\n").stages[0].base
    assert base == From(image="img", name="b", line=3, end_line=3, original="FROM img AS b")
