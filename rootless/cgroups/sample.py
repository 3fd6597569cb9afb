"""One measurement of a container's resource use, for `stats`.

From its cgroup when it has one (cpu.stat, memory.current/max, pids.current, io.stat);
otherwise from /proc over the container's processes (no delegation: CPU time and RSS
summed per process, the host's memory as the limit). Network bytes always come from
/proc/INIT/net/dev: the container's network namespace, loopback excluded.
"""

from __future__ import annotations

import contextlib
import os
import time
from dataclasses import dataclass
from pathlib import Path

from rootless.cgroups.manager import CgroupManager


@dataclass
class Sample:
    source: str  # "cgroup" or "proc"
    at: float  # time.monotonic() of the sample
    cpu_usec: int
    mem_usage: int
    mem_limit: int  # the host's memory when unlimited
    pids: int
    net_rx: int
    net_tx: int
    blk_read: int
    blk_write: int


def host_memory() -> int:
    with contextlib.suppress(OSError, ValueError):
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) * 1024
    return 0


def net_bytes(pid: int) -> tuple[int, int]:
    rx = tx = 0
    with contextlib.suppress(OSError, ValueError, IndexError):
        for line in Path(f"/proc/{pid}/net/dev").read_text().splitlines()[2:]:
            name, _, rest = line.partition(":")
            if name.strip() == "lo":
                continue
            f = rest.split()
            rx += int(f[0])
            tx += int(f[8])
    return rx, tx


def from_cgroup(cg: Path, init_pid: int) -> Sample:
    st = CgroupManager.stats(cg)
    rx, tx = net_bytes(init_pid)
    return Sample(
        source="cgroup",
        at=time.monotonic(),
        cpu_usec=st.cpu_usage_usec,
        mem_usage=st.memory_current,
        mem_limit=st.memory_max or host_memory(),
        pids=st.pids_current,
        net_rx=rx,
        net_tx=tx,
        blk_read=st.io_read_bytes,
        blk_write=st.io_write_bytes,
    )


def from_proc(pids: list[int], init_pid: int) -> Sample:
    ticks = os.sysconf("SC_CLK_TCK")
    page = os.sysconf("SC_PAGE_SIZE")
    cpu = rss = rd = wr = 0
    alive = 0
    for pid in pids:
        try:
            stat = Path(f"/proc/{pid}/stat").read_bytes().rsplit(b")", 1)[1].split()
            statm = Path(f"/proc/{pid}/statm").read_text().split()
        except OSError:
            continue
        alive += 1
        cpu += (int(stat[11]) + int(stat[12])) * 1_000_000 // ticks
        rss += int(statm[1]) * page
        with contextlib.suppress(OSError, ValueError):
            for line in Path(f"/proc/{pid}/io").read_text().splitlines():
                k, _, v = line.partition(": ")
                if k == "read_bytes":
                    rd += int(v)
                elif k == "write_bytes":
                    wr += int(v)
    rx, tx = net_bytes(init_pid)
    return Sample("proc", time.monotonic(), cpu, rss, host_memory(), alive, rx, tx, rd, wr)


def cpu_percent(before: Sample, after: Sample) -> float:
    """Share of one CPU used between two samples, in percent (Docker: 100% = one CPU)."""
    wall = after.at - before.at
    if wall <= 0:
        return 0.0
    return max(0.0, (after.cpu_usec - before.cpu_usec) / 1e6 / wall * 100)
