"""The runtime's kernel call sequences, through a recording fake of rootless.syscalls
(the seam): rootfs preparation, config mounts, /dev, pivot_root, namespace joining."""

from __future__ import annotations

import errno
import os
from pathlib import Path
from typing import Any

import pytest

from rootless import syscalls as sc
from rootless.runtime import mounts
from rootless.runtime.spec import parse_spec


class Recorder:
    """Stands in for the kernel calls; `fail` maps an fstype to an errno to raise."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.calls: list[tuple[Any, ...]] = []
        self.fail: dict[str, int] = {}
        for name in ("mount", "umount2", "pivot_root", "unshare", "setns", "prctl", "sethostname"):
            monkeypatch.setattr(sc, name, self._recorder(name))

    def _recorder(self, name: str) -> Any:
        def record(*args: Any) -> int:
            if name == "mount" and args[2] in self.fail:
                raise OSError(self.fail[args[2]], os.strerror(self.fail[args[2]]))
            self.calls.append((name, *args))
            return 0

        return record

    def mounts(self) -> list[tuple[Any, ...]]:
        return [c for c in self.calls if c[0] == "mount"]


def spec_with(rootfs: Path, mounts_: list[dict[str, Any]], **linux: Any) -> Any:
    cfg = {
        "ociVersion": "1.0.2",
        "root": {"path": str(rootfs)},
        "process": {"args": ["sh"], "cwd": "/"},
        "mounts": mounts_,
        "linux": linux,
    }
    return parse_spec(cfg, str(rootfs.parent))


def test_rootfs_is_made_private_to_us_then_bound_onto_itself(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    rec = Recorder(monkeypatch)
    rootfs = tmp_path / "rootfs"
    rootfs.mkdir()
    mounts.prepare_root(spec_with(rootfs, []))
    assert rec.calls == [
        ("mount", None, "/", None, sc.MS_SLAVE | sc.MS_REC),
        ("mount", str(rootfs), str(rootfs), None, sc.MS_BIND | sc.MS_REC),
    ]


def test_rootfs_propagation_private(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    rec = Recorder(monkeypatch)
    rootfs = tmp_path / "rootfs"
    rootfs.mkdir()
    mounts.prepare_root(spec_with(rootfs, [], rootfsPropagation="rprivate"))
    assert rec.calls[0] == ("mount", None, "/", None, sc.MS_PRIVATE | sc.MS_REC)


def test_config_mounts_in_order_with_flags_and_data(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    rec = Recorder(monkeypatch)
    rootfs = tmp_path / "rootfs"
    rootfs.mkdir()
    src = tmp_path / "data"
    src.mkdir()
    spec = spec_with(
        rootfs,
        [
            {"destination": "/proc", "type": "proc", "source": "proc"},
            {
                "destination": "/dev",
                "type": "tmpfs",
                "source": "tmpfs",
                "options": ["nosuid", "mode=755"],
            },
            {
                "destination": "/data",
                "type": "bind",
                "source": str(src),
                "options": ["rbind", "ro", "rprivate"],
            },
        ],
    )
    mounts.mount_all(spec)
    got = rec.mounts()
    assert got[0] == ("mount", "proc", f"{rootfs}/proc", "proc", 0, None)
    assert got[1] == ("mount", "tmpfs", f"{rootfs}/dev", "tmpfs", sc.MS_NOSUID, "mode=755")
    assert got[2] == ("mount", str(src), f"{rootfs}/data", None, sc.MS_BIND | sc.MS_REC)
    # ro needs a remount of the bind mount, keeping the flags the kernel locks.
    _, source, target, fstype, flags = got[3]
    assert (source, target, fstype) == (None, f"{rootfs}/data", None)
    assert (
        flags & (sc.MS_RDONLY | sc.MS_BIND | sc.MS_REMOUNT)
        == sc.MS_RDONLY | sc.MS_BIND | sc.MS_REMOUNT
    )
    assert got[4] == ("mount", None, f"{rootfs}/data", None, sc.MS_PRIVATE | sc.MS_REC)
    assert len(got) == 5
    assert (rootfs / "proc").is_dir() and (rootfs / "data").is_dir()


def test_sysfs_refused_falls_back_to_binding_the_hosts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    rec = Recorder(monkeypatch)
    rec.fail["sysfs"] = errno.EPERM
    rootfs = tmp_path / "rootfs"
    rootfs.mkdir()
    spec = spec_with(
        rootfs, [{"destination": "/sys", "type": "sysfs", "source": "sysfs", "options": ["ro"]}]
    )
    mounts.mount_all(spec)
    got = rec.mounts()
    assert got[0] == ("mount", "/sys", f"{rootfs}/sys", None, sc.MS_BIND | sc.MS_REC)
    assert got[1][4] & sc.MS_RDONLY


def test_other_mount_errors_are_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    rec = Recorder(monkeypatch)
    rec.fail["proc"] = errno.EPERM
    rootfs = tmp_path / "rootfs"
    rootfs.mkdir()
    spec = spec_with(rootfs, [{"destination": "/proc", "type": "proc", "source": "proc"}])
    with pytest.raises(mounts.MountError, match=r"^mount proc on /proc: Operation not permitted$"):
        mounts.mount_all(spec)


def test_default_devices_are_bind_mounts_plus_symlinks(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    rec = Recorder(monkeypatch)
    rootfs = tmp_path / "rootfs"
    (rootfs / "dev" / "pts").mkdir(parents=True)
    spec = spec_with(rootfs, [{"destination": "/dev", "type": "tmpfs", "source": "tmpfs"}])
    mounts.setup_dev(spec)
    binds = [(c[1], c[2]) for c in rec.mounts()]
    expected = [(d, f"{rootfs}{d}") for d in mounts.DEFAULT_DEVICES if os.path.exists(d)]
    assert binds == expected
    assert all(c[4] == sc.MS_BIND for c in rec.mounts())
    assert os.readlink(rootfs / "dev" / "fd") == "/proc/self/fd"
    assert os.readlink(rootfs / "dev" / "stderr") == "/proc/self/fd/2"
    assert os.readlink(rootfs / "dev" / "ptmx") == "pts/ptmx"
    # mknod is never attempted: the placeholders are empty regular files.
    assert (rootfs / "dev" / "null").is_file()


def test_bind_mounted_dev_gets_no_devices(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    rec = Recorder(monkeypatch)
    rootfs = tmp_path / "rootfs"
    rootfs.mkdir()
    spec = spec_with(
        rootfs, [{"destination": "/dev", "type": "bind", "source": "/dev", "options": ["rbind"]}]
    )
    mounts.setup_dev(spec)
    assert rec.calls == []


def test_pivot_root_then_detach_old_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    rec = Recorder(monkeypatch)
    monkeypatch.chdir(tmp_path)
    rootfs = tmp_path / "rootfs"
    rootfs.mkdir()
    mounts.pivot(str(rootfs))
    assert rec.calls == [
        ("pivot_root", ".", "."),
        ("mount", None, ".", None, sc.MS_SLAVE | sc.MS_REC),
        ("umount2", ".", sc.MNT_DETACH),
    ]


def test_masked_and_readonly_paths(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    rec = Recorder(monkeypatch)
    d = tmp_path / "dir"
    d.mkdir()
    f = tmp_path / "file"
    f.write_text("x")
    mounts.mask_path(str(d))
    mounts.mask_path(str(f))
    mounts.mask_path(str(tmp_path / "missing"))
    mounts.readonly_path(str(d))
    got = rec.mounts()
    assert got[0] == ("mount", "tmpfs", str(d), "tmpfs", sc.MS_RDONLY)
    assert got[1] == ("mount", "/dev/null", str(f), None, sc.MS_BIND)
    assert got[2] == ("mount", str(d), str(d), None, sc.MS_BIND | sc.MS_REC)
    assert (
        got[3][4] & (sc.MS_RDONLY | sc.MS_REMOUNT | sc.MS_BIND)
        == sc.MS_RDONLY | sc.MS_REMOUNT | sc.MS_BIND
    )
    assert len(got) == 4


def test_exec_joins_user_namespace_first_after_becoming_non_dumpable(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from rootless.runtime.exec import join_namespaces

    rec = Recorder(monkeypatch)
    kinds = ["mount", "pid", "network", "user", "uts"]
    fds = [(k, os.open("/dev/null", os.O_RDONLY)) for k in kinds]
    join_namespaces(fds)
    assert rec.calls[0] == ("prctl", sc.PR_SET_DUMPABLE, 0)
    order = [c[2] for c in rec.calls[1:]]
    assert order == [
        sc.CLONE_NEWUSER,
        sc.CLONE_NEWUTS,
        sc.CLONE_NEWNET,
        sc.CLONE_NEWPID,
        sc.CLONE_NEWNS,
    ]


def test_secure_join_never_leaves_the_root(tmp_path: Path) -> None:
    root = tmp_path / "root"
    (root / "etc").mkdir(parents=True)
    os.symlink("/etc/passwd", root / "abs")
    os.symlink("../../../../etc", root / "up")
    os.symlink("loop2", root / "loop1")
    os.symlink("loop1", root / "loop2")
    r = str(root)
    assert mounts.secure_join(r, "/abs") == f"{r}/etc/passwd"
    assert mounts.secure_join(r, "/up/shadow") == f"{r}/etc/shadow"
    assert mounts.secure_join(r, "/../../x") == f"{r}/x"
    assert mounts.secure_join(r, "/a/./b/../c") == f"{r}/a/c"
    with pytest.raises(mounts.MountError, match="too many symlinks"):
        mounts.secure_join(r, "/loop1")


def test_parse_options() -> None:
    o = mounts.parse_options(
        ["rbind", "ro", "nosuid", "rslave", "mode=755", "size=64k", "tmpcopyup"]
    )
    assert o.flags == sc.MS_BIND | sc.MS_REC | sc.MS_RDONLY | sc.MS_NOSUID
    assert o.propagation == sc.MS_SLAVE | sc.MS_REC
    assert o.data == "mode=755,size=64k"
    assert mounts.parse_options(["ro", "rw"]).flags == 0


class FakeChannel:
    def __init__(self) -> None:
        self.sent: list[dict[str, Any]] = []

    def send(self, **msg: Any) -> None:
        self.sent.append(msg)

    def recv(self, what: str = "") -> dict[str, Any]:
        return {"ok": True}


def test_stage1_paths_then_user_namespace_then_maps_then_non_dumpable_then_the_rest(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without a pid namespace stage 1 does not fork, so the whole order is visible."""
    from rootless.runtime import create

    rec = Recorder(monkeypatch)
    monkeypatch.setattr(
        sc, "setns_path", lambda path, kind: rec.calls.append(("setns_path", path, kind))
    )
    monkeypatch.setattr(os, "setresgid", lambda *a: rec.calls.append(("setresgid", *a)))
    monkeypatch.setattr(os, "setresuid", lambda *a: rec.calls.append(("setresuid", *a)))
    rootfs = tmp_path / "rootfs"
    rootfs.mkdir()
    spec = spec_with(
        rootfs,
        [],
        namespaces=[
            {"type": "mount"},
            {"type": "user"},
            {"type": "network", "path": "/proc/1/ns/net"},
            {"type": "uts"},
        ],
    )
    ch = FakeChannel()
    create._stage1(spec, ch)  # type: ignore[arg-type]
    # Namespaces by path are joined before the new user namespace exists (as runc): they
    # belong to the user namespace we start in (e.g. --userns keep-id with a netns).
    assert rec.calls == [
        ("setns_path", "/proc/1/ns/net", sc.CLONE_NEWNET),
        ("unshare", sc.CLONE_NEWUSER),
        ("setresgid", 0, 0, 0),
        ("setresuid", 0, 0, 0),
        ("prctl", sc.PR_SET_DUMPABLE, 0),
        ("unshare", sc.CLONE_NEWNS | sc.CLONE_NEWUTS),
    ]
    assert ch.sent == [{"idmap": True}, {"init": os.getpid()}]
