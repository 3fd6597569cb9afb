"""`start` against an init that writes exec.fifo, execs and exits between two of start's
looks (a quick `true` on a loaded machine): the byte it wrote still means "started"."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from rootless.runtime import lifecycle
from rootless.runtime.state import ContainerState, Store


def test_start_succeeds_when_init_wrote_then_exited_between_checks(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = Store(str(tmp_path))
    store.reserve("c1")
    fifo = store.fifo("c1")
    os.mkfifo(fifo, 0o622)
    st = ContainerState("c1", pid=424242, bundle="/b", rootfs="/r", created="", start_time=7)

    def init_wrote_and_exited(pid: int) -> int | None:
        # The moment start looks at the init: it has written its byte and is gone.
        w = os.open(fifo, os.O_WRONLY | os.O_NONBLOCK)
        os.write(w, b"0")
        os.close(w)
        return None

    monkeypatch.setattr(lifecycle, "proc_start_time", init_wrote_and_exited)
    lifecycle._release(store, st)
    assert not os.path.exists(fifo)


def test_start_fails_when_init_exited_without_writing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = Store(str(tmp_path))
    store.reserve("c2")
    os.mkfifo(store.fifo("c2"), 0o622)
    st = ContainerState("c2", pid=424242, bundle="/b", rootfs="/r", created="", start_time=7)
    monkeypatch.setattr(lifecycle, "proc_start_time", lambda pid: None)
    with pytest.raises(lifecycle.EngineError, match="init exited before start"):
        lifecycle._release(store, st)
