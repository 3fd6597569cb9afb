"""Docker's resource flags as click options, shared by `run`, `create` and `update`."""

from __future__ import annotations

from rootless.errors import UsageError

# click and the limits module are imported where used: the `run` fast path reads the
# option table only (cli/runflags.py), without paying for either.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

    from rootless.cgroups.limits import Limits

_OPTIONS: list[tuple[tuple[str, ...], dict[str, Any]]] = [
    (("-m", "--memory"), {"help": "Memory limit (e.g. 50m): memory.max."}),
    (("--memory-swap",), {"help": "Memory plus swap limit; -1 unlimited: memory.swap.max."}),
    (("--memory-reservation",), {"help": "Memory soft limit: memory.low."}),
    (("--cpus",), {"help": "Number of CPUs (e.g. 0.5): cpu.max."}),
    (("-c", "--cpu-shares"), {"type": int, "help": "Relative CPU weight: cpu.weight."}),
    (("--cpu-quota",), {"type": int, "help": "CPU time (us) per period: cpu.max."}),
    (("--cpu-period",), {"type": int, "help": "CPU period (us): cpu.max."}),
    (("--cpuset-cpus",), {"help": "CPUs allowed (0-3, 0,1): cpuset.cpus."}),
    (("--cpuset-mems",), {"help": "Memory nodes allowed: cpuset.mems."}),
    (("--pids-limit",), {"type": int, "help": "Process limit; -1 unlimited: pids.max."}),
    (("--blkio-weight",), {"type": int, "help": "Block IO weight 10-1000: io.weight."}),
    (("--device-read-bps",), {"multiple": True, "help": "DEV:RATE read limit: io.max rbps."}),
    (("--device-write-bps",), {"multiple": True, "help": "DEV:RATE write limit: io.max wbps."}),
    (("--device-read-iops",), {"multiple": True, "help": "DEV:N read IO/s: io.max riops."}),
    (("--device-write-iops",), {"multiple": True, "help": "DEV:N write IO/s: io.max wiops."}),
]


def limit_options(f: Callable[..., Any]) -> Callable[..., Any]:
    import click

    for decls, kw in reversed(_OPTIONS):
        f = click.option(*decls, **kw)(f)
    return f


def _cpus(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise UsageError(f"invalid --cpus {text!r}: expected a number such as 0.5") from None


def limits_from_flags(kw: dict[str, Any]) -> Limits:
    """The parsed, validated Limits of the flags in a click kwargs dict."""
    from rootless.cgroups.limits import DeviceRate, Limits, parse_size

    swap = kw.get("memory_swap")
    lim = Limits(
        memory=parse_size(kw["memory"], "--memory") if kw.get("memory") else None,
        memory_swap=(-1 if swap == "-1" else parse_size(swap, "--memory-swap")) if swap else None,
        memory_reservation=parse_size(kw["memory_reservation"], "--memory-reservation")
        if kw.get("memory_reservation")
        else None,
        cpus=_cpus(kw["cpus"]) if kw.get("cpus") else None,
        cpu_shares=kw.get("cpu_shares"),
        cpu_quota=kw.get("cpu_quota"),
        cpu_period=kw.get("cpu_period"),
        cpuset_cpus=kw.get("cpuset_cpus"),
        cpuset_mems=kw.get("cpuset_mems"),
        pids_limit=kw.get("pids_limit") or None,
        blkio_weight=kw.get("blkio_weight"),
        device_read_bps=[DeviceRate.parse(x) for x in kw.get("device_read_bps") or ()],
        device_write_bps=[DeviceRate.parse(x) for x in kw.get("device_write_bps") or ()],
        device_read_iops=[DeviceRate.parse(x, iops=True) for x in kw.get("device_read_iops") or ()],
        device_write_iops=[
            DeviceRate.parse(x, iops=True) for x in kw.get("device_write_iops") or ()
        ],
    )
    lim.validate()
    for rates in (lim.device_read_bps, lim.device_write_bps):
        for r in rates:
            r.major_minor()  # the device must exist now, not at start
    for rates in (lim.device_read_iops, lim.device_write_iops):
        for r in rates:
            r.major_minor()
    return lim
