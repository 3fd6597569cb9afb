"""Write Linux initramfs archives (newc cpio) from tar archives and directories.

Unprivileged: owners and device numbers come from the tar headers, so the VM's root
filesystem keeps root-owned files and device nodes although no root made them.
"""

from __future__ import annotations

import os
import stat
import tarfile
from collections.abc import Iterable
from pathlib import Path
from typing import BinaryIO


def unchecked_pyc(source: bytes, vm_path: str, cache: Path | None) -> bytes | None:
    """Bytecode for `source` that the VM's Python (same minor version) uses without
    checking the source's mtime: without it every command under TCG recompiles every
    module it imports (seconds each); the VM's /opt is not writable by the test user."""
    import hashlib
    import importlib.util
    from importlib import _bootstrap_external

    key = hashlib.sha256(source + vm_path.encode()).hexdigest()
    cached = cache / f"{key}.pyc" if cache else None
    if cached and cached.exists():
        return cached.read_bytes()
    try:
        code = compile(source, "/" + vm_path, "exec", dont_inherit=True)
    except (SyntaxError, ValueError):
        return None
    data = bytes(
        _bootstrap_external._code_to_hash_pyc(  # type: ignore[attr-defined]
            code, importlib.util.source_hash(source), False
        )
    )
    if cached:
        cache.mkdir(parents=True, exist_ok=True)  # type: ignore[union-attr]
        tmp = cached.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_bytes(data)
        tmp.replace(cached)
    return data


class CpioWriter:
    def __init__(self, out: BinaryIO, pyc_cache: Path | None = None) -> None:
        self.out = out
        self.ino = 1
        self.seen: set[str] = set()
        self.pyc_cache = pyc_cache

    def _pad(self, n: int) -> None:
        if n % 4:
            self.out.write(b"\0" * (4 - n % 4))

    def add(
        self,
        name: str,
        mode: int,
        uid: int = 0,
        gid: int = 0,
        data: bytes = b"",
        mtime: int = 0,
        rdev: tuple[int, int] = (0, 0),
    ) -> None:
        name = name.lstrip("./").lstrip("/") or "."
        self.seen.add(name)
        encoded = name.encode() + b"\0"
        fields = [
            self.ino,
            mode,
            uid,
            gid,
            1,
            mtime,
            len(data),
            0,
            0,
            rdev[0],
            rdev[1],
            len(encoded),
            0,
        ]
        header = b"070701" + b"".join(b"%08X" % f for f in fields)
        self.out.write(header)
        self.out.write(encoded)
        self._pad(len(header) + len(encoded))
        self.out.write(data)
        self._pad(len(data))
        self.ino += 1

    def add_tar(self, tar_path: Path, skip: Iterable[str] = ()) -> None:
        prefixes = tuple(s.strip("/") for s in skip)
        links: dict[str, bytes] = {}
        with tarfile.open(tar_path) as tf:
            for m in tf:
                name = m.name.lstrip("./")
                if prefixes and name.startswith(prefixes):
                    continue
                perm = m.mode & 0o7777
                if m.isdir():
                    self.add(name, stat.S_IFDIR | perm, m.uid, m.gid, mtime=int(m.mtime))
                elif m.isreg():
                    f = tf.extractfile(m)
                    data = f.read() if f else b""
                    links[name] = data
                    self.add(name, stat.S_IFREG | perm, m.uid, m.gid, data, int(m.mtime))
                elif m.islnk():
                    target = m.linkname.lstrip("./")
                    self.add(
                        name,
                        stat.S_IFREG | perm,
                        m.uid,
                        m.gid,
                        links.get(target, b""),
                        int(m.mtime),
                    )
                elif m.issym():
                    self.add(
                        name, stat.S_IFLNK | 0o777, m.uid, m.gid, m.linkname.encode(), int(m.mtime)
                    )
                elif m.ischr() or m.isblk():
                    kind = stat.S_IFCHR if m.ischr() else stat.S_IFBLK
                    self.add(name, kind | perm, m.uid, m.gid, rdev=(m.devmajor, m.devminor))
                elif m.isfifo():
                    self.add(name, stat.S_IFIFO | perm, m.uid, m.gid)

    def add_tree(
        self,
        src: Path,
        dest: str,
        uid: int = 0,
        gid: int = 0,
        exclude: tuple[str, ...] = (),
        pyc: bool = False,
    ) -> None:
        """Copy a host directory tree to `dest`, owned by uid:gid (with bytecode if `pyc`)."""
        self.add_dirs(dest, uid, gid)
        for root, dirs, files in os.walk(src):
            dirs[:] = sorted(d for d in dirs if d not in exclude)
            rel = os.path.relpath(root, src)
            base = dest if rel == "." else f"{dest}/{rel}"
            for d in dirs:
                p = Path(root, d)
                if p.is_symlink():
                    self.add(f"{base}/{d}", stat.S_IFLNK | 0o777, uid, gid, os.readlink(p).encode())
                else:
                    self.add(f"{base}/{d}", stat.S_IFDIR | 0o755, uid, gid)
            for f in sorted(files):
                if f in exclude or f.endswith(".pyc"):
                    continue
                p = Path(root, f)
                if p.is_symlink():
                    self.add(f"{base}/{f}", stat.S_IFLNK | 0o777, uid, gid, os.readlink(p).encode())
                elif p.is_file():
                    mode = 0o755 if os.access(p, os.X_OK) else 0o644
                    data = p.read_bytes()
                    self.add(f"{base}/{f}", stat.S_IFREG | mode, uid, gid, data)
                    if pyc and f.endswith(".py"):
                        self._add_pyc(base, f, data, uid, gid)

    def _add_pyc(self, base: str, name: str, source: bytes, uid: int, gid: int) -> None:
        import sys

        code = unchecked_pyc(source, f"{base}/{name}", self.pyc_cache)
        if code is None:
            return
        tag = sys.implementation.cache_tag
        if f"{base}/__pycache__" not in self.seen:
            self.add(f"{base}/__pycache__", stat.S_IFDIR | 0o755, uid, gid)
        self.add(f"{base}/__pycache__/{name[:-3]}.{tag}.pyc", stat.S_IFREG | 0o644, uid, gid, code)

    def add_dirs(self, path: str, uid: int = 0, gid: int = 0) -> None:
        parts = path.strip("/").split("/")
        for i in range(1, len(parts) + 1):
            sub = "/".join(parts[:i])
            if sub not in self.seen:
                self.add(
                    sub,
                    stat.S_IFDIR | 0o755,
                    uid if i == len(parts) else 0,
                    gid if i == len(parts) else 0,
                )

    def add_file(
        self, name: str, data: bytes, mode: int = 0o644, uid: int = 0, gid: int = 0
    ) -> None:
        self.add(name, stat.S_IFREG | mode, uid, gid, data)

    def close(self) -> None:
        self.add("TRAILER!!!", 0)
