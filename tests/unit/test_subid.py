from pathlib import Path

from rootless.userns.subid import IdRange, ranges_for


def test_ranges_by_name_and_uid(tmp_path: Path) -> None:
    f = tmp_path / "subuid"
    f.write_text("# comment\nalice:100000:65536\nbob:165536:65536\n1001:300000:10\nbad line\n")
    assert ranges_for("alice", 1000, f) == [IdRange(100000, 65536)]
    assert ranges_for("carol", 1001, f) == [IdRange(300000, 10)]
    assert ranges_for("nobody", 5, f) == []


def test_missing_file_is_empty(tmp_path: Path) -> None:
    assert ranges_for("alice", 1000, tmp_path / "nope") == []
