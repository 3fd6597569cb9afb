"""fuse_overlay's operations driven directly (no FUSE mount): lookups over layers,
copy-up, whiteouts, opaque dirs, renames, the .wh. fallback. Runs as the plain test
user; a 0/0 whiteout device may be created by anyone since Linux 5.8."""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path

import pytest

from fuse_overlay import copyup
from fuse_overlay.layers import OPAQUE_XATTR, is_whiteout
from fuse_overlay.overlay import Overlay


def _tree(tmp_path: Path) -> tuple[Path, Path, Path, Path]:
    l1, l2, up, wk = (tmp_path / n for n in ("l1", "l2", "u", "w"))
    for d in (l1, l2, up, wk):
        d.mkdir()
    (l2 / "a").write_text("l2 a")
    (l2 / "both").write_text("l2")
    (l1 / "both").write_text("l1")
    (l2 / "dir").mkdir()
    (l2 / "dir" / "x").write_text("x")
    (l2 / "opq").mkdir()
    (l2 / "opq" / "hidden").write_text("h")
    (l1 / "opq").mkdir()
    (l1 / "opq" / "shown").write_text("s")
    os.setxattr(l1 / "opq", OPAQUE_XATTR, b"y")
    (l2 / "gone").write_text("g")
    os.mknod(l1 / "gone", stat.S_IFCHR, 0)
    return l1, l2, up, wk


@pytest.fixture
def ovl(tmp_path: Path) -> Overlay:
    l1, l2, up, wk = _tree(tmp_path)
    return Overlay([str(l1), str(l2)], str(up), str(wk))


def _upper(o: Overlay) -> Path:
    assert o.upper
    return Path(o.upper)


def test_lookup_and_listing(ovl: Overlay) -> None:
    assert sorted(ovl.readdir("/")) == [".", "..", "a", "both", "dir", "opq"]
    assert sorted(ovl.readdir("/opq")) == [".", "..", "shown"]
    with pytest.raises(FileNotFoundError):
        ovl.getattr("/gone")
    with pytest.raises(FileNotFoundError):
        ovl.getattr("/opq/hidden")
    with pytest.raises(NotADirectoryError):
        ovl.getattr("/a/b")
    fd = ovl.open("/both", os.O_RDONLY)
    assert ovl.read("/both", 10, 0, fd) == b"l1"
    ovl.release("/both", fd)
    assert ovl.getattr("/dir")["st_nlink"] == 2  # only in one layer: the real count


def test_write_copies_up_keeping_metadata(ovl: Overlay, tmp_path: Path) -> None:
    lower = tmp_path / "l2" / "a"
    os.chmod(lower, 0o640)
    os.setxattr(lower, "user.k", b"v")
    os.utime(lower, ns=(10**18, 10**18))
    ino = ovl.getattr("/a")["st_ino"]
    fd = ovl.open("/a", os.O_WRONLY | os.O_APPEND)
    ovl.write("/a", b"+", 0, fd)
    ovl.release("/a", fd)
    up = _upper(ovl) / "a"
    assert up.read_text() == "l2 a+" and lower.read_text() == "l2 a"
    assert stat.S_IMODE(up.stat().st_mode) == 0o640
    assert os.getxattr(up, "user.k") == b"v"
    assert ovl.getattr("/a")["st_ino"] == ino  # the number survives the copy-up


def test_o_trunc_copies_no_data(ovl: Overlay) -> None:
    fd = ovl.open("/a", os.O_WRONLY | os.O_TRUNC)
    ovl.release("/a", fd)
    assert (_upper(ovl) / "a").read_bytes() == b""


def test_unlink_and_rmdir_leave_whiteouts(ovl: Overlay) -> None:
    ovl.unlink("/a")
    assert is_whiteout(os.lstat(_upper(ovl) / "a"))
    ovl.unlink("/dir/x")
    ovl.rmdir("/dir")
    assert is_whiteout(os.lstat(_upper(ovl) / "dir"))
    assert sorted(ovl.readdir("/")) == [".", "..", "both", "opq"]
    fd = ovl.create("/new", 0o644)
    ovl.release("/new", fd)
    ovl.unlink("/new")  # upper only: no whiteout needed
    assert not os.path.lexists(_upper(ovl) / "new")


def test_rmdir_not_empty(ovl: Overlay) -> None:
    with pytest.raises(OSError) as e:
        ovl.rmdir("/dir")
    assert e.value.errno == errno.ENOTEMPTY


def test_mkdir_over_upper_whiteout_is_opaque(ovl: Overlay) -> None:
    ovl.unlink("/dir/x")
    ovl.rmdir("/dir")
    ovl.mkdir("/dir", 0o755)
    assert os.getxattr(_upper(ovl) / "dir", OPAQUE_XATTR) == b"y"
    assert ovl.readdir("/dir") == [".", ".."]
    # a whiteout in a lower layer already stops the lookup: no marker needed (kernel too)
    ovl.mkdir("/gone", 0o755)
    assert OPAQUE_XATTR not in os.listxattr(_upper(ovl) / "gone")


def test_rename_lower_dir_moves_the_merged_tree(ovl: Overlay) -> None:
    ovl.rename("/opq", "/moved")
    assert sorted(ovl.readdir("/moved")) == [".", "..", "shown"]
    assert is_whiteout(os.lstat(_upper(ovl) / "opq"))
    with pytest.raises(FileNotFoundError):
        ovl.getattr("/opq")


def test_rename_file_over_file_and_noreplace(ovl: Overlay) -> None:
    with pytest.raises(FileExistsError):
        ovl.rename("/a", "/both", 1)  # RENAME_NOREPLACE
    ovl.rename("/a", "/both")
    fd = ovl.open("/both", os.O_RDONLY)
    assert ovl.read("/both", 10, 0, fd) == b"l2 a"
    ovl.release("/both", fd)
    assert is_whiteout(os.lstat(_upper(ovl) / "a"))


def test_private_xattrs_hidden(ovl: Overlay) -> None:
    assert OPAQUE_XATTR not in ovl.listxattr("/opq")
    with pytest.raises(OSError) as e:
        ovl.setxattr("/a", "user.overlay.opaque", b"y", 0)
    assert e.value.errno == errno.EOPNOTSUPP


def test_without_upper_everything_is_read_only(tmp_path: Path) -> None:
    l1, l2, _, _ = _tree(tmp_path)
    ro = Overlay([str(l1), str(l2)])
    assert sorted(ro.readdir("/")) == [".", "..", "a", "both", "dir", "opq"]
    for call in (lambda: ro.unlink("/a"), lambda: ro.mkdir("/n", 0o755), lambda: ro.chmod("/a", 0)):
        with pytest.raises(OSError) as e:
            call()
        assert e.value.errno == errno.EROFS


def test_aufs_whiteout_fallback(ovl: Overlay) -> None:
    ovl.layers.aufs = True  # as when char devices can't be made
    ovl.unlink("/a")
    assert os.path.exists(_upper(ovl) / ".wh.a")
    assert "a" not in ovl.readdir("/") and ".wh.a" not in ovl.readdir("/")
    with pytest.raises(FileNotFoundError):
        ovl.getattr("/a")
    fd = ovl.create("/a", 0o644)  # re-creating removes the marker
    ovl.release("/a", fd)
    assert not os.path.exists(_upper(ovl) / ".wh.a")


def test_copy_data_keeps_holes(tmp_path: Path) -> None:
    src, dst = tmp_path / "src", tmp_path / "dst"
    with open(src, "wb") as f:
        f.write(b"a")
        f.seek(64 << 20)
        f.write(b"z")
    copyup.copy_node(str(src), os.lstat(src), str(dst))
    assert dst.stat().st_size == (64 << 20) + 1
    assert dst.stat().st_blocks * 512 < (1 << 20)
    with open(dst, "rb") as f:
        assert f.read(1) == b"a"
        f.seek(64 << 20)
        assert f.read() == b"z"
