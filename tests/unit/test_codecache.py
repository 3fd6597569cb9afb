"""rootless.codecache: the code dataclasses compiles is stored once and reused, with the
same classes as a result; a damaged, foreign or unwritable cache changes nothing but
the start-up time. Each case runs in a fresh interpreter (the hook is per process)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent.parent

# Defines classes through the hook (or without it), prints what they do as JSON.
_PROBE = """
import dataclasses, json, sys
from rootless import codecache
if sys.argv[1] == "hook":
    codecache.install()

@dataclasses.dataclass(frozen=True)
class Point:
    '''A frozen record.'''
    x: int
    y: int = 2
    tags: tuple[str, ...] = dataclasses.field(default_factory=tuple)

@dataclasses.dataclass
class Box:
    '''A mutable one.'''
    name: str
    size: float = 1.5

import inspect
p = Point(1)
try:
    p.x = 5
    frozen = False
except dataclasses.FrozenInstanceError:
    frozen = True
out = {
    "repr": [repr(p), repr(Box("b"))],
    "eq": [Point(1) == Point(1, 2), Point(1) == Point(2), Box("a") == Box("a", 1.5)],
    "hash": hash(Point(3, 4)) == hash(Point(3, 4)),
    "frozen": frozen,
    "sig": [str(inspect.signature(Point)), str(inspect.signature(Box))],
    "annotations": {k: str(v) for k, v in Box.__init__.__annotations__.items()},
    "new": codecache._new,
    "entries": len(codecache._codes),
}
codecache.save()
print(json.dumps(out))
"""


def _probe(tmp_path: Path, mode: str = "hook", **env: str) -> dict[str, object]:
    e = dict(os.environ, XDG_CACHE_HOME=str(tmp_path / "cache"), PYTHONPATH=str(REPO), **env)
    p = subprocess.run(
        [sys.executable, "-c", _PROBE, mode], capture_output=True, text=True, env=e, cwd=tmp_path
    )
    assert p.returncode == 0, p.stderr
    result: dict[str, object] = json.loads(p.stdout)
    return result


def _cache(tmp_path: Path) -> Path:
    (f,) = (tmp_path / "cache" / "rootless").glob("dataclasses-*.marshal")
    return f


def _same_classes(a: dict[str, object], b: dict[str, object]) -> None:
    for key in ("repr", "eq", "hash", "frozen", "sig", "annotations"):
        assert a[key] == b[key], key


def test_first_run_compiles_and_stores_then_later_runs_reuse(tmp_path: Path) -> None:
    plain = _probe(tmp_path, "plain")
    first = _probe(tmp_path)
    assert first["new"] is True and first["entries"] > 4
    f = _cache(tmp_path)
    assert f.stat().st_mode & 0o777 == 0o600
    assert f.name == f"dataclasses-{sys.implementation.cache_tag}.marshal"
    stored = f.read_bytes()
    second = _probe(tmp_path)
    assert second["new"] is False, "the second run compiled again"
    assert second["entries"] == first["entries"]
    assert f.read_bytes() == stored, "nothing new: the file is left alone"
    _same_classes(plain, first)
    _same_classes(plain, second)
    assert not list(f.parent.glob("*.tmp"))


@pytest.mark.parametrize(
    "content", [b"", b"garbage", b"\xe3\x00\x00", None], ids=["empty", "text", "cut", "list"]
)
def test_a_damaged_cache_is_ignored_and_rewritten(tmp_path: Path, content: bytes | None) -> None:
    import marshal

    f = tmp_path / "cache" / "rootless" / f"dataclasses-{sys.implementation.cache_tag}.marshal"
    f.parent.mkdir(parents=True)
    f.write_bytes(marshal.dumps(["not", "a", "dict"]) if content is None else content)
    f.chmod(0o600)
    out = _probe(tmp_path)
    assert out["new"] is True
    _same_classes(_probe(tmp_path, "plain"), out)
    assert _probe(tmp_path)["new"] is False  # rewritten whole


def test_a_cache_others_may_write_is_not_loaded(tmp_path: Path) -> None:
    _probe(tmp_path)
    f = _cache(tmp_path)
    f.chmod(0o666)
    assert _probe(tmp_path)["new"] is True
    assert f.stat().st_mode & 0o777 == 0o600  # replaced by one of ours


def test_entries_with_the_wrong_types_are_dropped(tmp_path: Path) -> None:
    import marshal

    _probe(tmp_path)
    f = _cache(tmp_path)
    good = marshal.loads(f.read_bytes())
    # The same keys mapped to something that is not code: never exec'd.
    f.write_bytes(marshal.dumps({k: "print('owned')" for k in good}))
    out = _probe(tmp_path)
    assert out["new"] is True


def test_an_unwritable_cache_dir_only_costs_time(tmp_path: Path) -> None:
    """The cache's base is a file, so no one (root included) can make the dir in it."""
    (tmp_path / "cache").write_text("not a directory")
    out = _probe(tmp_path)
    assert out["new"] is True
    assert (tmp_path / "cache").read_text() == "not a directory"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cache"]  # no temp file left


def test_a_big_cache_keeps_only_what_this_run_used(tmp_path: Path) -> None:
    import marshal

    _probe(tmp_path)
    f = _cache(tmp_path)
    stale = {f"def stale_{i}(): pass": compile("pass", "<string>", "exec") for i in range(3000)}
    f.write_bytes(marshal.dumps({**marshal.loads(f.read_bytes()), **stale}))
    # One class changed: a new compilation, so a save, which prunes.
    probe = _PROBE.replace("    size: float = 1.5", "    size: float = 1.5\n    extra: int = 0")
    e = dict(os.environ, XDG_CACHE_HOME=str(tmp_path / "cache"), PYTHONPATH=str(REPO))
    p = subprocess.run([sys.executable, "-c", probe, "hook"], capture_output=True, text=True, env=e)
    assert p.returncode == 0, p.stderr
    kept = marshal.loads(f.read_bytes())
    assert not any(k.startswith("def stale_") for k in kept)
    assert any("_type_extra" in k for k in kept) and any("_type_tags" in k for k in kept)


def test_the_cli_stores_its_classes(tmp_path: Path) -> None:
    """`rootless run` with bad flags still builds the run path's classes and saves them."""
    e = dict(
        os.environ,
        XDG_CACHE_HOME=str(tmp_path / "cache"),
        PYTHONPATH=str(REPO),
        ROOTLESS_ROOT=str(tmp_path / "data"),
        ROOTLESS_RUNROOT=str(tmp_path / "run"),
        ROOTLESS_CONFIG_DIR=str(tmp_path / "config"),
    )
    cmd = [sys.executable, "-m", "rootless", "run", "-e", "=bad", "busybox", "true"]
    p = subprocess.run(cmd, capture_output=True, text=True, env=e)
    assert p.returncode == 125, p.stderr
    import marshal

    entries = marshal.loads(_cache(tmp_path).read_bytes())
    assert any("_type_cap_add" in k for k in entries), "RunSpec's __init__ is not stored"


def test_no_absolute_home_means_no_cache(tmp_path: Path) -> None:
    """Neither a relative XDG_CACHE_HOME nor a missing home puts a cache under the cwd."""
    e = dict(os.environ, PYTHONPATH=str(REPO), XDG_CACHE_HOME="rel", HOME="also-relative")
    p = subprocess.run(
        [sys.executable, "-c", _PROBE, "hook"], capture_output=True, text=True, env=e, cwd=tmp_path
    )
    assert p.returncode == 0, p.stderr
    assert json.loads(p.stdout)["new"] is True
    assert list(tmp_path.iterdir()) == []
