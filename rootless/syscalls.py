"""The kernel calls Python's os module lacks (3.11), through libc via ctypes (its C
core: ctypes_lite.py).

This is the one thin seam between our code and the kernel for namespace and mount
work; unit tests may swap it for a recording fake. Every function raises OSError
with the real errno on failure.
"""

from __future__ import annotations

import os

from rootless import ctypes_lite as ctypes  # ctypes without its import cost

CLONE_NEWNS = 0x00020000
CLONE_NEWCGROUP = 0x02000000
CLONE_NEWUTS = 0x04000000
CLONE_NEWIPC = 0x08000000
CLONE_NEWUSER = 0x10000000
CLONE_NEWPID = 0x20000000
CLONE_NEWNET = 0x40000000

MS_RDONLY = 1
MS_NOSUID = 2
MS_NODEV = 4
MS_NOEXEC = 8
MS_REMOUNT = 32
MS_NOATIME = 1024
MS_BIND = 4096
MS_MOVE = 8192
MS_REC = 16384
MS_PRIVATE = 1 << 18
MS_SLAVE = 1 << 19
MS_SHARED = 1 << 20
MS_RELATIME = 1 << 21
MS_STRICTATIME = 1 << 24

MNT_DETACH = 2

# The interpreter is linked against libc: its symbols are already loaded. Avoids
# ctypes.util.find_library, which runs `ldconfig -p` (20-40 ms on every start-up).
_libc = ctypes.Libc()
_libc.mount.argtypes = [
    ctypes.c_char_p,
    ctypes.c_char_p,
    ctypes.c_char_p,
    ctypes.c_ulong,
    ctypes.c_char_p,
]
_libc.umount2.argtypes = [ctypes.c_char_p, ctypes.c_int]
_libc.unshare.argtypes = [ctypes.c_int]
_libc.setns.argtypes = [ctypes.c_int, ctypes.c_int]


def _check(ret: int, what: str, path: str | None = None) -> None:
    if ret == -1:
        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}", path)


def _b(s: str | os.PathLike[str] | None) -> bytes | None:
    return None if s is None else os.fsencode(s)


def unshare(flags: int) -> None:
    _check(_libc.unshare(flags), "unshare")


def setns(fd: int, nstype: int = 0) -> None:
    _check(_libc.setns(fd, nstype), "setns")


def mount(
    source: str | os.PathLike[str] | None,
    target: str | os.PathLike[str],
    fstype: str | None,
    flags: int = 0,
    data: str | None = None,
) -> None:
    ret = _libc.mount(_b(source), _b(target), _b(fstype), flags, _b(data))
    _check(ret, f"mount {fstype or ''} on {os.fsdecode(target)}", os.fsdecode(target))


def umount2(target: str | os.PathLike[str], flags: int = 0) -> None:
    _check(_libc.umount2(_b(target), flags), "umount", os.fsdecode(target))


def write_proc(path: str, data: str) -> None:
    """Write a /proc or /sys file and check the write itself.

    open().write() reports errors only at close, where a failed gid_map write
    was seen to look like success.
    """
    fd = os.open(path, os.O_WRONLY | os.O_CLOEXEC)
    try:
        n = os.write(fd, data.encode())
        if n != len(data.encode()):
            raise OSError(f"short write to {path}")
    finally:
        os.close(fd)


class _StatFS(ctypes.Structure):
    _fields_ = [
        ("f_type", ctypes.c_long),
        ("f_bsize", ctypes.c_long),
        ("f_blocks", ctypes.c_ulong),
        ("f_bfree", ctypes.c_ulong),
        ("f_bavail", ctypes.c_ulong),
        ("f_files", ctypes.c_ulong),
        ("f_ffree", ctypes.c_ulong),
        ("f_fsid", ctypes.c_int * 2),
        ("f_namelen", ctypes.c_long),
        ("f_frsize", ctypes.c_long),
        ("f_flags", ctypes.c_long),
        ("f_spare", ctypes.c_long * 4),
    ]


_libc.statfs.argtypes = [ctypes.c_char_p, ctypes.POINTER(_StatFS)]


def fs_magic(path: str | os.PathLike[str]) -> int:
    """The filesystem type magic (statfs f_type) of the filesystem holding `path`."""
    buf = _StatFS()
    _check(_libc.statfs(_b(path), ctypes.byref(buf)), "statfs", os.fsdecode(path))
    return buf.f_type & 0xFFFFFFFF


# ---- added for the OCI runtime (rootless/runtime) ----

PR_SET_PDEATHSIG = 1
PR_SET_DUMPABLE = 4
PR_SET_KEEPCAPS = 8
PR_CAPBSET_DROP = 24
PR_SET_CHILD_SUBREAPER = 36
PR_SET_NO_NEW_PRIVS = 38
PR_CAP_AMBIENT = 47
PR_CAP_AMBIENT_RAISE = 2
PR_CAP_AMBIENT_CLEAR_ALL = 4

MS_UNBINDABLE = 1 << 17
MS_NODIRATIME = 2048
MS_SYNCHRONOUS = 16
MS_DIRSYNC = 128
MS_MANDLOCK = 64

_SYS_PIVOT_ROOT = 155  # x86_64
_SYS_CAPSET = 126
_SYS_CAPGET = 125
_LINUX_CAPABILITY_VERSION_3 = 0x20080522

_libc.prctl.argtypes = [
    ctypes.c_int,
    ctypes.c_ulong,
    ctypes.c_ulong,
    ctypes.c_ulong,
    ctypes.c_ulong,
]
_libc.sethostname.argtypes = [ctypes.c_char_p, ctypes.c_size_t]
_libc.setdomainname.argtypes = [ctypes.c_char_p, ctypes.c_size_t]
_libc.syscall.restype = ctypes.c_long


def prctl(option: int, arg2: int = 0, arg3: int = 0, arg4: int = 0, arg5: int = 0) -> int:
    ret = _libc.prctl(option, arg2, arg3, arg4, arg5)
    _check(ret, f"prctl({option})")
    return int(ret)


def pivot_root(new_root: str | os.PathLike[str], put_old: str | os.PathLike[str]) -> None:
    ret = _libc.syscall(
        ctypes.c_long(_SYS_PIVOT_ROOT), ctypes.c_char_p(_b(new_root)), ctypes.c_char_p(_b(put_old))
    )
    _check(ret, "pivot_root", os.fsdecode(new_root))


def sethostname(name: str) -> None:
    raw = name.encode()
    _check(_libc.sethostname(raw, len(raw)), "sethostname")


def setdomainname(name: str) -> None:
    raw = name.encode()
    _check(_libc.setdomainname(raw, len(raw)), "setdomainname")


def setns_path(path: str | os.PathLike[str], nstype: int = 0) -> None:
    """Join the namespace a /proc/PID/ns/* file (or a bind mount of one) refers to."""
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        setns(fd, nstype)
    finally:
        os.close(fd)


class _CapHeader(ctypes.Structure):
    _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]


class _CapData(ctypes.Structure):
    _fields_ = [
        ("effective", ctypes.c_uint32),
        ("permitted", ctypes.c_uint32),
        ("inheritable", ctypes.c_uint32),
    ]


def capset(effective: int, permitted: int, inheritable: int) -> None:
    """Set this thread's capability sets (64-bit masks, bit n = capability n)."""
    hdr = _CapHeader(_LINUX_CAPABILITY_VERSION_3, 0)
    data = (_CapData * 2)()
    for i in range(2):
        shift = 32 * i
        data[i].effective = (effective >> shift) & 0xFFFFFFFF
        data[i].permitted = (permitted >> shift) & 0xFFFFFFFF
        data[i].inheritable = (inheritable >> shift) & 0xFFFFFFFF
    ret = _libc.syscall(ctypes.c_long(_SYS_CAPSET), ctypes.byref(hdr), ctypes.byref(data))
    _check(ret, "capset")


def capget() -> tuple[int, int, int]:
    """(effective, permitted, inheritable) of this thread."""
    hdr = _CapHeader(_LINUX_CAPABILITY_VERSION_3, 0)
    data = (_CapData * 2)()
    ret = _libc.syscall(ctypes.c_long(_SYS_CAPGET), ctypes.byref(hdr), ctypes.byref(data))
    _check(ret, "capget")
    eff = data[0].effective | (data[1].effective << 32)
    prm = data[0].permitted | (data[1].permitted << 32)
    inh = data[0].inheritable | (data[1].inheritable << 32)
    return eff, prm, inh


PR_SET_SECCOMP = 22
SECCOMP_MODE_FILTER = 2


class _SockFprog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]


def load_seccomp_bpf(bpf: bytes) -> None:
    """Install a classic BPF seccomp program (struct sock_filter[], 8 bytes each) on this
    thread: what libseccomp's seccomp_load does with the program it exported."""
    buf = ctypes.string_buffer(bpf)
    prog = _SockFprog(len(bpf) // 8, ctypes.addressof(buf))
    ret = _libc.prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, ctypes.addressof(prog), 0, 0)
    _check(ret, "prctl(PR_SET_SECCOMP)")


# ---- the new mount API (x86_64): detached mount trees ----

_SYS_OPEN_TREE = 428
_SYS_MOVE_MOUNT = 429
AT_FDCWD = -100
AT_RECURSIVE = 0x8000
OPEN_TREE_CLONE = 1
OPEN_TREE_CLOEXEC = os.O_CLOEXEC
MOVE_MOUNT_F_EMPTY_PATH = 0x4


def open_tree(path: str | os.PathLike[str], flags: int) -> int:
    """open_tree(AT_FDCWD, path, flags): with OPEN_TREE_CLONE a detached copy of the
    mount (tree with AT_RECURSIVE) at `path`, as an fd; it stays usable after this
    process changes user and mount namespace."""
    ret = _libc.syscall(
        ctypes.c_long(_SYS_OPEN_TREE),
        ctypes.c_int(AT_FDCWD),
        ctypes.c_char_p(_b(path)),
        ctypes.c_uint(flags),
    )
    _check(ret, "open_tree", os.fsdecode(path))
    return int(ret)


def move_mount(tree_fd: int, target: str | os.PathLike[str]) -> None:
    """Attach the detached mount `tree_fd` (from open_tree) at `target`."""
    ret = _libc.syscall(
        ctypes.c_long(_SYS_MOVE_MOUNT),
        ctypes.c_int(tree_fd),
        ctypes.c_char_p(b""),
        ctypes.c_int(AT_FDCWD),
        ctypes.c_char_p(_b(target)),
        ctypes.c_uint(MOVE_MOUNT_F_EMPTY_PATH),
    )
    _check(ret, "move_mount", os.fsdecode(target))


def proc_start_time(pid: int) -> int | None:
    """Field 22 of /proc/PID/stat (clock ticks since boot): with the pid, it names one
    process across pid reuse. None if it is gone or a zombie."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            data = f.read()
    except OSError:
        return None
    # comm (field 2) may hold spaces and parentheses: split after the last ')'.
    fields = data[data.rfind(b")") + 2 :].split()
    if not fields or fields[0] in (b"Z", b"X"):
        return None
    return int(fields[19])
