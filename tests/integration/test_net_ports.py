"""Port publishing: the splice forwarder (TCP, UDP, IPv4 + IPv6 loopback, ranges, -P),
a busy port failing before anything starts, the real client address reaching the
container, helper lifetimes, and slirp4netns' own port driver."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

from tests.integration.test_net_support import (
    engine_paths,
    fake_record,
    free_port,
    http_get,
    in_userns,
    run_in,
    start_in,
    stop,
)


def _www(tmp: Path) -> Path:
    www = tmp / "www"
    www.mkdir(exist_ok=True)
    (www / "index.html").write_text("hello from the container\n")
    return www


def _udp_echo(port: int, payload: bytes, family: int = socket.AF_INET) -> bytes:
    host = "127.0.0.1" if family == socket.AF_INET else "::1"
    with socket.socket(family, socket.SOCK_DGRAM) as s:
        s.settimeout(1)
        for _ in range(20):  # the container's socat may still be starting
            s.sendto(payload, (host, port))
            try:
                return s.recvfrom(2048)[0]
            except TimeoutError:
                continue
    return b""


def _wait_http(url: str) -> str:
    got = ""
    for _ in range(50):
        got = http_get(url, timeout=3)
        if not got.startswith("curl failed"):
            return got
        time.sleep(0.1)
    return got


def _publish(tmp: Path) -> dict[str, Any]:
    from netstack import nsutil, process
    from rootless.engine import network_hook
    from rootless.engine.networks import Networks

    paths = engine_paths(tmp)
    tcp, udp, lo6, hc = free_port(), free_port(), free_port(), free_port()
    rng = free_port()
    rec = fake_record(
        paths,
        "web",
        publish=[f"{tcp}:80", f"127.0.0.1:{udp}:5353/udp", f"[::1]:{lo6}:80", f"{hc}:7001"],
        publish_all=True,
    )
    rec.image_config = {"ExposedPorts": {"8080/tcp": {}}}
    out: dict[str, Any] = {}
    procs: list[subprocess.Popen[Any]] = []
    s = network_hook.setup(paths, rec)
    # Started after setup, as the engine does: stands in for the container's monitor.
    monitor = subprocess.Popen(["sleep", "600"])
    try:
        Path(paths.containers / rec.id / "monitor.json").write_text(
            json.dumps({"pid": monitor.pid})
        )
        ns = str(s.netns_path)
        www = _www(tmp)
        procs.append(start_in(ns, ["busybox", "httpd", "-f", "-p", "80", "-h", str(www)]))
        procs.append(start_in(ns, ["busybox", "httpd", "-f", "-p", "8080", "-h", str(www)]))
        procs.append(
            start_in(ns, ["socat", "UDP-RECVFROM:5353,fork", "EXEC:cat"], stderr=subprocess.DEVNULL)
        )
        procs.append(start_in(ns, ["socat", "TCP-LISTEN:7001,fork,reuseaddr", "SYSTEM:sha256sum"]))
        out["v4"] = _wait_http(f"http://127.0.0.1:{tcp}/index.html")
        out["half_close"] = _half_close(hc, os.urandom(3 << 20))
        out["v6_all"] = http_get(f"http://[::1]:{tcp}/index.html")
        out["v6_only"] = http_get(f"http://[::1]:{lo6}/index.html")
        out["udp"] = _udp_echo(udp, b"ping over udp")
        out["ports"] = network_hook.ports(paths, rec.id)
        auto = [p for p in out["ports"] if p["container_port"] == 8080]
        out["auto"] = _wait_http(f"http://127.0.0.1:{auto[0]['host_port']}/index.html")
        big = www / "big.bin"
        big.write_bytes(os.urandom(1 << 20) * 64)
        t = time.monotonic()
        got = subprocess.run(
            ["curl", "-sS", "-o", str(tmp / "got.bin"), "-w", "%{size_download}",
             f"http://127.0.0.1:{tcp}/big.bin"],
            capture_output=True, text=True,
        )  # fmt: skip
        out["big"] = (int(got.stdout or 0), time.monotonic() - t)
        out["big_same"] = _sha(tmp / "got.bin") == _sha(big)
        # A busy port: a clear Conflict before anything is created for the new container.
        other = fake_record(paths, "other", publish=[f"{tcp}:80"])
        before = sorted(os.listdir(paths.runtime / "netns"))
        try:
            network_hook.setup(paths, other)
            out["busy"] = "no error"
        except Exception as e:
            out["busy"] = f"{type(e).__name__}: {e}"
        out["netns_unchanged"] = sorted(os.listdir(paths.runtime / "netns")) == before
        out["other_ip_freed"] = other.id not in Networks(paths).get("bridge").containers
        # a range
        r = fake_record(paths, "ranged", publish=[f"{rng}-{rng + 1}:80-81"])
        network_hook.setup(paths, r)
        out["range"] = sorted({p["host_port"] for p in network_hook.ports(paths, r.id)})
        network_hook.teardown(paths, r)
        # The sidecar goes when the monitor goes, even without a teardown.
        st = network_hook.load_state(paths, rec.id)
        assert st is not None
        sidecar = st.sidecar_pid
        out["sidecar_alive"] = process.alive(sidecar)
        stop(monitor)
        for _ in range(50):
            if not process.alive(sidecar):
                break
            time.sleep(0.05)
        out["sidecar_after_monitor"] = process.alive(sidecar)
        out["port_free_again"] = _can_bind(tcp)
    finally:
        stop(monitor, *procs)
        network_hook.teardown(paths, rec)
    out["netns_left"] = sorted(os.listdir(paths.runtime / "netns"))
    out["is_netns"] = nsutil.is_netns(paths.runtime / "netns" / rec.id)
    return out


def _sha(path: Path) -> str:
    import hashlib

    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


def _half_close(port: int, payload: bytes) -> bool:
    """Send everything, shut down our write side, read the server's answer (it only
    answers after seeing EOF): the forwarder must carry the half-close both ways."""
    import hashlib

    want = hashlib.sha256(payload).hexdigest()
    for _ in range(50):
        try:
            with socket.create_connection(("127.0.0.1", port), 5) as c:
                c.sendall(payload)
                c.shutdown(socket.SHUT_WR)
                got = b""
                while chunk := c.recv(4096):
                    got += chunk
            return got.decode().split()[0] == want
        except (OSError, IndexError):
            time.sleep(0.1)
    return False


def _can_bind(port: int) -> bool:
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # finished connections linger
        try:
            s.bind(("127.0.0.1", port))
            return True
        except OSError:
            return False


def test_publish_tcp_udp_ipv6_busy_and_lifetime(tmp_path: Path) -> None:
    out = in_userns(_publish, tmp_path)
    hello = "hello from the container\n"
    assert out["v4"] == hello
    assert out["v6_all"] == hello
    assert out["v6_only"] == hello
    assert out["udp"] == b"ping over udp"
    assert out["auto"] == hello, "-P publishes the image's exposed ports"
    assert out["big"][0] == 64 << 20 and out["big_same"]
    assert out["half_close"]
    assert out["busy"].startswith("Conflict") and "already in use" in out["busy"], out["busy"]
    assert out["netns_unchanged"] and out["other_ip_freed"]
    assert out["range"] == [out["range"][0], out["range"][0] + 1]
    assert out["sidecar_alive"] and not out["sidecar_after_monitor"]
    assert out["port_free_again"]
    assert out["netns_left"] == [] and not out["is_netns"]
    mb = out["big"][0] / out["big"][1] / 1e6
    print(f"64 MiB through the forwarder with curl: {mb:.0f} MB/s")


def _client_address(tmp: Path) -> dict[str, Any]:
    """In a host namespace of our own, a client on 192.0.2.1 (TEST-NET-1) connects to a
    published port; the container's server reports the peer it sees."""
    from rootless.engine import network_hook

    subprocess.run(["ip", "addr", "add", "192.0.2.1/32", "dev", "lo"], check=True)
    paths = engine_paths(tmp)
    port = free_port()
    rec = fake_record(paths, "peer-echo", publish=[f"{port}:7000"])
    out: dict[str, Any] = {}
    srv = None
    try:
        s = network_hook.setup(paths, rec)
        srv = start_in(
            str(s.netns_path),
            ["socat", "TCP-LISTEN:7000,fork,reuseaddr", "SYSTEM:echo $SOCAT_PEERADDR"],
            stderr=subprocess.DEVNULL,
        )
        for src, key in (("192.0.2.1", "lan"), ("127.0.0.1", "loopback")):
            got = b""
            for _ in range(50):
                try:
                    with socket.create_connection(("192.0.2.1", port), 2, (src, 0)) as c:
                        got = c.recv(100)
                    if got:
                        break
                except OSError:
                    pass
                time.sleep(0.1)
            out[key] = got.decode().strip()
        out["container_ip"] = s.ip
        out["container_unreachable"] = _connect_error(str(s.ip))
    finally:
        if srv:
            stop(srv)
        network_hook.teardown(paths, rec)
    return out


def _connect_error(ip: str) -> str:
    try:
        with socket.create_connection((ip, 7000), 2):
            return ""
    except OSError as e:
        return type(e).__name__


def test_container_sees_real_client_address(tmp_path: Path) -> None:
    out = in_userns(_client_address, tmp_path, new_netns=True)
    assert out["lan"] == "192.0.2.1", out
    # A loopback client is shown as itself: its inner connection starts on the
    # container's own loopback (a 127/8 source would be martian on the bridge).
    assert out["loopback"] == "127.0.0.1", out
    assert out["container_unreachable"], "the host must not reach the container directly"


def _slirp_mode(tmp: Path) -> dict[str, Any]:
    from rootless.engine import network_hook

    paths = engine_paths(tmp)
    (tmp / "srv").mkdir()
    (tmp / "srv" / "f.txt").write_text("via 10.0.2.2\n")
    hport, p1, p2 = free_port(), free_port(), free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "http.server", str(hport), "--bind", "127.0.0.1"],
        cwd=tmp / "srv", stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    a = fake_record(
        paths, "a", network="slirp4netns:allow_host_loopback=true", publish=[f"{p1}:80"]
    )
    b = fake_record(
        paths, "b", network="slirp4netns:port_handler=slirp4netns", publish=[f"127.0.0.1:{p2}:80"]
    )
    c = fake_record(paths, "c", network="slirp4netns")
    out: dict[str, Any] = {}
    procs = []
    try:
        sa = network_hook.setup(paths, a)
        sb = network_hook.setup(paths, b)
        sc = network_hook.setup(paths, c)
        www = _www(tmp)
        for s in (sa, sb):
            procs.append(
                start_in(str(s.netns_path), ["busybox", "httpd", "-f", "-p", "80", "-h", str(www)])
            )
        for _ in range(50):
            got = run_in(
                str(sa.netns_path),
                ["timeout", "10", "busybox", "wget", "-qO-", f"http://10.0.2.2:{hport}/f.txt"],
            )
            if got.returncode == 0:
                break
            time.sleep(0.1)
        out["fetched"] = got.stdout
        out["blocked"] = run_in(
            str(sc.netns_path),
            ["timeout", "5", "busybox", "wget", "-qO-", f"http://10.0.2.2:{hport}/f.txt"],
        ).returncode
        out["ours"] = _wait_http(f"http://127.0.0.1:{p1}/index.html")
        out["slirp_driver"] = _wait_http(f"http://127.0.0.1:{p2}/index.html")
        out["resolv"] = Path(sa.etc_files["/etc/resolv.conf"]).read_text()
        out["addr"] = run_in(str(sa.netns_path), ["ip", "-o", "-4", "addr"]).stdout
        st = network_hook.load_state(paths, b.id)
        api = st.api_socket if st else ""
    finally:
        stop(server, *procs)
        for r in (a, b, c):
            network_hook.teardown(paths, r)
    out["netns_left"] = sorted(os.listdir(paths.runtime / "netns"))
    out["api_socket_left"] = bool(api) and os.path.exists(api)
    out["api_socket_used"] = bool(api)
    return out


def test_slirp4netns_mode_outbound_and_both_port_drivers(tmp_path: Path) -> None:
    out = in_userns(_slirp_mode, tmp_path)
    assert out["fetched"] == "via 10.0.2.2\n"
    assert out["blocked"] != 0, "host loopback is off by default"
    assert out["ours"] == "hello from the container\n"
    assert out["slirp_driver"] == "hello from the container\n"
    assert "nameserver 10.0.2.3" in out["resolv"]
    assert "10.0.2.100/24" in out["addr"]
    assert out["api_socket_used"] and not out["api_socket_left"]
    assert out["netns_left"] == []


_SETUP_AND_EXIT = """
import json, sys
from types import SimpleNamespace
from rootless.engine import network_hook
from rootless.paths import Paths
paths = Paths(*map(__import__("pathlib").Path, sys.argv[1:4]))
spec = SimpleNamespace(network="slirp4netns", publish=[], hostname=None)
rec = SimpleNamespace(id="b" * 64, name="build-step", spec=spec, image_config={})
network_hook.setup(paths, rec)
print(network_hook.load_state(paths, rec.id).sidecar_pid)
"""


def _caller_lifetime(tmp: Path) -> dict[str, Any]:
    """A setup without a container directory (a build step) lives as long as its caller."""
    from netstack import process
    from rootless.engine import network_hook

    paths = engine_paths(tmp)
    argv = [sys.executable, "-c", _SETUP_AND_EXIT, str(paths.data), str(paths.config)]
    p = subprocess.run([*argv, str(paths.runtime)], capture_output=True, text=True)
    out: dict[str, Any] = {"rc": p.returncode, "err": p.stderr[-500:]}
    sidecar = int(p.stdout.strip() or 0)
    for _ in range(100):
        if not process.alive(sidecar):
            break
        time.sleep(0.05)
    out["sidecar_alive"] = process.alive(sidecar)
    network_hook.teardown(paths, "b" * 64)
    return out


def test_helper_without_monitor_follows_its_caller(tmp_path: Path) -> None:
    out = in_userns(_caller_lifetime, tmp_path)
    assert out["rc"] == 0, out["err"]
    assert not out["sidecar_alive"]


def _listen_overflows() -> int:
    with open("/proc/net/netstat") as f:
        head, values = [line.split() for line in f.readlines()[:2]]
    return int(values[head.index("ListenOverflows")])


def _full_accept_queue() -> dict[str, Any]:
    """A server behind a backlog of 0 (one queued connection) that accepts nothing for
    0.15 s: the kernel drops the forwarder's further SYNs, and would resend them only
    after 1 s. Five clients at once must all be served well before that."""
    from netstack.forwarder import Forwarder, SocketFactory, Target
    from netstack.ports import PortMapping, open_listeners

    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(0)
    listeners = open_listeners([PortMapping(srv.getsockname()[1], 0, "127.0.0.1")])
    factory = SocketFactory("/proc/self/ns/net")  # forks: before any thread starts
    fwd = Forwarder(listeners, factory, Target("127.0.0.1"))
    stop_r, stop_w = os.pipe()
    fwd.watch(stop_r)
    serving = threading.Thread(target=fwd.serve)
    serving.start()

    def serve_late() -> None:
        time.sleep(0.15)
        srv.settimeout(5)
        for _ in range(5):
            c, _ = srv.accept()
            c.recv(1)
            c.sendall(b"ok")
            c.close()

    took: list[float] = []
    replies: list[bytes] = []

    def client() -> None:
        t = time.monotonic()
        with socket.create_connection(("127.0.0.1", listeners[0].mapping.host_port), 5) as c:
            c.sendall(b"x")
            replies.append(c.recv(2))
        took.append(time.monotonic() - t)

    before = _listen_overflows()
    threads = [threading.Thread(target=serve_late)] + [
        threading.Thread(target=client) for _ in range(5)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    os.write(stop_w, b"x")
    serving.join(5)
    fwd.close()
    factory.close()
    return {"replies": replies, "took": took, "dropped": _listen_overflows() - before}


def test_dropped_syn_is_retried_within_milliseconds() -> None:
    out = in_userns(_full_accept_queue, new_netns=True)
    assert out["replies"] == [b"ok"] * 5
    assert out["dropped"] > 0, "the scenario must make the server's kernel drop SYNs"
    assert max(out["took"]) < 0.8, out["took"]
