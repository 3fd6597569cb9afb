"""slirp4netns' command line and the gid range given to ping."""

from __future__ import annotations

import pytest

from netstack import nsutil, slirp


def test_default_flags_are_the_safe_ones() -> None:
    a = slirp.argv("/run/x/netns/c1", "/run/x/api.sock", slirp.SlirpOptions(), 5, 6)
    assert a[0].endswith("slirp4netns")
    for flag in (
        "--configure",
        "--mtu=65520",
        "--disable-host-loopback",
        "--enable-sandbox",
        "--enable-seccomp",
        "--exit-fd=5",
        "--ready-fd=6",
        "--netns-type=path",
        "--api-socket=/run/x/api.sock",
    ):
        assert flag in a
    assert a[-2:] == ["/run/x/netns/c1", "tap0"]


def test_host_loopback_and_ipv6_are_opt_in() -> None:
    opts = slirp.SlirpOptions(host_loopback=True, ipv6=True, seccomp=False)
    a = slirp.argv("/ns", None, opts, 3, 4)
    assert "--disable-host-loopback" not in a and "--enable-ipv6" in a
    assert "--enable-seccomp" not in a and not any(x.startswith("--api-socket") for x in a)


@pytest.mark.parametrize(
    "gid_map, want",
    [
        ("0 1001 1\n", (0, 0)),  # unshare -Ur: only root mapped
        ("0 1001 1\n1 100000 65536\n", (0, 65535)),  # the engine's full map
        ("0 0 4294967295\n", (0, 65535)),  # the host: capped
        ("1 100000 10\n", (0, 0)),
    ],
)
def test_mapped_gid_range(gid_map: str, want: tuple[int, int]) -> None:
    assert nsutil.mapped_gid_range(gid_map) == want
    lo, hi = nsutil.mapped_gid_range()
    assert lo == 0 and 0 <= hi <= 65535
