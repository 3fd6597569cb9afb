"""The Docker flag -> cgroup v2 file mapping, written into a directory fake of cgroupfs."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from rootless.cgroups.detect import CgroupInfo
from rootless.cgroups.limits import DeviceRate, Limits, apply, parse_size, to_files
from rootless.cgroups.policy import LimitsUnavailable, check
from rootless.errors import UsageError


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("50m", 50 << 20),
        ("1g", 1 << 30),
        ("512k", 512 << 10),
        ("100MiB", 100 << 20),
        ("4096", 4096),
        ("1.5g", int(1.5 * (1 << 30))),
        ("10mb", 10 << 20),
    ],
)
def test_parse_size(text: str, value: int) -> None:
    assert parse_size(text) == value


@pytest.mark.parametrize("bad", ["", "m", "-5m", "10x", "ten"])
def test_parse_size_rejects(bad: str) -> None:
    with pytest.raises(UsageError):
        parse_size(bad)


def _fake_cgroup(tmp_path: Path) -> Path:
    d = tmp_path / "cg"
    d.mkdir()
    for f in (
        "memory.max",
        "memory.swap.max",
        "memory.low",
        "cpu.max",
        "cpu.weight",
        "cpuset.cpus",
        "cpuset.mems",
        "pids.max",
        "io.weight",
        "io.max",
    ):
        (d / f).write_text("")
    return d


def test_every_flag_writes_its_file(tmp_path: Path) -> None:
    dev = os.stat("/dev/null").st_rdev
    mm = f"{os.major(dev)}:{os.minor(dev)}"
    limits = Limits(
        memory=50 << 20,
        memory_swap=100 << 20,
        memory_reservation=20 << 20,
        cpus=0.3,
        cpu_shares=1024,
        cpuset_cpus="0",
        cpuset_mems="0",
        pids_limit=10,
        blkio_weight=500,
        device_read_bps=[DeviceRate("/dev/null", 10 << 20)],
        device_write_iops=[DeviceRate("/dev/null", 100)],
    )
    limits.validate()
    d = _fake_cgroup(tmp_path)
    written = apply(d, limits)
    assert (d / "memory.max").read_text() == str(50 << 20)
    assert (d / "memory.swap.max").read_text() == str(50 << 20)
    assert (d / "memory.low").read_text() == str(20 << 20)
    assert (d / "cpu.max").read_text() == "30000 100000"
    assert (d / "cpu.weight").read_text() == str(1 + (1022 * 9999) // 262142)
    assert (d / "cpuset.cpus").read_text() == "0"
    assert (d / "pids.max").read_text() == "10"
    assert (d / "io.weight").read_text() == str(1 + 490 * 9999 // 990)
    # io.max gets one line per device; the fake keeps the last write.
    assert written["io.max"] == f"{mm} rbps={10 << 20} wiops=100"
    assert (d / "io.max").read_text() == f"{mm} rbps={10 << 20} wiops=100"


def test_cpu_quota_period_and_unlimited_values() -> None:
    assert to_files(Limits(cpu_quota=50000, cpu_period=200000))["cpu.max"] == "50000 200000"
    assert to_files(Limits(cpu_period=50000))["cpu.max"] == "max 50000"
    assert to_files(Limits(pids_limit=-1))["pids.max"] == "max"
    assert to_files(Limits(memory=64 << 20, memory_swap=-1))["memory.swap.max"] == "max"
    assert to_files(Limits()) == {}


@pytest.mark.parametrize(
    "limits",
    [
        Limits(cpus=-1),
        Limits(cpus=1, cpu_quota=1000),
        Limits(memory=1024),
        Limits(memory_swap=100 << 20),
        Limits(memory=100 << 20, memory_swap=50 << 20),
        Limits(blkio_weight=5),
        Limits(cpu_shares=1),
    ],
)
def test_invalid_combinations(limits: Limits) -> None:
    with pytest.raises(UsageError):
        limits.validate()


def test_device_rate_parse() -> None:
    assert DeviceRate.parse("/dev/sda:10mb") == DeviceRate("/dev/sda", 10 << 20)
    assert DeviceRate.parse("/dev/sda:100", iops=True).rate == 100
    with pytest.raises(UsageError):
        DeviceRate.parse("sda:10mb")
    with pytest.raises(UsageError):
        DeviceRate.parse("/dev/sda:fast", iops=True)
    with pytest.raises(UsageError):
        DeviceRate("/etc/passwd", 1).major_minor()


def _hybrid() -> CgroupInfo:
    return CgroupInfo(
        version="hybrid",
        unified_mount="/sys/fs/cgroup/unified",
        own_cgroup="/",
        own_path="/sys/fs/cgroup/unified",
        writable=False,
        controllers=["hugetlb"],
        reason="cgroups are hybrid v1/v2",
        fix="Delegate=yes",
    )


def test_policy_warns_once_and_runs(capsys: pytest.CaptureFixture[str]) -> None:
    assert check(Limits(memory=50 << 20), "warn", _hybrid()) is False
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "memory" in err and "hybrid" in err and "Delegate=yes" in err


def test_policy_require_is_an_error() -> None:
    with pytest.raises(LimitsUnavailable) as e:
        check(Limits(pids_limit=10), "require", _hybrid())
    assert e.value.exit_code == 125
    assert "pids" in str(e.value)


def test_policy_ok_when_delegated() -> None:
    info = CgroupInfo(
        version="v2",
        unified_mount="/sys/fs/cgroup",
        own_cgroup="/job",
        own_path="/sys/fs/cgroup/job",
        writable=True,
        controllers=["cpu", "memory", "pids"],
        delegated=["cpu", "memory", "pids"],
    )
    assert check(Limits(memory=50 << 20, pids_limit=5), "require", info) is True
    with pytest.raises(LimitsUnavailable):
        check(Limits(blkio_weight=100), "require", info)


def test_no_limits_needs_nothing() -> None:
    assert check(Limits(), "require", _hybrid()) is True
