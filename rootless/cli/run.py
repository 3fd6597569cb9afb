"""run and create: flags -> RunSpec -> the containers service."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from typing import Any, NoReturn

import click

from rootless.cli.main import paths_from

CTX = {"help_option_names": ["--help"], "allow_interspersed_args": False}


def run_options(f: Callable[..., Any]) -> Callable[..., Any]:
    opts = [
        click.option("-d", "--detach", is_flag=True, help="Run in the background, print the id."),
        click.option("-i", "--interactive", is_flag=True, help="Keep stdin open."),
        click.option("-t", "--tty", is_flag=True, help="Allocate a pseudo-terminal."),
        click.option("--rm", "remove", is_flag=True, help="Remove the container when it exits."),
        click.option("--name", help="Container name (unique)."),
        click.option("-e", "--env", multiple=True, help="Set an environment variable."),
        click.option("--env-file", multiple=True, help="Read environment variables from a file."),
        click.option("-w", "--workdir", help="Working directory inside the container."),
        click.option("-u", "--user", help="User[:group] to run as."),
        click.option("--entrypoint", help="Override the image's entrypoint."),
        click.option("-h", "--hostname", help="Container host name."),
        click.option("--read-only", is_flag=True, help="Mount the root filesystem read-only."),
        click.option("--tmpfs", multiple=True, help="Mount a tmpfs: PATH[:OPTIONS]."),
        click.option("--init", is_flag=True, help="Run an init (catatonit/tini) as pid 1."),
        click.option("--restart", default="no", help="no | on-failure[:N] | always."),
        click.option("-l", "--label", multiple=True, help="Set a label KEY=VALUE."),
        click.option("--stop-signal", default="SIGTERM", help="Signal that stops it."),
        click.option("--stop-timeout", type=int, default=10, help="Seconds before SIGKILL."),
        click.option("--ulimit", multiple=True, help="e.g. nofile=1024:2048."),
        click.option("--cap-add", multiple=True, help="Add a capability."),
        click.option("--cap-drop", multiple=True, help="Drop a capability."),
        click.option("--security-opt", multiple=True, help="no-new-privileges, seccomp=..."),
        click.option("--privileged", is_flag=True, help="All capabilities, no seccomp."),
        click.option("--userns", help="keep-id | nomap | host."),
        click.option(
            "--pull",
            type=click.Choice(["missing", "always", "never", "newer"]),
            default="missing",
            help="Pull the image: missing (default), always, never.",
        ),
        click.option("--detach-keys", default="ctrl-p,ctrl-q", help="Keys that detach."),
        click.option(
            "--network",
            "--net",
            "network",
            default=None,
            help="bridge (default), none, host, slirp4netns, NAME or container:NAME.",
        ),
        click.option("-p", "--publish", multiple=True, help="Publish a port HOST:CONTAINER."),
        click.option("-P", "--publish-all", is_flag=True, help="Publish all EXPOSEd ports."),
        click.option(
            "--port-driver",
            type=click.Choice(["builtin", "slirp4netns"]),
            default=None,
            help="Port forwarder (slirp4netns needs that network).",
        ),
        click.option("--ip", default=None, help="IPv4 address on the network."),
        click.option("--network-alias", multiple=True, help="Extra DNS name on the network."),
        click.option("--dns", multiple=True, help="DNS server for /etc/resolv.conf."),
        click.option("--dns-search", multiple=True, help="DNS search domain."),
        click.option("--dns-option", multiple=True, help="resolv.conf option."),
        click.option("--add-host", multiple=True, help="Add HOST:IP to /etc/hosts."),
        click.option("-v", "--volume", multiple=True, help="[NAME|/host/path:]/ctr[:ro]."),
        click.option("--mount", multiple=True, help="type=bind|volume|tmpfs,src=..,dst=..[,ro]."),
        click.option("--volumes-from", multiple=True, help="Mount CONTAINER's volumes[:ro|:rw]."),
        click.option("--runtime", help="OCI runtime: runc (default), crun, rootless or a path."),
        click.argument("image"),
        click.argument("command", nargs=-1, type=click.UNPROCESSED),
    ]
    for o in reversed(opts):
        f = o(f)
    from rootless.cgroups.flags import limit_options  # cgroups: --memory, --cpus, ...

    return limit_options(f)


def build_spec(kw: dict[str, Any]) -> Any:
    from rootless.engine import runspec as R

    env_items: list[str] = []
    for path in kw["env_file"]:
        env_items.extend(R.parse_env_file(path))
    env_items.extend(kw["env"])
    spec = R.RunSpec(
        image=kw["image"],
        command=list(kw["command"]),
        entrypoint=R.parse_entrypoint(kw["entrypoint"]),
        name=kw["name"],
        env=R.parse_env(env_items),
        workdir=kw["workdir"],
        user=kw["user"],
        hostname=kw["hostname"],
        labels=R.parse_labels(list(kw["label"])),
        tty=kw["tty"],
        interactive=kw["interactive"],
        detach=kw["detach"],
        remove=kw["remove"],
        read_only=kw["read_only"],
        tmpfs=R.parse_tmpfs(list(kw["tmpfs"])),
        init=kw["init"],
        restart=R.parse_restart(kw["restart"]),
        stop_signal=kw["stop_signal"],
        stop_timeout=kw["stop_timeout"],
        ulimits=[R.parse_ulimit(u) for u in kw["ulimit"]],
        cap_add=list(kw["cap_add"]),
        cap_drop=list(kw["cap_drop"]),
        privileged=kw["privileged"],
        userns=kw["userns"],
        network=kw["network"] or R.DEFAULT_NETWORK,
        publish=list(kw["publish"]),
        publish_all=kw["publish_all"],
        port_driver=None if kw["port_driver"] in (None, "builtin") else kw["port_driver"],
        ip=kw["ip"],
        network_alias=list(kw["network_alias"]),
        dns=list(kw["dns"]),
        dns_search=list(kw["dns_search"]),
        dns_option=list(kw["dns_option"]),
        add_host=list(kw["add_host"]),
        volumes=list(kw["volume"]),
        mounts=list(kw["mount"]),
        volumes_from=list(kw["volumes_from"]),
        pull=kw["pull"],
        detach_keys=kw["detach_keys"],
        runtime=kw["runtime"],
    )
    R.parse_security_opts(list(kw["security_opt"]), spec)
    from rootless.cgroups.flags import limits_from_flags  # cgroups
    from rootless.cgroups.limits import to_dict

    spec.resources = to_dict(limits_from_flags(kw))
    from rootless.engine.containers.attach import parse_detach_keys
    from rootless.engine.containers.stop import parse_signal

    parse_detach_keys(spec.detach_keys)
    parse_signal(spec.stop_signal)
    from rootless.engine.mounts import absolutize  # persistence: ./relative -> absolute now

    absolutize(spec)
    if spec.remove and spec.restart.name != "no":
        from rootless.errors import UsageError

        raise UsageError("--rm and --restart cannot be combined")
    return spec


def check_limits(ctx: click.Context, spec: Any) -> None:
    """cgroups: warn once, or fail with --cgroup-limits require, when limits can't apply."""
    if not spec.resources:
        return
    from rootless.cgroups.policy import resolve
    from rootless.engine.cgroups_hook import check_spec

    obj = ctx.find_root().obj or {}
    check_spec(spec, resolve(obj.get("cgroup_limits"), paths_from(ctx).config))


@click.command(context_settings=CTX, help="Create and run a container.")
@run_options
@click.pass_context
def run(ctx: click.Context, **kw: Any) -> None:
    from rootless.engine.containers.context import open_ctx
    from rootless.engine.containers.run import run as run_container

    spec = build_spec(kw)
    check_limits(ctx, spec)  # cgroups
    ectx = open_ctx(paths_from(ctx))
    rec, code = run_container(ectx, spec)
    if code is None:
        if spec.detach:
            click.echo(rec.id)
        return
    exit_now(code)


def exit_now(code: int) -> NoReturn:
    """The container is gone and the output written: skip the interpreter's teardown
    (freeing every module of the engine costs tens of ms on a busy machine)."""
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            pass
    os._exit(code)


@click.command(context_settings=CTX, help="Create a container without starting it.")
@run_options
@click.pass_context
def create(ctx: click.Context, **kw: Any) -> None:
    from rootless.engine.containers.context import open_ctx
    from rootless.engine.containers.create import create as create_container

    spec = build_spec(kw)
    check_limits(ctx, spec)  # cgroups
    rec = create_container(open_ctx(paths_from(ctx)), spec)
    click.echo(rec.id)
