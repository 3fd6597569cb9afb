"""Storage drivers inside the engine's real user namespace: the same layer stack gives the
same visible tree under overlay (kernel, userxattr), fuse and vfs, whiteouts and opaque dirs
included; a container's changes, written as a layer and applied on top, reproduce what the
container saw."""

from __future__ import annotations

import io
import json
import sys
import tarfile
from pathlib import Path

import pytest

from tests.conftest import Env

# Runs inside `rootless unshare` (uid 0 in the engine's user + mount namespace).
HELPER = r"""
import json, os, stat, sys
from pathlib import Path

import pytest
from rootless.storage import driver_class
from rootless.images.unpack import unpack
from rootless.images.layertar import write_changes

def tree(root):
    out = {}
    for dirpath, dirs, files in os.walk(root):
        for n in dirs + files:
            p = os.path.join(dirpath, n)
            st = os.lstat(p)
            rel = os.path.relpath(p, root)
            if stat.S_ISLNK(st.st_mode):
                what = "link:" + os.readlink(p)
            elif stat.S_ISREG(st.st_mode):
                what = "file:" + open(p, "rb").read().decode()
            elif stat.S_ISDIR(st.st_mode):
                what = "dir"
            else:
                what = "other:%o" % st.st_mode
            out[rel] = [what, stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid]
    return out

def edit(root):
    Path(root, "etc/kept").write_text("edited")
    os.unlink(os.path.join(root, "etc/del"))
    os.makedirs(os.path.join(root, "new/deep"))
    Path(root, "new/deep/file").write_text("new")
    os.chown(os.path.join(root, "new/deep/file"), 1000, 1000)
    import shutil
    shutil.rmtree(os.path.join(root, "var/lib"))
    os.makedirs(os.path.join(root, "var/lib"))
    Path(root, "var/lib/fresh").write_text("fresh")

home, out_dir, names, *layers = sys.argv[1:]
result = {}
for cls in [driver_class(n) for n in names.split(",")]:
    d = cls(Path(home) / cls.name)
    parent = None
    for i, tar in enumerate(layers):
        lid = "layer%d" % i
        dest = d.create_layer(lid, parent)
        with open(tar, "rb") as f:
            unpack(f, dest, d.whiteouts, lowers=d.lower_dirs_for(parent))
        d.commit_layer(lid)
        parent = lid
    d.create_container("c1", parent)
    root = d.mount("c1")
    before = tree(root)
    edit(root)
    after = tree(root)
    diff = Path(out_dir) / ("diff-%s.tar" % cls.name)
    with open(diff, "wb") as f:
        write_changes(d.changes("c1"), f)
    # Apply the container's diff as a new layer; a fresh container on it must match.
    dest = d.create_layer("committed", parent)
    with open(diff, "rb") as f:
        unpack(f, dest, d.whiteouts, lowers=d.lower_dirs_for(parent))
    d.commit_layer("committed")
    d.create_container("c2", "committed")
    replay = tree(d.mount("c2"))
    for c in ("c1", "c2"):
        d.unmount(c)
        d.remove_container(c)
    result[cls.name] = {"before": before, "after": after, "replay": replay,
                        "mounted": os.path.ismount(Path(home) / cls.name / "containers/c1")}
print(json.dumps(result))
"""


def _add(
    tf: tarfile.TarFile, name: str, kind: str = "file", data: bytes = b"", **kw: object
) -> None:
    ti = tarfile.TarInfo(name)
    ti.mtime = 1_600_000_000
    if kind == "dir":
        ti.type, ti.mode = tarfile.DIRTYPE, 0o755
    elif kind == "link":
        ti.type, ti.linkname = tarfile.SYMTYPE, str(kw.pop("target"))
    else:
        ti.size, ti.mode = len(data), 0o644
    for k, v in kw.items():
        setattr(ti, k, v)
    tf.addfile(ti, io.BytesIO(data) if kind == "file" else None)


def _layer(path: Path, entries: list[tuple]) -> Path:  # type: ignore[type-arg]
    with tarfile.open(path, "w", format=tarfile.PAX_FORMAT) as tf:
        for e in entries:
            name, kind, *rest = e
            _add(tf, name, kind, rest[0] if rest else b"", **(rest[1] if len(rest) > 1 else {}))
    return path


def _stack(tmp: Path) -> list[Path]:
    base = _layer(tmp / "l0.tar", [
        ("etc", "dir"), ("etc/kept", "file", b"kept"), ("etc/del", "file", b"del"),
        ("etc/gone", "file", b"gone"), ("var", "dir"), ("var/lib", "dir"),
        ("var/lib/a", "file", b"a"), ("var/lib/sub", "dir"), ("var/lib/sub/b", "file", b"b"),
        ("opq", "dir"), ("opq/old", "file", b"old"), ("home", "dir"),
        ("home/u", "dir", b"", {"uid": 1000, "gid": 1000, "mode": 0o700}),
        ("home/u/.profile", "file", b"p", {"uid": 1000, "gid": 1000}),
        ("bin", "dir"), ("bin/su", "file", b"#!", {"mode": 0o4755}),
        ("lnk", "link", b"", {"target": "/etc/kept"}),
        ("dirgone", "dir"), ("dirgone/x", "file", b"x"),
    ])  # fmt: skip
    mid = _layer(tmp / "l1.tar", [
        ("etc", "dir"), ("etc/.wh.gone", "file"), (".wh.dirgone", "file"),
        ("opq", "dir"), ("opq/.wh..wh..opq", "file"), ("opq/new", "file", b"new"),
        ("home/u/.wh..profile", "file"),
    ])  # fmt: skip
    top = _layer(tmp / "l2.tar", [
        ("etc", "dir"), ("etc/gone", "file", b"back again"), ("dirgone", "file", b"now a file"),
    ])  # fmt: skip
    return [base, mid, top]


@pytest.mark.parametrize("driver", ["overlay", "fuse"])
def test_stacking_drivers_agree_with_vfs_and_diffs_replay(
    rl: Env, tmp_path: Path, driver: str
) -> None:
    layers = _stack(tmp_path)
    home = rl.root / "drivers"
    rl.root.mkdir(parents=True, exist_ok=True)
    try:
        r = rl.run("unshare", sys.executable, "-c", HELPER, str(home), str(tmp_path),
                   f"{driver},vfs", *map(str, layers), timeout=300)  # fmt: skip
        assert r.rc == 0, r.err
        res = json.loads(r.out)
        ov, vfs = res[driver], res["vfs"]
        assert ov["before"] == vfs["before"]
        before = ov["before"]
        assert "etc/gone" in before and before["etc/gone"][0] == "file:back again"
        assert before["dirgone"][0] == "file:now a file"
        assert sorted(k for k in before if k.startswith("opq/")) == ["opq/new"]
        assert "home/u/.profile" not in before
        assert before["home/u"][2:] == [1000, 1000]  # owners through the subuid map
        assert before["bin/su"][1] == 0o4755
        assert ov["after"] == vfs["after"]
        for name, r_ in res.items():
            assert r_["replay"] == r_["after"], f"{name}: diff replay differs"
            assert not r_["mounted"]
    finally:
        rl.run("unshare", "rm", "-rf", "--one-file-system", str(rl.root))


def test_storage_driver_choice(rl: Env, busybox_image: str) -> None:
    # The store was created by auto-choice: overlay works here (HOST-NOTES).
    assert (rl.root / "storage" / "overlay" / "layers").is_dir()
    r = rl.run("--storage-driver", "vfs", "image", "check")
    assert r.rc == 125 and "not unpacked" in r.out  # vfs has no layers yet
    rl.run("rmi", "busybox", check=True)
    rl.run("--storage-driver", "vfs", "load", "-i", str(_test_layout()), check=True)
    assert any((rl.root / "storage" / "vfs" / "layers").iterdir())
    r = rl.run("image", "check", env={"ROOTLESS_STORAGE_DRIVER": "vfs"})
    assert r.rc == 0, r.out
    (rl.config).mkdir(parents=True, exist_ok=True)
    (rl.config / "storage.conf").write_text('[storage]\ndriver = "vfs"\n')
    assert rl.run("image", "check").rc == 0
    r = rl.run("--storage-driver", "nosuch", "images")
    assert r.rc == 125


def _test_layout() -> Path:
    from tests.conftest import TEST_IMAGES

    return TEST_IMAGES / "busybox"


@pytest.mark.slow
def test_debian_layer_keeps_owners_and_modes(rl: Env, debian_image: str) -> None:
    info = rl.run("image", "inspect", debian_image, check=True).json()[0]  # type: ignore[index]
    layer = rl.root / "storage" / "overlay" / "layers" / info["TopLayer"] / "diff"
    r = rl.run("unshare", "stat", "-c", "%n %u %g %a",
               str(layer / "etc/shadow"), str(layer / "usr/bin/passwd"),
               str(layer / "var/mail"), check=True)  # fmt: skip
    got = {
        line.split()[0].removeprefix(str(layer)): line.split()[1:] for line in r.out.splitlines()
    }
    assert got["/etc/shadow"] == ["0", "42", "640"]  # group shadow, through the subuid map
    assert got["/usr/bin/passwd"] == ["0", "0", "4755"]  # setuid kept
    assert got["/var/mail"] == ["0", "8", "2775"]  # setgid dir, group mail
