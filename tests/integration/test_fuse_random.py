"""Randomized: hypothesis drives sequences of file operations on a fuse_overlay mount
and on a plain directory holding what the merged view should be, and compares every
result and the final trees.

The hypothesis loop runs as root in a user+mount namespace
(`python -m tests.integration.test_fuse_random`); the test checks it passed.
"""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import sys
import tempfile
from typing import Any

import pytest

from tests.conftest import need
from tests.integration.test_overlay_semantics_harness import (
    REPO,
    Mount,
    in_namespace_cmd,
    run_ops,
    whiteout,
    write,
)

NAMES = ["a", "b", "d1", "d1/a", "d1/b", "d1/e", "d1/e/f", "d2", "d2/c", "d3", "d3/z", "x"]
pytestmark = pytest.mark.slow
EXAMPLES = int(os.environ.get("FUSE_RANDOM_EXAMPLES", "60"))


def build_lowers(base: str) -> list[str]:
    """Two lower layers with a whiteout and an opaque dir (top first)."""
    l1, l2 = os.path.join(base, "l1"), os.path.join(base, "l2")
    write(f"{l2}/a", "l2 a\n")
    write(f"{l2}/d1/a", "l2 d1/a\n")
    write(f"{l2}/d1/e/f", "l2 f\n")
    write(f"{l2}/d2/c", "l2 c\n")
    write(f"{l2}/d2/hidden", "hidden\n")
    write(f"{l2}/b", "l2 b (whited out)\n")
    write(f"{l1}/d1/b", "l1 d1/b\n")
    write(f"{l1}/d2/c", "l1 c\n")
    os.setxattr(f"{l1}/d2", "user.overlay.opaque", b"y")
    whiteout(f"{l1}/b")
    write(f"{l1}/x", "l1 x\n", 0o600)
    return [l1, l2]


def build_reference(ref: str) -> None:
    """What the merged view of build_lowers must look like."""
    write(f"{ref}/a", "l2 a\n")
    write(f"{ref}/d1/a", "l2 d1/a\n")
    write(f"{ref}/d1/e/f", "l2 f\n")
    write(f"{ref}/d1/b", "l1 d1/b\n")
    write(f"{ref}/d2/c", "l1 c\n")
    write(f"{ref}/x", "l1 x\n", 0o600)


def tree(root: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            p = os.path.join(dirpath, name)
            st = os.lstat(p)
            d: dict[str, Any] = {"mode": oct(st.st_mode)}
            if stat.S_ISREG(st.st_mode):
                with open(p, "rb") as f:
                    d["data"] = f.read()
                d["nlink"] = st.st_nlink
            elif stat.S_ISLNK(st.st_mode):
                d["target"] = os.readlink(p)
            if not stat.S_ISLNK(st.st_mode):
                d["xattrs"] = sorted(os.listxattr(p, follow_symlinks=False))
            out[os.path.relpath(p, root)] = d
    return out


def run_hypothesis() -> None:
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    name = st.sampled_from(NAMES)
    data = st.text(alphabet="xyz\n", max_size=12)
    op = st.one_of(
        st.tuples(st.just("write"), name, data),
        st.tuples(st.just("append"), name, data),
        st.tuples(st.just("rw_middle"), name, data),
        st.tuples(st.just("truncate"), name, st.integers(0, 20)),
        st.tuples(st.just("read"), name),
        st.tuples(st.just("unlink"), name),
        st.tuples(st.just("mkdir"), name),
        st.tuples(st.just("rmdir"), name),
        st.tuples(st.just("rename"), name, name),
        st.tuples(st.just("link"), name, name),
        st.tuples(st.just("symlink"), st.sampled_from(["a", "../x", "nowhere"]), name),
        st.tuples(st.just("chmod"), name, st.sampled_from([0o600, 0o755, 0o640])),
        st.tuples(st.just("setxattr"), name, st.sampled_from(["user.k", "user.j"]), data),
        st.tuples(st.just("readdir"), st.sampled_from([".", "d1", "d2", "d3", "d1/e"])),
        st.tuples(st.just("stat"), name),
        st.tuples(st.just("rmtree"), st.sampled_from(["d1", "d2", "d3"])),
    )
    work_root = tempfile.mkdtemp(prefix="fuse-random-")

    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
        print_blob=True,
    )
    @given(st.lists(op, min_size=1, max_size=25))
    def check(ops: list[tuple[Any, ...]]) -> None:
        base = tempfile.mkdtemp(dir=work_root)
        try:
            lowers = build_lowers(base)
            ref = os.path.join(base, "ref")
            build_reference(ref)
            up, wk, merged = (os.path.join(base, n) for n in ("u", "w", "m"))
            for d in (up, wk, merged):
                os.mkdir(d)
            os.chmod(ref, 0o755)
            os.chmod(merged, 0o755)
            opl = [list(o) for o in ops]
            mnt = Mount("fuse", lowers, up, wk, merged)
            try:
                got = run_ops(merged, opl)
                got_tree = tree(merged)
            finally:
                mnt.close()
            want = run_ops(ref, opl)
            assert got == want, f"results differ:\n fuse {got}\n  ref {want}"
            assert got_tree == tree(ref), f"trees differ:\n fuse {got_tree}\n  ref {tree(ref)}"
        finally:
            shutil.rmtree(base, ignore_errors=True)

    try:
        check()
    finally:
        shutil.rmtree(work_root, ignore_errors=True)


def test_random_operations_match_a_plain_directory() -> None:
    need(os.access("/dev/fuse", os.R_OK | os.W_OK), "/dev/fuse usable by the test user")
    p = subprocess.run(
        in_namespace_cmd("tests.integration.test_fuse_random"),
        capture_output=True,
        text=True,
        timeout=600,
        cwd=REPO,
    )
    assert p.returncode == 0, (p.stdout + p.stderr)[-6000:]


if __name__ == "__main__":
    sys.path.insert(0, str(REPO))
    run_hypothesis()
