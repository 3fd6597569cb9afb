"""Network records and IPAM on disk (no namespaces involved)."""

from __future__ import annotations

import ipaddress
from pathlib import Path

import pytest

from rootless.engine.networks import Networks
from rootless.errors import Conflict, NotFound, UsageError
from rootless.paths import Paths


@pytest.fixture
def nets(tmp_path: Path) -> Networks:
    return Networks(Paths(tmp_path / "data", tmp_path / "config", tmp_path / "run"))


def test_builtins_and_default_bridge(nets: Networks) -> None:
    names = [n.name for n in nets.ls()]
    assert names == ["bridge", "host", "none"]
    b = nets.get("bridge").inspect()
    assert b["Driver"] == "bridge" and b["IPAM"]["Config"][0]["Subnet"] == "10.88.0.0/16"
    assert nets.get("bridge").id == nets.get("bridge").id  # persisted, stable
    with pytest.raises(Conflict):
        nets.remove("bridge")
    with pytest.raises(Conflict):
        nets.remove("host")


def test_create_auto_subnets_and_validation(nets: Networks) -> None:
    a = nets.create("a", labels={"k": "v"})
    b = nets.create("b")
    assert (a.subnet, a.gateway) == ("10.89.0.0/24", "10.89.0.1")
    assert b.subnet == "10.89.1.0/24"
    c = nets.create("c", subnet="10.90.0.0/24", gateway="10.90.0.254", internal=True)
    assert c.inspect()["Internal"] is True and c.gateway == "10.90.0.254"
    assert a.inspect()["Labels"] == {"k": "v"}
    with pytest.raises(Conflict, match="already exists"):
        nets.create("a")
    with pytest.raises(Conflict, match="overlaps"):
        nets.create("d", subnet="10.89.0.128/25")
    with pytest.raises(Conflict, match="overlaps"):
        nets.create("d", subnet="10.0.2.0/24")  # slirp4netns' own subnet
    with pytest.raises(UsageError):
        nets.create("d", subnet="nonsense")
    with pytest.raises(UsageError):
        nets.create("d", subnet="10.91.0.0/24", gateway="10.92.0.1")
    with pytest.raises(UsageError):
        nets.create("bad name")
    with pytest.raises(Conflict):
        nets.create("none")
    assert nets.get(a.id[:12]).name == "a"
    with pytest.raises(NotFound):
        nets.get("nosuch")


def test_ipam_unique_persistent_and_released(nets: Networks, tmp_path: Path) -> None:
    nets.create("small", subnet="10.95.0.0/29")  # 6 hosts, one is the gateway
    ips = [nets.allocate("small", f"c{i}", f"n{i}")[1].ip for i in range(5)]
    assert len(set(ips)) == 5 and "10.95.0.1" not in ips
    assert all(ipaddress.ip_address(ip) in ipaddress.ip_network("10.95.0.0/29") for ip in ips)
    with pytest.raises(Conflict, match="no free addresses"):
        nets.allocate("small", "c9", "n9")
    # A fresh service (a new process) sees the same allocations.
    again = Networks(Paths(tmp_path / "data", tmp_path / "config", tmp_path / "run"))
    assert sorted(ep.ip for ep in again.get("small").containers.values()) == sorted(ips)
    again.release("small", "c2")
    _, ep = again.allocate("small", "c9", "n9")
    assert ep.ip == ips[2] and ep.mac == "02:42:0a:5f:00:" + f"{int(ips[2].split('.')[-1]):02x}"
    with pytest.raises(Conflict, match="already connected"):
        again.allocate("small", "c9", "n9")
    with pytest.raises(Conflict, match="in use"):
        again.allocate("small", "c10", "n10", ip=ips[0])
    with pytest.raises(UsageError, match="not in"):
        again.allocate("small", "c10", "n10", ip="10.1.1.1")


def test_requested_ip_and_inspect_shape(nets: Networks) -> None:
    nets.create("m", subnet="10.96.0.0/24")
    nets.allocate("m", "abc", "web", ip="10.96.0.50", aliases=["www"])
    info = nets.get("m").inspect()
    assert info["Containers"]["abc"]["IPv4Address"] == "10.96.0.50/24"
    assert info["Containers"]["abc"]["Name"] == "web"
    assert set(info) >= {"Name", "Id", "Driver", "IPAM", "Internal", "Containers", "Labels"}


def test_rm_refuses_in_use_and_prune(nets: Networks) -> None:
    nets.create("busy")
    nets.create("idle")
    nets.allocate("busy", "cid", "c1")
    with pytest.raises(Conflict, match="active endpoints"):
        nets.remove("busy")
    assert nets.prune() == ["idle"]
    nets.release("busy", "cid")
    assert nets.remove("busy").name == "busy"
    assert [n.name for n in nets.ls()] == ["bridge", "host", "none"]


def test_add_aliases(nets: Networks) -> None:
    nets.create("p1")
    nets.allocate("p1", "cid", "web-1", aliases=["a"])
    changed = nets.add_aliases("cid", ["web", "a"])
    assert [n.name for n in changed] == ["p1"]
    assert nets.get("p1").containers["cid"].aliases == ["a", "web"]
    assert nets.add_aliases("other", ["x"]) == []
