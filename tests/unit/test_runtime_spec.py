"""Bundle parsing, the command line, state records, capabilities, seccomp, JSON glue."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from rootless.errors import EngineError
from rootless.runtime import caps, jsonlite
from rootless.runtime.cli import parse_args
from rootless.runtime.create import needs_helper
from rootless.runtime.lifecycle import parse_signal
from rootless.runtime.spec import BundleError, IdMap, load_bundle, parse_spec
from rootless.runtime.state import ContainerState, Store, validate_id, write_atomic


def minimal(**over: Any) -> dict[str, Any]:
    cfg: dict[str, Any] = {
        "ociVersion": "1.0.2",
        "root": {"path": "rootfs", "readonly": True},
        "process": {
            "args": ["sh"],
            "cwd": "/",
            "user": {"uid": 1, "gid": 2, "additionalGids": [3]},
        },
        "linux": {"namespaces": [{"type": "pid"}, {"type": "network", "path": "/proc/1/ns/net"}]},
    }
    cfg.update(over)
    return cfg


def test_parse_minimal_spec() -> None:
    s = parse_spec(minimal(hostname="h", annotations={"a": "b"}), "/bundle")
    assert s.root_path == "/bundle/rootfs" and s.root_readonly
    assert s.process is not None and s.process.user.additional_gids == [3]
    assert s.namespace("network") is not None and s.namespace("network").path == "/proc/1/ns/net"  # type: ignore[union-attr]
    assert s.namespace("user") is None
    assert (s.hostname, s.annotations) == ("h", {"a": "b"})


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"root": {}}, "root.path is required"),
        ({"process": {"args": []}}, "process.args must not be empty"),
        ({"process": {"args": ["x"], "cwd": "rel"}}, "must be an absolute path"),
        ({"process": {"args": "sh"}}, "process.args must be list"),
        ({"process": {"args": ["x"], "user": {"uid": "0"}}}, "process.user.uid must be int"),
        ({"linux": {"namespaces": [{"type": "bogus"}]}}, "unknown namespace type 'bogus'"),
        ({"mounts": [{"destination": "rel"}]}, "is not absolute"),
        ({"linux": {"uidMappings": [{"containerID": 0}]}}, "needs containerID, hostID and size"),
    ],
)
def test_bad_specs_give_one_line(change: dict[str, Any], message: str) -> None:
    with pytest.raises(BundleError, match=message):
        parse_spec(minimal(**change), "/b")


def test_load_bundle_errors(tmp_path: Path) -> None:
    with pytest.raises(BundleError, match=r"no config\.json in bundle"):
        load_bundle(str(tmp_path))
    (tmp_path / "config.json").write_text("{not json")
    with pytest.raises(BundleError, match="cannot read"):
        load_bundle(str(tmp_path))
    (tmp_path / "config.json").write_text(json.dumps(minimal()))
    with pytest.raises(BundleError, match="is not a directory"):
        load_bundle(str(tmp_path))
    (tmp_path / "rootfs").mkdir()
    assert load_bundle(str(tmp_path)).root_path == str(tmp_path / "rootfs")


def test_cli_parsing() -> None:
    a = parse_args(["--root", "/r", "create", "--bundle=/b", "--pid-file", "/p", "c1"])
    assert (a.cmd, a.root, a.bundle, a.pid_file, a.id) == ("create", "/r", "/b", "/p", "c1")
    a = parse_args(["run", "-d", "-b", "/b", "--preserve-fds", "2", "c2"])
    assert (a.detach, a.preserve_fds, a.id) == (True, 2, "c2")
    a = parse_args(["kill", "--all", "c3", "KILL"])
    assert (a.all, a.id, a.signal) == (True, "c3", "KILL")
    assert parse_args(["kill", "c3"]).signal is None
    a = parse_args(["exec", "-e", "A=1", "-e", "B=2", "--tty", "c4", "sh", "-c", "echo -n hi"])
    assert (a.env, a.tty, a.id, a.rest) == (["A=1", "B=2"], True, "c4", ["sh", "-c", "echo -n hi"])
    assert parse_args(["exec", "c4", "--", "ls", "-l"]).rest == ["ls", "-l"]
    a = parse_args(["ps", "--format", "json", "c5", "-o", "pid"])
    assert (a.format, a.rest) == ("json", ["-o", "pid"])
    # Go-style single-dash long options, as runc's urfave/cli accepts.
    assert parse_args(["delete", "-force", "c6"]).force is True


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        ([], None),
        (["frobnicate", "x"], "unknown command"),
        (["start"], "missing ID"),
        (["start", "a", "b"], "unexpected argument"),
        (["create", "--bundle"], "needs a value"),
        (["create", "--preserve-fds", "x", "c"], "needs a number"),
        (["delete", "--nope", "c"], "unknown option --nope"),
    ],
)
def test_cli_errors(argv: list[str], message: str | None) -> None:
    if message is None:
        assert parse_args(argv).cmd == "help"
        return
    with pytest.raises(EngineError, match=message):
        parse_args(argv)


def test_state_record_and_oci_view(tmp_path: Path) -> None:
    st = ContainerState(
        "c", 123, "/b", "/b/rootfs", "2026-01-01T00:00:00.000000000Z", 42, {"k": "v"}
    )
    store = Store(str(tmp_path))
    store.reserve("c")
    with pytest.raises(EngineError, match="already exists"):
        store.reserve("c")
    store.save(st)
    assert store.load("c") == st
    oci = st.to_oci("running")
    assert set(oci) == {
        "ociVersion",
        "id",
        "pid",
        "status",
        "bundle",
        "rootfs",
        "created",
        "owner",
        "annotations",
    }
    assert oci["pid"] == 123 and st.to_oci("stopped")["pid"] == 0
    # pid 123 with start time 42 is not us: the container counts as stopped.
    assert store.status(st) == "stopped"
    store.remove("c")
    assert store.list() == []
    with pytest.raises(EngineError, match="does not exist"):
        store.load("c")


@pytest.mark.parametrize("cid", ["", ".", "..", "a/b", "a b", "é", "x\n"])
def test_invalid_ids(cid: str) -> None:
    with pytest.raises(EngineError, match="invalid container id"):
        validate_id(cid)


def test_write_atomic_replaces(tmp_path: Path) -> None:
    p = tmp_path / "f"
    write_atomic(str(p), b"one", 0o600)
    write_atomic(str(p), b"two", 0o600)
    assert p.read_bytes() == b"two" and os.listdir(tmp_path) == ["f"]


def test_id_map_helper_decision() -> None:
    assert not needs_helper([IdMap(0, 1000, 1)], 1000)
    assert needs_helper([IdMap(0, 1000, 1), IdMap(1, 100000, 65536)], 1000)
    assert needs_helper([IdMap(0, 100000, 1)], 1000)


def test_signals() -> None:
    assert parse_signal("KILL") == parse_signal("SIGKILL") == parse_signal("9") == 9
    assert parse_signal("term") == 15
    for bad in ("NOPE", "0", "999"):
        with pytest.raises(EngineError):
            parse_signal(bad)


def test_capability_masks() -> None:
    top = caps.last_cap()
    m = caps.mask(["CAP_KILL", "CAP_NET_BIND_SERVICE", "CAP_AUDIT_WRITE", "CAP_NOT_A_THING"], top)
    assert m == 0x20000420  # what /proc/self/status shows for runc's rootless default
    assert caps.mask(["chown"], top) == 1
    assert caps.status_masks()["CapBnd"] >= 0


def test_jsonlite_matches_json() -> None:
    obj = {"a": [1, 2.5, None, True, False, "x\u00e9\n"], "b": {"c": {}}, "d": -3}
    text = jsonlite.dumps(obj)
    assert json.loads(text) == obj
    assert jsonlite.loads(text) == obj == jsonlite.loads(" \n" + json.dumps(obj, indent=2) + "\n")
    for bad in ("", "{", "[1] x", '{"a":}'):
        with pytest.raises(ValueError):
            jsonlite.loads(bad)
    with pytest.raises(TypeError):
        jsonlite.dumps({"a": object()})


def test_default_seccomp_profile_by_capabilities() -> None:
    from rootless.runtime.seccomp import default_profile

    plain = default_profile(["CAP_KILL"])
    names = {
        n
        for r in plain["syscalls"]
        for n in r["names"]
        if r["action"] == "SCMP_ACT_ALLOW" and not r.get("args")
    }
    assert {"read", "write", "execve", "arch_prctl"} <= names
    assert not {"mount", "unshare", "setns", "ptrace", "reboot"} & names
    assert plain["defaultAction"] == "SCMP_ACT_ERRNO"
    assert plain["architectures"] == ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"]
    admin = default_profile(["CAP_SYS_ADMIN"])
    admin_names = {
        n for r in admin["syscalls"] for n in r["names"] if r["action"] == "SCMP_ACT_ALLOW"
    }
    assert {"mount", "unshare", "setns"} <= admin_names
    # clone without CAP_SYS_ADMIN only without namespace flags; clone3 gets ENOSYS.
    assert any(r["names"] == ["clone"] and r.get("args") for r in plain["syscalls"])
    assert any(r["names"] == ["clone3"] and r.get("errnoRet") == 38 for r in plain["syscalls"])


def test_seccomp_filter_builds(tmp_path: Path) -> None:
    from rootless.runtime.seccomp import SeccompError, build_filter, default_profile

    prof = default_profile([])
    prof["syscalls"].append(
        {
            "names": ["personality"],
            "action": "SCMP_ACT_ERRNO",
            "errnoRet": 22,
            "args": [
                {"index": 0, "value": 1, "op": "SCMP_CMP_EQ"},
                {"index": 0, "value": 2, "op": "SCMP_CMP_EQ"},
            ],
        }
    )
    prof["syscalls"].append({"names": ["not_a_syscall_at_all"], "action": "SCMP_ACT_ALLOW"})
    flt = build_filter(prof, no_new_privs=True)
    out = tmp_path / "f.pfc"
    with open(out, "w") as f:
        flt.export_pfc(f)
    text = out.read_text()
    assert "execve" in text and "ERRNO(1)" in text
    with pytest.raises(SeccompError, match="not supported"):
        build_filter({"defaultAction": "SCMP_ACT_NOTIFY"}, True)
    with pytest.raises(SeccompError, match="unknown operator"):
        build_filter(
            {
                "defaultAction": "SCMP_ACT_ERRNO",
                "syscalls": [
                    {
                        "names": ["read"],
                        "action": "SCMP_ACT_ALLOW",
                        "args": [{"index": 0, "op": "LIKE"}],
                    }
                ],
            },
            True,
        )


def test_errors_go_to_the_log_file_as_json(tmp_path: Path) -> None:
    import subprocess
    import sys

    log = tmp_path / "log.json"
    p = subprocess.run(
        [
            sys.executable,
            "-m",
            "rootless.runtime",
            "--root",
            str(tmp_path / "s"),
            "--log",
            str(log),
            "--log-format",
            "json",
            "state",
            "nope",
        ],
        capture_output=True,
        text=True,
    )
    assert p.returncode == 1
    assert p.stderr == "rootless-runtime: container nope does not exist\n"
    entry = json.loads(log.read_text())
    assert (entry["level"], entry["msg"]) == ("error", "container nope does not exist")
