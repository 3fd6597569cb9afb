"""Source matching, walking, checksums and copying: real files, no namespaces."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from rootless.build.context import SourceNotFound, SourceTree
from rootless.build.copier import Ownership, copy_sources, extract_tar, is_archive
from rootless.build.rootpath import resolve_in_root

KEEP = Ownership(None, None)  # keep owners: we are not root here


def tree(root: Path, files: dict[str, str]) -> None:
    for rel, text in files.items():
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text)


def test_resolve_in_root_clamps_symlinks(tmp_path: Path) -> None:
    root = tmp_path / "root"
    (root / "etc").mkdir(parents=True)
    os.symlink("/etc", root / "abs")
    os.symlink("../../../../..", root / "up")
    os.symlink("loop", root / "loop")
    assert resolve_in_root(str(root), "abs/passwd") == str(root / "etc" / "passwd")
    assert resolve_in_root(str(root), "up/etc") == str(root / "etc")
    assert resolve_in_root(str(root), "../../x") == str(root / "x")
    assert resolve_in_root(str(root), "abs", follow_last=False) == str(root / "abs")
    with pytest.raises(Exception, match="symbolic links"):
        resolve_in_root(str(root), "loop/x")


def test_glob_and_ignore(tmp_path: Path) -> None:
    tree(tmp_path, {"a.txt": "a", "b.txt": "b", "c.md": "c", "d/e.txt": "e"})
    (tmp_path / ".dockerignore").write_text("b.txt\n")
    t = SourceTree.context(tmp_path)
    assert [s.rel for s in t.match("*.txt")] == ["a.txt"]
    assert [s.rel for s in t.match("d/*.txt")] == ["d/e.txt"]
    with pytest.raises(SourceNotFound, match="dockerignore"):
        t.match("b.txt")
    with pytest.raises(SourceNotFound):
        t.match("nothing*")


def test_walk_skips_ignored_and_keeps_links(tmp_path: Path) -> None:
    tree(tmp_path, {"src/keep.py": "x", "src/cache/x.pyc": "y", "src/cache/keep.txt": "z"})
    os.symlink("/etc/passwd", tmp_path / "src" / "link")
    (tmp_path / ".dockerignore").write_text("src/cache\n!src/cache/keep.txt\n")
    t = SourceTree.context(tmp_path)
    (src,) = t.match("src")
    subs = sorted(e.sub for e in t.walk(src))
    assert subs == ["cache/keep.txt", "keep.py", "link"]


def test_checksum_tracks_content_not_mtime(tmp_path: Path) -> None:
    tree(tmp_path, {"d/a": "1", "d/b": "2"})
    t = SourceTree(tmp_path)
    first = t.checksum(t.match("d"))
    os.utime(tmp_path / "d" / "a", (1, 1))
    assert t.checksum(t.match("d")) == first
    (tmp_path / "d" / "a").write_text("changed")
    assert t.checksum(t.match("d")) != first


def test_copy_semantics(tmp_path: Path) -> None:
    ctx, rootfs = tmp_path / "ctx", tmp_path / "rootfs"
    tree(ctx, {"f.txt": "f", "dir/x": "x", "dir/sub/y": "y"})
    rootfs.mkdir()
    t = SourceTree(ctx)
    copy_sources(t, t.match("f.txt"), str(rootfs), "/newname", KEEP)
    assert (rootfs / "newname").read_text() == "f"
    copy_sources(t, t.match("f.txt"), str(rootfs), "/into/", KEEP)
    assert (rootfs / "into" / "f.txt").read_text() == "f"
    copy_sources(t, t.match("dir"), str(rootfs), "/d", KEEP)  # contents, not the dir
    assert (rootfs / "d" / "x").read_text() == "x"
    assert (rootfs / "d" / "sub" / "y").read_text() == "y"
    copy_sources(t, t.match("f.txt"), str(rootfs), "/d", KEEP)  # existing dir: goes inside
    assert (rootfs / "d" / "f.txt").is_file()


def test_copy_chmod_and_symlinked_destination_stays_inside(tmp_path: Path) -> None:
    ctx, rootfs, outside = tmp_path / "ctx", tmp_path / "rootfs", tmp_path / "outside"
    tree(ctx, {"f.txt": "f"})
    rootfs.mkdir()
    outside.mkdir()
    os.symlink(str(outside), rootfs / "app")  # absolute: means /<outside> in the rootfs
    t = SourceTree(ctx)
    copy_sources(t, t.match("f.txt"), str(rootfs), "/app/", Ownership(None, None, 0o751))
    assert not (outside / "f.txt").exists()
    inside = Path(resolve_in_root(str(rootfs), "/app/f.txt"))
    assert inside.is_relative_to(rootfs)
    assert inside.stat().st_mode & 0o7777 == 0o751


def test_extract_tar_stays_inside(tmp_path: Path) -> None:
    import io
    import tarfile

    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tf:
        for name, data in (("ok/a.txt", b"a"), ("../../escape.txt", b"e")):
            ti = tarfile.TarInfo(name)
            ti.size = len(data)
            ti.uid, ti.gid = os.getuid(), os.getgid()
            tf.addfile(ti, io.BytesIO(data))
    archive = tmp_path / "a.tgz"
    archive.write_bytes(buf.getvalue())
    assert is_archive(str(archive))
    assert not is_archive(str(Path(__file__)))
    rootfs = tmp_path / "rootfs"
    rootfs.mkdir()
    with open(archive, "rb") as f:
        extract_tar(f, str(rootfs), "/dst")
    assert (rootfs / "dst" / "ok" / "a.txt").read_text() == "a"
    assert (rootfs / "dst" / "escape.txt").read_text() == "e"  # clamped to the rootfs
    assert not (tmp_path / "escape.txt").exists()
