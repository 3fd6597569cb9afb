"""The C idle monitor's log writer against the Python one (JsonLog), and its build."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rootless.monitor import idle_build
from rootless.monitor.logfile import JsonLog
from tests.conftest import need

STAMP = "2026-01-02T03:04:05.123456789Z"
_TIME = re.compile(rb', "time": "[^"]*"\}\n')


@pytest.fixture(scope="module")
def idle_bin() -> str:
    built = idle_build.ensure_built(retry_failed=True)
    need(built.path, f"the C idle monitor builds ({built.error})", "install gcc and libc6-dev")
    assert built.path
    return built.path


def python_records(tmp: Path, stream: str, data: bytes) -> bytes:
    """JsonLog's bytes for one read chunk, with its stamp replaced by STAMP."""
    path = tmp / "py.log"
    path.unlink(missing_ok=True)
    log = JsonLog(str(path), 0)
    log.write(stream, data)
    log.close()
    return _TIME.sub(b', "time": "' + STAMP.encode() + b'"}\n', path.read_bytes())


def c_records(binary: str, stream: str, data: bytes) -> bytes:
    p = subprocess.run([binary, "--encode", stream, STAMP], input=data, capture_output=True)
    assert p.returncode == 0, p.stderr
    return p.stdout


TRICKY = [
    b"plain line\n",
    b"no newline at the end",
    b"cr\rcrlf\r\nlf\n\n\r\r\n",
    b"\x00nul\x00 and controls \x01\x07\x08\x0b\x0c\x1b[31mred\x1b[0m\x7f\n",
    b'quotes " and backslash \\ and tab \t\n',
    "utf-8: h\u00e9llo \u2713 \U0001f600 \u00ff\n".encode(),
    b"invalid: \xff\xfe \xc0\xaf \xe0\x80\xaf \xed\xa0\x80 \xf4\x90\x80\x80 \xf8\x88\n",
    b"truncated sequences \xe2\x82 \xf0\x9f\x98 \xc3",
    b"x" * 32767,
    b"\n" * 1000,
]


@pytest.mark.parametrize("data", TRICKY, ids=range(len(TRICKY)))
def test_c_log_records_equal_jsonlog_on_tricky_output(
    idle_bin: str, tmp_path: Path, data: bytes
) -> None:
    for stream in ("stdout", "stderr"):
        assert c_records(idle_bin, stream, data) == python_records(tmp_path, stream, data)


# Bytes biased towards what makes encoders disagree: line ends, controls, quotes and
# every kind of UTF-8 lead/continuation byte.
_ALPHABET = st.sampled_from(
    [b"\n", b"\r", b"\r\n", b"\x00", b"\x1f", b'"', b"\\", b"a", b"\x7f", b"\x80", b"\xbf",
     b"\xc2", b"\xdf", b"\xe0", b"\xed", b"\xef", b"\xf0", b"\xf4", b"\xf5", b"\xff",
     b"\xa0", b"\x9f", b"\x90", b"\x8f", "\u00e9".encode(), "\U0001f600".encode()]
)  # fmt: skip


@settings(max_examples=300, deadline=None)
@given(st.one_of(st.binary(max_size=400), st.lists(_ALPHABET, max_size=80).map(b"".join)))
def test_c_log_records_equal_jsonlog_on_random_bytes(idle_bin: str, data: bytes) -> None:
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        assert c_records(idle_bin, "stdout", data) == python_records(Path(tmp), "stdout", data)


def test_build_goes_to_the_cache_dir_once_and_failures_are_remembered(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setenv("CC", "/bin/false")
    failed = idle_build.ensure_built()
    assert failed.path is None and "/bin/false failed" in failed.error
    marker = Path(idle_build.binary_path() + ".failed")
    assert marker.exists()
    monkeypatch.setenv("CC", "cc")
    # A monitor does not retry a failed build on every container...
    assert idle_build.ensure_built().path is None
    # ...`rootless info` does.
    built = idle_build.ensure_built(retry_failed=True)
    need(built.path, f"the C idle monitor builds ({built.error})", "install gcc and libc6-dev")
    assert built.path and built.path.startswith(str(tmp_path / "cache" / "rootless" / "bin"))
    assert re.search(r"rootless-monitor-idle-[0-9a-f]{12}$", built.path)
    assert os.access(built.path, os.X_OK) and not marker.exists()
    mtime = os.stat(built.path).st_mtime_ns
    assert idle_build.ensure_built().path == built.path
    assert os.stat(built.path).st_mtime_ns == mtime  # not rebuilt
    assert not list(Path(built.path).parent.glob("*.tmp"))


def test_forced_python(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(idle_build.FORCE_ENV, "python")
    assert idle_build.forced_python()
    monkeypatch.delenv(idle_build.FORCE_ENV)
    assert not idle_build.forced_python()
