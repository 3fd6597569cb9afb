"""logs: read the json-file log (and its rotated part); -f follows until the container
stops; --tail, --since, -t as in Docker."""

from __future__ import annotations

import json
import os
import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from rootless.engine.containers.context import Ctx
from rootless.engine.containers.waiting import RUNNING_STATES
from rootless.errors import EngineError, UsageError


@dataclass
class Entry:
    stream: str
    time: str
    data: bytes


def parse_since(value: str | None, now: float | None = None) -> float | None:
    """RFC3339, a unix timestamp, or a duration (10s, 5m, 1h30m) before now."""
    if not value:
        return None
    now = time.time() if now is None else now
    if re.fullmatch(r"\d+(\.\d+)?", value):
        return float(value)
    m = re.fullmatch(r"((\d+)h)?((\d+)m)?((\d+(\.\d+)?)s)?", value)
    if m and any(m.groups()):
        secs = int(m.group(2) or 0) * 3600 + int(m.group(4) or 0) * 60 + float(m.group(6) or 0)
        return now - secs
    try:
        return rfc3339_to_epoch(value)
    except ValueError:
        raise UsageError(
            f"invalid --since {value!r}", hint="use 10m, 2024-01-02T15:04:05Z or a unix time"
        ) from None


def rfc3339_to_epoch(ts: str) -> float:
    from datetime import datetime

    frac = 0.0
    m = re.fullmatch(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(\.\d+)?(Z|[+-]\d\d:\d\d)?", ts)
    if not m:
        raise ValueError(ts)
    if m.group(2):
        frac = float("0" + m.group(2))
    tz = m.group(3) or "Z"
    dt = datetime.fromisoformat(m.group(1) + ("+00:00" if tz == "Z" else tz))
    return dt.timestamp() + frac


def _parse_line(line: bytes) -> Entry | None:
    try:
        d = json.loads(line)
    except ValueError:
        return None
    return Entry(
        d.get("stream", "stdout"),
        d.get("time", ""),
        d.get("log", "").encode("utf-8", "surrogateescape"),
    )


def read_entries(path: str) -> tuple[list[Entry], int, int | None]:
    """All entries, and where the current file ended (offset, inode) for following."""
    out = []
    offset, ino = 0, None
    for p in (f"{path}.1", path):
        try:
            with open(p, "rb") as f:
                data = f.read()
                if p == path:
                    ino = os.fstat(f.fileno()).st_ino
                    offset = data.rfind(b"\n") + 1
                    data = data[:offset]
        except FileNotFoundError:
            continue
        for line in data.splitlines():
            e = _parse_line(line)
            if e:
                out.append(e)
    return out, offset, ino


def follow(
    path: str, still_running: Callable[[], bool], offset: int = 0, start_ino: int | None = None
) -> Iterator[Entry]:
    """New entries as they are written, across rotation, until the container stops."""
    f = None
    ino = None
    buf = b""
    idle_after_stop = 0
    while True:
        if f is None:
            try:
                f = open(path, "rb")  # noqa: SIM115  (kept open across loop turns)
                ino = os.fstat(f.fileno()).st_ino
                if ino == start_ino:
                    f.seek(offset)
                start_ino = None
            except FileNotFoundError:
                f = None
        got = False
        if f is not None:
            chunk = f.read()
            if chunk:
                got = True
                buf += chunk
                *lines, buf = buf.split(b"\n")
                for line in lines:
                    e = _parse_line(line)
                    if e:
                        yield e
            try:
                if os.stat(path).st_ino != ino:  # rotated: finish the old, open the new
                    f.close()
                    f = None
                    continue
            except FileNotFoundError:
                pass
        if got:
            continue
        if not still_running():
            idle_after_stop += 1
            if idle_after_stop > 1:  # one more read after the stop, then done
                break
        time.sleep(0.05)
    if f is not None:
        f.close()


def logs(
    ctx: Ctx,
    ref: str,
    *,
    follow_: bool = False,
    tail: int | None = None,
    since: str | None = None,
) -> Iterator[Entry]:
    cid = ctx.store.resolve(ref)
    ctx.store.load(cid)  # NotFound: one clear line
    path = str(ctx.store.dir(cid).log)
    since_ts = parse_since(since)
    entries, offset, ino = read_entries(path)
    if since_ts is not None:
        entries = [e for e in entries if e.time and rfc3339_to_epoch(e.time) >= since_ts]
    if tail is not None and tail >= 0:
        entries = entries[-tail:] if tail else []
    yield from entries
    if not follow_:
        return

    def running() -> bool:
        # Re-read the record: a --rm container may be removed while we follow it.
        try:
            cur = ctx.store.load(cid)
            return ctx.state(cur)[0] in RUNNING_STATES
        except (EngineError, OSError, ValueError):
            return False

    yield from follow(path, running, offset, ino)
