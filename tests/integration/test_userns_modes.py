"""`run --userns nomap|keep-id` for real: nested user namespaces made by our runtime (and
runc), an ID-shifted copy of the image for nomap, and Docker's exit codes for start-up
failures (only failing to execute the command is 126/127)."""

from __future__ import annotations

import getpass
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from rootless.engine.containers.launch import start_error
from tests.conftest import Env, need
from tests.integration.test_containers_support import assert_no_debris, force_cleanup

PROBE = (
    "id; cat /proc/self/uid_map; stat -c '%u:%g %n' /bin/busybox /etc/passwd /; "
    "echo hi > /tmp/t && mkdir /root/d && echo wrote; exit 3"
)


@pytest.fixture
def eng(rl: Env, busybox_image: str) -> Iterator[Env]:
    yield rl
    force_cleanup(rl)


def _subuid_start() -> int:
    me = getpass.getuser()
    for line in Path("/etc/subuid").read_text().splitlines():
        name, start, _count = line.split(":")
        if name in (me, str(os.getuid())):
            return int(start)
    raise AssertionError("no subuid range for the test user")


def _ranges(uid_map: str) -> list[tuple[int, int, int]]:
    return [(int(a), int(b), int(c)) for a, b, c in (ln.split() for ln in uid_map.splitlines())]


def _to_outer(ids: range, outer: list[tuple[int, int, int]]) -> set[int]:
    """Host ids of the engine ids `ids`, through the engine's own map."""
    out = set()
    for i in ids:
        for inside, host, size in outer:
            if inside <= i < inside + size:
                out.add(host + i - inside)
    return out


def test_nomap_is_root_over_subordinate_ids_only(eng: Env) -> None:
    r = eng.run("run", "--rm", "--userns=nomap", "--network", "none", "busybox", "sh", "-c", PROBE)
    assert r.rc == 3, r.err  # the container's exit code passes through
    lines = r.out.splitlines()
    assert lines[0].startswith("uid=0(root) gid=0(root)"), r.out
    inner = _ranges(lines[1])
    # Image files (and the rootfs' /) are root's inside, not nobody's.
    assert lines[2:5] == ["0:0 /bin/busybox", "0:0 /etc/passwd", "0:0 /"], r.out
    assert lines[5] == "wrote", r.out
    # Through the engine's map, the container's ids are all subordinate: the user's
    # own uid is not among them.
    outer = _ranges(eng.run("unshare", "cat", "/proc/self/uid_map", check=True).out)
    hosts = set()
    for _inside, engine_id, size in inner:
        hosts |= _to_outer(range(engine_id, engine_id + size), outer)
    assert os.getuid() not in hosts and min(hosts) == _subuid_start(), (inner, outer)
    assert_no_debris(eng)


def test_runc_refused_a_rootfs_it_cannot_reach_is_an_engine_error(eng: Env) -> None:
    """runc resolves the rootfs path as the container's root: under the test's 0700 dirs
    a nomap root (a subordinate id) may not search them. That failure reads "permission
    denied" but is not about executing the command: 125, not 126."""
    need(shutil.which("runc"), "runc", "apt-get install runc")
    need(not os.stat(eng.root.parent).st_mode & 0o001, "a 0700 test dir", "pytest's tmp_path")
    r = eng.run("run", "--rm", "--runtime", "runc", "--userns=nomap", "--network", "none",
                "busybox", "true")  # fmt: skip
    assert r.rc == 125 and "permission denied" in r.err, r.err
    assert len(r.err.strip().splitlines()) == 1, r.err
    assert_no_debris(eng)


def test_nomap_files_land_on_a_subordinate_id_and_survive_restart(eng: Env) -> None:
    r = eng.run("run", "--name", "nm", "--userns=nomap", "--network", "none", "busybox",
                "sh", "-c", "echo made > /made")  # fmt: skip
    assert r.rc == 0, r.err
    made = list(eng.root.glob("storage/*/containers/*/*/made"))
    assert len(made) == 1, made
    st = made[0].lstat()
    assert (st.st_uid, st.st_gid) == (_subuid_start(), _subuid_start())  # not the user's
    r = eng.run("start", "-a", "nm")  # same container again: its shifted rootfs is kept
    assert r.rc == 0, r.err
    r = eng.run("run", "--rm", "--userns=nomap", "--network", "none", "busybox",
                "nosuchcmd")  # fmt: skip
    assert r.rc == 127 and "nosuchcmd" in r.err, r.err
    eng.run("rm", "nm", check=True)
    assert_no_debris(eng)


def test_nomap_copy_is_shared_and_leaves_the_image_layers_alone(eng: Env) -> None:
    layers = "storage/*/layers/*/diff/bin/busybox"
    before = {p: p.lstat().st_uid for p in eng.root.glob(layers)}
    for _ in range(2):
        r = eng.run("run", "--rm", "--userns=nomap", "--network", "none", "busybox", "true")
        assert r.rc == 0, r.err
    copies = list(eng.root.glob("storage/*/shifted/*"))
    assert len(copies) == 1 and copies[0].stat().st_uid == _subuid_start(), copies
    r = eng.run("run", "--rm", "--userns=keep-id", "busybox", "id", "-u")
    assert (r.rc, r.out.strip()) == (0, str(os.getuid())), r.err
    after = {p: p.lstat().st_uid for p in eng.root.glob(layers)}
    assert before == after and before
    assert_no_debris(eng)
    eng.run("rmi", "busybox", check=True)  # the copy goes with the image's layers
    assert list(eng.root.glob("storage/*/shifted/*")) == []


@pytest.mark.parametrize(
    ("message", "code"),
    [
        ('exec: "nosuch": executable file not found in $PATH', 127),
        ('exec: "/no/file": stat /no/file: no such file or directory', 127),
        ('exec: "/etc/passwd": permission denied', 126),
        (
            'runc create failed: unable to start container process: exec: "/etc": is a directory',
            126,
        ),
        ("exec /bin/x: exec format error", 126),
        # Failures to set the container up are the engine's, whatever their reason says.
        ("mount proc on /proc: Permission denied", 125),
        ("container init: No such file or directory /run/x", 125),
        ("newuidmap failed: write to uid_map failed: Operation not permitted", 125),
    ],
)
def test_only_exec_failures_are_126_or_127(message: str, code: int) -> None:
    assert start_error(message).exit_code == code


def test_nomap_debian_keeps_setuid_bits_and_group_owners(rl: Env, debian_image: str) -> None:
    """chown(2) clears setuid/setgid bits: the shifted copy must put them back."""
    try:
        probe = "stat -c '%a %u:%g %n' /usr/bin/su /usr/bin/passwd /etc/shadow; id -u; apt-get --version | head -1"
        r = rl.run(
            "run", "--rm", "--userns=nomap", "--network", "none", debian_image, "sh", "-c", probe
        )
        assert r.rc == 0, r.err
        lines = r.out.splitlines()
        assert lines[0] == "4755 0:0 /usr/bin/su", r.out
        assert lines[1] == "4755 0:0 /usr/bin/passwd", r.out
        assert lines[2].endswith(" /etc/shadow") and lines[2].split()[1] == "0:42", r.out
        assert lines[3] == "0" and lines[4].startswith("apt "), r.out
    finally:
        force_cleanup(rl)
