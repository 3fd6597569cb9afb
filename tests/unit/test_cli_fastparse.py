"""The click-free `run`/`create` parser against click itself.

For every command line, the fast parser either declines (None) or yields exactly the
global options and command kwargs click hands to the command, and so the same RunSpec.
When click refuses a command line (usage error, --help, --version), the fast parser
must decline, so that click prints its own message.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import click
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import rootless.cli.run as click_run
from rootless.cli.fastparse import parse
from rootless.cli.group import cli
from rootless.cli.runexec import GlobalOpts
from rootless.cli.runflags import build_spec
from rootless.errors import UsageError

GROUP_ENV = ("ROOTLESS_ROOT", "ROOTLESS_RUNROOT", "ROOTLESS_CONFIG_DIR",
             "ROOTLESS_CGROUP_LIMITS", "ROOTLESS_STORAGE_DRIVER")  # fmt: skip


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for name in GROUP_ENV:
        monkeypatch.setenv(name, "")  # remembers the original value for the undo
        monkeypatch.delenv(name)
    yield


def click_parse(argv: list[str]) -> tuple[str, GlobalOpts, dict[str, Any]] | None:
    """What click passes to run/create for argv, or None when it does not call them."""
    seen: list[tuple[str, GlobalOpts, dict[str, Any]]] = []

    def capture(command: str) -> Any:
        def record(_opts: GlobalOpts, kw: dict[str, Any]) -> None:
            params = click.get_current_context().find_root().params
            seen.append((command, GlobalOpts(**params), dict(kw)))

        return record

    mp = pytest.MonkeyPatch()
    mp.setattr(click_run, "run_command", capture("run"))
    mp.setattr(click_run, "create_command", capture("create"))
    mp.setattr("logging.basicConfig", lambda **_: None)
    environ = dict(os.environ)  # the group's callback exports --storage-driver
    try:
        cli.main(list(argv), prog_name="rootless", standalone_mode=False)
    except (click.ClickException, click.exceptions.Exit, click.exceptions.Abort):
        return None
    finally:
        mp.undo()
        os.environ.clear()
        os.environ.update(environ)
    return seen[0] if seen else None


def fast_parse(argv: list[str]) -> tuple[str, GlobalOpts, dict[str, Any]] | None:
    got = parse(argv)
    return None if got is None else (got.command, got.opts, got.kw)


ACCEPTED = [
    ["run", "--rm", "--network", "none", "busybox", "true"],
    ["run", "busybox"],
    ["create", "--name", "web", "-p", "8080:80", "nginx"],
    ["run", "-it", "--rm", "debian", "bash", "-c", "echo $HOME"],
    ["run", "-dit", "--name=x", "busybox", "sleep", "100"],
    ["run", "-e", "A=1", "-eB=2", "--env=C=3", "--env", "D", "busybox", "env"],
    ["run", "-h", "myhost", "-w", "/tmp", "-u", "1000:1000", "busybox", "id"],
    ["run", "-v", "/a:/b:ro", "--volume=vol:/data", "--mount", "type=tmpfs,dst=/t", "img"],
    ["run", "--stop-timeout", "3", "--stop-signal", "SIGINT", "--restart", "on-failure:2",
     "busybox"],
    ["run", "--pull=never", "--port-driver", "builtin", "--net", "host", "busybox"],
    ["run", "-m", "64m", "--cpus", "0.5", "-c", "512", "--pids-limit=20", "busybox"],
    ["run", "--device-read-bps", "/dev/null:1mb", "--device-read-bps=/dev/zero:2mb", "img"],
    ["run", "-P", "-l", "a=b", "--label", "c=d", "--tmpfs", "/run:size=1m", "img"],
    ["run", "--entrypoint", "", "--init", "--read-only", "--privileged", "img", "x"],
    ["run", "--cap-add", "SYS_ADMIN", "--cap-drop=NET_RAW", "--security-opt", "seccomp=unconfined",
     "img"],
    ["run", "--dns", "1.1.1.1", "--dns-search", "x", "--dns-option", "ndots:1", "--add-host",
     "h:1.2.3.4", "--ip", "10.0.0.5", "--network-alias", "a", "img"],
    ["run", "--userns", "keep-id", "--runtime", "runc", "--detach-keys", "ctrl-a", "img"],
    ["run", "--ulimit", "nofile=10:20", "--volumes-from", "other:ro", "--env-file", "f", "img"],
    ["run", "--", "busybox", "--rm", "-it"],  # after --, positional
    ["run", "busybox", "--rm", "-e", "X"],  # after the image: the command, as is
    ["run", "busybox", "--", "x"],
    ["run", "--name", "-dash", "img"],  # click takes the next argument whatever it is
    ["run", "-ehello", "-", "x"],
    ["--root", "/r", "--runroot=/rr", "--config-dir", "/c", "run", "img"],
    ["--cgroup-limits", "require", "--storage-driver=vfs", "--log-level", "info", "create", "i"],
    ["--log-level=error", "run", "--rm", "img"],
    ["--root=", "run", "img"],
]  # fmt: skip

DECLINED = [
    [],
    ["--help"],
    ["-h"],
    ["-v"],
    ["--version"],
    ["ps"],
    ["container", "run", "img"],
    ["run"],
    ["run", "--help"],
    ["run", "--rm", "--help", "img"],
    ["run", "--rm"],
    ["run", "--rm=yes", "img"],
    ["run", "--no-such", "img"],
    ["run", "-Z", "img"],
    ["run", "-itZ", "img"],
    ["run", "--pull", "sometimes", "img"],
    ["run", "--stop-timeout", "soon", "img"],
    ["run", "-c", "x", "img"],
    ["run", "--name"],
    ["run", "-e"],
    ["--log-level", "loud", "run", "img"],
    ["--storage-driver", "zfs", "run", "img"],
    ["--root"],
    ["--", "run", "img"],
]


@pytest.mark.parametrize("argv", ACCEPTED, ids=" ".join)
def test_fast_parser_matches_click(argv: list[str]) -> None:
    fast = fast_parse(argv)
    assert fast is not None, "the fast path should handle this command line"
    assert fast == click_parse(argv)


@pytest.mark.parametrize("argv", DECLINED, ids=" ".join)
def test_fast_parser_declines(argv: list[str]) -> None:
    assert fast_parse(argv) is None


def test_environment_fills_the_global_options(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ROOTLESS_ROOT", "/env/root")
    monkeypatch.setenv("ROOTLESS_RUNROOT", "")  # empty: unset, as click has it
    monkeypatch.setenv("ROOTLESS_STORAGE_DRIVER", "fuse")
    for argv in (["run", "img"], ["--root", "/flag", "run", "img"]):
        fast = fast_parse(argv)
        assert fast is not None
        assert fast == click_parse(argv)
    assert fast[1].root == "/flag" and fast[1].storage_driver == "fuse"


def test_invalid_choice_in_the_environment_is_left_to_click(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("ROOTLESS_CGROUP_LIMITS", "maybe")
    assert fast_parse(["run", "img"]) is None
    assert click_parse(["run", "img"]) is None


def test_same_spec_through_both_paths(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    env_file = tmp_path / "env"
    env_file.write_text("# comment\nFROM_FILE=1\n")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("COPIED", "yes")
    argv = ["run", "-it", "--rm", "--env-file", str(env_file), "-e", "COPIED", "-e", "A=b",
            "-v", "./data:/data", "--ulimit", "nofile=10:20", "-m", "64m", "--restart", "no",
            "--entrypoint", '["/bin/sh", "-c"]', "busybox", "echo", "hi"]  # fmt: skip
    fast, slow = fast_parse(argv), click_parse(argv)
    assert fast is not None and slow is not None
    spec = build_spec(fast[2])
    assert spec == build_spec(slow[2])
    assert spec.env == {"FROM_FILE": "1", "COPIED": "yes", "A": "b"}
    assert spec.volumes == [f"{tmp_path}/data:/data"]
    assert spec.resources == {"memory": 64 << 20}


def test_no_limit_flags_means_no_resources() -> None:
    """build_spec skips the limits module without limit flags: the result must be what
    the limits module would have produced."""
    from rootless.cgroups.flags import limits_from_flags
    from rootless.cgroups.limits import to_dict

    got = fast_parse(["run", "img"])
    assert got is not None
    assert build_spec(got[2]).resources == to_dict(limits_from_flags(got[2])) == {}
    zero = fast_parse(["run", "--pids-limit", "0", "img"])
    assert zero is not None  # given, even if falsy: still goes through the limits module
    assert build_spec(zero[2]).resources == to_dict(limits_from_flags(zero[2]))
    shares = fast_parse(["run", "--cpu-shares", "0", "img"])
    assert shares is not None
    with pytest.raises(UsageError, match="cpu-shares"):
        build_spec(shares[2])


def test_errors_in_values_are_the_engines_on_both_paths() -> None:
    argv = ["run", "--restart", "always", "--rm", "img"]
    fast, slow = fast_parse(argv), click_parse(argv)
    assert fast is not None and slow is not None
    for kw in (fast[2], slow[2]):
        with pytest.raises(UsageError, match="--rm and --restart"):
            build_spec(kw)


TOKENS = ["-d", "-i", "-t", "-it", "-dit", "-ti", "--rm", "--rm=1", "--name", "--name=n",
          "web", "-e", "A=1", "-eB=2", "--env=C", "-h", "host", "-hX", "--stop-timeout", "5",
          "x5", "--pull", "never", "bogus", "--pull=always", "-m", "64m", "-c", "2",
          "--cpu-shares=3", "--help", "-P", "-p", "80:80", "--net", "none", "--network=host",
          "-v", "/a:/b", "-", "--", "busybox", "true", "-Z", "--nope", "--port-driver",
          "slirp4netns", "-l", "k=v", "--init", "-w", "/w", "-u", "0", ""]  # fmt: skip
GLOBAL_TOKENS = ["--root", "/r", "--runroot=/x", "--log-level", "debug", "info", "-v",
                 "--help", "--storage-driver", "vfs", "--cgroup-limits=warn", "zz", "--"]  # fmt: skip


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(st.sampled_from(GLOBAL_TOKENS), max_size=3),
    st.sampled_from(["run", "create"]),
    st.lists(st.sampled_from(TOKENS), max_size=8),
)
def test_fast_parser_never_disagrees_with_click(
    pre: list[str], command: str, rest: list[str]
) -> None:
    argv = [*pre, command, *rest]
    fast = fast_parse(argv)
    if fast is not None:
        assert fast == click_parse(argv)


def test_click_parse_leaves_the_environment_alone() -> None:
    before = dict(os.environ)
    assert click_parse(["--storage-driver", "vfs", "run", "img"]) is not None
    assert dict(os.environ) == before
