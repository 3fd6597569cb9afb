"""Limit flags -> Limits -> record dict -> inspect's HostConfig; policy config; stats math."""

from __future__ import annotations

from pathlib import Path

import pytest

from rootless.cgroups.flags import limits_from_flags
from rootless.cgroups.limits import DeviceRate, Limits, from_dict, host_config, merge, to_dict
from rootless.cgroups.policy import resolve
from rootless.cgroups.sample import Sample, cpu_percent
from rootless.cli.stats import human, render, row
from rootless.errors import UsageError


def flags(**kw: object) -> dict[str, object]:
    base: dict[str, object] = {k: None for k in ("memory", "memory_swap", "cpus", "pids_limit")}
    base.update(kw)
    return base


def test_flags_parse_to_limits() -> None:
    lim = limits_from_flags(
        flags(memory="50m", memory_swap="-1", cpus="0.3", pids_limit=10, cpu_shares=512)
    )
    assert (lim.memory, lim.memory_swap, lim.cpus, lim.pids_limit) == (50 << 20, -1, 0.3, 10)
    assert lim.cpu_shares == 512


def test_device_flags_need_an_existing_device() -> None:
    lim = limits_from_flags(
        flags(device_read_bps=["/dev/null:1mb"], device_write_iops=["/dev/null:5"])
    )
    assert lim.device_read_bps == [DeviceRate("/dev/null", 1 << 20)]
    with pytest.raises(UsageError, match="no-such"):
        limits_from_flags(flags(device_read_bps=["/dev/no-such:1mb"]))


@pytest.mark.parametrize(
    ("kw", "msg"),
    [
        ({"cpus": "x"}, "invalid --cpus"),
        ({"cpus": "0"}, "positive"),
        ({"memory": "1m"}, "at least 6MB"),
        ({"memory": "10m", "memory_swap": "5m"}, "larger than --memory"),
        ({"cpus": "1", "cpu_quota": 5000}, "conflicts"),
    ],
)
def test_bad_flags(kw: dict[str, object], msg: str) -> None:
    with pytest.raises(UsageError, match=msg):
        limits_from_flags(flags(**kw))


def test_dict_round_trip_and_merge() -> None:
    lim = Limits(memory=64 << 20, cpus=1.5, device_read_bps=[DeviceRate("/dev/null", 100)])
    d = to_dict(lim)
    assert d == {
        "memory": 64 << 20,
        "cpus": 1.5,
        "device_read_bps": [{"path": "/dev/null", "rate": 100}],
    }
    assert from_dict(d) == lim
    assert from_dict({}) == Limits() and not from_dict(None).any()
    m = merge(lim, Limits(memory=128 << 20, pids_limit=20))
    assert (m.memory, m.cpus, m.pids_limit) == (128 << 20, 1.5, 20)
    assert m.device_read_bps == lim.device_read_bps


def test_host_config_shapes_like_docker() -> None:
    hc = host_config(Limits(memory=50 << 20, cpus=0.3, pids_limit=10, cpuset_cpus="0-1"))
    assert hc["Memory"] == 50 << 20 and hc["NanoCpus"] == 300_000_000
    assert hc["PidsLimit"] == 10 and hc["CpusetCpus"] == "0-1" and hc["CpuShares"] == 0
    assert hc["BlkioDeviceReadBps"] == []


def test_policy_resolution(tmp_path: Path) -> None:
    assert resolve(None, tmp_path) == "warn"
    assert resolve("require", tmp_path) == "require"
    (tmp_path / "engine.conf").write_text('cgroup_limits = "require"\n')
    assert resolve(None, tmp_path) == "require"
    assert resolve("warn", tmp_path) == "warn"  # the flag wins
    (tmp_path / "engine.conf").write_text('[engine]\ncgroup_limits = "warn"\n')
    assert resolve(None, tmp_path) == "warn"
    (tmp_path / "engine.conf").write_text("cgroup_limits = [")
    with pytest.raises(UsageError, match="invalid TOML"):
        resolve(None, tmp_path)


def _sample(at: float, cpu: int) -> Sample:
    return Sample("cgroup", at, cpu, 10 << 20, 100 << 20, 3, 1000, 2000, 4096, 0)


def test_cpu_percent_is_share_of_one_cpu() -> None:
    assert cpu_percent(_sample(0.0, 0), _sample(2.0, 600_000)) == pytest.approx(30.0)
    assert cpu_percent(_sample(1.0, 0), _sample(1.0, 5)) == 0.0


def test_stats_row_and_formats() -> None:
    class Rec:
        id = "a" * 64
        name = "web"

    r = row(Rec(), _sample(0.0, 0), _sample(1.0, 500_000))
    assert r["CPUPerc"] == "50.00%" and r["MemPerc"] == "10.00%" and r["PIDs"] == "3"
    assert r["MemUsage"] == "10MiB / 100MiB" and r["NetIO"] == "1kB / 2kB"
    assert render([r], "{{.Name}} {{.CPUPerc}}") == "web 50.00%"
    assert render([r], "table {{.Name}}\t{{.PIDs}}").splitlines() == ["NAME\tPIDS", "web\t3"]
    lines = render([r], None).splitlines()
    assert lines[0].startswith("CONTAINER ID") and lines[1].startswith("aaaaaaaaaaaa")
    assert human(1536, True) == "1.5KiB" and human(999) == "999B"
