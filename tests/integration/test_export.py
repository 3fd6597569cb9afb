"""export: a container's filesystem as a tar that import reads back."""

from __future__ import annotations

import tarfile
from pathlib import Path

from tests.conftest import Env


def test_export_then_import_round_trip(rl: Env, busybox_image: str, tmp_path: Path) -> None:
    rl.run(
        "run",
        "--name",
        "ex",
        "--network",
        "none",
        busybox_image,
        "sh",
        "-c",
        "echo made > /made.txt && rm /etc/group",
        check=True,
    )
    out = tmp_path / "ex.tar"
    res = rl.run("export", "-o", str(out), "ex")
    assert res.rc == 0, res.err
    with tarfile.open(out) as tf:
        names = set(tf.getnames())
        assert "made.txt" in names
        assert "etc/group" not in names  # deleted in the container: gone
        assert "bin/busybox" in names
        sh = tf.getmember("bin/sh")
        assert sh.issym() or sh.islnk()  # links are stored, not followed
        assert tf.extractfile("made.txt").read() == b"made\n"  # type: ignore[union-attr]
    assert not list(tmp_path.glob(".ex.tar.*"))  # no temp file left
    rl.run("import", str(out), "exported:1", check=True)
    res = rl.run("run", "--rm", "--network", "none", "exported:1", "/bin/cat", "/made.txt")
    assert res.rc == 0, res.err
    assert res.out == "made\n"
    rl.run("rm", "ex", check=True)


def test_export_refuses_a_terminal_and_unknown_containers(
    rl: Env, busybox_image: str, tmp_path: Path
) -> None:
    res = rl.run("export", "-o", str(tmp_path / "x.tar"), "nosuch")
    assert res.rc == 125
    assert len(res.err.strip().splitlines()) == 1
    assert not (tmp_path / "x.tar").exists()
    assert not list(tmp_path.glob(".x.tar.*"))
