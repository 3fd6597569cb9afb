"""End to end through `rootless run` and `rootless network`: the issue's acceptance
scenarios with real busybox containers in the engine's user namespace."""

from __future__ import annotations

import contextlib
import json
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import Env, kill_net_helpers
from tests.integration.test_net_support import free_port, http_get

pytestmark = pytest.mark.slow


@pytest.fixture
def eng(rl: Env, busybox_image: str) -> Iterator[Env]:
    yield rl
    with contextlib.suppress(Exception):
        rl.run("rm", "-af", timeout=60)
    kill_net_helpers(rl)


def _run(rl: Env, *args: str) -> str:
    r = rl.run("run", "-d", *args, timeout=120)
    assert r.rc == 0, r.err
    return r.out.strip()


def _exec(rl: Env, cid: str, *cmd: str) -> subprocess.CompletedProcess[str]:
    r = rl.run("exec", cid, *cmd, timeout=60)
    return subprocess.CompletedProcess(cmd, r.rc, r.out, r.err)


def _ips(rl: Env, network: str) -> dict[str, str]:
    info = rl.run("network", "inspect", network, check=True).json()[0]  # type: ignore[index]
    return {c["Name"]: c["IPv4Address"].split("/")[0] for c in info["Containers"].values()}


def _netns_pids(rl: Env) -> list[int]:
    """Our helper processes still alive (netd + sidecars), from their state files."""
    out = []
    for f in (rl.runroot / "networks").glob("*/netd.json"):
        with contextlib.suppress(Exception):
            out.append(int(json.loads(f.read_text())["pid"]))
    return out


def test_default_bridge_ping_by_ip_and_isolation(eng: Env) -> None:
    c1 = _run(eng, "--name", "c1", "--network", "bridge", "busybox", "sleep", "600")
    _run(eng, "--name", "c2", "--network", "bridge", "busybox", "sleep", "600")
    ips = _ips(eng, "bridge")
    assert set(ips) == {"c1", "c2"}
    r = _exec(eng, "c1", "ping", "-c", "1", "-W", "3", ips["c2"])
    assert r.returncode == 0, r.stdout + r.stderr
    assert _exec(eng, "c2", "ping", "-c", "1", "-W", "3", ips["c1"]).returncode == 0
    # The host has no route into the bridge: no interface of ours carries its subnet.
    host = subprocess.run(["ip", "-o", "addr"], capture_output=True, text=True).stdout
    assert "10.88." not in host
    # disconnect + connect none isolates c1
    eng.run("network", "disconnect", "bridge", "c1", check=True)
    eng.run("network", "connect", "none", "c1", check=True)
    assert "c1" not in _ips(eng, "bridge")
    assert _exec(eng, "c2", "ping", "-c", "1", "-W", "2", ips["c1"]).returncode != 0
    links = _exec(eng, c1, "ip", "-o", "link").stdout
    assert "eth0" not in links
    eng.run("rm", "-f", "c1", "c2", check=True)
    time.sleep(0.3)
    assert all(not Path(f"/proc/{p}").exists() for p in _netns_pids(eng))


def test_user_network_resolves_container_names(eng: Env) -> None:
    eng.run("network", "create", "mybridge", check=True)
    _run(eng, "--name", "u3", "--network", "mybridge", "busybox", "sleep", "600")
    _run(eng, "--name", "peer", "--network", "mybridge", "busybox", "sleep", "600")
    r = _exec(eng, "peer", "ping", "-c", "1", "-W", "3", "u3")
    assert r.returncode == 0, r.stdout + r.stderr
    assert _ips(eng, "mybridge")["u3"] in r.stdout
    r = eng.run("network", "rm", "mybridge")
    assert r.rc == 125 and "active endpoints" in r.err
    eng.run("rm", "-f", "u3", "peer", check=True)
    assert eng.run("network", "rm", "mybridge").rc == 0


def _wait_http(url: str) -> str:
    got = ""
    for _ in range(100):
        got = http_get(url, timeout=3)
        if not got.startswith("curl failed"):
            break
        time.sleep(0.1)
    return got


def test_publish_tcp_and_busy_port(eng: Env) -> None:
    # (UDP publishing is covered in test_net_ports: busybox has no UDP server.)
    port = free_port()
    _run(
        eng, "--name", "web", "--network", "bridge", "-p", f"{port}:80",
        "busybox", "sh", "-c",
        "echo served-by-busybox > /tmp/index.html; exec httpd -f -p 80 -h /tmp",
    )  # fmt: skip
    assert _wait_http(f"http://127.0.0.1:{port}/index.html") == "served-by-busybox\n"
    assert http_get(f"http://[::1]:{port}/index.html") == "served-by-busybox\n"
    # a busy port fails cleanly before the container starts
    r = eng.run("run", "-d", "--name", "web2", "--network", "bridge", "-p", f"{port}:80",
                "busybox", "sleep", "600")  # fmt: skip
    assert r.rc == 125 and "already in use" in r.err, r.err
    ps = eng.run("ps", "--format", "json", check=True).out
    assert "web2" not in ps or '"running"' not in ps.split("web2")[1][:200]
    eng.run("rm", "-f", "web", check=True)
    # the port is free again once the container is gone
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("0.0.0.0", port))


def test_container_fetches_from_host_server(eng: Env, tmp_path: Path) -> None:
    (tmp_path / "f.txt").write_text("host file\n")
    hport = free_port()
    srv = subprocess.Popen(
        [sys.executable, "-m", "http.server", str(hport), "--bind", "127.0.0.1"],
        cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        cid = _run(
            eng, "--network", "slirp4netns:allow_host_loopback=true", "busybox", "sleep", "600"
        )
        got = None
        for _ in range(50):
            got = _exec(eng, cid, "timeout", "10", "wget", "-qO-", f"http://10.0.2.2:{hport}/f.txt")
            if got.returncode == 0:
                break
            time.sleep(0.1)
        assert got is not None and got.stdout == "host file\n", got
    finally:
        srv.kill()
        srv.wait()


# busybox httpd runs CGI scripts under cgi-bin/ with the peer in REMOTE_ADDR/REMOTE_PORT.
_PEER_CGI = (
    "mkdir -p /tmp/www/cgi-bin && "
    "printf '#!/bin/sh\\necho Content-Type: text/plain\\necho\\necho $REMOTE_ADDR $REMOTE_PORT\\n'"
    " > /tmp/www/cgi-bin/peer && chmod +x /tmp/www/cgi-bin/peer && "
    "exec httpd -f -p 80 -h /tmp/www"
)


def _peer_seen(family: int, dst: tuple[str, int], src: str) -> tuple[str, int, int]:
    """(address, port) the container's server reports for a client bound to src, and
    the client's own port."""
    for _ in range(100):
        try:
            with socket.socket(family) as c:
                c.settimeout(5)
                c.bind((src, 0))
                c.connect(dst)
                c.sendall(b"GET /cgi-bin/peer HTTP/1.0\r\n\r\n")
                reply = b""
                while chunk := c.recv(4096):
                    reply += chunk
                # the body is the script's last line (its headers end in bare \n)
                body = reply.decode().strip().splitlines()[-1].split()
                addr = body[0].strip("[]").removeprefix("::ffff:")
                return addr, int(body[1]), int(c.getsockname()[1])
        except (OSError, IndexError):
            time.sleep(0.1)
    raise AssertionError(f"no answer from {dst}")


@pytest.mark.parametrize("network", ["bridge", "slirp4netns"])
def test_container_sees_the_real_loopback_client(eng: Env, network: str) -> None:
    # A client on the host's loopback, bound to 127.0.0.5, must show up in the container
    # as 127.0.0.5 with its own port, not as the forwarder or a gateway.
    port, port2 = free_port(), free_port()
    _run(eng, "--network", network, "-p", f"127.0.0.1:{port}:80", "-p", f"{port2}:80",
         "busybox", "sh", "-c", _PEER_CGI)  # fmt: skip
    addr, seen_port, own_port = _peer_seen(socket.AF_INET, ("127.0.0.1", port), "127.0.0.5")
    assert (addr, seen_port) == ("127.0.0.5", own_port)
    addr, _, _ = _peer_seen(socket.AF_INET, ("127.0.0.1", port2), "127.0.0.9")
    assert addr == "127.0.0.9"
    # The containers are IPv4-only: an IPv6 loopback client appears as IPv4 loopback.
    addr, seen_port, own_port = _peer_seen(socket.AF_INET6, ("::1", port2), "::1")
    assert (addr, seen_port) == ("127.0.0.1", own_port)


@pytest.mark.parametrize("runtime", ["rootless", "runc"])
def test_network_none_has_loopback_and_can_be_joined(eng: Env, runtime: str) -> None:
    """`--network none` is an empty namespace with `lo` up (as Docker/runc), and
    `--network container:NAME` joins it although no network hook ever ran for it."""
    r = eng.run(
        "run",
        "--rm",
        "--runtime",
        runtime,
        "--network",
        "none",
        "busybox",
        "ip",
        "-4",
        "addr",
        "show",
        "lo",
        timeout=60,
    )
    assert r.rc == 0, r.err
    assert "inet 127.0.0.1/8" in r.out and "UP" in r.out
    cid = _run(
        eng,
        "--runtime",
        runtime,
        "--name",
        "lonely",
        "--network",
        "none",
        "busybox",
        "sh",
        "-c",
        "nc -l -p 7000 -e echo from-lonely; sleep 600",
    )
    mine = _exec(eng, cid, "readlink", "/proc/self/ns/net").stdout.strip()
    for _ in range(50):  # the listener starts right after the container
        r = eng.run(
            "run",
            "--rm",
            "--network",
            "container:lonely",
            "busybox",
            "sh",
            "-c",
            "readlink /proc/self/ns/net; nc 127.0.0.1 7000 </dev/null",
            timeout=60,
        )
        if "from-lonely" in r.out:
            break
        time.sleep(0.1)
    assert r.rc == 0, r.err
    assert r.out.split() == [mine, "from-lonely"]
