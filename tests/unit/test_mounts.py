"""Parsing -v / --mount / --tmpfs / --volumes-from, and resolving targets inside a rootfs."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from rootless.engine import mounts as M
from rootless.engine.runspec import RunSpec
from rootless.errors import UsageError


def test_volume_forms() -> None:
    assert M.parse_volume("/data") == M.MountSpec("volume", "/data")
    assert M.parse_volume("/data:ro") == M.MountSpec("volume", "/data", readonly=True)
    assert M.parse_volume("db:/var/lib/db") == M.MountSpec("volume", "/var/lib/db", "db")
    assert M.parse_volume("db:/x:ro,nocopy") == M.MountSpec(
        "volume", "/x", "db", readonly=True, nocopy=True
    )
    b = M.parse_volume("/srv/www:/www:ro,rslave")
    assert (b.kind, b.source, b.target, b.readonly, b.propagation, b.create_source) == (
        "bind", "/srv/www", "/www", True, "rslave", True,
    )  # fmt: skip
    assert M.parse_volume("/a/../b/:/x/./y/").source == "/b"
    assert M.parse_volume("/a:/x/./y/").target == "/x/y"
    assert M.parse_volume("/a:/x:z,Z,rw").readonly is False


def test_relative_and_home_sources_resolve_against_cwd(tmp_path: Path) -> None:
    assert M.parse_volume("./sub:/x", cwd=str(tmp_path)).source == str(tmp_path / "sub")
    assert M.parse_volume("../up:/x", cwd=str(tmp_path)).source == str(tmp_path.parent / "up")
    assert M.parse_volume("~/h:/x").source == os.path.expanduser("~/h")
    spec = RunSpec(
        image="x", volumes=["./a:/a:ro", "named:/n"], mounts=["type=bind,src=./b,dst=/b"]
    )
    M.absolutize(spec, cwd=str(tmp_path))
    assert spec.volumes == [f"{tmp_path}/a:/a:ro", "named:/n"]
    assert spec.mounts == [f"type=bind,source={tmp_path}/b,dst=/b"]


@pytest.mark.parametrize(
    ("text", "msg"),
    [
        ("", "invalid volume"),
        ("rel/path", "not an absolute path"),
        ("/host:relative", "'relative' is not an absolute path"),
        ("name:relative", "not an absolute path"),
        ("/h:/c:bogus", "invalid mode 'bogus'"),
        ("/h:/", "can't be '/'"),
        ("bad name!:/x", "not a valid volume name"),
        ("/h:/c:nocopy", "nocopy applies to volumes"),
        ("vol:/c:rshared", "propagation applies to bind mounts"),
        ("a:b:c:d", "invalid volume"),
    ],
)
def test_volume_errors(text: str, msg: str) -> None:
    with pytest.raises(UsageError, match=msg):
        M.parse_volume(text)


def test_mount_keys() -> None:
    b = M.parse_mount("type=bind,source=/h,target=/c,readonly,bind-propagation=rshared")
    assert (b.kind, b.source, b.target, b.readonly, b.propagation) == (
        "bind",
        "/h",
        "/c",
        True,
        "rshared",
    )
    assert not b.create_source  # --mount refuses a missing host path, like Docker
    v = M.parse_mount("type=volume,src=data,dst=/d,ro=false,volume-nocopy,volume-opt=o=uid=5")
    assert (v.kind, v.source, v.readonly, v.nocopy, v.volume_opts) == (
        "volume", "data", False, True, (("o", "uid=5"),),
    )  # fmt: skip
    assert M.parse_mount("target=/anon") == M.MountSpec(
        "volume", "/anon"
    )  # type defaults to volume
    t = M.parse_mount("type=tmpfs,destination=/t,tmpfs-size=64m,tmpfs-mode=1770")
    assert t.options == (f"size={64 << 20}", "mode=1770")
    q = M.parse_mount('type=bind,"src=/a,b",dst=/q')  # CSV quoting, as Docker
    assert q.source == "/a,b"


@pytest.mark.parametrize(
    ("text", "msg"),
    [
        ("type=nfs,dst=/x", "unsupported type"),
        ("type=bind,dst=/x", "needs source"),
        ("type=bind,src=/h", "target is required"),
        ("type=bind,src=/h,dst=rel", "not an absolute path"),
        ("type=tmpfs,src=/h,dst=/t", "takes no source"),
        ("type=tmpfs,dst=/t,tmpfs-mode=rwx", "must be octal"),
        ("type=tmpfs,dst=/t,tmpfs-size=lots", "tmpfs-size"),
        ("type=volume,dst=/t,bind-propagation=shared", "don't apply to volumes"),
        ("type=bind,src=/h,dst=/t,volume-nocopy", "don't apply to bind"),
        ("type=bind,src=/h,dst=/t,readonly=maybe", "true or false"),
        ("type=bind,src=/h,dst=/t,colour=blue", "unknown key 'colour'"),
        ("type=volume,src=x,dst=/t,volume-driver=nfs", "only the local"),
    ],
)
def test_mount_errors(text: str, msg: str) -> None:
    with pytest.raises(UsageError, match=msg):
        M.parse_mount(text)


def test_tmpfs() -> None:
    t = M.parse_tmpfs("/run", "size=1m,mode=1777,noexec,ro")
    assert t == M.MountSpec(
        "tmpfs", "/run", readonly=True, options=("size=1048576", "mode=1777", "noexec")
    )
    oci = M.oci_mount(t, "", t.target)
    assert oci["type"] == "tmpfs" and "ro" in oci["options"] and "nosuid" in oci["options"]
    with pytest.raises(UsageError, match="unknown option"):
        M.parse_tmpfs("/run", "colour=red")
    with pytest.raises(UsageError, match="not an absolute path"):
        M.parse_tmpfs("run", "")


def test_volumes_from_and_duplicates() -> None:
    assert M.parse_volumes_from("web") == ("web", None)
    assert M.parse_volumes_from("web:ro") == ("web", True)
    with pytest.raises(UsageError, match="volumes-from"):
        M.parse_volumes_from("web:rx")
    with pytest.raises(UsageError, match="duplicate mount point /d"):
        M.parse_spec(RunSpec(image="x", volumes=["a:/d"], mounts=["type=tmpfs,dst=/d/"]))


def test_anonymous_names_are_stable_per_container_and_target() -> None:
    a = M.anonymous_name("c1", "/data")
    assert a == M.anonymous_name("c1", "/data") and len(a) == 64
    assert a != M.anonymous_name("c2", "/data") != M.anonymous_name("c1", "/other")
    spec = RunSpec(image="x", volumes=["/data", "named:/n", "/h:/b"])
    ms = M.container_mounts(None, "c1", spec, {"Volumes": {"/img": {}, "/data": {}}})
    assert {m.target: m.source for m in ms if m.kind == "volume"} == {
        "/data": a, "/n": "named", "/img": M.anonymous_name("c1", "/img"),
    }  # fmt: skip


def test_bind_options() -> None:
    m = M.parse_volume("/h:/c:ro")
    assert M.oci_mount(m, "/h", "/c") == {
        "destination": "/c", "type": "bind", "source": "/h", "options": ["rbind", "rprivate", "ro"],
    }  # fmt: skip


def test_resolve_in_rootfs_never_leaves_it(tmp_path: Path) -> None:
    root = tmp_path / "rootfs"
    (root / "real" / "dir").mkdir(parents=True)
    os.symlink("/../../../../../../etc", root / "abs_escape")
    os.symlink("../../../../../../../home", root / "rel_escape")
    os.symlink("/real", root / "abs_inside")
    os.symlink("dir", root / "real" / "rel_inside")
    os.symlink("loop2", root / "loop1")
    os.symlink("loop1", root / "loop2")
    r = str(root)
    assert M.resolve_in_rootfs(r, "/abs_escape/sub") == "/etc/sub"
    assert M.resolve_in_rootfs(r, "/rel_escape") == "/home"
    assert M.resolve_in_rootfs(r, "/abs_inside/rel_inside/x") == "/real/dir/x"
    assert M.resolve_in_rootfs(r, "/a/../../b") == "/b"
    assert M.resolve_in_rootfs(r, "/missing/deeper") == "/missing/deeper"
    with pytest.raises(UsageError, match="too many symlinks"):
        M.resolve_in_rootfs(r, "/loop1/x")


def test_inspect_mounts(tmp_path: Path) -> None:
    from rootless.paths import Paths

    paths = Paths(data=tmp_path, config=tmp_path, runtime=tmp_path)
    spec = RunSpec(image="x", volumes=["db:/db:ro", "/h:/h"], tmpfs={"/t": ""})
    rows = {r["Destination"]: r for r in M.inspect_mounts(paths, "c", spec, {})}
    assert rows["/db"] == {
        "Type": "volume", "Name": "db", "Driver": "local", "Source": str(tmp_path / "volumes/db/_data"),
        "Destination": "/db", "Mode": "ro", "RW": False, "Propagation": "",
    }  # fmt: skip
    assert rows["/h"]["Type"] == "bind" and rows["/h"]["Source"] == "/h" and rows["/h"]["RW"]
    assert rows["/t"]["Type"] == "tmpfs"
