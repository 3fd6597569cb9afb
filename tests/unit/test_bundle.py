"""OCI config.json generation from an image config and a RunSpec."""

from __future__ import annotations

from pathlib import Path

import pytest

from rootless.engine import bundle as B
from rootless.engine.runspec import RunSpec, Ulimit
from rootless.errors import UsageError


@pytest.fixture
def rootfs(tmp_path: Path) -> Path:
    r = tmp_path / "rootfs"
    (r / "etc").mkdir(parents=True)
    (r / "etc" / "passwd").write_text(
        "root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000::/home/app:/bin/sh\n"
    )
    (r / "etc" / "group").write_text("root:x:0:\napp:x:1000:\nextra:x:2000:app\n")
    return r


def config(rootfs: Path, spec: RunSpec, **kw: object) -> dict:  # type: ignore[type-arg]
    icfg = kw.pop("image_config", {"Cmd": ["sh"], "Env": ["PATH=/bin", "LANG=C"]})
    ctx = B.BundleContext(container_id="a" * 64, rootfs=str(rootfs), image_config=icfg, **kw)  # type: ignore[arg-type]
    return B.make_config(spec, ctx)


def test_defaults(rootfs: Path) -> None:
    c = config(rootfs, RunSpec(image="x"))
    p = c["process"]
    assert p["args"] == ["sh"] and p["cwd"] == "/" and p["user"] == {"uid": 0, "gid": 0}
    assert "PATH=/bin" in p["env"] and "HOSTNAME=aaaaaaaaaaaa" in p["env"]
    assert "HOME=/root" in p["env"]
    assert p["capabilities"]["bounding"] == B.DEFAULT_CAPS and p["noNewPrivileges"]
    assert c["hostname"] == "aaaaaaaaaaaa" and c["root"] == {"path": str(rootfs), "readonly": False}
    types = [n["type"] for n in c["linux"]["namespaces"]]
    assert types == ["pid", "ipc", "uts", "mount", "network"]  # no user ns: the engine's
    assert "/proc/kcore" in c["linux"]["maskedPaths"]
    dests = [m["destination"] for m in c["mounts"]]
    assert {"/proc", "/dev", "/dev/pts", "/sys"} <= set(dests)
    pts = next(m for m in c["mounts"] if m["destination"] == "/dev/pts")
    assert "gid=5" in pts["options"]
    c1 = config(rootfs, RunSpec(image="x"), full_idmap=False)
    pts = next(m for m in c1["mounts"] if m["destination"] == "/dev/pts")
    assert "gid=5" not in pts["options"]  # a single-id map has no gid 5


def test_command_entrypoint_rules(rootfs: Path) -> None:
    icfg = {"Entrypoint": ["/ep"], "Cmd": ["default"]}
    assert config(rootfs, RunSpec(image="x"), image_config=icfg)["process"]["args"] == [
        "/ep",
        "default",
    ]
    assert config(rootfs, RunSpec(image="x", command=["a"]), image_config=icfg)["process"][
        "args"
    ] == ["/ep", "a"]
    spec = RunSpec(image="x", entrypoint=["/other"])  # replaces the entrypoint, drops Cmd
    assert config(rootfs, spec, image_config=icfg)["process"]["args"] == ["/other"]
    with pytest.raises(UsageError, match="no command"):
        config(rootfs, RunSpec(image="x"), image_config={})


def test_user_lookup_in_the_rootfs(rootfs: Path) -> None:
    p = config(rootfs, RunSpec(image="x", user="app"))["process"]
    assert p["user"] == {"uid": 1000, "gid": 1000, "additionalGids": [2000]}
    assert "HOME=/home/app" in p["env"] and p["capabilities"]["effective"] == []
    assert config(rootfs, RunSpec(image="x", user="1234:55"))["process"]["user"] == {
        "uid": 1234,
        "gid": 55,
    }
    with pytest.raises(UsageError, match="unable to find user nobody"):
        config(rootfs, RunSpec(image="x", user="nobody"))


def test_user_lookup_does_not_follow_symlinks_out(rootfs: Path, tmp_path: Path) -> None:
    (rootfs / "etc" / "passwd").unlink()
    outside = tmp_path / "host-passwd"
    outside.write_text("evil:x:4242:4242::/:/bin/sh\n")
    (rootfs / "etc" / "passwd").symlink_to("../../host-passwd")
    with pytest.raises(UsageError):
        config(rootfs, RunSpec(image="x", user="evil"))


def test_flags_map_to_the_spec(rootfs: Path) -> None:
    spec = RunSpec(
        image="x",
        tty=True,
        read_only=True,
        tmpfs={"/t": "size=1m"},
        ulimits=[Ulimit("nofile", 10, -1)],
        cap_add=["NET_ADMIN"],
        cap_drop=["chown"],
        hostname="h",
        workdir="/w",
        env={"A": "1"},
        network="host",
        labels={"k": "v"},
    )
    c = config(rootfs, spec)
    p = c["process"]
    assert p["terminal"] and "TERM=xterm" in p["env"] and "A=1" in p["env"]
    assert c["root"]["readonly"] and c["hostname"] == "h" and p["cwd"] == "/w"
    assert p["rlimits"] == [{"type": "RLIMIT_NOFILE", "soft": 10, "hard": 2**64 - 1}]
    caps = p["capabilities"]["bounding"]
    assert "CAP_NET_ADMIN" in caps and "CAP_CHOWN" not in caps
    assert "network" not in [n["type"] for n in c["linux"]["namespaces"]]
    sys_mount = next(m for m in c["mounts"] if m["destination"] == "/sys")
    assert sys_mount["type"] == "bind"  # sysfs needs a network namespace of our own
    t = next(m for m in c["mounts"] if m["destination"] == "/t")
    assert t["type"] == "tmpfs" and any(o.startswith("size=") for o in t["options"])
    assert c["annotations"] == {"label.k": "v"}
    c2 = config(rootfs, RunSpec(image="x"), netns_path="/run/netns/x")
    assert {"type": "network", "path": "/run/netns/x"} in c2["linux"]["namespaces"]


def test_privileged_init_userns_seccomp(rootfs: Path, tmp_path: Path) -> None:
    c = config(rootfs, RunSpec(image="x", privileged=True))
    assert c["process"]["capabilities"]["bounding"] == B.ALL_CAPS
    assert "maskedPaths" not in c["linux"] and "seccomp" not in c["linux"]
    c = config(rootfs, RunSpec(image="x", init=True))
    assert c["process"]["args"][:2] == [B.INIT_PATH, "--"]
    assert any(m["destination"] == B.INIT_PATH for m in c["mounts"])
    c = config(rootfs, RunSpec(image="x", userns="keep-id"), host_uid=1001, host_gid=1001)
    assert {"type": "user"} in c["linux"]["namespaces"]
    assert {"containerID": 1001, "hostID": 0, "size": 1} in c["linux"]["uidMappings"]
    assert c["process"]["user"]["uid"] == 1001
    prof = tmp_path / "p.json"
    prof.write_text(
        '{"defaultAction": "SCMP_ACT_ALLOW", "archMap": [{"architecture": "SCMP_ARCH_X86_64", "subArchitectures": ["SCMP_ARCH_X86"]}], "syscalls": []}'
    )
    c = config(rootfs, RunSpec(image="x", seccomp=str(prof)))
    assert c["linux"]["seccomp"]["architectures"] == ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86"]
    assert "seccomp" not in config(rootfs, RunSpec(image="x", seccomp="unconfined"))["linux"]


def test_validate_rejects_bad_input_early() -> None:
    for spec in (
        RunSpec(image="x", cap_add=["NOPE"]),
        RunSpec(image="x", userns="weird"),
        RunSpec(image="x", seccomp="/no/such/profile.json"),
    ):
        with pytest.raises(UsageError):
            B.validate(spec)
