"""Several containers' logs as one stream, each line prefixed `name  | ` in its colour.

One reader thread per container (the engine's `logs` follows one file); the main thread
prints what they queue, in arrival order.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable
from dataclasses import dataclass

from rootless.engine.containers.context import Ctx
from rootless.engine.containers.record import Record

COLORS = ("36", "33", "32", "35", "34", "96", "93", "92", "95", "94")  # as docker compose


@dataclass
class LogOptions:
    follow: bool = False
    tail: int | None = None
    since: str | None = None
    timestamps: bool = False
    prefix: bool = True
    color: bool = False
    stop_on_first_exit: bool = False  # up --abort-on-container-exit


def prefixes(names: list[str], *, color: bool) -> dict[str, str]:
    width = max((len(n) for n in names), default=0)
    out = {}
    for i, n in enumerate(names):
        text = f"{n.ljust(width)}  | "
        out[n] = f"\x1b[{COLORS[i % len(COLORS)]}m{text}\x1b[0m" if color else text
    return out


def format_lines(prefix: str, data: bytes, stamp: str = "") -> list[str]:
    text = data.decode("utf-8", "replace")
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    return [f"{prefix}{stamp + ' ' if stamp else ''}{ln}" for ln in lines]


def stream(
    ctx: Ctx, recs: list[Record], opts: LogOptions, write: Callable[[str], None]
) -> str | None:
    """Print the logs; with follow, until every container stopped (or the first one,
    with stop_on_first_exit). Returns the name of the container that stopped first."""
    from rootless.engine.containers.logs import logs

    pre = prefixes([r.name for r in recs], color=opts.color) if opts.prefix else {}
    q: queue.Queue[tuple[str, str | None]] = queue.Queue()

    def reader(rec: Record) -> None:
        try:
            for e in logs(ctx, rec.id, follow_=opts.follow, tail=opts.tail, since=opts.since):
                for line in format_lines(
                    pre.get(rec.name, ""), e.data, e.time if opts.timestamps else ""
                ):
                    q.put((rec.name, line))
        except Exception as exc:  # a removed container ends its stream, not ours
            q.put((rec.name, f"{pre.get(rec.name, '')}(logs ended: {exc})"))
        finally:
            q.put((rec.name, None))

    threads = [threading.Thread(target=reader, args=(r,), daemon=True) for r in recs]
    for t in threads:
        t.start()
    open_streams = len(threads)
    first_done: str | None = None
    while open_streams:
        name, line = q.get()
        if line is not None:
            write(line)
            continue
        open_streams -= 1
        first_done = first_done or name
        if opts.stop_on_first_exit and opts.follow:
            break
    return first_done
