"""Compiled seccomp filters, cached: libseccomp only when a profile is new.

Compiling Docker's default profile with libseccomp costs ~20 ms (plus ~5 ms to load the
library) on every container start, for a result that depends only on the profile and
the architecture. So the classic-BPF program libseccomp exports is kept in a file named
by a hash of both, and later starts load it with prctl(PR_SET_SECCOMP) directly.

A cache file is trusted only if it is whole and ours: magic, format version, the
architecture, the key it was written for and a digest of the program all have to match,
and the program has to be a sane BPF length; anything else is rebuilt, never loaded.
Files are written by temp file + rename, so a reader sees an old file or a new one.
"""

from __future__ import annotations

import os

try:  # the C module alone: hashlib would load libcrypto (~5-30 ms) for one digest
    from _sha256 import sha256
except ImportError:  # pragma: no cover - other Python builds
    from hashlib import sha256

from rootless import syscalls as sc
from rootless.runtime.jsonlite import canonical_chunks

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

MAGIC = b"rootless-seccomp-bpf 1\n"
BPF_MAXINSNS = 4096  # the kernel's limit on one classic BPF program
INSN_SIZE = 8  # struct sock_filter: u16 code, u8 jt, u8 jf, u32 k
CACHE_DIR_NAME = "@seccomp-cache"  # '@' is never part of a container id in the same root


class Program:
    """A compiled filter, ready to load into the calling thread (and its children)."""

    __slots__ = ("bpf", "cached")

    def __init__(self, bpf: bytes, cached: bool) -> None:
        self.bpf = bpf
        self.cached = cached  # True when it came from the cache (for tests and tracing)

    def load(self) -> None:
        sc.load_seccomp_bpf(self.bpf)


def machine() -> str:
    return os.uname().machine


def cache_key(profile: dict[str, Any], arch: str) -> str:
    h = sha256(MAGIC + arch.encode() + b"\0")
    # canonical: equal profiles hash equally whatever order config.json lists keys in
    for chunk in canonical_chunks(profile):
        h.update(chunk.encode())
    return h.hexdigest()


def program(profile: dict[str, Any], no_new_privs: bool, cache_dir: str | None) -> Program:
    """The profile's BPF program: from the cache when a valid entry exists, else compiled
    with libseccomp (and cached when `cache_dir` is given)."""
    arch = machine()
    key = cache_key(profile, arch)
    path = os.path.join(cache_dir, key) if cache_dir else None
    if path is not None:
        bpf = read_entry(path, key, arch)
        if bpf is not None:
            return Program(bpf, cached=True)
    bpf = compile_bpf(profile, no_new_privs)
    if path is not None and cache_dir is not None:
        try:
            write_entry(cache_dir, key, arch, bpf)
        except OSError:
            pass  # a read-only or full state dir: the filter still works, just uncached
    return Program(bpf, cached=False)


def compile_bpf(profile: dict[str, Any], no_new_privs: bool) -> bytes:
    """libseccomp's classic BPF export of the profile for this architecture."""
    from rootless.runtime.seccomp import build_filter

    flt = build_filter(profile, no_new_privs)
    fd = os.memfd_create("seccomp-bpf", os.MFD_CLOEXEC)
    try:
        with os.fdopen(os.dup(fd), "wb") as f:
            flt.export_bpf(f)
        size = os.lseek(fd, 0, os.SEEK_END)
        return os.pread(fd, size, 0)
    finally:
        os.close(fd)


def _header(key: str, arch: str, bpf: bytes) -> bytes:
    return b"%s%s\n%s\n%s\n" % (
        MAGIC,
        arch.encode(),
        key.encode(),
        sha256(bpf).hexdigest().encode(),
    )


def valid_program(bpf: bytes) -> bool:
    return 0 < len(bpf) <= BPF_MAXINSNS * INSN_SIZE and len(bpf) % INSN_SIZE == 0


def read_entry(path: str, key: str, arch: str) -> bytes | None:
    """The cached program, or None when the file is missing, foreign or damaged."""
    try:
        with open(path, "rb") as f:
            data = f.read(len(MAGIC) + 256 + BPF_MAXINSNS * INSN_SIZE + 1)
    except OSError:
        return None
    if not data.startswith(MAGIC):
        return None
    lines = data[len(MAGIC) :].split(b"\n", 3)
    if len(lines) != 4:
        return None
    f_arch, f_key, f_digest, bpf = lines
    if f_arch != arch.encode() or f_key != key.encode() or not valid_program(bpf):
        return None
    if sha256(bpf).hexdigest().encode() != f_digest:
        return None
    return bpf


def write_entry(cache_dir: str, key: str, arch: str, bpf: bytes) -> None:
    if not valid_program(bpf):
        return
    os.makedirs(cache_dir, mode=0o700, exist_ok=True)
    from rootless.runtime.state import write_atomic

    write_atomic(os.path.join(cache_dir, key), _header(key, arch, bpf) + bpf, 0o600)
