"""Unit tests of the user namespace package: map planning, pid records, error lines.

No namespaces here; the helpers run are real programs (small shell scripts).
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from rootless.errors import EngineError
from rootless.userns import UsernsInfo, idmap, pause
from rootless.userns.info import is_full, parse_map


def test_parse_map_and_full() -> None:
    text = "         0       1001          1\n         1     100000      65536\n"
    lines = parse_map(text)
    assert lines == [(0, 1001, 1), (1, 100000, 65536)]
    assert is_full(lines)
    assert not is_full([(0, 1001, 1)])
    info = UsernsInfo(7, True, lines, lines)
    assert info.to_dict()["uid_map"] == [[0, 1001, 1], [1, 100000, 65536]]


def _subid(tmp: Path, text: str) -> tuple[str, str]:
    (tmp / "subuid").write_text(text)
    (tmp / "subgid").write_text(text)
    return str(tmp / "subuid"), str(tmp / "subgid")


def test_full_plan_stacks_ranges(tmp_path: Path) -> None:
    su, sg = _subid(tmp_path, "alice:100000:65536\nalice:300000:10\nbob:5:5\n")
    p = idmap.plan(1000, 1000, "alice", su, sg)
    assert p.full and p.warning is None
    assert p.uid_map == [(0, 1000, 1), (1, 100000, 65536), (65537, 300000, 10)]
    assert p.gid_map == p.uid_map
    assert p.newuidmap == "/usr/bin/newuidmap"
    argv = idmap.helper_argv("/usr/bin/newuidmap", 42, p.uid_map)
    want = "/usr/bin/newuidmap 42 0 1000 1 1 100000 65536 65537 300000 10"
    assert argv == want.split()


def test_no_subuid_range_falls_back_with_one_line_warning(tmp_path: Path) -> None:
    su, sg = _subid(tmp_path, "bob:100000:65536\n")
    p = idmap.plan(1000, 1001, "alice", su, sg)
    assert not p.full
    assert p.uid_map == [(0, 1000, 1)] and p.gid_map == [(0, 1001, 1)]
    assert p.warning is not None and "\n" not in p.warning
    assert "usermod --add-subuids 100000-165535 --add-subgids 100000-165535 alice" in p.warning
    assert "flattened" in p.warning


def test_missing_or_plain_helper_falls_back(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    su, sg = _subid(tmp_path, "alice:100000:65536\n")
    monkeypatch.setenv(idmap.NEWUIDMAP_ENV, str(tmp_path / "nope"))
    p = idmap.plan(1000, 1000, "alice", su, sg)
    assert (
        not p.full
        and p.warning
        and "missing" in p.warning
        and "apt-get install uidmap" in p.warning
    )

    plain = tmp_path / "newuidmap"
    plain.write_text("#!/bin/sh\nexit 0\n")
    plain.chmod(0o755)
    monkeypatch.setenv(idmap.NEWUIDMAP_ENV, str(plain))
    p = idmap.plan(1000, 1000, "alice", su, sg)
    assert not p.full and p.warning and "not setuid root" in p.warning


def test_real_helpers_are_usable() -> None:
    for path in (idmap.DEFAULT_NEWUIDMAP, idmap.DEFAULT_NEWGIDMAP):
        assert idmap.helper_problem(path) is None, f"{path}: run scripts/setup-host.sh"


def test_failing_helper_is_one_line_error(tmp_path: Path) -> None:
    helper = tmp_path / "newuidmap"
    helper.write_text(
        "#!/bin/sh\necho 'newuidmap: uid range [1-65537) -> [100000-165536) not allowed' >&2\n"
        "exit 1\n"
    )
    helper.chmod(0o755)
    p = idmap.MapPlan([(0, 1, 1)], [(0, 1, 1)], True, str(helper), str(helper))
    with pytest.raises(EngineError) as ei:
        idmap.apply(p, os.getpid())
    line = ei.value.line()
    assert "\n" not in line
    assert "newuidmap refused" in line and "not allowed" in line
    assert "usermod --add-subuids" in line


def test_pid_record_roundtrip_and_validation(tmp_path: Path) -> None:
    assert pause.read_record(tmp_path) is None
    me = os.getpid()
    start = pause.starttime(me)
    assert start is not None and start > 0
    rec = pause.PauseRecord(me, start)
    pause.write_record(tmp_path, rec)
    assert pause.read_record(tmp_path) == rec
    assert stat.S_IMODE(pause.pidfile(tmp_path).stat().st_mode) == 0o600
    # Alive, right start time, but not a pause process: stale.
    assert not pause.is_pause(rec, tmp_path)
    assert pause.live_record(tmp_path) is None
    assert not pause.is_pause(pause.PauseRecord(me, start + 1), tmp_path)
    # stop() on a stale record removes the file and kills nothing.
    assert pause.stop(tmp_path) is None
    assert not pause.pidfile(tmp_path).exists()


def test_garbage_pidfile_is_ignored(tmp_path: Path) -> None:
    pause.pidfile(tmp_path).write_text("not a pid\n")
    assert pause.read_record(tmp_path) is None
    pause.pidfile(tmp_path).write_text("123\n")  # no start time: untrusted
    assert pause.read_record(tmp_path) is None


def test_pause_argv_carries_marker_and_runtime(tmp_path: Path) -> None:
    argv = pause.pause_argv(tmp_path)
    assert pause.MARKER in argv and str(tmp_path) in argv
    assert "-S" in argv  # no site: the pause imports nothing it does not need


def test_unshare_error_is_one_line() -> None:
    from rootless.userns.spawn import _unshare_error

    err = _unshare_error(1)
    assert "cannot create a user namespace" in err.line()
    assert "\n" not in err.line() and err.hint


def test_namespace_limit_is_named() -> None:
    import errno

    from rootless.userns.spawn import _unshare_error

    line = _unshare_error(errno.ENOSPC).line()
    assert "max_user_namespaces" in line and "\n" not in line
