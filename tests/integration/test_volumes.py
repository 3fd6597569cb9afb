"""Volumes, bind mounts, --mount, --tmpfs, --volumes-from and ownership, end to end
(the real CLI, real user namespaces, real runc)."""

from __future__ import annotations

import io
import os
import pwd
import tarfile
from pathlib import Path

from tests.conftest import Env, need


def _run(rl: Env, *args: str, timeout: float = 120) -> str:
    r = rl.run("run", "--rm", *args, timeout=timeout)
    assert r.rc == 0, f"run {' '.join(args)} -> {r.rc}: {r.err}"
    return r.out


def _subid_start() -> int:
    me = pwd.getpwuid(os.getuid()).pw_name
    for line in Path("/etc/subuid").read_text().splitlines():
        name, start, _ = line.split(":")
        if name in (me, str(os.getuid())):
            return int(start)
    need(False, f"a subuid range for {me}", "run scripts/setup-host.sh")
    return 0


def _mountpoint(rl: Env, name: str) -> Path:
    r = rl.run("volume", "inspect", "--format", "{{.Mountpoint}}", name)
    assert r.rc == 0, r.err
    return Path(r.out.strip())


def test_files_vanish_without_a_volume_and_persist_with_one(rl: Env, debian_image: str) -> None:
    _run(rl, debian_image, "sh", "-c", "mkdir -p /myfolder && echo hello > /myfolder/f")
    gone = rl.run("run", "--rm", debian_image, "cat", "/myfolder/f")
    assert gone.rc != 0 and "No such file" in gone.err + gone.out

    _run(rl, "-v", "myvolume:/myfolder", debian_image, "sh", "-c", "echo hello > /myfolder/f")
    assert _run(rl, "-v", "myvolume:/myfolder", debian_image, "cat", "/myfolder/f") == "hello\n"
    assert "myvolume" in rl.run("volume", "ls", "-q").out.split()
    data = _mountpoint(rl, "myvolume")
    assert (data / "f").read_text() == "hello\n"  # volume inspect shows the host path
    assert (data / "f").stat().st_uid == os.getuid()


def test_bind_mount_ownership_per_container_user(
    rl: Env, busybox_image: str, tmp_path: Path
) -> None:
    host = tmp_path / "hostfolder"
    host.mkdir()
    host.chmod(0o777)  # so container uid 1000 (a subuid outside) may write too
    _run(rl, "-v", f"{host}:/myfolder", busybox_image, "sh", "-c", "echo r > /myfolder/by-root")
    _run(rl, "--user", "1000:1000", "-v", f"{host}:/myfolder", busybox_image,
         "sh", "-c", "echo u > /myfolder/by-1000")  # fmt: skip
    st_root, st_user = (host / "by-root").stat(), (host / "by-1000").stat()
    assert (st_root.st_uid, st_root.st_gid) == (os.getuid(), os.getgid())
    sub = _subid_start()
    assert st_user.st_uid == sub + 1000 - 1  # container uid N>0 -> subuid start + N - 1
    # The documented fix: chown back to "root" inside the user namespace = the user.
    fix = rl.run("unshare", "chown", "0:0", str(host / "by-1000"))
    assert fix.rc == 0, fix.err
    assert (host / "by-1000").stat().st_uid == os.getuid()
    # ...and inside, the user's own files appear as root's.
    (host / "mine").write_text("x")
    assert "0 0" in _run(rl, "-v", f"{host}:/m", busybox_image, "stat", "-c", "%u %g", "/m/mine")


def test_keep_id_lets_a_non_root_container_user_write_the_users_files(
    rl: Env, busybox_image: str, tmp_path: Path
) -> None:
    host = tmp_path / "private"
    host.mkdir(mode=0o700)
    (host / "own").write_text("mine\n")
    out = _run(rl, "--userns=keep-id", "-v", f"{host}:/k", busybox_image,
               "sh", "-c", "id -u; stat -c %u /k/own; cat /k/own; echo w > /k/new")  # fmt: skip
    assert out.split() == [str(os.getuid()), str(os.getuid()), "mine"]
    assert (host / "new").stat().st_uid == os.getuid()
    # Without keep-id the same non-root uid may not write the user's 0700 directory.
    denied = rl.run("run", "--rm", "--user", str(os.getuid()), "-v", f"{host}:/k", busybox_image,
                    "sh", "-c", "echo w > /k/other")  # fmt: skip
    assert denied.rc != 0 and not (host / "other").exists()


def test_relative_host_paths_and_missing_sources(
    rl: Env, busybox_image: str, tmp_path: Path
) -> None:
    cwd = tmp_path / "project"
    cwd.mkdir()
    r = rl.run_wrapped(["env", "-C", str(cwd)], "run", "--rm", "-v", "./made-for-me:/r",
                       busybox_image, "sh", "-c", "echo hi > /r/f")  # fmt: skip
    assert r.rc == 0, r.err
    assert (cwd / "made-for-me" / "f").read_text() == "hi\n"  # -v creates a missing dir
    missing = rl.run(
        "run", "--rm", "--mount", f"type=bind,src={tmp_path}/nope,dst=/x", busybox_image, "true"
    )
    assert missing.rc == 125 and "bind source path does not exist" in missing.err
    assert not (tmp_path / "nope").exists()
    for bad, msg in (
        ("bad name:/x:ro", "not a valid"),
        ("/x:/y:bogus", "invalid mode"),
        ("v:relative", "absolute"),
    ):
        r = rl.run("run", "--rm", "-v", bad, busybox_image, "true")
        assert r.rc == 125 and msg in r.err, (bad, r.err)
        assert len(r.err.strip().splitlines()) == 1


def test_new_volume_is_filled_from_the_image(rl: Env, busybox_image: str) -> None:
    out = _run(
        rl, "-v", "etcvol:/etc", busybox_image, "sh", "-c", "echo added >> /etc/group; ls /etc"
    )
    assert "passwd" in out.split()
    data = _mountpoint(rl, "etcvol")
    assert (data / "passwd").stat().st_uid == os.getuid()  # owners kept: root inside = us
    # The copy happens once: later containers see the volume as it was left.
    _run(rl, "-v", "etcvol:/etc", busybox_image, "rm", "/etc/passwd")
    assert "passwd" not in _run(rl, "-v", "etcvol:/etc", busybox_image, "ls", "/etc").split()
    assert "added" in _run(rl, "-v", "etcvol:/etc", busybox_image, "cat", "/etc/group")
    # nocopy leaves a new volume empty.
    assert _run(rl, "-v", "empty:/etc:nocopy", busybox_image, "ls", "-A", "/etc").strip() == ""


def test_mount_flag_and_tmpfs(rl: Env, busybox_image: str, tmp_path: Path) -> None:
    host = tmp_path / "ro"
    host.mkdir()
    (host / "f").write_text("keep")
    script = (
        "grep -E ' /t1 | /t2 ' /proc/mounts; echo v > /v/f;"
        " if echo x > /b/f 2>/dev/null; then echo WROTE; fi; cat /b/f"
    )
    out = _run(
        rl,
        "--mount", "type=volume,source=mv,target=/v",
        "--mount", f"type=bind,source={host},target=/b,readonly",
        "--mount", "type=tmpfs,destination=/t1,tmpfs-size=1m,tmpfs-mode=1770",
        "--tmpfs", "/t2:size=2m",
        busybox_image, "sh", "-c", script,
    )  # fmt: skip
    assert "WROTE" not in out and out.endswith("keep")
    t1 = next(ln for ln in out.splitlines() if " /t1 " in ln)
    t2 = next(ln for ln in out.splitlines() if " /t2 " in ln)
    assert "tmpfs" in t1 and "size=1024k" in t1 and "mode=1770" in t1
    assert "size=2048k" in t2
    assert (_mountpoint(rl, "mv") / "f").read_text() == "v\n"
    assert (host / "f").read_text() == "keep"


def test_volumes_from(rl: Env, busybox_image: str, tmp_path: Path) -> None:
    host = tmp_path / "b"
    host.mkdir()
    r = rl.run("run", "--name", "src", "-v", "shared:/s", "-v", "/anon", "-v", f"{host}:/b",
               busybox_image, "sh", "-c", "echo s > /s/f; echo a > /anon/f; echo b > /b/f")  # fmt: skip
    assert r.rc == 0, r.err
    out = _run(rl, "--volumes-from", "src", busybox_image, "cat", "/s/f", "/anon/f", "/b/f")
    assert out.split() == ["s", "a", "b"]
    ro = rl.run(
        "run", "--rm", "--volumes-from", "src:ro", busybox_image, "sh", "-c", "echo x > /s/f"
    )
    assert ro.rc != 0 and "Read-only" in ro.err + ro.out
    missing = rl.run("run", "--rm", "--volumes-from", "nosuch", busybox_image, "true")
    assert missing.rc == 125 and "no such container: nosuch" in missing.err
    # The anonymous volume is in use by src (and named after it): rm refuses.
    anon = [v for v in rl.run("volume", "ls", "-q", "--filter", "anonymous=true").out.split()]
    assert len(anon) == 1
    refused = rl.run("volume", "rm", anon[0])
    assert refused.rc == 125 and "in use by container(s) src" in refused.err
    assert rl.run("rm", "src").rc == 0


def test_volume_commands(rl: Env, busybox_image: str) -> None:
    assert (
        rl.run("volume", "create", "--label", "tier=db", "--opt", "o=uid=1000,gid=1000", "v1").out
        == "v1\n"
    )
    assert rl.run("volume", "create", "v2").rc == 0
    anon = rl.run("volume", "create").out.strip()
    assert len(anon) == 64
    assert rl.run("volume", "ls", "-q", "--filter", "label=tier=db").out.split() == ["v1"]
    assert rl.run("volume", "ls", "-q", "--filter", "name=v").out.split() == ["v1", "v2"]
    table = rl.run("volume", "ls").out.splitlines()
    assert table[0].split() == ["DRIVER", "VOLUME", "NAME"] and len(table) == 4
    fmt = rl.run(
        "volume", "ls", "--format", "{{.Name}}={{.Labels.tier}}", "--filter", "name=v1"
    ).out
    assert fmt == "v1=db\n"
    info = rl.run("volume", "inspect", "v1").json()
    assert isinstance(info, list) and info[0]["Labels"] == {"tier": "db"}
    assert Path(info[0]["Mountpoint"]).is_dir()
    # o=uid=1000: the data dir belongs to container uid 1000, who may write it.
    assert (
        _run(
            rl, "--user", "1000", "-v", "v1:/d", busybox_image, "sh", "-c", "touch /d/ok && echo ok"
        )
        == "ok\n"
    )
    r = rl.run("run", "-d", "--name", "user", "-v", "v2:/d", busybox_image, "sleep", "60")
    assert r.rc == 0, r.err
    try:
        busy = rl.run("volume", "rm", "v2")
        assert busy.rc == 125 and "in use" in busy.err
        assert rl.run("volume", "ls", "-q", "--filter", "dangling=false").out.split() == ["v2"]
        assert set(rl.run("volume", "prune", "-f").out.split()) == {"v1", anon}
        assert rl.run("volume", "ls", "-q").out.split() == ["v2"]
        assert rl.run("volume", "rm", "-f", "v2").rc == 0  # -f: even while in use
    finally:
        rl.run("rm", "-f", "user", timeout=60)
    assert rl.run("volume", "ls", "-q").out == ""
    gone = rl.run("volume", "inspect", "v2")
    assert gone.rc == 125 and "no such volume: v2" in gone.err
    assert rl.run("volume", "rm", "-f", "never-was").rc == 0
    assert rl.run("volume", "create", "bad/name").rc == 125


def _symlink_image(rl: Env, tmp_path: Path, host_target: Path) -> str:
    """An image whose /abs and /rel are symlinks that point at `host_target` if followed
    on the host."""
    need(Path("/bin/busybox").is_file(), "busybox-static", "apt-get install busybox-static")
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tf:
        tf.add("/bin/busybox", "bin/busybox")
        for name in ("sh", "cat", "ls", "echo"):
            ti = tarfile.TarInfo(f"bin/{name}")
            ti.type, ti.linkname = tarfile.SYMTYPE, "busybox"
            tf.addfile(ti)
        for name, target in (
            ("abs", str(host_target)),
            ("rel", "../" * 20 + str(host_target).lstrip("/")),
        ):
            ti = tarfile.TarInfo(name)
            ti.type, ti.linkname = tarfile.SYMTYPE, target
            tf.addfile(ti)
    tar = tmp_path / "evil.tar"
    tar.write_bytes(buf.getvalue())
    rl.run("import", str(tar), "evil", check=True)
    return "evil"


def test_symlinked_targets_never_mount_over_host_paths(
    rl: Env, busybox_image: str, tmp_path: Path
) -> None:
    host_target = tmp_path / "host-target"
    host_target.mkdir()
    image = _symlink_image(rl, tmp_path, host_target)
    src = tmp_path / "src"
    src.mkdir()
    (src / "marker").write_text("bound")
    out = _run(rl, "-v", "evilvol:/abs/vol", "-v", f"{src}:/rel/bind", "--tmpfs", "/abs/t",
               "--mount", "type=tmpfs,dst=/rel/t2", image,
               "sh", "-c", "echo v > /abs/vol/f; echo t > /abs/t/f; echo t > /rel/t2/f; cat /rel/bind/marker")  # fmt: skip
    assert out == "bound"
    # Both mounts landed inside the rootfs (at its own copy of that path), not on the host.
    assert list(host_target.iterdir()) == []
    assert (_mountpoint(rl, "evilvol") / "f").read_text() == "v\n"
