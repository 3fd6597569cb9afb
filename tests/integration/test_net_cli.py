"""`rootless network` through the real CLI: records, Docker's JSON shape, exit codes."""

from __future__ import annotations

from tests.conftest import Env


def test_create_ls_inspect_rm_prune(rl: Env) -> None:
    nid = rl.run(
        "network", "create", "--subnet", "10.90.0.0/24", "--gateway", "10.90.0.254",
        "--label", "team=net", "--internal", "n1", check=True,
    ).out.strip()  # fmt: skip
    assert len(nid) == 64
    rl.run("network", "create", "n2", check=True)
    names = rl.run("network", "ls", "-q", check=True).out.split()
    assert names == ["bridge", "n1", "n2", "host", "none"]
    table = rl.run("network", "ls", check=True).out
    assert table.splitlines()[0].split()[:3] == ["NETWORK", "ID", "NAME"]
    assert nid[:12] in table
    [info] = rl.run("network", "inspect", "n1", check=True).json()  # type: ignore[misc]
    assert info["Id"] == nid and info["Internal"] is True
    assert info["IPAM"]["Config"] == [{"Subnet": "10.90.0.0/24", "Gateway": "10.90.0.254"}]
    assert info["Labels"] == {"team": "net"} and info["Containers"] == {}
    [by_id] = rl.run("network", "inspect", nid[:10], check=True).json()  # type: ignore[misc]
    assert by_id["Name"] == "n1"
    [bridge] = rl.run("network", "inspect", "bridge", check=True).json()  # type: ignore[misc]
    assert bridge["IPAM"]["Config"][0]["Subnet"] == "10.88.0.0/16"

    dup = rl.run("network", "create", "n1")
    assert dup.rc == 125 and "already exists" in dup.err
    overlap = rl.run("network", "create", "--subnet", "10.90.0.0/16", "n3")
    assert overlap.rc == 125 and "overlaps" in overlap.err
    bad = rl.run("network", "create", "--subnet", "banana", "n3")
    assert bad.rc == 125 and bad.err.count("\n") == 1
    missing = rl.run("network", "inspect", "nosuch")
    assert missing.rc == 125 and "not found" in missing.err
    assert rl.run("network", "rm", "bridge").rc == 125

    assert rl.run("network", "rm", "n1", check=True).out.strip() == "n1"
    assert rl.run("network", "prune", "-f", check=True).out.split() == ["n2"]
    assert rl.run("network", "ls", "-q", check=True).out.split() == ["bridge", "host", "none"]


def test_connect_unknown_container_is_one_line(rl: Env) -> None:
    r = rl.run("network", "connect", "bridge", "nosuchcontainer")
    assert r.rc == 125 and "no such container" in r.err
