"""Logs (json-file writer and reader), detach keys, ps filters/templates, safe paths."""

from __future__ import annotations

import json
import os
import threading
import time
from pathlib import Path

import pytest

from rootless.cli.gotemplate import render_path
from rootless.engine.containers import listing
from rootless.engine.containers.attach import AttachSession, parse_detach_keys
from rootless.engine.containers.logs import follow, parse_since, read_entries, rfc3339_to_epoch
from rootless.engine.containers.safepath import open_in_root
from rootless.errors import UsageError
from rootless.monitor.logfile import JsonLog


def test_json_log_lines_and_rotation(tmp_path: Path) -> None:
    path = str(tmp_path / "ctr.log")
    log = JsonLog(path, max_size=400)
    log.write("stdout", b"one\ntwo\npart")
    log.write("stderr", b"\xff binary\n")
    lines = [json.loads(x) for x in Path(path).read_text().splitlines()]
    assert [x["log"] for x in lines[:3]] == ["one\n", "two\n", "part"]
    assert lines[3]["stream"] == "stderr" and lines[0]["time"].endswith("Z")
    assert read_entries(path)[0][3].data == b"\xff binary\n"
    for i in range(20):
        log.write("stdout", f"line {i}\n".encode())
    log.close()
    assert os.path.getsize(path) <= 400 and os.path.exists(path + ".1")
    entries, _, _ = read_entries(path)
    assert entries[-1].data == b"line 19\n"
    assert not os.path.exists(path + ".2")  # one rotated file kept
    # Invalid UTF-8 survives the round trip byte for byte.
    log2 = JsonLog(str(tmp_path / "b.log"), 0)
    log2.write("stdout", b"\xff\xfe\n")
    log2.close()
    assert read_entries(str(tmp_path / "b.log"))[0][0].data == b"\xff\xfe\n"


def test_follow_sees_new_lines_and_stops(tmp_path: Path) -> None:
    path = str(tmp_path / "ctr.log")
    log = JsonLog(path, 0)
    log.write("stdout", b"old\n")
    _, offset, ino = read_entries(path)
    running = [True]

    def writer() -> None:
        for i in range(3):
            time.sleep(0.05)
            log.write("stdout", f"new {i}\n".encode())
        running[0] = False

    t = threading.Thread(target=writer)
    t.start()
    got = [e.data for e in follow(path, lambda: running[0], offset, ino)]
    t.join()
    assert got == [b"new 0\n", b"new 1\n", b"new 2\n"]


def test_since_parsing() -> None:
    now = 1_700_000_000.0
    assert parse_since("10s", now) == now - 10
    assert parse_since("1h30m", now) == now - 5400
    assert parse_since("1700000000", now) == 1_700_000_000
    assert parse_since("2023-11-14T22:13:20Z", now) == 1_700_000_000
    assert rfc3339_to_epoch("2023-11-14T22:13:20.5+00:00") == 1_700_000_000.5
    with pytest.raises(UsageError):
        parse_since("yesterday", now)


def test_detach_keys() -> None:
    assert parse_detach_keys("ctrl-p,ctrl-q") == b"\x10\x11"
    assert parse_detach_keys("ctrl-a,x") == b"\x01x"
    assert parse_detach_keys("") == b""
    with pytest.raises(UsageError):
        parse_detach_keys("ctrl-1")
    s = AttachSession.__new__(AttachSession)
    s.keys, s.matched = b"\x10\x11", 0
    assert s._filter_detach(b"ab") == b"ab"
    assert s._filter_detach(b"a\x10") == b"a"  # held back: maybe the start of the sequence
    assert s._filter_detach(b"b") == b"\x10b"  # it was not: released
    assert s._filter_detach(b"\x10") == b""
    assert s._filter_detach(b"\x11") is None  # complete: detach


def test_ps_filters_and_templates() -> None:
    row = {
        "Id": "ab" * 32, "ID": "ab" * 6, "Names": "web", "State": "running", "Image": "busybox",
        "ImageID": "f" * 64, "ExitCode": 0, "LabelsMap": {"tier": "front"}, "Status": "Up",
    }  # fmt: skip
    f = listing.parse_filters
    assert listing.matches(row, f(["label=tier=front", "name=we", "status=running", "id=abab"]))
    assert not listing.matches(row, f(["label=tier=back"]))
    assert not listing.matches(row, f(["ancestor=debian"]))
    assert listing.matches(row, f(["label=tier"]))
    with pytest.raises(UsageError):
        f(["bogus=1"])
    assert listing.render("{{.Names}} {{.State}}", row) == "web running"
    assert listing.render('{{index .Labels "tier"}}', row) == "front"
    assert json.loads(listing.render("{{json .}}", row))["Names"] == "web"
    assert listing.header_for("{{.ID}}\\t{{.Names}}") == "CONTAINER ID\tNAMES"
    with pytest.raises(UsageError):
        listing.render("{{.Nope}}", row)
    d = {"State": {"Status": "running", "Running": True}, "Args": ["a", "b"]}
    assert render_path("{{.State.Status}} {{.State.Running}} {{json .Args}}", d) == (
        'running true ["a", "b"]'
    )


def test_open_in_root_stays_inside(tmp_path: Path) -> None:
    root = tmp_path / "root"
    (root / "etc").mkdir(parents=True)
    (root / "etc" / "passwd").write_text("inside\n")
    (tmp_path / "secret").write_text("outside\n")
    (root / "abs").symlink_to("/etc")
    (root / "rel").symlink_to("../../../../../../../" + str(tmp_path / "secret").lstrip("/"))
    (root / "up").symlink_to("..")

    def read(p: str) -> str:
        fd = open_in_root(root, p, os.O_RDONLY)
        with os.fdopen(fd) as fh:
            return fh.read()

    assert read("/abs/passwd") == "inside\n"  # /etc of the container, not the host's
    assert read("up/up/etc/passwd") == "inside\n"
    with pytest.raises(FileNotFoundError):
        read("rel")
    with pytest.raises(FileNotFoundError):
        read("../secret")


def test_monitor_jsonlite_matches_json() -> None:
    from rootless.monitor.jsonlite import dumps

    for obj in (
        {"log": 'q"b\\s\n\t\x01é', "n": [1, -2, True, False, None], "d": {"x": "\udcff"}},
        "plain",
        [],
        {},
    ):
        assert json.loads(dumps(obj)) == obj
    with pytest.raises(TypeError):
        dumps(1.5)
