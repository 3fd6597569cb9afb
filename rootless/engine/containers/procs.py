"""The processes of a container: everything in its init's pid namespace."""

from __future__ import annotations

import os


def pid_ns(pid: int) -> int | None:
    try:
        return os.stat(f"/proc/{pid}/ns/pid").st_ino
    except OSError:
        return None


def container_pids(init_pid: int) -> list[int]:
    ns = pid_ns(init_pid)
    if ns is None:
        return []
    out = []
    for entry in os.listdir("/proc"):
        if entry.isdigit() and pid_ns(int(entry)) == ns:
            out.append(int(entry))
    return sorted(out)


def proc_row(pid: int) -> dict[str, str] | None:
    """ps-like facts for `top`."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            stat = f.read()
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            cmd = f.read().replace(b"\0", b" ").strip().decode(errors="replace")
        with open(f"/proc/{pid}/status", encoding="utf-8") as f:
            status = dict(ln.split(":", 1) for ln in f if ":" in ln)
    except OSError:
        return None
    rest = stat.rsplit(b")", 1)[1].split()
    comm = stat.split(b"(", 1)[1].rsplit(b")", 1)[0].decode(errors="replace")
    uid = status.get("Uid", "0").split()[0]
    ppid = rest[1].decode()
    ticks = os.sysconf("SC_CLK_TCK")
    cpu = (int(rest[11]) + int(rest[12])) // ticks
    return {
        "USER": uid,
        "PID": str(pid),
        "PPID": ppid,
        "STAT": rest[0].decode(),
        "TIME": f"{cpu // 3600:02d}:{cpu % 3600 // 60:02d}:{cpu % 60:02d}",
        "COMMAND": cmd or f"[{comm}]",
    }
