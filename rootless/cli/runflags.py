"""The flags of `run`/`create`, click-free: one table that both the click commands
(cli/run.py) and the fast parser (cli/fastparse.py) are built from, and the one
function that turns parsed flags into a RunSpec.

Nothing here imports click: `rootless run` must not pay for it on every start.
"""

from __future__ import annotations

import functools

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from rootless.engine.runspec import RunSpec

# Option kinds (how a flag takes its value and what click type it maps to).
FLAG = "flag"  # no value; True when given
TEXT = "text"  # one value, the last one wins
INT = "int"  # one value converted with int()
CHOICE = "choice"  # one value out of `choices`
MULTI = "multi"  # repeatable; a tuple of every value, in order


class Opt:
    """One option: its names, the kwarg it fills, its kind, default and help."""

    __slots__ = ("choices", "decls", "default", "dest", "help", "kind")

    def __init__(
        self,
        dest: str,
        decls: tuple[str, ...],
        kind: str,
        help: str,
        default: object = None,
        choices: tuple[str, ...] = (),
    ) -> None:
        self.dest = dest
        self.decls = decls
        self.kind = kind
        self.help = help
        self.default = default
        self.choices = choices

    def empty(self) -> object:
        """The value when the option is not given."""
        if self.kind == FLAG:
            return False
        if self.kind == MULTI:
            return ()
        return self.default


RUN_OPTIONS: tuple[Opt, ...] = (
    Opt("detach", ("-d", "--detach"), FLAG, "Run in the background, print the id."),
    Opt("interactive", ("-i", "--interactive"), FLAG, "Keep stdin open."),
    Opt("tty", ("-t", "--tty"), FLAG, "Allocate a pseudo-terminal."),
    Opt("remove", ("--rm",), FLAG, "Remove the container when it exits."),
    Opt("name", ("--name",), TEXT, "Container name (unique)."),
    Opt("env", ("-e", "--env"), MULTI, "Set an environment variable."),
    Opt("env_file", ("--env-file",), MULTI, "Read environment variables from a file."),
    Opt("workdir", ("-w", "--workdir"), TEXT, "Working directory inside the container."),
    Opt("user", ("-u", "--user"), TEXT, "User[:group] to run as."),
    Opt("entrypoint", ("--entrypoint",), TEXT, "Override the image's entrypoint."),
    Opt("hostname", ("-h", "--hostname"), TEXT, "Container host name."),
    Opt("read_only", ("--read-only",), FLAG, "Mount the root filesystem read-only."),
    Opt("tmpfs", ("--tmpfs",), MULTI, "Mount a tmpfs: PATH[:OPTIONS]."),
    Opt("init", ("--init",), FLAG, "Run an init (catatonit/tini) as pid 1."),
    Opt("restart", ("--restart",), TEXT, "no | on-failure[:N] | always.", "no"),
    Opt("label", ("-l", "--label"), MULTI, "Set a label KEY=VALUE."),
    Opt("stop_signal", ("--stop-signal",), TEXT, "Signal that stops it.", "SIGTERM"),
    Opt("stop_timeout", ("--stop-timeout",), INT, "Seconds before SIGKILL.", 10),
    Opt("ulimit", ("--ulimit",), MULTI, "e.g. nofile=1024:2048."),
    Opt("cap_add", ("--cap-add",), MULTI, "Add a capability."),
    Opt("cap_drop", ("--cap-drop",), MULTI, "Drop a capability."),
    Opt("security_opt", ("--security-opt",), MULTI, "no-new-privileges, seccomp=..."),
    Opt("privileged", ("--privileged",), FLAG, "All capabilities, no seccomp."),
    Opt("userns", ("--userns",), TEXT, "keep-id | nomap | host."),
    Opt(
        "pull",
        ("--pull",),
        CHOICE,
        "Pull the image: missing (default), always, never.",
        "missing",
        ("missing", "always", "never", "newer"),
    ),
    Opt("detach_keys", ("--detach-keys",), TEXT, "Keys that detach.", "ctrl-p,ctrl-q"),
    Opt(
        "network",
        ("--network", "--net"),
        TEXT,
        "bridge (default), none, host, slirp4netns, NAME or container:NAME.",
    ),
    Opt("publish", ("-p", "--publish"), MULTI, "Publish a port HOST:CONTAINER."),
    Opt("publish_all", ("-P", "--publish-all"), FLAG, "Publish all EXPOSEd ports."),
    Opt(
        "port_driver",
        ("--port-driver",),
        CHOICE,
        "Port forwarder (slirp4netns needs that network).",
        None,
        ("builtin", "slirp4netns"),
    ),
    Opt("ip", ("--ip",), TEXT, "IPv4 address on the network."),
    Opt("network_alias", ("--network-alias",), MULTI, "Extra DNS name on the network."),
    Opt("dns", ("--dns",), MULTI, "DNS server for /etc/resolv.conf."),
    Opt("dns_search", ("--dns-search",), MULTI, "DNS search domain."),
    Opt("dns_option", ("--dns-option",), MULTI, "resolv.conf option."),
    Opt("add_host", ("--add-host",), MULTI, "Add HOST:IP to /etc/hosts."),
    Opt("volume", ("-v", "--volume"), MULTI, "[NAME|/host/path:]/ctr[:ro]."),
    Opt("mount", ("--mount",), MULTI, "type=bind|volume|tmpfs,src=..,dst=..[,ro]."),
    Opt("volumes_from", ("--volumes-from",), MULTI, "Mount CONTAINER's volumes[:ro|:rw]."),
    Opt("runtime", ("--runtime",), TEXT, "OCI runtime: rootless (default), runc, crun or a path."),
)


@functools.cache  # the fast parser's table and build_spec's check read it in one `run`
def limit_opts() -> tuple[Opt, ...]:
    """The cgroups resource flags (cgroups/flags.py owns them) as Opt rows."""
    from rootless.cgroups.flags import _OPTIONS

    out = []
    for decls, kw in _OPTIONS:
        dest = next(d for d in decls if d.startswith("--"))[2:].replace("-", "_")
        kind = MULTI if kw.get("multiple") else INT if kw.get("type") is int else TEXT
        out.append(Opt(dest, decls, kind, kw["help"]))
    return tuple(out)


def build_spec(kw: dict[str, Any]) -> RunSpec:
    """The validated RunSpec of `run`/`create`'s parsed flags (click's kwargs)."""
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
    if any(kw.get(o.dest) not in (None, ()) for o in limit_opts()):
        # cgroups; without any limit flag the result is {} (RunSpec's default), so the
        # limits module (dataclasses, device lookups) is not loaded for nothing.
        from rootless.cgroups.flags import limits_from_flags
        from rootless.cgroups.limits import to_dict

        spec.resources = to_dict(limits_from_flags(kw))
    R.parse_detach_keys(spec.detach_keys)
    if spec.stop_signal != R.DEFAULT_STOP_SIGNAL:  # names need `signal` (enum classes)
        R.parse_signal(spec.stop_signal)
    if spec.volumes or spec.mounts:
        from rootless.engine.mounts import absolutize  # ./relative -> absolute now

        absolutize(spec)
    if spec.remove and spec.restart.name != "no":
        from rootless.errors import UsageError

        raise UsageError("--rm and --restart cannot be combined")
    return spec
