"""RunSpec: everything `run`/`create` asked for, parsed and validated, as one dataclass.

The CLI builds it; the containers service turns it (plus the image config) into an OCI
bundle and a container record. It is stored inside the record, so `start` and `restart`
re-create the same container without the CLI's flags.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field

from rootless.errors import UsageError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

RESTART_POLICIES = ("no", "on-failure", "always", "unless-stopped")
NETWORK_MODES_BUILTIN = ("none", "host")
# `run` without --network: the default bridge, as in Docker (published ports, container
# to container by IP). Other modes: none, host, slirp4netns, NAME, container:NAME.
DEFAULT_NETWORK = "bridge"
DEFAULT_STOP_SIGNAL = "SIGTERM"


@dataclass
class Ulimit:
    """One --ulimit: soft and hard values (-1: unlimited)."""

    name: str  # e.g. "nofile" (RLIMIT_NOFILE)
    soft: int
    hard: int


@dataclass
class RestartPolicy:
    """--restart: the policy's name and, for on-failure, its retry limit."""

    name: str = "no"
    max_retries: int = 0  # on-failure:N; 0 = unlimited


@dataclass
class RunSpec:
    """Every flag of one `run`/`create`, parsed (see the module's docstring)."""

    image: str
    command: list[str] = field(default_factory=list)
    entrypoint: list[str] | None = None  # None: the image's; [] = cleared
    name: str | None = None
    env: dict[str, str] = field(default_factory=dict)
    workdir: str | None = None
    user: str | None = None
    hostname: str | None = None
    labels: dict[str, str] = field(default_factory=dict)
    tty: bool = False
    interactive: bool = False
    detach: bool = False
    remove: bool = False
    read_only: bool = False
    tmpfs: dict[str, str] = field(default_factory=dict)  # path -> options
    init: bool = False
    restart: RestartPolicy = field(default_factory=RestartPolicy)
    stop_signal: str = DEFAULT_STOP_SIGNAL
    stop_timeout: int = 10
    ulimits: list[Ulimit] = field(default_factory=list)
    cap_add: list[str] = field(default_factory=list)
    cap_drop: list[str] = field(default_factory=list)
    no_new_privileges: bool = True
    seccomp: str | None = None  # None: default (runtime's), "unconfined", or a file path
    privileged: bool = False
    userns: str | None = None  # None | keep-id | nomap | host
    network: str = DEFAULT_NETWORK
    publish: list[str] = field(default_factory=list)  # -p specs, handled by the netstack
    publish_all: bool = False  # -P: every EXPOSEd port to a free host port
    port_driver: str | None = None  # --port-driver slirp4netns (with --network slirp4netns)
    ip: str | None = None  # --ip on the first network
    network_alias: list[str] = field(default_factory=list)
    dns: list[str] = field(default_factory=list)
    dns_search: list[str] = field(default_factory=list)
    dns_option: list[str] = field(default_factory=list)
    add_host: list[str] = field(default_factory=list)  # HOST:IP
    volumes: list[str] = field(default_factory=list)  # -v specs (engine/mounts.py)
    mounts: list[str] = field(default_factory=list)  # --mount specs (engine/mounts.py)
    volumes_from: list[str] = field(default_factory=list)  # --volumes-from CTR[:ro|:rw]
    pull: str = "missing"
    detach_keys: str = "ctrl-p,ctrl-q"
    runtime: str | None = None
    resources: dict[str, Any] = field(default_factory=dict)  # cgroups: Limits as a dict

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> RunSpec:
        d = dict(d)
        d["restart"] = RestartPolicy(**d.get("restart", {}))
        d["ulimits"] = [Ulimit(**u) for u in d.get("ulimits", [])]
        known = cls.__dataclass_fields__
        return cls(**{k: v for k, v in d.items() if k in known})


_ENV_NAME = re.compile(r"^[^=\s]+$")


def parse_env(items: list[str], environ: dict[str, str] | None = None) -> dict[str, str]:
    """`-e K=V` sets; `-e K` copies K from our environment (dropped when unset), as Docker."""
    import os

    environ = os.environ if environ is None else environ  # type: ignore[assignment]
    out: dict[str, str] = {}
    for item in items:
        key, sep, val = item.partition("=")
        if not key or not _ENV_NAME.match(key):
            raise UsageError(f"invalid environment variable {item!r}", hint="use -e NAME=VALUE")
        if sep:
            out[key] = val
        elif key in environ:  # type: ignore[operator]
            out[key] = environ[key]  # type: ignore[index]
    return out


def parse_env_file(path: str) -> list[str]:
    try:
        with open(path, encoding="utf-8") as f:
            lines = f.read().splitlines()
    except OSError as e:
        raise UsageError(f"cannot read env file {path}: {e.strerror}") from None
    return [ln.strip() for ln in lines if ln.strip() and not ln.lstrip().startswith("#")]


def parse_labels(items: list[str]) -> dict[str, str]:
    out = {}
    for item in items:
        key, _, val = item.partition("=")
        if not key:
            raise UsageError(f"invalid label {item!r}", hint="use -l KEY=VALUE")
        out[key] = val
    return out


def parse_restart(value: str) -> RestartPolicy:
    name, _, count = value.partition(":")
    if name not in RESTART_POLICIES:
        raise UsageError(f"invalid restart policy {value!r}", hint="use no, on-failure[:N], always")
    if count and name != "on-failure":
        raise UsageError(f"restart policy {name} takes no retry count")
    try:
        retries = int(count) if count else 0
    except ValueError:
        raise UsageError(f"invalid restart retry count {count!r}") from None
    if retries < 0:
        raise UsageError("restart retry count must be >= 0")
    return RestartPolicy(name, retries)


def parse_detach_keys(spec: str) -> bytes:
    """'ctrl-p,ctrl-q' -> b'\\x10\\x11'; '' disables detaching."""
    out = bytearray()
    for key in (k.strip() for k in spec.split(",") if k.strip()):
        if key.startswith("ctrl-") and len(key) == 6:
            c = key[5]
            codes = {"@": 0, "[": 27, "\\": 28, "]": 29, "^": 30, "_": 31}
            if c.isalpha():
                out.append(ord(c.lower()) - ord("a") + 1)
            elif c in codes:
                out.append(codes[c])
            else:
                raise UsageError(f"invalid detach key {key!r}")
        elif len(key) == 1:
            out.append(ord(key))
        else:
            raise UsageError(f"invalid detach key {key!r}", hint="e.g. --detach-keys ctrl-p,ctrl-q")
    return bytes(out)


def parse_signal(sig: str | int) -> int:
    """A signal by number or name (KILL, SIGKILL, kill) -> its number."""
    s = str(sig).upper()
    if s.isdigit():
        n = int(s)
    else:
        import signal

        name = s if s.startswith("SIG") else f"SIG{s}"
        try:
            n = int(signal.Signals[name])
        except KeyError:
            raise UsageError(f"invalid signal {sig!r}", hint="e.g. -s TERM or -s 9") from None
    if not 0 < n < 65:
        raise UsageError(f"invalid signal {sig!r}")
    return n


_RLIMITS = {
    "core", "cpu", "data", "fsize", "locks", "memlock", "msgqueue", "nice", "nofile",
    "nproc", "rss", "rtprio", "rttime", "sigpending", "stack", "as",
}  # fmt: skip


def parse_ulimit(value: str) -> Ulimit:
    name, sep, limits = value.partition("=")
    if not sep or name not in _RLIMITS:
        raise UsageError(f"invalid ulimit {value!r}", hint="use e.g. --ulimit nofile=1024:2048")
    soft_s, _, hard_s = limits.partition(":")
    try:
        soft = -1 if soft_s == "-1" else int(soft_s)
        hard = soft if not hard_s else (-1 if hard_s == "-1" else int(hard_s))
    except ValueError:
        raise UsageError(f"invalid ulimit value {value!r}") from None
    if soft != -1 and hard != -1 and soft > hard:
        raise UsageError(f"ulimit {name}: soft limit {soft} exceeds hard limit {hard}")
    return Ulimit(name, soft, hard)


def parse_tmpfs(items: list[str]) -> dict[str, str]:
    out = {}
    for item in items:
        path, _, opts = item.partition(":")
        if not path.startswith("/"):
            raise UsageError(f"invalid --tmpfs {item!r}", hint="the path must be absolute")
        out[path] = opts
    return out


def parse_security_opts(items: list[str], spec: RunSpec) -> None:
    for item in items:
        if item in ("no-new-privileges", "no-new-privileges=true", "no-new-privileges:true"):
            spec.no_new_privileges = True
        elif item in ("no-new-privileges=false", "no-new-privileges:false"):
            spec.no_new_privileges = False
        elif item.startswith(("seccomp=", "seccomp:")):
            spec.seccomp = item[len("seccomp=") :]
        elif item.startswith(("label=", "apparmor=")):
            pass  # no LSM on the user's side; accepted for compatibility
        else:
            raise UsageError(
                f"unsupported --security-opt {item!r}",
                hint="use no-new-privileges, seccomp=unconfined or seccomp=FILE",
            )


def parse_entrypoint(value: str | None) -> list[str] | None:
    if value is None:
        return None
    if value.startswith("["):
        import json

        try:
            ep = json.loads(value)
        except ValueError:
            raise UsageError(f"invalid --entrypoint {value!r}") from None
        return [str(x) for x in ep]
    if not value:
        return []
    import shlex  # only for a string --entrypoint

    return shlex.split(value)
