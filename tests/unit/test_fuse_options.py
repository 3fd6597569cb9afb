"""fuse-overlay's command line (fuse-overlayfs compatible) and id mapping."""

from __future__ import annotations

from pathlib import Path

import pytest

from fuse_overlay.options import IdMap, OptionError, parse_args


@pytest.fixture
def dirs(tmp_path: Path) -> dict[str, str]:
    out = {}
    for n in ("l1", "l2", "u", "w", "m"):
        (tmp_path / n).mkdir()
        out[n] = str(tmp_path / n)
    return out


def test_fuse_overlayfs_command_line(dirs: dict[str, str]) -> None:
    # Podman's form: a trailing comma, and options fuse-overlayfs would tune.
    o = parse_args(
        [
            "-o",
            f"lowerdir={dirs['l1']}:{dirs['l2']},upperdir={dirs['u']},workdir={dirs['w']},",
            "-o",
            "allow_other,fsync=0,noacl,uidmapping=0:1000:1:1:100000:65536",
            dirs["m"],
        ]
    )
    assert o.lowerdirs == [dirs["l1"], dirs["l2"]]  # leftmost is the top layer
    assert (o.upperdir, o.workdir, o.mountpoint) == (dirs["u"], dirs["w"], dirs["m"])
    assert o.fuse_options == {"allow_other": True}
    assert o.uidmap.to_inside(1000) == 0 and o.uidmap.to_inside(100004) == 5
    assert not o.foreground


def test_foreground_and_attached_o(dirs: dict[str, str]) -> None:
    o = parse_args(["-f", f"-olowerdir={dirs['l1']}", dirs["m"]])
    assert o.foreground and o.upperdir is None and o.workdir is None


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        ([], "exactly one MOUNTPOINT"),
        (["{m}"], "missing -o lowerdir"),
        (["-o", "lowerdir={l1}"], "exactly one MOUNTPOINT"),
        (["-o", "lowerdir={l1}", "{m}", "{m}"], "exactly one MOUNTPOINT"),
        (["-o", "lowerdir={l1},upperdir={u}", "{m}"], "go together"),
        (["-o", "lowerdir={l1},upperdir={u},workdir={u}", "{m}"], "must be different"),
        (["-o", "lowerdir=/nope", "{m}"], "lowerdir /nope: not an existing directory"),
        (["-o", "lowerdir={l1},frobnicate", "{m}"], "unknown option 'frobnicate'"),
        (["-x", "{m}"], "unknown flag -x"),
        (["-o"], "-o needs an argument"),
        (["-o", "lowerdir={l1},gidmapping=a:b:c", "{m}"], "gidmapping=a:b:c"),
    ],
)
def test_errors_are_one_clear_line(dirs: dict[str, str], argv: list[str], message: str) -> None:
    with pytest.raises(OptionError) as e:
        parse_args([a.format(**dirs) for a in argv])
    assert message in str(e.value)
    assert "\n" not in str(e.value)


def test_idmap_both_ways() -> None:
    m = IdMap.parse("0:1000:1:1:100000:65536", "uidmapping")
    assert [m.to_inside(x) for x in (1000, 100000, 165535, 5)] == [0, 1, 65536, 65534]
    assert [m.to_outside(x) for x in (0, 1, 65536, -1)] == [1000, 100000, 165535, -1]
    with pytest.raises(OSError):
        m.to_outside(70000)
    assert IdMap().to_inside(42) == 42 and IdMap().to_outside(42) == 42
