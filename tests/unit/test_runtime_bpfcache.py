"""The seccomp BPF cache (rootless/runtime/bpfcache.py): keys, validation, and that a
cached program filters exactly like a freshly compiled one (loaded for real, in a
forked child)."""

from __future__ import annotations

import errno
import os
from pathlib import Path
from typing import Any

from rootless import syscalls as sc
from rootless.runtime import bpfcache


def profile(errno_ret: int = errno.EPERM) -> dict[str, Any]:
    arch = {"x86_64": "SCMP_ARCH_X86_64", "aarch64": "SCMP_ARCH_AARCH64"}[os.uname().machine]
    return {
        "defaultAction": "SCMP_ACT_ALLOW",
        "architectures": [arch],
        "syscalls": [
            {"names": ["uname"], "action": "SCMP_ACT_ERRNO", "errnoRet": errno_ret},
            {"names": ["getcwd"], "action": "SCMP_ACT_ERRNO"},  # default errno: EPERM
        ],
    }


def errno_under_filter(prog: bpfcache.Program) -> tuple[int, int]:
    """(errno of uname, errno of getcwd) in a child that loaded `prog`; 0 = allowed."""
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - child
        try:
            os.close(r)
            sc.prctl(sc.PR_SET_NO_NEW_PRIVS, 1)  # unprivileged filters need it
            prog.load()
            got = []
            for call in (os.uname, os.getcwd):
                try:
                    call()
                    got.append(0)
                except OSError as e:
                    got.append(e.errno or -1)
            os.write(w, f"{got[0]} {got[1]}".encode())
        finally:
            os._exit(0)
    os.close(w)
    with os.fdopen(r) as f:
        out = f.read()
    os.waitpid(pid, 0)
    a, b = out.split()
    return int(a), int(b)


def test_key_ignores_key_order_but_not_content_or_arch() -> None:
    p = profile()
    shuffled = dict(reversed(list(p.items())))
    assert bpfcache.cache_key(p, "x86_64") == bpfcache.cache_key(shuffled, "x86_64")
    assert bpfcache.cache_key(p, "x86_64") != bpfcache.cache_key(p, "aarch64")
    assert bpfcache.cache_key(p, "x86_64") != bpfcache.cache_key(profile(errno.EACCES), "x86_64")


def test_miss_compiles_and_writes_then_hit_loads_the_same_program(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    first = bpfcache.program(profile(), False, str(cache))
    assert not first.cached
    files = list(cache.iterdir())
    assert [f.name for f in files] == [bpfcache.cache_key(profile(), bpfcache.machine())]
    assert files[0].stat().st_mode & 0o777 == 0o600
    second = bpfcache.program(profile(), False, str(cache))
    assert second.cached and second.bpf == first.bpf


def test_cached_program_filters_like_a_compiled_one(tmp_path: Path) -> None:
    cache = str(tmp_path)
    compiled = bpfcache.program(profile(errno.ENOSYS), False, cache)
    cached = bpfcache.program(profile(errno.ENOSYS), False, cache)
    assert cached.cached
    assert errno_under_filter(compiled) == (errno.ENOSYS, errno.EPERM)
    assert errno_under_filter(cached) == (errno.ENOSYS, errno.EPERM)


def _entry(tmp_path: Path) -> tuple[Path, bytes]:
    bpfcache.program(profile(), False, str(tmp_path))
    path = tmp_path / bpfcache.cache_key(profile(), bpfcache.machine())
    return path, path.read_bytes()


def test_damaged_entries_are_rebuilt_never_loaded(tmp_path: Path) -> None:
    path, good = _entry(tmp_path)
    header_len = len(good) - len(bpfcache.compile_bpf(profile(), False))
    damaged = {
        "truncated": good[:-3],
        "a flipped program byte": good[:-1] + bytes([good[-1] ^ 0xFF]),
        "wrong magic": b"X" + good[1:],
        "empty": b"",
        "header only": good[:header_len],
        # A valid-looking entry whose program is not a whole number of instructions.
        "odd length": good + b"\0",
    }
    for what, data in damaged.items():
        path.write_bytes(data)
        prog = bpfcache.program(profile(), False, str(tmp_path))
        assert not prog.cached, what
        assert path.read_bytes() == good, f"{what}: not rewritten"


def test_entry_from_another_arch_is_ignored(tmp_path: Path) -> None:
    path, _ = _entry(tmp_path)
    key = path.name
    bpf = bpfcache.read_entry(str(path), key, bpfcache.machine())
    assert bpf is not None
    other = "aarch64" if bpfcache.machine() != "aarch64" else "x86_64"
    # Same file name (as if copied from another machine), header of the other arch.
    path.unlink()
    bpfcache.write_entry(str(tmp_path), key, other, bpf)
    assert bpfcache.read_entry(str(path), key, bpfcache.machine()) is None
    assert not bpfcache.program(profile(), False, str(tmp_path)).cached
    assert bpfcache.read_entry(str(path), key, bpfcache.machine()) == bpf


def test_unwritable_cache_still_gives_a_working_filter(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    prog = bpfcache.program(profile(), False, str(blocker / "cache"))
    assert not prog.cached
    assert errno_under_filter(prog) == (errno.EPERM, errno.EPERM)
