"""Bridge networks through the network hook, in a user namespace the test creates:
veths, IPAM, ping, isolation from the host, outbound via slirp4netns, embedded DNS,
connect/disconnect, and nothing left running afterwards."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from tests.integration.test_net_support import (
    engine_paths,
    fake_record,
    free_port,
    in_userns,
    run_in,
)


def _ping(
    netns: str, target: str, etc: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return run_in(netns, ["busybox", "ping", "-c", "1", "-W", "3", target], etc=etc)


def _default_bridge(tmp: Path) -> dict[str, Any]:
    from netstack import nsutil, process
    from rootless.engine import network_hook
    from rootless.engine.networks import Networks

    paths = engine_paths(tmp)
    os.environ[network_hook.HOST_LOOPBACK_ENV] = "1"  # 10.0.2.2 reaches our test server
    (tmp / "www").mkdir()
    (tmp / "www" / "file.txt").write_text("from the host\n")
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1"],
        cwd=tmp / "www",
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    out: dict[str, Any] = {}
    r1, r2 = fake_record(paths, "c1"), fake_record(paths, "c2")
    try:
        t = time.monotonic()
        s1 = network_hook.setup(paths, r1)
        out["first_setup_s"] = time.monotonic() - t
        t = time.monotonic()
        s2 = network_hook.setup(paths, r2)
        out["second_setup_s"] = time.monotonic() - t
        out["pyroute2"] = "pyroute2" in sys.modules  # its import would cost 110-360 ms
        info = Networks(paths).get("bridge").inspect()
        ips = {c["Name"]: c["IPv4Address"].split("/")[0] for c in info["Containers"].values()}
        out["ips"] = ips
        out["ping_c2"] = _ping(s1.netns_path, ips["c2"]).returncode
        out["ping_c1"] = _ping(s2.netns_path, ips["c1"]).returncode
        out["ping_gw"] = _ping(s1.netns_path, "10.88.0.1").returncode
        out["ping_by_name_fails"] = _ping(
            s1.netns_path, "c2", s1.etc_files
        ).returncode  # no DNS here
        out["host_addrs"] = subprocess.run(
            ["ip", "-o", "addr"], capture_output=True, text=True
        ).stdout
        # Outbound through the network's slirp4netns (host loopback allowed for the test).
        for _ in range(50):  # the server may still be starting
            got = run_in(
                s1.netns_path,
                ["timeout", "10", "busybox", "wget", "-qO-", f"http://10.0.2.2:{port}/file.txt"],
            )
            if got.returncode == 0:
                break
            time.sleep(0.1)
        out["fetched"] = got.stdout
        out["resolv"] = Path(s1.etc_files["/etc/resolv.conf"]).read_text()
        out["hosts"] = Path(s1.etc_files["/etc/hosts"]).read_text()
        net = Networks(paths).get("bridge")
        netd = network_hook._net_dir(paths, net) / "netd.json"
        import json

        out["netd_pid"] = json.loads(netd.read_text())["pid"]
        out["bridge_ns"] = network_hook.bridge_netns(paths, net)
        # Restarting setup for the same container reuses nothing stale.
        network_hook.teardown(paths, r1)
        out["after_c1_left"] = Networks(paths).get("bridge").inspect()["Containers"]
        out["netd_alive_with_c2"] = process.alive(out["netd_pid"])
        network_hook.teardown(paths, r2)
        network_hook.teardown(paths, r2)  # idempotent
        time.sleep(0.2)
        out["netd_alive_after"] = process.alive(out["netd_pid"])
        out["bridge_ns_after"] = nsutil.is_netns(out["bridge_ns"])
        out["netns_left"] = sorted(os.listdir(paths.runtime / "netns"))
    finally:
        for r in (r1, r2):
            network_hook.teardown(paths, r)
        server.kill()
        server.wait()
    return out


def test_default_bridge_ping_isolation_outbound_cleanup(tmp_path: Path) -> None:
    out = in_userns(_default_bridge, tmp_path)
    ips = out["ips"]
    assert set(ips) == {"c1", "c2"} and len(set(ips.values())) == 2
    assert all(ip.startswith("10.88.") for ip in ips.values())
    assert out["ping_c2"] == 0 and out["ping_c1"] == 0 and out["ping_gw"] == 0
    assert not out["pyroute2"]
    assert out["ping_by_name_fails"] != 0, "the default bridge resolves no names"
    assert "10.88." not in out["host_addrs"], "the host must have no leg in the bridge"
    assert out["fetched"] == "from the host\n"
    assert "nameserver 10.0.2.3" in out["resolv"]
    assert ips["c1"] in out["hosts"]
    assert [c["Name"] for c in out["after_c1_left"].values()] == ["c2"]
    assert out["netd_alive_with_c2"]
    assert not out["netd_alive_after"], "the network daemon must stop with its last container"
    assert not out["bridge_ns_after"]
    assert out["netns_left"] == []
    print(f"setup: first {out['first_setup_s']:.3f}s, second {out['second_setup_s']:.3f}s")


def _user_network_dns(tmp: Path) -> dict[str, Any]:
    from rootless.engine import network_hook
    from rootless.engine.networks import Networks

    paths = engine_paths(tmp)
    Networks(paths).create("mybridge")
    u3 = fake_record(paths, "u3", network="mybridge", network_alias=["db"])
    peer = fake_record(paths, "peer", network="mybridge", add_host=["special:192.0.2.7"])
    out: dict[str, Any] = {}
    try:
        network_hook.setup(paths, u3)
        sp = network_hook.setup(paths, peer)
        ns, etc = str(sp.netns_path), sp.etc_files
        out["ping_name"] = _ping(ns, "u3", etc)
        out["lookup_alias"] = run_in(ns, ["busybox", "nslookup", "db"], etc=etc).stdout
        out["hosts"] = Path(sp.etc_files["/etc/hosts"]).read_text()
        out["resolv"] = Path(sp.etc_files["/etc/resolv.conf"]).read_text()
        out["u3_ip"] = Networks(paths).get("mybridge").containers[u3.id].ip
        # disconnect u3 from mybridge: its name stops resolving and it is unreachable
        network_hook.disconnect(paths, "mybridge", u3.id)
        out["after_disconnect"] = _ping(ns, out["u3_ip"]).returncode
        network_hook.connect(paths, "none", u3.id)
        out["u3_state"] = network_hook.load_state(paths, u3.id)
        out["connect_busy_none"] = _err(lambda: network_hook.connect(paths, "none", peer.id))
        # reconnect u3 elsewhere is refused while in none mode? Docker allows after disconnect
        # of none; here: connect to bridge while in none mode with no networks is allowed.
        network_hook.disconnect(paths, "none", u3.id)
        network_hook.connect(paths, "mybridge", u3.id, aliases=["db2"])
        out["ping_again"] = _ping(ns, "db2", etc)
    finally:
        for r in (u3, peer):
            network_hook.teardown(paths, r)
    out["left"] = Networks(paths).get("mybridge").containers
    return out


def _err(fn: Any) -> str:
    try:
        fn()
    except Exception as e:
        return f"{type(e).__name__}: {e}"
    return ""


def test_user_network_names_connect_disconnect(tmp_path: Path) -> None:
    out = in_userns(_user_network_dns, tmp_path)
    assert out["ping_name"].returncode == 0, out["ping_name"].stdout + out["ping_name"].stderr
    assert out["u3_ip"] in out["ping_name"].stdout
    assert out["u3_ip"] in out["lookup_alias"]
    assert "192.0.2.7\tspecial" in out["hosts"]
    assert "nameserver 10.89.0.1" in out["resolv"]
    assert out["after_disconnect"] != 0
    assert out["u3_state"].networks == [] and out["u3_state"].mode == "none"
    assert out["connect_busy_none"].startswith("Conflict")
    assert out["ping_again"].returncode == 0, out["ping_again"]
    assert out["left"] == {}


def _none_and_joined(tmp: Path) -> dict[str, Any]:
    import sys as _sys

    from rootless.engine import network_hook

    paths = engine_paths(tmp)
    lone = fake_record(paths, "lone", network="none", publish=["8080:80"])
    web = fake_record(paths, "web")
    out: dict[str, Any] = {}
    try:
        s = network_hook.setup(paths, lone)
        out["pyroute2_loaded_for_none"] = "pyroute2" in _sys.modules
        out["none_links"] = run_in(str(s.netns_path), ["ip", "-o", "link"]).stdout
        out["none_ping_lo"] = _ping(str(s.netns_path), "127.0.0.1").returncode
        sw = network_hook.setup(paths, web)
        side = fake_record(paths, "side", network="container:web")
        sj = network_hook.setup(paths, side)
        out["same_netns"] = sj.netns_path == sw.netns_path
        out["same_hosts"] = sj.etc_files["/etc/hosts"] == sw.etc_files["/etc/hosts"]
        out["publish_refused"] = _err(
            lambda: network_hook.setup(
                paths, fake_record(paths, "x", network="container:web", publish=["1:1"])
            )
        )
        network_hook.teardown(paths, side)
        out["web_netns_kept"] = os.path.exists(str(sw.netns_path))
    finally:
        for r in (lone, web):
            network_hook.teardown(paths, r)
    return out


def test_none_and_container_modes(tmp_path: Path) -> None:
    out = in_userns(_none_and_joined, tmp_path)
    assert not out["pyroute2_loaded_for_none"], "--network none must not import pyroute2"
    assert out["none_links"].count(": ") == 2 and "LOOPBACK,UP" in out["none_links"]
    assert out["none_ping_lo"] == 0
    assert out["same_netns"] and out["same_hosts"]
    assert out["publish_refused"].startswith("UsageError")
    assert out["web_netns_kept"], "leaving a joined namespace must not remove it"


def _helpers_die_with_owner(tmp: Path) -> dict[str, Any]:
    """SIGKILL the owners: slirp4netns must follow (its --exit-fd closes)."""
    import json
    import signal

    from netstack import process
    from rootless.engine import network_hook
    from rootless.engine.networks import Networks

    paths = engine_paths(tmp)
    a = fake_record(paths, "a")
    b = fake_record(paths, "b", network="slirp4netns")
    out: dict[str, Any] = {}
    try:
        network_hook.setup(paths, a)
        network_hook.setup(paths, b)
        net = Networks(paths).get("bridge")
        netd = json.loads((network_hook._net_dir(paths, net) / "netd.json").read_text())["pid"]
        st = network_hook.load_state(paths, b.id)
        assert st is not None
        owners = {"netd": netd, "sidecar": st.sidecar_pid}
        for name, pid in owners.items():
            kids = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
            slirps = [
                int(k) for k in kids if "slirp4netns" in Path(f"/proc/{k}/cmdline").read_text()
            ]
            os.kill(pid, signal.SIGKILL)
            for _ in range(100):
                if not any(process.alive(p) for p in slirps):
                    break
                time.sleep(0.05)
            out[name] = (len(slirps), any(process.alive(p) for p in slirps))
    finally:
        for r in (a, b):
            network_hook.teardown(paths, r)
    return out


def test_slirp4netns_never_outlives_its_owner(tmp_path: Path) -> None:
    out = in_userns(_helpers_die_with_owner, tmp_path)
    assert out["netd"] == (1, False)
    assert out["sidecar"] == (1, False)


def _multi_and_internal(tmp: Path) -> dict[str, Any]:
    from rootless.engine import network_hook
    from rootless.engine.networks import Networks

    paths = engine_paths(tmp)
    os.environ[network_hook.HOST_LOOPBACK_ENV] = "1"
    nets = Networks(paths)
    nets.create("front")
    nets.create("back", internal=True)
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1"],
        cwd=tmp, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    both = fake_record(paths, "both", network="front,back")
    f = fake_record(paths, "f", network="front")
    b = fake_record(paths, "b", network="back")
    out: dict[str, Any] = {}
    try:
        sboth = network_hook.setup(paths, both)
        sf = network_hook.setup(paths, f)
        sb = network_hook.setup(paths, b)
        ns_both, ns_b = str(sboth.netns_path), str(sb.netns_path)
        out["links"] = run_in(ns_both, ["ip", "-o", "-4", "addr"]).stdout
        out["route"] = run_in(ns_both, ["ip", "route"]).stdout
        out["both_to_f"] = _ping(ns_both, "f", sboth.etc_files).returncode
        out["both_to_b"] = _ping(ns_both, "b", sboth.etc_files).returncode
        out["b_to_both"] = _ping(ns_b, "both", sb.etc_files).returncode
        out["f_to_b"] = _ping(str(sf.netns_path), nets.get("back").containers[b.id].ip).returncode
        out["internal_out"] = run_in(
            ns_b, ["timeout", "5", "busybox", "wget", "-qO-", f"http://10.0.2.2:{port}/"]
        ).returncode
        out["internal_resolv"] = Path(sb.etc_files["/etc/resolv.conf"]).read_text()
    finally:
        server.kill()
        server.wait()
        for r in (both, f, b):
            network_hook.teardown(paths, r)
    return out


def test_two_networks_and_an_internal_one(tmp_path: Path) -> None:
    out = in_userns(_multi_and_internal, tmp_path)
    assert "eth0" in out["links"] and "eth1" in out["links"]
    assert out["route"].startswith("default via 10.89.0.1"), out["route"]
    assert out["both_to_f"] == 0 and out["both_to_b"] == 0 and out["b_to_both"] == 0
    assert out["f_to_b"] != 0, "separate networks are isolated"
    assert out["internal_out"] != 0, "an internal network has no way out"
    assert "nameserver 10.89.1.1" in out["internal_resolv"]
