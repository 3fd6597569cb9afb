"""-p specs, host listeners (bound for real on loopback), --network modes."""

from __future__ import annotations

import socket
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from netstack.ports import (
    PortInUse,
    PortMapping,
    PortSpecError,
    is_loopback,
    open_listeners,
    parse,
)
from rootless.engine.network_hook import parse_mode
from rootless.errors import UsageError


@pytest.mark.parametrize(
    "spec, want",
    [
        ("80", [PortMapping(80, 0, "", "tcp")]),
        ("8080:80", [PortMapping(80, 8080, "", "tcp")]),
        ("127.0.0.1:8080:80/udp", [PortMapping(80, 8080, "127.0.0.1", "udp")]),
        ("[::1]:8080:80", [PortMapping(80, 8080, "::1", "tcp")]),
        ("127.0.0.1::80", [PortMapping(80, 0, "127.0.0.1", "tcp")]),
        (
            "8000-8001:80-81/tcp",
            [PortMapping(80, 8000, "", "tcp"), PortMapping(81, 8001, "", "tcp")],
        ),
    ],
)
def test_parse(spec: str, want: list[PortMapping]) -> None:
    assert parse(spec) == want


@pytest.mark.parametrize(
    "spec",
    [
        "",
        "x:80",
        "8080:80/sctp",
        "1:2:3:4",
        "70000:80",
        "8000-8002:80-81",
        "300.1.1.1:1:2",
        "9-8:1",
    ],
)
def test_parse_rejects(spec: str) -> None:
    with pytest.raises(PortSpecError):
        parse(spec)


def test_listeners_bind_and_busy_port_is_clear() -> None:
    [lst] = open_listeners(parse("127.0.0.1::80"))
    try:
        port = lst.mapping.host_port
        assert port > 0 and lst.sock.getsockname() == ("127.0.0.1", port)
        with pytest.raises(PortInUse, match=f"127.0.0.1:{port}/tcp is already in use"):
            open_listeners(parse(f"127.0.0.1:{port}:80"))
    finally:
        lst.sock.close()


def test_all_addresses_means_ipv4_and_ipv6_same_port() -> None:
    lsts = open_listeners([PortMapping(80, 0, "", "udp")])
    try:
        fams = {lst.sock.family for lst in lsts}
        assert socket.AF_INET in fams
        assert len({lst.mapping.host_port for lst in lsts}) == 1
    finally:
        for lst in lsts:
            lst.sock.close()


def test_all_or_nothing() -> None:
    [held] = open_listeners(parse("127.0.0.1::80"))
    busy = held.mapping.host_port
    try:
        with pytest.raises(PortInUse):
            open_listeners(parse("127.0.0.1::81") + parse(f"127.0.0.1:{busy}:80"))
    finally:
        held.sock.close()


@pytest.mark.parametrize(
    "value, mode, names",
    [
        ("", "bridge", ["bridge"]),
        ("bridge", "bridge", ["bridge"]),
        ("a,b", "bridge", ["a", "b"]),
        ("none", "none", []),
        ("host", "host", []),
        ("container:web", "container", ["web"]),
        ("slirp4netns:allow_host_loopback=true", "slirp4netns", []),
    ],
)
def test_parse_mode(value: str, mode: str, names: list[str]) -> None:
    got = parse_mode(value)
    assert got[0] == mode and got[1] == names


@pytest.mark.parametrize("value", ["slirp4netns:bogus=1", "a,host", "container:"])
def test_parse_mode_rejects(value: str) -> None:
    with pytest.raises(UsageError):
        parse_mode(value)


@pytest.mark.parametrize(
    "spec",
    [
        {"network": "bridge", "port_driver": "slirp4netns"},
        {"network": "bridge", "port_driver": "socat"},
        {"network": "bridge", "publish": ["80:80/sctp"]},
        {"network": "bridge", "add_host": ["nocolon"]},
        {"network": "slirp4netns:mtu=9000"},
    ],
)
def test_setup_rejects_bad_input_before_touching_anything(
    tmp_path: Path, spec: dict[str, Any]
) -> None:
    from rootless.engine import network_hook
    from rootless.paths import Paths

    paths = Paths(tmp_path / "data", tmp_path / "config", tmp_path / "run")
    fields: dict[str, Any] = {"publish": [], "hostname": None, **spec}
    rec = SimpleNamespace(id="0" * 64, name="x", spec=SimpleNamespace(**fields), image_config={})
    with pytest.raises(UsageError):
        network_hook.setup(paths, rec)
    assert not (tmp_path / "run" / "netns").exists()


def test_is_loopback_on_kernel_addresses() -> None:
    # the forms accept() reports: dotted IPv4, IPv4-mapped on a dual-stack socket, ::1
    assert all(map(is_loopback, ["127.0.0.1", "127.0.0.5", "::ffff:127.1.2.3", "::1"]))
    assert not any(map(is_loopback, ["10.0.2.2", "192.0.2.1", "::ffff:10.1.1.1", "fd00::1"]))
