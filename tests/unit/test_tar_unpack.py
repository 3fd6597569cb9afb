"""The layer unpacker against hostile and tricky archives (plain user, vfs whiteout form).

Every hostile case checks the same thing: nothing appears or changes outside the layer.
"""

from __future__ import annotations

import gzip
import io
import os
import shutil
import stat
import subprocess
import tarfile
import threading
from collections.abc import Callable
from pathlib import Path

import pytest
import zstandard

from rootless.errors import EngineError
from rootless.images.unpack import BadArchive, UnsafeArchive, unpack

Entry = Callable[[tarfile.TarFile], None]


def _file(name: str, data: bytes = b"x", mode: int = 0o644, **kw: object) -> Entry:
    def add(tf: tarfile.TarFile) -> None:
        ti = tarfile.TarInfo(name)
        ti.size = len(data)
        ti.mode = mode
        ti.mtime = 1_600_000_000
        for k, v in kw.items():
            setattr(ti, k, v)
        tf.addfile(ti, io.BytesIO(data))

    return add


def _link(name: str, target: str, kind: bytes = tarfile.SYMTYPE) -> Entry:
    def add(tf: tarfile.TarFile) -> None:
        ti = tarfile.TarInfo(name)
        ti.type = kind
        ti.linkname = target
        tf.addfile(ti)

    return add


def _dir(name: str, mode: int = 0o755) -> Entry:
    def add(tf: tarfile.TarFile) -> None:
        ti = tarfile.TarInfo(name)
        ti.type = tarfile.DIRTYPE
        ti.mode = mode
        tf.addfile(ti)

    return add


def _tar(*entries: Entry) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tf:
        for e in entries:
            e(tf)
    return buf.getvalue()


@pytest.fixture
def box(tmp_path: Path) -> tuple[Path, Path]:
    """(layer dir, a sibling 'outside' dir with a secret file)."""
    layer = tmp_path / "layer"
    outside = tmp_path / "outside"
    layer.mkdir()
    outside.mkdir()
    (outside / "secret").write_text("keep me")
    return layer, outside


def _outside_untouched(outside: Path) -> None:
    assert sorted(p.name for p in outside.iterdir()) == ["secret"]
    assert (outside / "secret").read_text() == "keep me"


def _escape_cases(outside: Path) -> dict[str, bytes]:
    o = str(outside)
    return {
        "dotdot": _tar(_file("../outside/evil")),
        "dotdot-nested": _tar(_dir("a"), _file("a/../../outside/evil")),
        "symlink-then-write-through": _tar(_link("s", "../outside"), _file("s/evil")),
        "absolute-symlink-then-write": _tar(_link("abs", o), _file("abs/evil")),
        "symlink-dir-then-nested-dir": _tar(_link("d", o), _dir("d/sub"), _file("d/sub/evil")),
        "hardlink-dotdot": _tar(_link("h", "../outside/secret", tarfile.LNKTYPE)),
        "hardlink-absolute-outside": _tar(_link("h", f"{o}/secret", tarfile.LNKTYPE)),
        "hardlink-through-symlink": _tar(
            _link("s", o), _link("h", "s/secret", tarfile.LNKTYPE), _file("h", b"pwned")
        ),
    }


@pytest.mark.parametrize(
    "case",
    [
        "dotdot",
        "dotdot-nested",
        "symlink-then-write-through",
        "absolute-symlink-then-write",
        "symlink-dir-then-nested-dir",
        "hardlink-dotdot",
        "hardlink-absolute-outside",
        "hardlink-through-symlink",
    ],
)
def test_hostile_archive_is_refused_and_writes_nothing_outside(
    box: tuple[Path, Path], case: str
) -> None:
    layer, outside = box
    data = _escape_cases(outside)[case]
    with pytest.raises(UnsafeArchive):
        unpack(io.BytesIO(data), layer, "delete", chown=False)
    _outside_untouched(outside)


def test_absolute_names_land_inside_the_layer(box: tuple[Path, Path]) -> None:
    layer, outside = box
    unpack(io.BytesIO(_tar(_file(f"{outside}/secret", b"inside"))), layer, "delete", chown=False)
    _outside_untouched(outside)
    assert (layer / str(outside).lstrip("/") / "secret").read_bytes() == b"inside"


def test_absolute_symlink_is_created_not_followed(box: tuple[Path, Path]) -> None:
    layer, outside = box
    # A later regular file with the symlink's name replaces the link, never writes through.
    data = _tar(_link("x", f"{outside}/secret"), _file("x", b"replaced"))
    unpack(io.BytesIO(data), layer, "delete", chown=False)
    _outside_untouched(outside)
    assert not (layer / "x").is_symlink()
    assert (layer / "x").read_bytes() == b"replaced"


def test_duplicate_entries_last_wins(box: tuple[Path, Path]) -> None:
    layer, _ = box
    data = _tar(
        _file("f", b"one"),
        _file("f", b"two"),
        _dir("d"),
        _file("d/inner"),
        _file("d", b"file now"),
        _file("e", b"file first"),
        _dir("e"),
    )
    unpack(io.BytesIO(data), layer, "delete", chown=False)
    assert (layer / "f").read_bytes() == b"two"
    assert (layer / "d").read_bytes() == b"file now"
    assert (layer / "e").is_dir()


def test_hardlink_inside_layer_shares_inode(box: tuple[Path, Path]) -> None:
    layer, _ = box
    data = _tar(_file("a", b"data"), _link("b", "a", tarfile.LNKTYPE))
    unpack(io.BytesIO(data), layer, "delete", chown=False)
    assert (layer / "a").stat().st_ino == (layer / "b").stat().st_ino


def test_hardlink_to_missing_target_is_refused(box: tuple[Path, Path]) -> None:
    layer, outside = box
    with pytest.raises(UnsafeArchive):
        unpack(io.BytesIO(_tar(_link("b", "nope", tarfile.LNKTYPE))), layer, "delete", chown=False)
    _outside_untouched(outside)


def test_device_nodes_are_skipped_with_a_note(box: tuple[Path, Path]) -> None:
    layer, _ = box

    def dev(tf: tarfile.TarFile) -> None:
        ti = tarfile.TarInfo("dev/null")
        ti.type = tarfile.CHRTYPE
        ti.devmajor, ti.devminor = 1, 3
        tf.addfile(ti)

    res = unpack(io.BytesIO(_tar(_dir("dev"), dev, _file("ok"))), layer, "delete", chown=False)
    assert not (layer / "dev" / "null").exists()
    assert (layer / "ok").exists()
    assert any("dev/null" in n for n in res.notes)


def test_modes_times_xattrs_fifo_preserved(box: tuple[Path, Path]) -> None:
    layer, _ = box

    def with_xattr(tf: tarfile.TarInfo | tarfile.TarFile) -> None:
        ti = tarfile.TarInfo("x")
        ti.size = 1
        ti.pax_headers = {"SCHILY.xattr.user.color": "blue"}
        assert isinstance(tf, tarfile.TarFile)
        tf.addfile(ti, io.BytesIO(b"1"))

    def fifo(tf: tarfile.TarFile) -> None:
        ti = tarfile.TarInfo("pipe")
        ti.type = tarfile.FIFOTYPE
        ti.mode = 0o640
        tf.addfile(ti)

    data = _tar(_dir("ro", 0o555), _file("ro/suid", b"#!", 0o4755), with_xattr, fifo)
    unpack(io.BytesIO(data), layer, "delete", chown=False)
    st = (layer / "ro" / "suid").stat()
    assert stat.S_IMODE(st.st_mode) == 0o4755
    assert st.st_mtime == 1_600_000_000
    assert stat.S_IMODE((layer / "ro").stat().st_mode) == 0o555
    assert os.getxattr(layer / "x", "user.color") == b"blue"
    assert stat.S_ISFIFO((layer / "pipe").lstat().st_mode)
    os.chmod(layer / "ro", 0o755)


def test_compressions_give_the_same_diff_id(tmp_path: Path) -> None:
    plain = _tar(_dir("etc"), _file("etc/hostname", b"box\n"))
    ids = set()
    for i, blob in enumerate(
        [plain, gzip.compress(plain), zstandard.ZstdCompressor().compress(plain)]
    ):
        dest = tmp_path / str(i)
        dest.mkdir()
        res = unpack(io.BytesIO(blob), dest, "delete", chown=False)
        assert (dest / "etc" / "hostname").read_bytes() == b"box\n"
        ids.add(res.diff_id)
    assert len(ids) == 1


def test_truncated_and_garbage_archives_fail_cleanly(box: tuple[Path, Path]) -> None:
    layer, _ = box
    full = _tar(_file("big", b"y" * 100_000))
    with pytest.raises(BadArchive):
        unpack(io.BytesIO(full[:20_000]), layer, "delete", chown=False)
    with pytest.raises(BadArchive):
        unpack(io.BytesIO(b"this is not a tar archive at all" * 40), layer, "delete", chown=False)


def test_huge_declared_size_without_data_fails(box: tuple[Path, Path]) -> None:
    layer, _ = box
    ti = tarfile.TarInfo("huge")
    ti.size = 50 << 30  # 50 GiB promised, nothing delivered
    header = ti.tobuf(tarfile.PAX_FORMAT)
    with pytest.raises(BadArchive):
        unpack(io.BytesIO(header + b"\0" * 4096), layer, "delete", chown=False)
    assert not (layer / "huge").exists() or (layer / "huge").stat().st_blocks < 64


def test_sparse_entry_keeps_holes(tmp_path: Path) -> None:
    need_tar = shutil.which("tar")
    assert need_tar, "GNU tar is part of Debian's base system"
    src = tmp_path / "src"
    src.mkdir()
    with open(src / "sparse", "wb") as f:
        f.truncate(64 << 30)  # 64 GiB apparent size
        f.seek(32 << 30)
        f.write(b"z" * 4096)
    archive = tmp_path / "sparse.tar"
    subprocess.run(["tar", "--sparse", "-C", str(src), "-cf", str(archive), "sparse"], check=True)
    assert archive.stat().st_size < 1 << 20
    dest = tmp_path / "layer"
    dest.mkdir()
    with open(archive, "rb") as f:
        unpack(f, dest, "delete", chown=False)
    st = (dest / "sparse").stat()
    assert st.st_size == 64 << 30
    assert st.st_blocks * 512 < 16 << 20  # holes stayed holes
    with open(dest / "sparse", "rb") as f:
        f.seek(32 << 30)
        assert f.read(4096) == b"z" * 4096


def test_delete_whiteouts_and_opaque_dirs(tmp_path: Path) -> None:
    layer = tmp_path / "layer"
    layer.mkdir()
    base = _tar(
        _dir("etc"),
        _file("etc/gone"),
        _file("etc/kept"),
        _dir("opq"),
        _file("opq/old"),
        _dir("opq/sub"),
        _file("opq/sub/old2"),
        _dir("dir-gone"),
        _file("dir-gone/x"),
    )
    unpack(io.BytesIO(base), layer, "delete", chown=False)
    top = _tar(
        _file("etc/.wh.gone", b""),
        _file(".wh.dir-gone", b""),
        _file("opq/new"),
        _file("opq/.wh..wh..opq", b""),
        _dir("opq/sub"),
        _file("opq/sub/new2"),
    )
    unpack(io.BytesIO(top), layer, "delete", chown=False)
    assert sorted(os.listdir(layer / "etc")) == ["kept"]
    assert not (layer / "dir-gone").exists()
    assert sorted(os.listdir(layer / "opq")) == ["new", "sub"]
    assert sorted(os.listdir(layer / "opq" / "sub")) == ["new2"]


@pytest.mark.parametrize("name", [".wh..", ".wh...", "sub/.wh..", "sub/.wh..."])
def test_whiteouts_naming_a_parent_are_refused(box: tuple[Path, Path], name: str) -> None:
    layer, outside = box
    (layer / "keep").write_text("k")
    with pytest.raises(UnsafeArchive):
        unpack(io.BytesIO(_tar(_dir("sub"), _file(name, b""))), layer, "delete", chown=False)
    _outside_untouched(outside)
    assert (layer / "keep").read_text() == "k"


def test_forged_overlay_xattrs_are_dropped(box: tuple[Path, Path]) -> None:
    layer, _ = box

    def forged(tf: tarfile.TarFile) -> None:
        ti = tarfile.TarInfo("d")
        ti.type = tarfile.DIRTYPE
        ti.pax_headers = {"SCHILY.xattr.user.overlay.redirect": "/etc"}
        tf.addfile(ti)

    res = unpack(io.BytesIO(_tar(forged)), layer, "overlay", chown=False)
    assert "user.overlay.redirect" not in os.listxattr(layer / "d")
    assert any("ignored xattr" in n for n in res.notes)


# ---- the fast paths (threaded decompression, create-then-look) keep the results ----


def _tree(root: Path) -> dict[str, tuple[object, ...]]:
    """Everything observable about a tree: type, mode, mtime, content or link target."""
    out: dict[str, tuple[object, ...]] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            p = Path(dirpath) / name
            st = p.lstat()
            rel = str(p.relative_to(root))
            if stat.S_ISLNK(st.st_mode):
                out[rel] = ("link", os.readlink(p), int(st.st_mtime))
            elif stat.S_ISDIR(st.st_mode):
                # (GNU tar lets later entries bump a directory's mtime; we apply the
                # tar's own value last, checked separately.)
                out[rel] = ("dir", stat.S_IMODE(st.st_mode))
            else:
                out[rel] = ("file", stat.S_IMODE(st.st_mode), int(st.st_mtime),
                            p.read_bytes(), st.st_nlink)  # fmt: skip
    return out


def _busy_layer() -> bytes:
    """~1200 entries with duplicates far apart, names that change type, hard links,
    setuid and read-only modes, and a file bigger than one copy chunk."""
    entries: list[Entry] = []
    for d in range(12):
        entries.append(_dir(f"d{d}", 0o750 if d % 2 else 0o755))
        for i in range(90):
            mode = [0o644, 0o4755, 0o444, 0o600][i % 4]
            entries.append(_file(f"d{d}/f{i}", f"{d}-{i}".encode() * (i + 1), mode))
        entries.append(_link(f"d{d}/sym", f"f{d}"))
        entries.append(_link(f"d{d}/hard", f"d{d}/f3", tarfile.LNKTYPE))
    entries.append(_file("d0/f5", b"replaced much later"))  # duplicate, far from the first
    entries.append(_file("d1/sym", b"symlink became a file"))
    entries.append(_dir("d2/f7"))  # a file became a directory
    entries.append(_file("d2/f7/inner", b"in"))
    entries.append(_file("big", b"B" * (3 << 20)))  # several copy chunks
    return _tar(*entries)


def test_many_entries_unpack_like_gnu_tar(tmp_path: Path) -> None:
    assert shutil.which("tar"), "GNU tar is part of Debian's base system"
    data = _busy_layer()
    ours, theirs = tmp_path / "ours", tmp_path / "theirs"
    ours.mkdir()
    theirs.mkdir()
    for blob in (data, gzip.compress(data)):
        unpack(io.BytesIO(blob), ours, "delete", chown=False)
        subprocess.run(["tar", "-C", str(theirs), "-xpf", "-", "--no-same-owner",
                        "--recursive-unlink"], input=data, check=True)  # fmt: skip
        assert _tree(ours) == _tree(theirs)
        assert (ours / "d0" / "f5").read_bytes() == b"replaced much later"
        assert (ours / "d0" / "hard").stat().st_ino == (ours / "d0" / "f3").stat().st_ino
        assert {(ours / f"d{d}").stat().st_mtime for d in range(12)} == {0}
        for d in (ours, theirs):
            subprocess.run(["chmod", "-R", "u+rwx", str(d)], check=True)
            shutil.rmtree(d)
            d.mkdir()


def test_layer_that_starts_non_empty_still_refuses_and_replaces(box: tuple[Path, Path]) -> None:
    """vfs layers start as a copy of the parent: names may exist before any entry."""
    layer, outside = box
    (layer / "f").write_bytes(b"old")
    (layer / "s").symlink_to(outside)
    unpack(io.BytesIO(_tar(_file("f", b"new"))), layer, "delete", chown=False)
    assert (layer / "f").read_bytes() == b"new"
    with pytest.raises(UnsafeArchive):
        unpack(io.BytesIO(_tar(_file("s/evil", b"pwned"))), layer, "delete", chown=False)
    _outside_untouched(outside)


def test_symlink_among_many_then_write_through_it_is_refused(box: tuple[Path, Path]) -> None:
    layer, outside = box
    data = _tar(*[_file(f"pad{i}") for i in range(50)], _link("s", str(outside)),
                *[_file(f"more{i}") for i in range(50)], _file("s/evil", b"pwned"))  # fmt: skip
    with pytest.raises(UnsafeArchive):
        unpack(io.BytesIO(data), layer, "delete", chown=False)
    _outside_untouched(outside)


def test_failed_create_names_the_entry(box: tuple[Path, Path]) -> None:
    layer, _ = box
    long = "n" * 300  # longer than NAME_MAX: the create fails
    with pytest.raises(EngineError, match=f"/{long}"):
        unpack(io.BytesIO(_tar(_file("ok"), _file(long), _file("ok2"))), layer, "delete",
               chown=False)  # fmt: skip


def test_failure_leaks_no_fds_or_threads(box: tuple[Path, Path]) -> None:
    layer, outside = box
    data = _tar(*[_file(f"f{i}", b"x" * 1000) for i in range(300)], _file("../escape"))
    fds, threads = len(os.listdir("/proc/self/fd")), threading.active_count()
    for blob in (data, gzip.compress(data)[:5000]):
        with pytest.raises((UnsafeArchive, BadArchive)):
            unpack(io.BytesIO(blob), layer, "delete", chown=False)
    assert len(os.listdir("/proc/self/fd")) == fds
    assert threading.active_count() == threads
    _outside_untouched(outside)


def test_concatenated_gzip_members_and_padding(tmp_path: Path) -> None:
    plain = _tar(
        _dir("etc"), _file("etc/hostname", b"box\n"), _file("etc/big", os.urandom(3 << 20))
    )
    half = len(plain) // 2
    multi = gzip.compress(plain[:half]) + gzip.compress(plain[half:]) + b"\0" * 1024
    ids = []
    for i, blob in enumerate([plain, multi]):
        dest = tmp_path / str(i)
        dest.mkdir()
        ids.append(unpack(io.BytesIO(blob), dest, "delete", chown=False).diff_id)
        assert (dest / "etc" / "hostname").read_bytes() == b"box\n"
    assert ids[0] == ids[1]


@pytest.mark.parametrize("damage", ["flipped", "truncated", "trailing-garbage"])
def test_damaged_gzip_fails_cleanly(tmp_path: Path, damage: str) -> None:
    blob = bytearray(gzip.compress(_tar(_file("f", os.urandom(1 << 20)))))
    if damage == "flipped":
        blob[len(blob) // 2] ^= 0xFF
    elif damage == "truncated":
        del blob[-100:]
    else:
        blob += b"not gzip"
    with pytest.raises(BadArchive):
        unpack(io.BytesIO(bytes(blob)), tmp_path, "delete", chown=False)
