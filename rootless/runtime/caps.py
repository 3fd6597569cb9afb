"""Linux capabilities by name, and applying the five OCI capability sets."""

from __future__ import annotations

import errno

from rootless import syscalls

CAP_NAMES = (
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_DAC_READ_SEARCH",
    "CAP_FOWNER",
    "CAP_FSETID",
    "CAP_KILL",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETPCAP",
    "CAP_LINUX_IMMUTABLE",
    "CAP_NET_BIND_SERVICE",
    "CAP_NET_BROADCAST",
    "CAP_NET_ADMIN",
    "CAP_NET_RAW",
    "CAP_IPC_LOCK",
    "CAP_IPC_OWNER",
    "CAP_SYS_MODULE",
    "CAP_SYS_RAWIO",
    "CAP_SYS_CHROOT",
    "CAP_SYS_PTRACE",
    "CAP_SYS_PACCT",
    "CAP_SYS_ADMIN",
    "CAP_SYS_BOOT",
    "CAP_SYS_NICE",
    "CAP_SYS_RESOURCE",
    "CAP_SYS_TIME",
    "CAP_SYS_TTY_CONFIG",
    "CAP_MKNOD",
    "CAP_LEASE",
    "CAP_AUDIT_WRITE",
    "CAP_AUDIT_CONTROL",
    "CAP_SETFCAP",
    "CAP_MAC_OVERRIDE",
    "CAP_MAC_ADMIN",
    "CAP_SYSLOG",
    "CAP_WAKE_ALARM",
    "CAP_BLOCK_SUSPEND",
    "CAP_AUDIT_READ",
    "CAP_PERFMON",
    "CAP_BPF",
    "CAP_CHECKPOINT_RESTORE",
)
CAP_NUMBERS = {name: i for i, name in enumerate(CAP_NAMES)}


def last_cap() -> int:
    try:
        with open("/proc/sys/kernel/cap_last_cap") as f:
            return int(f.read())
    except OSError:
        return len(CAP_NAMES) - 1


def mask(names: list[str], top: int) -> int:
    """The bit mask of `names`; names this kernel does not know are ignored, as runc does."""
    bits = 0
    for name in names:
        n = CAP_NUMBERS.get(
            name.upper() if name.upper().startswith("CAP_") else f"CAP_{name.upper()}"
        )
        if n is not None and n <= top:
            bits |= 1 << n
    return bits


def drop_bounding(keep: int, top: int) -> None:
    """Drop every capability not in `keep` from the bounding set (needs CAP_SETPCAP)."""
    for n in range(top + 1):
        if not keep & (1 << n):
            try:
                syscalls.prctl(syscalls.PR_CAPBSET_DROP, n)
            except OSError as e:
                if e.errno != errno.EINVAL:  # EINVAL: not supported by this kernel
                    raise


def apply_sets(effective: int, permitted: int, inheritable: int, ambient: int, top: int) -> None:
    syscalls.capset(effective, permitted, inheritable)
    for n in range(top + 1):
        if ambient & (1 << n):
            # Raising needs the cap in permitted and inheritable; runc ignores failures
            # (runc spec --rootless lists ambient caps without inheritable ones).
            try:
                syscalls.prctl(syscalls.PR_CAP_AMBIENT, syscalls.PR_CAP_AMBIENT_RAISE, n)
            except OSError:
                pass


def status_masks(pid: int | str = "self") -> dict[str, int]:
    """CapInh/CapPrm/CapEff/CapBnd/CapAmb of a process, from /proc/PID/status."""
    out = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("Cap"):
                k, v = line.split(":", 1)
                out[k] = int(v.strip(), 16)
    return out
