"""Docker's resource flags, and how they map onto cgroup v2 files (as runc maps them)."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from rootless.errors import UsageError

_UNITS = {"": 1, "b": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40, "p": 1 << 50}
_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmgtpb]?)(?:i?b)?\s*$", re.IGNORECASE)

CPU_PERIOD_DEFAULT = 100_000


def parse_size(text: str, what: str = "size") -> int:
    """Docker's RAMInBytes: '50m', '1g', '512k', '100MiB', plain bytes."""
    m = _SIZE.match(text)
    if not m:
        raise UsageError(
            f"invalid {what} {text!r}: use a number with an optional unit b, k, m, g (e.g. 50m)"
        )
    return int(float(m.group(1)) * _UNITS[m.group(2).lower()])


@dataclass(frozen=True)
class DeviceRate:
    """A per-device I/O limit (--device-read-bps and friends)."""

    path: str
    rate: int  # bytes/s or io/s

    @staticmethod
    def parse(text: str, *, iops: bool = False) -> DeviceRate:
        path, sep, rate = text.rpartition(":")
        if not sep or not path.startswith("/"):
            raise UsageError(f"invalid device rate {text!r}: expected /dev/DEVICE:RATE")
        if iops:
            if not rate.isdigit():
                raise UsageError(f"invalid io rate {rate!r} in {text!r}: expected an integer")
            return DeviceRate(path, int(rate))
        return DeviceRate(path, parse_size(rate, "rate"))

    def major_minor(self) -> str:
        try:
            st = os.stat(self.path)
        except OSError as e:
            raise UsageError(f"device {self.path}: {e.strerror}") from None
        dev = st.st_rdev
        if not dev:
            raise UsageError(f"{self.path} is not a device node")
        return f"{os.major(dev)}:{os.minor(dev)}"


@dataclass
class Limits:
    """The resource limits of a container, in Docker's units; None means unset."""

    memory: int | None = None
    memory_swap: int | None = None  # memory + swap, -1 unlimited (Docker semantics)
    memory_reservation: int | None = None
    cpus: float | None = None
    cpu_shares: int | None = None
    cpu_quota: int | None = None
    cpu_period: int | None = None
    cpuset_cpus: str | None = None
    cpuset_mems: str | None = None
    pids_limit: int | None = None
    blkio_weight: int | None = None
    device_read_bps: list[DeviceRate] = field(default_factory=list)
    device_write_bps: list[DeviceRate] = field(default_factory=list)
    device_read_iops: list[DeviceRate] = field(default_factory=list)
    device_write_iops: list[DeviceRate] = field(default_factory=list)

    def any(self) -> bool:
        return any(v not in (None, [], 0) for v in self.__dict__.values())

    def controllers(self) -> set[str]:
        """The cgroup v2 controllers these limits need."""
        need: set[str] = set()
        if self.memory or self.memory_swap or self.memory_reservation:
            need.add("memory")
        if self.cpus or self.cpu_shares or self.cpu_quota or self.cpu_period:
            need.add("cpu")
        if self.cpuset_cpus or self.cpuset_mems:
            need.add("cpuset")
        if self.pids_limit:
            need.add("pids")
        if (
            self.blkio_weight
            or self.device_read_bps
            or self.device_write_bps
            or self.device_read_iops
            or self.device_write_iops
        ):
            need.add("io")
        return need

    def validate(self) -> None:
        if self.cpus is not None and self.cpus <= 0:
            raise UsageError(f"--cpus must be positive, got {self.cpus}")
        if self.cpus and (self.cpu_quota or self.cpu_period):
            raise UsageError("--cpus conflicts with --cpu-quota/--cpu-period: use one")
        if self.memory is not None and 0 < self.memory < 6 * (1 << 20):
            raise UsageError("--memory must be at least 6MB")
        if self.memory_swap not in (None, -1) and self.memory is None:
            raise UsageError("--memory-swap needs --memory")
        if (
            self.memory_swap not in (None, -1)
            and self.memory is not None
            and self.memory_swap < self.memory
        ):
            raise UsageError("--memory-swap must be larger than --memory (it is memory plus swap)")
        if self.blkio_weight is not None and not 10 <= self.blkio_weight <= 1000:
            raise UsageError("--blkio-weight must be between 10 and 1000")
        if self.cpu_shares is not None and self.cpu_shares < 2:
            raise UsageError("--cpu-shares must be at least 2")


def to_files(limits: Limits) -> dict[str, str]:
    """cgroup v2 file -> value, as runc converts Docker's (v1-shaped) settings."""
    files: dict[str, str] = {}
    if limits.memory:
        files["memory.max"] = str(limits.memory)
    if limits.memory_swap is not None:
        if limits.memory_swap == -1:
            files["memory.swap.max"] = "max"
        elif limits.memory:
            files["memory.swap.max"] = str(limits.memory_swap - limits.memory)
    if limits.memory_reservation:
        files["memory.low"] = str(limits.memory_reservation)
    if limits.cpus:
        period = CPU_PERIOD_DEFAULT
        files["cpu.max"] = f"{round(limits.cpus * period)} {period}"
    elif limits.cpu_quota or limits.cpu_period:
        period = limits.cpu_period or CPU_PERIOD_DEFAULT
        quota = str(limits.cpu_quota) if limits.cpu_quota and limits.cpu_quota > 0 else "max"
        files["cpu.max"] = f"{quota} {period}"
    if limits.cpu_shares:
        # runc's conversion of shares [2, 262144] to weight [1, 10000].
        files["cpu.weight"] = str(1 + ((limits.cpu_shares - 2) * 9999) // 262142)
    if limits.cpuset_cpus:
        files["cpuset.cpus"] = limits.cpuset_cpus
    if limits.cpuset_mems:
        files["cpuset.mems"] = limits.cpuset_mems
    if limits.pids_limit:
        files["pids.max"] = "max" if limits.pids_limit < 0 else str(limits.pids_limit)
    if limits.blkio_weight:
        files["io.weight"] = str(1 + (limits.blkio_weight - 10) * 9999 // 990)
    io: dict[str, list[str]] = {}
    for key, rates in (
        ("rbps", limits.device_read_bps),
        ("wbps", limits.device_write_bps),
        ("riops", limits.device_read_iops),
        ("wiops", limits.device_write_iops),
    ):
        for r in rates:
            io.setdefault(r.major_minor(), []).append(f"{key}={r.rate}")
    if io:
        files["io.max"] = "\n".join(f"{dev} {' '.join(v)}" for dev, v in sorted(io.items()))
    return files


def apply(cgroup_dir: Path, limits: Limits) -> dict[str, str]:
    """Write the limit files into an existing cgroup directory; return what was written."""
    files = to_files(limits)
    for name, value in files.items():
        for line in value.split("\n"):  # io.max takes one device per write
            fd = os.open(cgroup_dir / name, os.O_WRONLY)
            try:
                os.write(fd, line.encode())
            finally:
                os.close(fd)
    return files


_RATE_FIELDS = ("device_read_bps", "device_write_bps", "device_read_iops", "device_write_iops")


def to_dict(limits: Limits) -> dict[str, object]:
    """The set fields only (what RunSpec.resources stores and `update` merges)."""
    out: dict[str, object] = {}
    for k, v in limits.__dict__.items():
        if k in _RATE_FIELDS:
            if v:
                out[k] = [{"path": r.path, "rate": r.rate} for r in v]
        elif v is not None:
            out[k] = v
    return out


def from_dict(d: dict[str, object] | None) -> Limits:
    kw: dict[str, object] = {}
    for k, v in (d or {}).items():
        if k not in Limits.__dataclass_fields__:
            continue
        if k in _RATE_FIELDS and isinstance(v, list):
            kw[k] = [DeviceRate(str(r["path"]), int(r["rate"])) for r in v]
        else:
            kw[k] = v
    return Limits(**kw)  # type: ignore[arg-type]


def merge(old: Limits, new: Limits) -> Limits:
    """`update`: the fields set in `new` replace those in `old`."""
    d = to_dict(old)
    d.update(to_dict(new))
    return from_dict(d)


def host_config(limits: Limits) -> dict[str, object]:
    """Docker's inspect HostConfig fields for these limits (0 / "" / [] when unset)."""

    def rates(rs: list[DeviceRate]) -> list[dict[str, object]]:
        return [{"Path": r.path, "Rate": r.rate} for r in rs]

    nano = round(limits.cpus * 1e9) if limits.cpus else 0
    return {
        "Memory": limits.memory or 0,
        "MemorySwap": limits.memory_swap or 0,
        "MemoryReservation": limits.memory_reservation or 0,
        "NanoCpus": nano,
        "CpuShares": limits.cpu_shares or 0,
        "CpuQuota": limits.cpu_quota or 0,
        "CpuPeriod": limits.cpu_period or 0,
        "CpusetCpus": limits.cpuset_cpus or "",
        "CpusetMems": limits.cpuset_mems or "",
        "PidsLimit": limits.pids_limit or 0,
        "BlkioWeight": limits.blkio_weight or 0,
        "BlkioDeviceReadBps": rates(limits.device_read_bps),
        "BlkioDeviceWriteBps": rates(limits.device_write_bps),
        "BlkioDeviceReadIOps": rates(limits.device_read_iops),
        "BlkioDeviceWriteIOps": rates(limits.device_write_iops),
    }
