"""Shared harness for the overlay suites: build layers, mount an overlay (kernel or
fuse_overlay), run file operations, snapshot trees.

Everything here runs INSIDE a user+mount namespace (`unshare --map-auto -Urm`): the
test modules start `python -m tests.integration.<module>` there and read back JSON.
This module holds no tests itself.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import shutil
import socket
import stat
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
FIXED_NS = 1_000_000_000 * 1_000_000_000  # every prepared entry carries this mtime
T2_NS = 1_500_000_000 * 1_000_000_000  # the time the `utime` op sets
OPAQUE = "user.overlay.opaque"


# --------------------------------------------------------------------- namespace
def in_namespace_cmd(module: str, *args: str) -> list[str]:
    """The command that runs `module` as root in a fresh user+mount namespace with the
    user's subuid range mapped (so chown to other ids works, like a container)."""
    return [
        "unshare",
        "--map-auto",
        "--map-root-user",
        "--mount",
        "--propagation",
        "private",
        sys.executable,
        "-m",
        module,
        *args,
    ]


def run_in_namespace(module: str, payload: Any, timeout: float = 240) -> Any:
    """Run `module` in a namespace with `payload` as JSON on stdin; returns its JSON."""
    p = subprocess.run(
        in_namespace_cmd(module),
        input=json.dumps(payload),
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=REPO,
    )
    if p.returncode != 0:
        raise AssertionError(f"{module} failed ({p.returncode}):\n{p.stderr[-4000:]}")
    return json.loads(p.stdout)


# --------------------------------------------------------------------- mounting
class Mount:
    """An overlay mounted at `merged`: kernel overlayfs (userxattr) or fuse-overlay."""

    def __init__(self, backend: str, lowers: list[str], upper: str, work: str, merged: str):
        self.backend = backend
        self.merged = merged
        self.proc: subprocess.Popen[bytes] | None = None
        opts = f"lowerdir={':'.join(lowers)},upperdir={upper},workdir={work}"
        if backend == "kernel":
            subprocess.run(
                ["mount", "-t", "overlay", "-o", opts + ",userxattr", "overlay", merged],
                check=True,
                capture_output=True,
            )
            return
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "fuse_overlay.cli", "-f", "-o", opts, merged],
            stderr=subprocess.PIPE,
            cwd=REPO,
        )
        deadline = time.monotonic() + 20
        while not is_mounted(merged):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                err = self.proc.stderr.read().decode() if self.proc.stderr else ""
                self.proc.kill()
                raise RuntimeError(f"fuse-overlay did not mount {merged}: {err}")
            time.sleep(0.01)

    def close(self) -> None:
        subprocess.run(["umount", self.merged], check=True, capture_output=True)
        if self.proc is not None:
            try:
                self.proc.wait(timeout=20)
            finally:
                if self.proc.poll() is None:
                    self.proc.kill()
                    self.proc.wait()
                if self.proc.stderr:
                    self.proc.stderr.close()


def is_mounted(path: str) -> bool:
    with open("/proc/self/mountinfo") as f:
        return any(line.split()[4] == path for line in f)


# --------------------------------------------------------------------- layers
def whiteout(path: str) -> None:
    os.mknod(path, stat.S_IFCHR, 0)


def fix_times(root: str) -> None:
    """Give every entry under `root` the FIXED mtime (children before parents)."""
    for dirpath, dirnames, filenames in os.walk(root, topdown=False):
        for name in filenames + dirnames:
            os.utime(os.path.join(dirpath, name), ns=(FIXED_NS, FIXED_NS), follow_symlinks=False)
    os.utime(root, ns=(FIXED_NS, FIXED_NS))


def write(path: str, data: str, mode: int = 0o644) -> None:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        f.write(data)
    os.chmod(path, mode)


def build_standard_layers(base: str) -> tuple[list[str], str, str, str]:
    """The layout every semantic case starts from. Returns (lowers top-first, upper,
    work, merged). Names say where an entry lives:
      *_lower: only in the bottom layer L2;  *_l1: only in L1;  *_upper: only in upper
      f_both: in L1 and L2 (L1 wins);  f_wh/dir_wh: in L2, whited out by L1
      dir_opq: L2 has hidden1, L1 (opaque) has visible1;  dir_merge: m1 in L1, m2 in L2
      f_gone: in L2, whited out in the upper dir; dir_upper_opq: opaque in upper over L2
    """
    l1, l2, up, work, merged = (os.path.join(base, n) for n in ("l1", "l2", "u", "w", "m"))
    for d in (l1, l2, up, work, merged):
        os.makedirs(d)
    # bottom layer
    write(f"{l2}/f_lower", "L2 f_lower\n")
    write(f"{l2}/exe_lower", "#!/bin/sh\n", 0o755)
    write(f"{l2}/f_both", "L2 f_both\n")
    write(f"{l2}/f_wh", "L2 f_wh\n")
    write(f"{l2}/f_gone", "L2 f_gone\n")
    write(f"{l2}/dir_lower/a", "a\n")
    write(f"{l2}/dir_lower/b", "b\n")
    write(f"{l2}/dir_lower/sub/c", "c\n")
    write(f"{l2}/dir_wh/x", "x\n")
    write(f"{l2}/dir_opq/hidden1", "hidden\n")
    write(f"{l2}/dir_merge/m2", "m2\n")
    write(f"{l2}/dir_upper_opq/l2only", "l2only\n")
    write(f"{l2}/hard1", "hard\n")
    os.link(f"{l2}/hard1", f"{l2}/hard2")
    os.symlink("f_lower", f"{l2}/link_lower")
    os.mkfifo(f"{l2}/fifo_lower")
    write(f"{l2}/xattr_lower", "x\n")
    os.setxattr(f"{l2}/xattr_lower", "user.test", b"v1")
    write(f"{l2}/owned_1000", "theirs\n")
    os.chown(f"{l2}/owned_1000", 1000, 1000)
    with open(f"{l2}/sparse_lower", "wb") as f:  # 8 MiB, data only at both ends
        f.write(b"head")
        f.seek(8 << 20)
        f.write(b"tail")
    # L1
    write(f"{l1}/f_both", "L1 f_both\n")
    write(f"{l1}/f_l1", "L1 only\n")
    whiteout(f"{l1}/f_wh")
    whiteout(f"{l1}/dir_wh")
    write(f"{l1}/dir_opq/visible1", "visible\n")
    os.setxattr(f"{l1}/dir_opq", OPAQUE, b"y")
    write(f"{l1}/dir_merge/m1", "m1\n")
    os.mkdir(f"{l1}/empty_l1")
    # upper
    write(f"{up}/f_upper", "U f_upper\n")
    write(f"{up}/dir_upper/u1", "u1\n")
    whiteout(f"{up}/f_gone")
    write(f"{up}/dir_upper_opq/uonly", "uonly\n")
    os.setxattr(f"{up}/dir_upper_opq", OPAQUE, b"y")
    for d in (l1, l2, up):
        fix_times(d)
    return [l1, l2], up, work, merged


# --------------------------------------------------------------------- operations
def _sock(path: str) -> None:
    s = socket.socket(socket.AF_UNIX)
    try:
        s.bind(path)
    finally:
        s.close()


def _open_excl(path: str) -> None:
    os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))


def _write(path: str, data: str, flags: int) -> None:
    fd = os.open(path, flags | os.O_WRONLY, 0o644)
    try:
        os.write(fd, data.encode())
    finally:
        os.close(fd)


def _rw_middle(path: str, data: str) -> None:
    fd = os.open(path, os.O_RDWR)
    try:
        os.pwrite(fd, data.encode(), 2)
        os.fsync(fd)
    finally:
        os.close(fd)


def _stat(path: str) -> list[Any]:
    st = os.lstat(path)
    return [_kind(st.st_mode), oct(stat.S_IMODE(st.st_mode)), st.st_size, st.st_uid]


def _read(path: str) -> str:
    with open(path, "rb") as f:
        return f.read(4096).decode(errors="replace")


OPS: dict[str, Callable[..., Any]] = {
    "read": _read,
    "write": lambda p, d: _write(p, d, os.O_CREAT | os.O_TRUNC),
    "append": lambda p, d: _write(p, d, os.O_CREAT | os.O_APPEND),
    "rw_middle": _rw_middle,
    "truncate": lambda p, n: os.truncate(p, n),
    "chmod": lambda p, m: os.chmod(p, m),
    "chown": lambda p, u, g: os.lchown(p, u, g),
    "utime": lambda p: os.utime(p, ns=(T2_NS, T2_NS), follow_symlinks=False),
    "setxattr": lambda p, n, v: os.setxattr(p, n, v.encode(), follow_symlinks=False),
    "getxattr": lambda p, n: os.getxattr(p, n, follow_symlinks=False).decode(),
    "listxattr": lambda p: sorted(os.listxattr(p, follow_symlinks=False)),
    "removexattr": lambda p, n: os.removexattr(p, n, follow_symlinks=False),
    "unlink": os.unlink,
    "rmdir": os.rmdir,
    "mkdir": lambda p: os.mkdir(p, 0o755),
    "rename": os.rename,
    "mv": lambda a, b: shutil.move(a, b) and None,
    "rmtree": shutil.rmtree,
    "link": os.link,
    "symlink": lambda target, p: os.symlink(target, p),
    "readlink": os.readlink,
    "mkfifo": os.mkfifo,
    "socket": _sock,
    "excl": _open_excl,
    "readdir": lambda p: sorted(os.listdir(p)),
    "stat": _stat,
    "exists": os.path.lexists,
}
# Which arguments of an op are paths (relative to the merged dir).
PATH_ARGS: dict[str, tuple[int, ...]] = {
    "rename": (0, 1),
    "mv": (0, 1),
    "link": (0, 1),
    "symlink": (1,),
}


def run_ops(merged: str, ops: list[list[Any]]) -> list[Any]:
    results = []
    for op, *args in ops:
        idx = PATH_ARGS.get(op, (0,))
        real = [os.path.join(merged, a) if i in idx else a for i, a in enumerate(args)]
        try:
            out = OPS[op](*real)
            results.append(out if out is not None else "ok")
        except OSError as e:
            results.append(errno.errorcode.get(e.errno or 0, str(e.errno)))
    return results


# --------------------------------------------------------------------- snapshots
def _kind(mode: int) -> str:
    for test, ch in (
        (stat.S_ISDIR, "d"),
        (stat.S_ISREG, "f"),
        (stat.S_ISLNK, "l"),
        (stat.S_ISCHR, "c"),
        (stat.S_ISBLK, "b"),
        (stat.S_ISFIFO, "p"),
        (stat.S_ISSOCK, "s"),
    ):
        if test(mode):
            return ch
    return "?"


def _mtime(ns: int) -> str:
    return "fixed" if ns == FIXED_NS else "t2" if ns == T2_NS else "new"


def describe(path: str, upper: bool) -> dict[str, Any]:
    st = os.lstat(path)
    kind = _kind(st.st_mode)
    d: dict[str, Any] = {"kind": kind, "perm": oct(stat.S_IMODE(st.st_mode))}
    d["owner"] = [st.st_uid, st.st_gid]
    if kind == "c" and st.st_rdev == 0:
        return {"kind": "whiteout"}  # the kernel shares one whiteout inode: no nlink
    if kind == "f":
        with open(path, "rb") as f:
            data = f.read()
        d["size"] = st.st_size
        d["data"] = data.decode() if len(data) < 64 else hashlib.sha256(data).hexdigest()
        d["nlink"] = st.st_nlink
        d["sparse"] = st.st_blocks * 512 < st.st_size
    if kind == "l":
        d["target"] = os.readlink(path)
    if kind != "d":
        d["mtime"] = _mtime(st.st_mtime_ns)
    if kind != "l":
        names = sorted(os.listxattr(path, follow_symlinks=False))
        xattrs = {}
        for n in names:
            if n.startswith("user.overlay.") and not (upper and n == OPAQUE):
                continue  # origin/impure bookkeeping of the kernel, not content
            xattrs[n] = os.getxattr(path, n, follow_symlinks=False).decode(errors="replace")
        if xattrs:
            d["xattrs"] = xattrs
    return d


def snapshot(root: str, upper: bool = False) -> dict[str, Any]:
    """Every entry under `root` described (path relative to root)."""
    out: dict[str, Any] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        for name in sorted(dirnames + filenames):
            full = os.path.join(dirpath, name)
            out[os.path.relpath(full, root)] = describe(full, upper)
    return out
