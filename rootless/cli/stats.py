"""stats and update: a container's resource use, and changing its limits while it runs."""

from __future__ import annotations

import json
import sys
import time
from typing import Any

import click

from rootless.cgroups.flags import limit_options
from rootless.cli.main import paths_from

COLUMNS = (
    ("ID", "CONTAINER ID"),
    ("Name", "NAME"),
    ("CPUPerc", "CPU %"),
    ("MemUsage", "MEM USAGE / LIMIT"),
    ("MemPerc", "MEM %"),
    ("NetIO", "NET I/O"),
    ("BlockIO", "BLOCK I/O"),
    ("PIDs", "PIDS"),
)


def human(n: float, binary: bool = False) -> str:
    """Docker's sizes: 1.5MiB for memory (binary), 1.5MB for I/O (decimal)."""
    base, units = (
        (1024.0, ("B", "KiB", "MiB", "GiB", "TiB"))
        if binary
        else (
            1000.0,
            ("B", "kB", "MB", "GB", "TB"),
        )
    )
    for unit in units[:-1]:
        if abs(n) < base:
            return f"{n:.4g}{unit}"
        n /= base
    return f"{n:.4g}{units[-1]}"


def row(rec: Any, before: Any, after: Any) -> dict[str, Any]:
    from rootless.cgroups.sample import cpu_percent

    cpu = cpu_percent(before, after)
    mem_pct = after.mem_usage / after.mem_limit * 100 if after.mem_limit else 0.0
    return {
        "ID": rec.id[:12],
        "Container": rec.id[:12],
        "Name": rec.name,
        "CPUPerc": f"{cpu:.2f}%",
        "MemUsage": f"{human(after.mem_usage, True)} / {human(after.mem_limit, True)}",
        "MemPerc": f"{mem_pct:.2f}%",
        "NetIO": f"{human(after.net_rx)} / {human(after.net_tx)}",
        "BlockIO": f"{human(after.blk_read)} / {human(after.blk_write)}",
        "PIDs": str(after.pids),
        # Raw numbers (not in Docker's output) for scripts and tests.
        "Source": after.source,
        "CPUUsec": after.cpu_usec,
        "MemUsageBytes": after.mem_usage,
        "MemLimitBytes": after.mem_limit,
        "NetRxBytes": after.net_rx,
        "NetTxBytes": after.net_tx,
        "BlockReadBytes": after.blk_read,
        "BlockWriteBytes": after.blk_write,
    }


def render(rows: list[dict[str, Any]], fmt: str | None) -> str:
    if fmt == "json":
        return "\n".join(json.dumps(r) for r in rows)
    if fmt and fmt != "table":
        from rootless.cli.gotemplate import render_path

        table = fmt.startswith("table ")
        body = fmt[6:] if table else fmt
        lines = [render_path(body, r) for r in rows]
        if table:
            lines.insert(
                0, render_path(body, {k: h for k, h in COLUMNS} | {"Container": "CONTAINER"})
            )
        return "\n".join(lines)
    grid = [[h for _, h in COLUMNS]] + [[r[k] for k, _ in COLUMNS] for r in rows]
    widths = [max(len(g[i]) for g in grid) for i in range(len(COLUMNS))]
    return "\n".join(
        "   ".join(c.ljust(w) for c, w in zip(g, widths, strict=True)).rstrip() for g in grid
    )


@click.command(help="Show containers' resource use (CPU, memory, network, block I/O, pids).")
@click.option("-a", "--all", "all_", is_flag=True, help="All containers, not only running.")
@click.option("--no-stream", is_flag=True, help="Print one sample and exit.")
@click.option("--format", "fmt", help="table (default), json, or a Go template.")
@click.option("--interval", type=float, default=1.0, help="Seconds between samples.")
@click.argument("containers", nargs=-1)
@click.pass_context
def stats(
    ctx: click.Context,
    all_: bool,
    no_stream: bool,
    fmt: str | None,
    interval: float,
    containers: tuple[str, ...],
) -> None:
    from rootless.engine.cgroups_hook import sample
    from rootless.engine.containers.context import open_ctx
    from rootless.engine.containers.state import ContainerState as S

    e = open_ctx(paths_from(ctx))
    recs = [e.store.load(e.store.resolve(r)) for r in containers] or list(e.store.records())
    before: dict[str, Any] = {}
    first = True
    while True:
        live = []
        for rec in recs:
            state, ms = e.state(rec)
            if state in (S.RUNNING, S.PAUSED) and ms and ms.container_pid:
                live.append((e.store.load(rec.id), ms.container_pid))
            elif containers and not all_:
                from rootless.errors import Conflict

                raise Conflict(f"container {rec.name} is not running")
        now = {rec.id: sample(rec, pid) for rec, pid in live}
        if first:  # CPU % needs two samples
            before, first = now, False
            time.sleep(interval)
            continue
        rows = [row(rec, before.get(rec.id, now[rec.id]), now[rec.id]) for rec, _ in live]
        if not no_stream and sys.stdout.isatty():
            click.echo("\x1b[2J\x1b[H", nl=False)
        out = render(rows, fmt)
        if out:
            click.echo(out)
        if no_stream:
            return
        before = now
        time.sleep(interval)


@click.command(help="Change the resource limits of containers (live when they run).")
@limit_options
@click.argument("containers", nargs=-1, required=True)
@click.pass_context
def update(ctx: click.Context, containers: tuple[str, ...], **kw: Any) -> None:
    from rootless.cgroups.flags import limits_from_flags
    from rootless.cgroups.policy import resolve
    from rootless.cli.common import for_each as _each
    from rootless.engine.cgroups_hook import update as update_container
    from rootless.engine.containers.context import open_ctx
    from rootless.errors import UsageError

    limits = limits_from_flags(kw)
    if not limits.any():
        raise UsageError("update needs at least one limit flag (e.g. --memory 100m)")
    paths = paths_from(ctx)
    policy = resolve((ctx.find_root().obj or {}).get("cgroup_limits"), paths.config)
    e = open_ctx(paths)
    _each(containers, lambda r: (update_container(e, r, limits, policy), r)[1])
