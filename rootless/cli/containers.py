"""Everyday container commands: start, ps, inspect, logs, stop, kill, rm, wait, attach,
exec, top, rename, restart, pause, unpause, port, and the `container` group."""

from __future__ import annotations

import json
import sys
from typing import Any

import click

from rootless.cli.common import for_each
from rootless.cli.main import paths_from


def _ctx(ctx: click.Context) -> Any:
    from rootless.engine.containers.context import open_ctx

    return open_ctx(paths_from(ctx))


@click.command(help="Start one or more stopped containers.")
@click.option("-a", "--attach", is_flag=True, help="Attach to its output and wait.")
@click.option("-i", "--interactive", is_flag=True, help="Attach stdin.")
@click.argument("containers", nargs=-1, required=True)
@click.pass_context
def start(ctx: click.Context, attach: bool, interactive: bool, containers: tuple[str, ...]) -> None:
    from rootless.engine.containers.run import attach_and_wait
    from rootless.engine.containers.start import start as start_container

    e = _ctx(ctx)
    if attach or interactive:
        if len(containers) != 1:
            raise click.UsageError("start -a/-i takes exactly one container")
        rec = start_container(e, containers[0], wait_attach=True)
        code = attach_and_wait(e, rec, stdin=interactive)
        sys.exit(code or 0)
    for_each(containers, lambda r: (start_container(e, r), r)[1])


@click.command(help="List containers.")
@click.option("-a", "--all", "all_", is_flag=True, help="Show all, not only running.")
@click.option("-q", "--quiet", is_flag=True, help="Only ids.")
@click.option("-l", "--latest", is_flag=True, help="Only the latest created.")
@click.option("--filter", "-f", "filters", multiple=True, help="KEY=VALUE.")
@click.option("--format", "fmt", default=None, help="json, table or a Go-like template.")
@click.option("--no-trunc", is_flag=True, help="Full ids.")
@click.pass_context
def ps(
    ctx: click.Context,
    all_: bool,
    quiet: bool,
    latest: bool,
    filters: tuple[str, ...],
    fmt: str | None,
    no_trunc: bool,
) -> None:
    from rootless.engine.containers.listing import header_for, matches, parse_filters, render
    from rootless.engine.containers.view import summary

    flt = parse_filters(list(filters))
    e = _ctx(ctx)
    rows = sorted((summary(e, r) for r in e.store.records()), key=lambda r: r["CreatedAt"])
    rows.reverse()
    if not all_ and not latest and "status" not in flt and "exited" not in flt:
        rows = [r for r in rows if r["State"] in ("running", "paused", "restarting")]
    rows = [r for r in rows if matches(r, flt)]
    if latest:
        rows = rows[:1]
    if no_trunc:
        for r in rows:
            r["ID"] = r["Id"]
    if quiet:
        for r in rows:
            click.echo(r["ID"])
        return
    if fmt == "json":
        click.echo(json.dumps(rows, indent=2))
        return
    if fmt and not fmt.startswith("table"):
        for r in rows:
            click.echo(render(fmt, r))
        return
    tmpl = fmt[len("table") :].strip() if fmt else ""
    if tmpl:
        click.echo(header_for(tmpl))
        for r in rows:
            click.echo(render(tmpl, r))
        return
    cols = [("CONTAINER ID", "ID"), ("IMAGE", "Image"), ("COMMAND", "Command"),
            ("CREATED", "RunningFor"), ("STATUS", "Status"), ("PORTS", "Ports"), ("NAMES", "Names")]  # fmt: skip
    table = [[h for h, _ in cols]]
    for r in rows:
        cmd = r["Command"] if no_trunc or len(r["Command"]) <= 20 else r["Command"][:19] + "…"
        table.append([cmd if k == "Command" else str(r[k]) for _, k in cols])
    widths = [max(len(row[i]) for row in table) for i in range(len(cols))]
    for row in table:
        click.echo("   ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())


@click.command(help="Show a container's details (Docker's shape) as JSON.")
@click.option("--format", "-f", "fmt", default=None, help="A Go-like template.")
@click.argument("containers", nargs=-1, required=True)
@click.pass_context
def inspect(ctx: click.Context, fmt: str | None, containers: tuple[str, ...]) -> None:
    from rootless.engine.containers.view import inspect as inspect_container
    from rootless.errors import EngineError

    e = _ctx(ctx)
    out = []
    failed: EngineError | None = None
    for ref in containers:
        try:
            out.append(inspect_container(e, e.store.load(e.store.resolve(ref))))
        except EngineError as err:
            click.echo(f"Error: {err.line()}", err=True)
            failed = err
    if fmt:
        from rootless.cli.gotemplate import render_path

        for d in out:
            click.echo(render_path(fmt, d))
    else:
        click.echo(json.dumps(out, indent=4))
    if failed:
        sys.exit(failed.exit_code)


@click.command(help="Show a container's output.")
@click.option("-f", "--follow", is_flag=True, help="Keep printing until it stops.")
@click.option("--tail", default="all", help="Only the last N lines.")
@click.option("-t", "--timestamps", is_flag=True, help="Prefix each line with its time.")
@click.option("--since", default=None, help="Since a time or a duration (10m).")
@click.argument("container")
@click.pass_context
def logs(
    ctx: click.Context, follow: bool, tail: str, timestamps: bool, since: str | None, container: str
) -> None:
    from rootless.engine.containers.logs import logs as read_logs
    from rootless.errors import UsageError

    if tail == "all":
        n = None
    elif tail.lstrip("-").isdigit():
        n = int(tail)
    else:
        raise UsageError(f"invalid --tail {tail!r}", hint="a number or all")
    out, err = sys.stdout.buffer, sys.stderr.buffer
    for entry in read_logs(_ctx(ctx), container, follow_=follow, tail=n, since=since):
        dst = err if entry.stream == "stderr" else out
        if timestamps:
            dst.write(entry.time.encode() + b" ")
        dst.write(entry.data)
        dst.flush()


@click.command(help="Stop running containers (SIGTERM, then SIGKILL after the timeout).")
@click.option("-t", "--time", "timeout", type=int, default=None, help="Seconds to wait.")
@click.option("-a", "--all", "all_", is_flag=True, help="Stop all running containers.")
@click.argument("containers", nargs=-1)
@click.pass_context
def stop(ctx: click.Context, timeout: int | None, all_: bool, containers: tuple[str, ...]) -> None:
    from rootless.engine.containers.stop import stop as stop_container

    e = _ctx(ctx)
    refs = tuple(r.id for r in e.store.records()) if all_ else containers
    if not refs and not all_:
        raise click.UsageError("stop needs a container (or -a)")
    for_each(refs, lambda r: (stop_container(e, r, timeout), r if not all_ else r[:12])[1])


@click.command(help="Send a signal to running containers.")
@click.option("-s", "--signal", "sig", default="KILL", help="Signal name or number.")
@click.argument("containers", nargs=-1, required=True)
@click.pass_context
def kill(ctx: click.Context, sig: str, containers: tuple[str, ...]) -> None:
    from rootless.engine.containers.stop import kill as kill_container

    e = _ctx(ctx)
    for_each(containers, lambda r: (kill_container(e, r, sig), r)[1])


@click.command(help="Remove containers.")
@click.option("-f", "--force", is_flag=True, help="Stop running ones first.")
@click.option("-v", "--volumes", is_flag=True, help="Also remove anonymous volumes.")
@click.option("-a", "--all", "all_", is_flag=True, help="Remove all containers.")
@click.argument("containers", nargs=-1)
@click.pass_context
def rm(
    ctx: click.Context, force: bool, volumes: bool, all_: bool, containers: tuple[str, ...]
) -> None:
    from rootless.engine.containers.rm import remove

    e = _ctx(ctx)
    refs = tuple(r.id for r in e.store.records()) if all_ else containers
    if not refs and not all_:
        raise click.UsageError("rm needs a container (or -a)")

    def one(ref: str) -> str | None:
        cid = remove(e, ref, force=force, volumes=volumes)
        return (cid if all_ else ref) if cid else None

    for_each(refs, one)


@click.command(help="Wait for containers to stop; print their exit codes.")
@click.argument("containers", nargs=-1, required=True)
@click.pass_context
def wait(ctx: click.Context, containers: tuple[str, ...]) -> None:
    from rootless.engine.containers.wait import wait as wait_container

    e = _ctx(ctx)
    for_each(containers, lambda r: str(wait_container(e, r)))


@click.command(help="Attach to a running container's stdio.")
@click.option("--no-stdin", is_flag=True, help="Do not attach stdin.")
@click.option("--detach-keys", default=None, help="Keys that detach.")
@click.argument("container")
@click.pass_context
def attach(ctx: click.Context, no_stdin: bool, detach_keys: str | None, container: str) -> None:
    from rootless.engine.containers.attach import AttachSession, connect
    from rootless.engine.containers.run import signal_forwarder
    from rootless.engine.containers.state import require

    e = _ctx(ctx)
    rec = e.store.load(e.store.resolve(container))
    require("attach", e.state(rec)[0], rec.name)
    sess = AttachSession(
        connect(e.store.dir(rec.id)),
        tty=rec.spec.tty,
        stdin=not no_stdin and rec.spec.interactive,
        detach_keys=detach_keys if detach_keys is not None else rec.spec.detach_keys,
        on_signal=signal_forwarder(e, rec),
    )
    try:
        code = sess.run()
    finally:
        sess.close()
    sys.exit(code or 0)


@click.command(
    context_settings={"allow_interspersed_args": False},
    help="Run a command in a running container.",
)
@click.option("-i", "--interactive", is_flag=True)
@click.option("-t", "--tty", is_flag=True)
@click.option("-d", "--detach", is_flag=True)
@click.option("-e", "--env", multiple=True)
@click.option("-u", "--user", default=None)
@click.option("-w", "--workdir", default=None)
@click.option("--privileged", is_flag=True)
@click.argument("container")
@click.argument("command", nargs=-1, required=True, type=click.UNPROCESSED)
@click.pass_context
def exec_(ctx: click.Context, container: str, command: tuple[str, ...], **kw: Any) -> None:
    from rootless.engine.containers.exec import ExecSpec
    from rootless.engine.containers.exec import exec_ as exec_container
    from rootless.engine.runspec import parse_env

    spec = ExecSpec(
        command=list(command),
        interactive=kw["interactive"],
        tty=kw["tty"],
        detach=kw["detach"],
        env=parse_env(list(kw["env"])),
        user=kw["user"],
        workdir=kw["workdir"],
        privileged=kw["privileged"],
    )
    sys.exit(exec_container(_ctx(ctx), container, spec))


exec_.name = "exec"


@click.command(help="Show the processes of a container.")
@click.argument("container")
@click.pass_context
def top(ctx: click.Context, container: str) -> None:
    from rootless.engine.containers.manage import top as top_container

    rows = top_container(_ctx(ctx), container)
    cols = ["USER", "PID", "PPID", "STAT", "TIME", "COMMAND"]
    table = [cols] + [[r[c] for c in cols] for r in rows]
    widths = [max(len(row[i]) for row in table) for i in range(len(cols))]
    for row in table:
        click.echo("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())


@click.command(help="Rename a container.")
@click.argument("container")
@click.argument("new_name")
@click.pass_context
def rename(ctx: click.Context, container: str, new_name: str) -> None:
    from rootless.engine.containers.manage import rename as rename_container

    rename_container(_ctx(ctx), container, new_name)


@click.command(help="Restart containers.")
@click.option("-t", "--time", "timeout", type=int, default=None)
@click.argument("containers", nargs=-1, required=True)
@click.pass_context
def restart(ctx: click.Context, timeout: int | None, containers: tuple[str, ...]) -> None:
    from rootless.engine.containers.manage import restart as restart_container

    e = _ctx(ctx)
    for_each(containers, lambda r: (restart_container(e, r, timeout), r)[1])


@click.command(help="Pause all processes of containers.")
@click.argument("containers", nargs=-1, required=True)
@click.pass_context
def pause(ctx: click.Context, containers: tuple[str, ...]) -> None:
    from rootless.engine.containers.pause import pause as pause_container

    e = _ctx(ctx)
    for_each(containers, lambda r: (pause_container(e, r), r)[1])


@click.command(help="Resume paused containers.")
@click.argument("containers", nargs=-1, required=True)
@click.pass_context
def unpause(ctx: click.Context, containers: tuple[str, ...]) -> None:
    from rootless.engine.containers.pause import unpause as unpause_container

    e = _ctx(ctx)
    for_each(containers, lambda r: (unpause_container(e, r), r)[1])


@click.command(help="List a container's published ports.")
@click.argument("container")
@click.pass_context
def port(ctx: click.Context, container: str) -> None:
    from rootless.engine.containers.manage import port as port_list

    for p in port_list(_ctx(ctx), container):
        click.echo(p)


@click.command(help="Remove all stopped containers.")
@click.option("-f", "--force", is_flag=True, help="Do not ask.")
@click.pass_context
def prune(ctx: click.Context, force: bool) -> None:
    from rootless.engine.containers.manage import prune as prune_containers

    for cid in prune_containers(_ctx(ctx)):
        click.echo(cid)


@click.command(hidden=True, help="Tear down a stopped container (the monitor's exit command).")
@click.argument("container")
@click.pass_context
def cleanup(ctx: click.Context, container: str) -> None:
    from rootless.engine.containers.cleanup import cleanup as cleanup_container

    cleanup_container(_ctx(ctx), container)


@click.group(help="Manage containers.")
def container() -> None:
    pass


for _cmd in (start, ps, inspect, logs, stop, kill, rm, wait, attach, exec_, top, rename,
             restart, pause, unpause, port, prune, cleanup):  # fmt: skip
    container.add_command(_cmd)
container.add_command(ps, "ls")


def _add_run_commands() -> None:
    from rootless.cli.run import create, run

    container.add_command(run)
    container.add_command(create)


_add_run_commands()


@click.command(help="Copy files between a container and the host (CONTAINER:PATH).")
@click.argument("src")
@click.argument("dest")
@click.pass_context
def cp(ctx: click.Context, src: str, dest: str) -> None:
    from rootless.engine.containers.cp import cp as copy

    copy(_ctx(ctx), src, dest)


@click.command(help="Show what a container changed in its filesystem.")
@click.argument("container_ref")
@click.pass_context
def diff(ctx: click.Context, container_ref: str) -> None:
    from rootless.engine.containers.cp import diff as changes

    for kind, path in changes(_ctx(ctx), container_ref):
        click.echo(f"{kind} {path}")


@click.command(help="Export a container's filesystem as a tar archive.")
@click.argument("container_ref")
@click.option("-o", "--output", type=click.Path(), help="Write to a file instead of stdout.")
@click.pass_context
def export(ctx: click.Context, container_ref: str, output: str | None) -> None:
    from rootless.engine.containers.export import export as do_export
    from rootless.errors import UsageError

    if output is None:
        if sys.stdout.isatty():
            raise UsageError("refusing to write a tar archive to a terminal", hint="use -o FILE")
        do_export(_ctx(ctx), container_ref, sys.stdout.buffer)
        return
    from rootless.fsutil import atomic_output

    e = _ctx(ctx)  # join the user namespace before creating the file
    with atomic_output(output) as f:
        do_export(e, container_ref, f)


container.add_command(cp)
container.add_command(diff)
container.add_command(export)
