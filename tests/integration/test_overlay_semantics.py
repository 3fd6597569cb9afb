"""Overlay semantics: the same cases on the kernel overlay and on fuse_overlay.

Every case starts from the standard layers (see build_standard_layers), mounts them,
runs a few file operations on lower-only, upper-only, whited-out and opaque paths, and
records the results, the visible (merged) tree and the upper dir. The kernel overlay
(user namespace, userxattr) is the reference: fuse_overlay must match it exactly, so a
layer store written by one driver reads the same through the other.

Both backends run in one namespace session each (in parallel); each case is a test.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import traceback
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import need
from tests.integration.test_overlay_semantics_harness import (
    REPO,
    Mount,
    build_standard_layers,
    in_namespace_cmd,
    run_ops,
    snapshot,
)

FILES = [
    "f_lower",
    "f_upper",
    "f_wh",
    "f_both",
    "dir_merge/m2",
    "dir_opq/hidden1",
    "dir_upper_opq/uonly",
]
FILE_OPS: dict[str, Any] = {
    "read": lambda t: [["read", t]],
    "write": lambda t: [["write", t, "new\n"], ["read", t]],
    "append": lambda t: [["append", t, "more\n"], ["read", t]],
    "rw_middle": lambda t: [["rw_middle", t, "XY"], ["read", t]],
    "truncate": lambda t: [["truncate", t, 3], ["read", t]],
    "chmod": lambda t: [["chmod", t, 0o600], ["stat", t]],
    "chown": lambda t: [["chown", t, 1000, 1001], ["stat", t]],
    "utime": lambda t: [["utime", t], ["stat", t]],
    "setxattr": lambda t: [["setxattr", t, "user.new", "v"], ["listxattr", t]],
    "unlink": lambda t: [["unlink", t], ["exists", t]],
    "unlink_recreate": lambda t: [["unlink", t], ["write", t, "again\n"], ["read", t]],
    "rename": lambda t: [["rename", t, "renamed"], ["read", "renamed"], ["exists", t]],
    "rename_over_lower": lambda t: [["rename", t, "f_both"], ["read", "f_both"]],
    "link": lambda t: [["link", t, "hl"], ["stat", "hl"], ["append", "hl", "x"], ["read", t]],
    "excl": lambda t: [["excl", t]],
}
DIRS = ["dir_lower", "dir_upper", "dir_wh", "dir_opq", "dir_merge", "dir_upper_opq", "empty_l1"]
DIR_OPS: dict[str, Any] = {
    "readdir": lambda d: [["readdir", d]],
    "create_inside": lambda d: [["write", d + "/new", "n\n"], ["readdir", d]],
    "mkdir_inside": lambda d: [["mkdir", d + "/nd"], ["readdir", d]],
    "rmdir": lambda d: [["rmdir", d], ["exists", d]],
    "rmtree_recreate": lambda d: [["rmtree", d], ["exists", d], ["mkdir", d], ["readdir", d]],
    "mv": lambda d: [["mv", d, "moved"], ["readdir", "moved"], ["exists", d]],
    "chmod": lambda d: [["chmod", d, 0o700], ["stat", d]],
    "setxattr": lambda d: [["setxattr", d, "user.d", "1"], ["getxattr", d, "user.d"]],
}
SPECIAL: dict[str, list[list[Any]]] = {
    "symlink_new": [["symlink", "f_lower", "sl"], ["readlink", "sl"], ["read", "sl"]],
    "symlink_over_whiteout": [["symlink", "f_lower", "f_wh"], ["read", "f_wh"]],
    "symlink_lower_read": [["readlink", "link_lower"], ["read", "link_lower"]],
    "symlink_lower_chown": [["chown", "link_lower", 1000, 1000], ["stat", "link_lower"]],
    "symlink_lower_unlink": [["unlink", "link_lower"], ["exists", "link_lower"]],
    "symlink_lower_rename": [["rename", "link_lower", "l2"], ["read", "l2"]],
    "fifo_new": [["mkfifo", "pipe"], ["stat", "pipe"]],
    "fifo_over_whiteout": [["mkfifo", "f_wh"], ["stat", "f_wh"]],
    "fifo_lower_chmod": [["chmod", "fifo_lower", 0o600], ["stat", "fifo_lower"]],
    "fifo_lower_unlink": [["unlink", "fifo_lower"]],
    "socket_new": [["socket", "sock"], ["stat", "sock"]],
    "sparse_copy_up": [["chmod", "sparse_lower", 0o600], ["stat", "sparse_lower"]],
    "sparse_append": [["append", "sparse_lower", "end"], ["stat", "sparse_lower"]],
    "hardlink_lower_write_one": [["append", "hard1", "more"], ["read", "hard2"]],
    "hardlink_lower_unlink_one": [["unlink", "hard1"], ["read", "hard2"]],
    "xattr_lower_get": [["getxattr", "xattr_lower", "user.test"], ["listxattr", "xattr_lower"]],
    "xattr_lower_remove": [
        ["removexattr", "xattr_lower", "user.test"],
        ["listxattr", "xattr_lower"],
    ],
    "xattr_lower_remove_missing": [["removexattr", "xattr_lower", "user.nope"]],
    "xattr_lower_copied_on_write": [["append", "xattr_lower", "y"], ["listxattr", "xattr_lower"]],
    "owner_kept_on_copy_up": [["append", "owned_1000", "y"], ["stat", "owned_1000"]],
    "exec_mode_kept_on_copy_up": [["append", "exe_lower", "#"], ["stat", "exe_lower"]],
    "deep_copy_up": [["write", "dir_lower/sub/c", "C\n"], ["readdir", "dir_lower/sub"]],
    "deep_create": [["mkdir", "dir_lower/sub/x"], ["write", "dir_lower/sub/x/y", "y"]],
    "mkdir_over_whiteout_file": [["mkdir", "f_wh"], ["readdir", "f_wh"]],
    "mkdir_over_whiteout_dir": [["mkdir", "dir_wh"], ["readdir", "dir_wh"]],
    "mkdir_over_upper_whiteout": [["mkdir", "f_gone"], ["readdir", "f_gone"]],
    "file_over_removed_dir": [["rmtree", "dir_lower"], ["write", "dir_lower", "now a file"]],
    "rename_into_opaque_dir": [["rename", "f_lower", "dir_opq/f"], ["readdir", "dir_opq"]],
    "rename_upper_dir_over_empty_lower": [
        ["rename", "dir_upper", "empty_l1"],
        ["readdir", "empty_l1"],
    ],
    "rename_file_onto_whiteout": [["rename", "f_upper", "f_wh"], ["read", "f_wh"]],
    "rename_new_file_twice": [
        ["write", "n1", "n"],
        ["rename", "n1", "n2"],
        ["rename", "n2", "f_lower"],
    ],
    "mv_dir_into_nonempty": [["mv", "dir_upper", "dir_lower"], ["readdir", "dir_lower"]],
    "rename_dir_over_nonempty": [["rename", "dir_upper", "dir_merge"]],
    "rename_dir_over_file": [["rename", "dir_upper", "f_lower"]],
    "rename_file_over_dir": [["rename", "f_lower", "empty_l1"]],
    "rename_dir_into_itself": [["rename", "dir_upper", "dir_upper/sub"]],
    "rmdir_nonempty_merged": [["rmdir", "dir_merge"]],
    "rmdir_after_emptying_merged": [
        ["unlink", "dir_merge/m1"],
        ["unlink", "dir_merge/m2"],
        ["readdir", "dir_merge"],
        ["rmdir", "dir_merge"],
    ],
    "unlink_dir_is_eisdir": [["unlink", "dir_lower"]],
    "rmdir_file_is_enotdir": [["rmdir", "f_lower"]],
    "whiteouted_is_absent": [["exists", "f_wh"], ["exists", "dir_wh"], ["exists", "f_gone"]],
    "readdir_root": [["readdir", "."]],
    "create_in_whiteouted_dir": [["write", "dir_wh/x", "x"]],
    "truncate_grow_lower": [["truncate", "f_lower", 100000], ["stat", "f_lower"]],
    "rw_in_copied_up_then_unlink": [
        ["append", "f_lower", "a"],
        ["unlink", "f_lower"],
        ["write", "f_lower", "b"],
    ],
}


def all_cases() -> dict[str, list[list[Any]]]:
    cases: dict[str, list[list[Any]]] = {}
    for op, make in FILE_OPS.items():
        for t in FILES:
            cases[f"file-{op}-{t}"] = make(t)
    for op, make in DIR_OPS.items():
        for d in DIRS:
            cases[f"dir-{op}-{d}"] = make(d)
    cases.update({f"special-{k}": v for k, v in SPECIAL.items()})
    return cases


CASES = all_cases()
pytestmark = pytest.mark.slow  # ~200 mounts per backend


# ------------------------------------------------------------ inside the namespace
def run_cases(backend: str, root: str, names: list[str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for i, name in enumerate(names):
        base = os.path.join(root, f"c{i}")
        try:
            lowers, upper, work, merged = build_standard_layers(base)
            mnt = Mount(backend, lowers, upper, work, merged)
            try:
                results = run_ops(merged, CASES[name])
                visible = snapshot(merged)
            finally:
                mnt.close()
            out[name] = {"results": results, "merged": visible, "upper": snapshot(upper, True)}
        except Exception:
            out[name] = {"error": traceback.format_exc()}
        finally:
            shutil.rmtree(base, ignore_errors=True)
    return out


def main() -> None:
    payload = json.load(sys.stdin)
    json.dump(run_cases(payload["backend"], payload["root"], payload["cases"]), sys.stdout)


# ------------------------------------------------------------ the tests
@pytest.fixture(scope="module")
def outcomes() -> dict[str, dict[str, Any]]:
    need(shutil.which("unshare"), "unshare (util-linux)")
    need(os.access("/dev/fuse", os.R_OK | os.W_OK), "/dev/fuse usable by the test user")
    names = list(CASES)
    procs = {}
    tmp = tempfile.mkdtemp(prefix="ovl-sem-")
    try:
        for backend in ("kernel", "fuse"):
            root = os.path.join(tmp, backend)
            os.mkdir(root)
            procs[backend] = subprocess.Popen(
                in_namespace_cmd("tests.integration.test_overlay_semantics"),
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
                cwd=REPO,
            )
            assert procs[backend].stdin is not None
            procs[backend].stdin.write(
                json.dumps({"backend": backend, "root": root, "cases": names})
            )
            procs[backend].stdin.close()
        res = {}
        for backend, p in procs.items():
            assert p.stdout is not None and p.stderr is not None
            out = p.stdout.read()
            err = p.stderr.read()
            p.wait(timeout=600)
            assert p.returncode == 0, f"{backend} session failed:\n{err[-4000:]}"
            res[backend] = json.loads(out)
        return res
    finally:
        for p in procs.values():
            if p.poll() is None:
                p.kill()
                p.wait()
        shutil.rmtree(tmp, ignore_errors=True)


def test_case_count() -> None:
    assert len(CASES) >= 60


@pytest.mark.parametrize("name", list(CASES))
def test_same_as_kernel(outcomes: dict[str, dict[str, Any]], name: str) -> None:
    kernel, fuse = outcomes["kernel"][name], outcomes["fuse"][name]
    assert "error" not in kernel, kernel.get("error")
    assert "error" not in fuse, fuse.get("error")
    assert fuse["results"] == kernel["results"]
    assert fuse["merged"] == kernel["merged"]
    assert fuse["upper"] == kernel["upper"]


# Cases whose outcome we also pin down, so a bug shared by both backends shows.
EXPECT: dict[str, Any] = {
    "file-unlink-f_lower": lambda r: r["upper"]["f_lower"] == {"kind": "whiteout"},
    "file-unlink-f_upper": lambda r: "f_upper" not in r["upper"],
    "file-read-f_wh": lambda r: r["results"] == ["ENOENT"],
    "file-read-dir_opq/hidden1": lambda r: r["results"] == ["ENOENT"],
    "file-write-f_lower": lambda r: r["merged"]["f_lower"]["data"] == "new\n",
    "file-read-f_both": lambda r: r["results"] == ["L1 f_both\n"],
    "file-chmod-f_lower": lambda r: r["upper"]["f_lower"]["data"] == "L2 f_lower\n",
    "dir-readdir-dir_merge": lambda r: r["results"] == [["m1", "m2"]],
    "dir-readdir-dir_opq": lambda r: r["results"] == [["visible1"]],
    "dir-readdir-dir_upper_opq": lambda r: r["results"] == [["uonly"]],
    "dir-rmtree_recreate-dir_lower": lambda r: (
        r["upper"]["dir_lower"]["xattrs"] == {"user.overlay.opaque": "y"}
    ),
    "special-sparse_copy_up": lambda r: r["upper"]["sparse_lower"]["sparse"] is True,
    "special-owner_kept_on_copy_up": lambda r: r["upper"]["owned_1000"]["owner"] == [1000, 1000],
    "special-rename_dir_over_nonempty": lambda r: r["results"] == ["ENOTEMPTY"],
    "special-rename_dir_over_file": lambda r: r["results"] == ["ENOTDIR"],
    "special-rename_file_over_dir": lambda r: r["results"] == ["EISDIR"],
    "special-mv_dir_into_nonempty": lambda r: (
        r["upper"]["dir_lower/dir_upper"]["xattrs"] == {"user.overlay.opaque": "y"}
    ),
}


@pytest.mark.parametrize("name", list(EXPECT))
def test_expected_outcome(outcomes: dict[str, dict[str, Any]], name: str) -> None:
    for backend in ("kernel", "fuse"):
        r = outcomes[backend][name]
        assert "error" not in r, r.get("error")
        assert EXPECT[name](r), f"{backend}: {json.dumps(r, indent=1)[:3000]}"


if __name__ == "__main__":
    sys.path.insert(0, str(Path(REPO)))
    main()
