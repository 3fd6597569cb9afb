"""Which id map the pause process gets, and writing it.

Full map: our uid -> 0 and the /etc/subuid ranges -> 1..N (same for gids), written by
the setuid newuidmap/newgidmap. Without a range or a usable helper we fall back to a
single-id map (our uid -> 0), which we may write ourselves, and say what breaks.
"""

from __future__ import annotations

import os
import stat
import subprocess
from dataclasses import dataclass

from rootless.errors import EngineError
from rootless.userns import subid
from rootless.userns.info import MapLine

# Overridable so tests (and odd installs) can point at other helpers; HOST-NOTES:
# call them by absolute path, never through PATH.
NEWUIDMAP_ENV = "ROOTLESS_NEWUIDMAP"
NEWGIDMAP_ENV = "ROOTLESS_NEWGIDMAP"
DEFAULT_NEWUIDMAP = "/usr/bin/newuidmap"
DEFAULT_NEWGIDMAP = "/usr/bin/newgidmap"

SUBID_FIX = "as root: usermod --add-subuids 100000-165535 --add-subgids 100000-165535 {user}"
UIDMAP_FIX = "as root: apt-get install uidmap (or chmod u+s {path})"


@dataclass(frozen=True)
class MapPlan:
    uid_map: list[MapLine]
    gid_map: list[MapLine]
    full: bool
    newuidmap: str | None = None  # helpers to run for a full map
    newgidmap: str | None = None
    warning: str | None = None  # one line for stderr when we fell back


def helper_problem(path: str) -> str | None:
    """Why `path` cannot write a full map (missing, not setuid root), or None."""
    try:
        st = os.stat(path)
    except OSError:
        return f"{path} is missing"
    if st.st_mode & stat.S_ISUID and st.st_uid == 0:
        return None
    try:
        if os.getxattr(path, "security.capability"):
            return None
    except OSError:
        pass
    return f"{path} is not setuid root"


def _stack(own: int, ranges: list[subid.IdRange]) -> list[MapLine]:
    lines: list[MapLine] = [(0, own, 1)]
    inside = 1
    for r in ranges:
        lines.append((inside, r.start, r.count))
        inside += r.count
    return lines


def plan(
    uid: int | None = None,
    gid: int | None = None,
    user: str | None = None,
    subuid_file: str = "/etc/subuid",
    subgid_file: str = "/etc/subgid",
) -> MapPlan:
    cur_uid, cur_name = subid.current_user()
    uid = cur_uid if uid is None else uid
    gid = os.getgid() if gid is None else gid
    user = user or cur_name
    single = MapPlan([(0, uid, 1)], [(0, gid, 1)], full=False)
    consequence = (
        "using a single-id user namespace: files owned by other ids in images are "
        "flattened to 0 and containers cannot switch to other users"
    )

    uranges = subid.ranges_for(user, uid, subuid_file)
    granges = subid.ranges_for(user, uid, subgid_file)
    if not uranges or not granges:
        missing = subuid_file if not uranges else subgid_file
        why = f"no range for {user} in {missing}"
        fix = SUBID_FIX.format(user=user)
        return _with_warning(single, f"{why}; {consequence} (fix: {fix})")

    newuidmap = os.environ.get(NEWUIDMAP_ENV) or DEFAULT_NEWUIDMAP
    newgidmap = os.environ.get(NEWGIDMAP_ENV) or DEFAULT_NEWGIDMAP
    for path in (newuidmap, newgidmap):
        problem = helper_problem(path)
        if problem:
            fix = UIDMAP_FIX.format(path=path)
            return _with_warning(single, f"{problem}; {consequence} (fix: {fix})")
    return MapPlan(
        _stack(uid, uranges), _stack(gid, granges), True, newuidmap=newuidmap, newgidmap=newgidmap
    )


def _with_warning(p: MapPlan, text: str) -> MapPlan:
    return MapPlan(p.uid_map, p.gid_map, p.full, warning=f"rootless: warning: {text}")


def helper_argv(helper: str, pid: int, lines: list[MapLine]) -> list[str]:
    """newuidmap PID INSIDE OUTSIDE COUNT [INSIDE OUTSIDE COUNT ...]"""
    return [helper, str(pid), *(str(n) for line in lines for n in line)]


def _run_helper(helper: str, pid: int, lines: list[MapLine], user: str) -> None:
    argv = helper_argv(helper, pid, lines)
    try:
        res = subprocess.run(argv, capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired) as e:
        raise EngineError(
            f"cannot run {helper}: {e}", hint=UIDMAP_FIX.format(path=helper)
        ) from None
    if res.returncode != 0:
        said = (res.stderr.strip().splitlines() or [f"exit status {res.returncode}"])[-1]
        name = os.path.basename(helper)
        kind = "subuid" if "uid" in name else "subgid"
        raise EngineError(
            f"{name} refused to map ids for the pause process: {said}",
            hint=f"check /etc/{kind} allocates the range to {user}: "
            + SUBID_FIX.format(user=user)
            + f"; {helper} must be setuid root",
        )


def apply(p: MapPlan, pid: int) -> None:
    """Write the maps of process `pid`, which has just unshared its user namespace."""
    from rootless import syscalls

    if p.full:
        assert p.newuidmap and p.newgidmap
        user = subid.current_user()[1]
        _run_helper(p.newuidmap, pid, p.uid_map, user)
        _run_helper(p.newgidmap, pid, p.gid_map, user)
        return
    # An unprivileged single-id map requires setgroups to be denied first.
    try:
        syscalls.write_proc(f"/proc/{pid}/setgroups", "deny")
        syscalls.write_proc(f"/proc/{pid}/uid_map", _fmt(p.uid_map))
        syscalls.write_proc(f"/proc/{pid}/gid_map", _fmt(p.gid_map))
    except OSError as e:
        raise EngineError(
            f"cannot write the single-id map of the pause process: {e.strerror or e}",
            hint="the kernel refused an unprivileged id map; see `rootless info`",
        ) from None


def _fmt(lines: list[MapLine]) -> str:
    return "".join(f"{a} {b} {c}\n" for a, b, c in lines)
