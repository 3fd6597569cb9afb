"""More of the runtime spec through both runtimes: sysctl, oomScoreAdj, a network
namespace, joining another container's namespaces by path; and `run` of a terminal
container without --console-socket (our runtime copies the pty itself)."""

from __future__ import annotations

import copy
import os
import time
from collections.abc import Iterator
from pathlib import Path

import pexpect
import pytest

from tests.integration.test_runtime_helpers import (
    Runtime,
    base_config,
    make_rootfs,
    ours_cmd,
    runtime_pair,
)


@pytest.fixture(scope="module")
def rootfs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_rootfs(tmp_path_factory.mktemp("rt-feat") / "rootfs")


@pytest.fixture
def pair(tmp_path: Path) -> Iterator[tuple[Runtime, Runtime]]:
    with runtime_pair(tmp_path) as p:
        yield p


def test_sysctl_oom_score_and_network_namespace(
    pair: tuple[Runtime, Runtime], tmp_path: Path, rootfs: Path
) -> None:
    script = (
        "cat /proc/sys/net/ipv4/ip_forward /proc/sys/net/ipv4/ping_group_range"
        " /proc/self/oom_score_adj; ip -o link | cut -d: -f2"
    )
    cfg = base_config(rootfs, ["sh", "-c", script])
    cfg["linux"]["namespaces"].append({"type": "network"})
    cfg["linux"]["sysctl"] = {"net.ipv4.ip_forward": "1", "net.ipv4.ping_group_range": "0 0"}
    cfg["process"]["oomScoreAdj"] = 500
    outs = []
    for rt in pair:
        p = rt.run(tmp_path, "sys", copy.deepcopy(cfg))
        assert p.returncode == 0, (rt.name, p.stderr)
        outs.append(p.stdout)
    assert outs[0] == outs[1]
    assert outs[1].split() == ["1", "0", "0", "500", "lo"]


def test_join_namespaces_by_path(
    pair: tuple[Runtime, Runtime], tmp_path: Path, rootfs: Path
) -> None:
    """A second container joins the first one's user, uts and network namespaces."""
    outs = []
    for rt in pair:
        first = base_config(rootfs, ["sleep", "100"])
        first["hostname"] = "shared-host"
        first["linux"]["namespaces"].append({"type": "network"})
        b = rt.bundle(tmp_path, "first", first)
        assert rt.detached("create", "--bundle", str(b), "first").returncode == 0
        assert rt("start", "first").returncode == 0
        pid = rt.state("first")["pid"]
        second = base_config(rootfs, ["sh", "-c", "hostname; ip -o link | cut -d: -f2; echo $$"])
        del second["hostname"]
        joined = {"user", "uts", "network"}
        second["linux"]["namespaces"] = [
            {"type": t, "path": f"/proc/{pid}/ns/{'net' if t == 'network' else t}"}
            for t in sorted(joined)
        ] + [{"type": t} for t in ("pid", "ipc", "mount")]
        p = rt.run(tmp_path, "second", second)
        assert p.returncode == 0, (rt.name, p.stderr)
        outs.append(p.stdout)
        assert rt("delete", "--force", "first").returncode == 0
    assert outs[0] == outs[1] == "shared-host\n lo\n1\n"


def test_run_terminal_without_console_socket(tmp_path: Path, rootfs: Path) -> None:
    cfg = base_config(rootfs, ["sh", "-c", "tty; stty size; read line; echo got:$line; exit 5"])
    cfg["process"]["terminal"] = True
    rt = Runtime("ours", ours_cmd(), tmp_path / "state")
    b = rt.bundle(tmp_path, "tty", cfg)
    child = pexpect.spawn(
        ours_cmd()[0],
        ["--root", str(rt.root), "run", "--bundle", str(b), "tty"],
        dimensions=(30, 100),
        timeout=20,
        encoding="utf-8",
    )
    try:
        child.expect(r"/dev/pts/0\r\n")
        child.expect(r"30 100\r\n")
        child.sendline("hello")
        child.expect("got:hello")
        child.expect(pexpect.EOF)
        child.close()
        assert child.exitstatus == 5
    finally:
        if child.isalive():
            child.terminate(force=True)
        rt.cleanup()


def test_exec_with_tty_through_console_socket(tmp_path: Path, rootfs: Path) -> None:
    import socket

    rt = Runtime("ours", ours_cmd(), tmp_path / "state")
    try:
        b = rt.bundle(tmp_path, "etty", base_config(rootfs, ["sleep", "100"]))
        assert rt.detached("create", "--bundle", str(b), "etty").returncode == 0
        assert rt("start", "etty").returncode == 0
        path = str(tmp_path / "c.sock")
        srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        srv.bind(path)
        srv.listen(1)
        proc = rt.popen(
            "exec", "--tty", "--console-socket", path, "etty", "sh", "-c", "tty; echo $$"
        )
        conn, _ = srv.accept()
        _, fds, _, _ = socket.recv_fds(conn, 1024, 1)
        conn.close()
        srv.close()
        data = b""
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                chunk = os.read(fds[0], 1024)
            except OSError:
                break
            if not chunk:
                break
            data += chunk
        os.close(fds[0])
        assert proc.wait(timeout=10) == 0
        lines = data.decode().split("\r\n")
        assert lines[0].startswith("/dev/pts/") and lines[1].isdigit() and lines[1] != "1"
    finally:
        rt.cleanup()


def test_cgroup_namespace_and_fresh_sysfs_in_network_namespace(
    pair: tuple[Runtime, Runtime], tmp_path: Path, rootfs: Path
) -> None:
    """With a network namespace of its own the container gets a real sysfs (not the
    host's), and a cgroup namespace of its own."""
    host_cgroup_ns = os.readlink("/proc/self/ns/cgroup")
    script = (
        "readlink /proc/self/ns/cgroup;"
        " awk '$5 == \"/sys\" {print $4, $5, $6, $9}' /proc/self/mountinfo; ls /sys/class/net"
    )
    cfg = base_config(rootfs, ["sh", "-c", script])
    cfg["linux"]["namespaces"] += [{"type": "network"}, {"type": "cgroup"}]
    cfg["mounts"][5] = {
        "destination": "/sys",
        "type": "sysfs",
        "source": "sysfs",
        "options": ["nosuid", "noexec", "nodev", "ro"],
    }
    outs = []
    for rt in pair:
        p = rt.run(tmp_path, "cg", copy.deepcopy(cfg))
        assert p.returncode == 0, (rt.name, p.stderr)
        outs.append(p.stdout)
    assert outs[0].splitlines()[1:] == outs[1].splitlines()[1:]  # namespace ids differ
    ns, sysfs, net = outs[1].splitlines()
    assert ns.startswith("cgroup:[") and ns != host_cgroup_ns
    assert sysfs == "/ /sys ro,nosuid,nodev,noexec,relatime sysfs"
    assert net == "lo"


def test_resources_without_delegated_cgroups_run_with_a_warning(
    tmp_path: Path, rootfs: Path
) -> None:
    """This host's cgroups are hybrid and not delegated: like runc rootless, run anyway."""
    rt = Runtime("ours", ours_cmd(), tmp_path / "state")
    cfg = base_config(rootfs, ["true"])
    cfg["linux"]["cgroupsPath"] = "/rootless-test/ctr"
    cfg["linux"]["resources"] = {"pids": {"limit": 10}, "memory": {"limit": 64 << 20}}
    try:
        p = rt.run(tmp_path, "res", cfg)
        assert p.returncode == 0, p.stderr
        assert p.stderr.count("linux.resources ignored") == 1
    finally:
        rt.cleanup()
