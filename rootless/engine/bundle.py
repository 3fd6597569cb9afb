"""OCI runtime bundle generation: config.json from the image config and a RunSpec.

Containers share the engine's user namespace (as in Podman), so the bundle carries no user
namespace of its own, except for --userns keep-id / nomap which ask for a nested one.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

from rootless.engine.runspec import RunSpec
from rootless.errors import UsageError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
INIT_PATH = "/run/rootless-init"  # where --init's binary is bind-mounted
INIT_CANDIDATES = ("/usr/bin/catatonit", "/usr/libexec/podman/catatonit", "/usr/bin/tini-static")

# Docker's default capability set.
DEFAULT_CAPS = [
    "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FSETID", "CAP_FOWNER", "CAP_MKNOD", "CAP_NET_RAW",
    "CAP_SETGID", "CAP_SETUID", "CAP_SETFCAP", "CAP_SETPCAP", "CAP_NET_BIND_SERVICE",
    "CAP_SYS_CHROOT", "CAP_KILL", "CAP_AUDIT_WRITE",
]  # fmt: skip
ALL_CAPS = [
    "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_DAC_READ_SEARCH", "CAP_FOWNER", "CAP_FSETID",
    "CAP_KILL", "CAP_SETGID", "CAP_SETUID", "CAP_SETPCAP", "CAP_LINUX_IMMUTABLE",
    "CAP_NET_BIND_SERVICE", "CAP_NET_BROADCAST", "CAP_NET_ADMIN", "CAP_NET_RAW",
    "CAP_IPC_LOCK", "CAP_IPC_OWNER", "CAP_SYS_MODULE", "CAP_SYS_RAWIO", "CAP_SYS_CHROOT",
    "CAP_SYS_PTRACE", "CAP_SYS_PACCT", "CAP_SYS_ADMIN", "CAP_SYS_BOOT", "CAP_SYS_NICE",
    "CAP_SYS_RESOURCE", "CAP_SYS_TIME", "CAP_SYS_TTY_CONFIG", "CAP_MKNOD", "CAP_LEASE",
    "CAP_AUDIT_WRITE", "CAP_AUDIT_CONTROL", "CAP_SETFCAP", "CAP_MAC_OVERRIDE",
    "CAP_MAC_ADMIN", "CAP_SYSLOG", "CAP_WAKE_ALARM", "CAP_BLOCK_SUSPEND", "CAP_AUDIT_READ",
    "CAP_PERFMON", "CAP_BPF", "CAP_CHECKPOINT_RESTORE",
]  # fmt: skip
MASKED_PATHS = [
    "/proc/acpi", "/proc/kcore", "/proc/keys", "/proc/latency_stats", "/proc/timer_list",
    "/proc/timer_stats", "/proc/sched_debug", "/proc/scsi", "/sys/firmware",
    "/sys/devices/virtual/powercap",
]  # fmt: skip
READONLY_PATHS = [
    "/proc/asound", "/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger",
]  # fmt: skip
RLIMIT_INFINITY = 2**64 - 1


@dataclass
class BundleContext:
    """What the engine knows beyond the RunSpec when it writes the bundle."""

    container_id: str
    rootfs: str
    image_config: dict[str, Any]  # the OCI image config's "config" object
    netns_path: str | None = None  # join this netns (from the network hook)
    full_idmap: bool = True  # the engine's userns maps gid 5 (tty) etc.
    host_uid: int = 0  # our uid outside (for --userns keep-id)
    host_gid: int = 0
    etc_files: dict[str, str] = field(default_factory=dict)  # /etc/hosts -> host path
    paths: Any = None  # the engine's Paths: volumes, --volumes-from (rootless.engine.mounts)


def capability(name: str) -> str:
    n = name.upper()
    return n if n.startswith("CAP_") else f"CAP_{n}"


def capabilities(spec: RunSpec) -> list[str]:
    if spec.privileged:
        return list(ALL_CAPS)
    caps = list(DEFAULT_CAPS)
    drops = {capability(c) for c in spec.cap_drop}
    caps = [] if "CAP_ALL" in drops else [c for c in caps if c not in drops]
    for c in spec.cap_add:
        cap = capability(c)
        if cap == "CAP_ALL":
            caps = list(ALL_CAPS)
            continue
        if cap not in ALL_CAPS:
            raise UsageError(f"unknown capability {c!r}", hint="e.g. --cap-add NET_ADMIN")
        if cap not in caps:
            caps.append(cap)
    for c in spec.cap_drop:
        if capability(c) not in ALL_CAPS and capability(c) != "CAP_ALL":
            raise UsageError(f"unknown capability {c!r}", hint="e.g. --cap-drop NET_RAW")
    return caps


def process_args(spec: RunSpec, image_cfg: dict[str, Any]) -> list[str]:
    """Docker's rule: --entrypoint replaces the image's entrypoint and drops its Cmd."""
    if spec.entrypoint is not None:
        args = list(spec.entrypoint) + list(spec.command)
    else:
        ep = list(image_cfg.get("Entrypoint") or [])
        cmd = list(spec.command) or list(image_cfg.get("Cmd") or [])
        args = ep + cmd
    if not args:
        raise UsageError("no command given and the image has none", hint="add a command")
    return args


def environment(spec: RunSpec, image_cfg: dict[str, Any], hostname: str, home: str) -> list[str]:
    env: dict[str, str] = {}
    for item in image_cfg.get("Env") or []:
        k, _, v = item.partition("=")
        env[k] = v
    env.setdefault("PATH", DEFAULT_PATH)
    if spec.tty:
        env.setdefault("TERM", "xterm")
    env["HOSTNAME"] = hostname
    env.setdefault("HOME", home)
    env.update(spec.env)
    if spec.env.get("HOME") is None:
        env["HOME"] = env.get("HOME") or home
    return [f"{k}={v}" for k, v in env.items()]


def _read_in_rootfs(rootfs: str, rel: str) -> str:
    """Read a file of the container without following symlinks out of its rootfs."""
    from rootless.engine.containers.safepath import open_in_root

    try:
        fd = open_in_root(rootfs, rel, os.O_RDONLY)
    except OSError:
        return ""
    with os.fdopen(fd, encoding="utf-8", errors="replace") as f:
        return f.read()


@dataclass
class ResolvedUser:
    """The container process's user, resolved in the image's /etc/passwd and /etc/group."""

    uid: int
    gid: int
    additional_gids: list[int]
    home: str


def resolve_user(rootfs: str, user: str | None) -> ResolvedUser:
    if not user:
        return ResolvedUser(0, 0, [], "/root")
    name, _, group = user.partition(":")
    passwd = [ln.split(":") for ln in _read_in_rootfs(rootfs, "etc/passwd").splitlines()]
    groups = [ln.split(":") for ln in _read_in_rootfs(rootfs, "etc/group").splitlines()]
    uid = gid = None
    home = "/"
    username = None
    for p in passwd:
        if len(p) >= 6 and (p[0] == name or p[2] == name):
            uid, gid, home, username = int(p[2]), int(p[3]), p[5] or "/", p[0]
            break
    if uid is None:
        if not name.isdigit():
            raise UsageError(
                f"unable to find user {name}: no matching entries in the container's passwd file"
            )
        uid, gid = int(name), 0
    if group:
        gid = None
        for g in groups:
            if len(g) >= 3 and (g[0] == group or g[2] == group):
                gid = int(g[2])
                break
        if gid is None:
            if not group.isdigit():
                raise UsageError(f"unable to find group {group} in the container's group file")
            gid = int(group)
    extra = []
    if username:
        for g in groups:
            if len(g) >= 4 and username in g[3].split(",") and g[2].isdigit():
                extra.append(int(g[2]))
    return ResolvedUser(uid, gid if gid is not None else 0, extra, home)


def _seccomp(spec: RunSpec) -> dict[str, Any] | None:
    if spec.privileged or spec.seccomp == "unconfined":
        return None
    path = spec.seccomp
    if not path:
        default = Path(__file__).resolve().parent.parent / "runtime" / "seccomp_default.json"
        if not default.is_file():
            return None
        path = str(default)
    try:
        with open(path, encoding="utf-8") as f:
            prof = json.load(f)
    except (OSError, ValueError) as e:
        raise UsageError(f"cannot load seccomp profile {path}: {e}") from None
    if not isinstance(prof, dict):
        raise UsageError(f"cannot load seccomp profile {path}: not a JSON object")
    return prof


def _mounts(spec: RunSpec, ctx: BundleContext) -> list[dict[str, Any]]:
    pts = ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620"]
    if ctx.full_idmap:
        pts.append("gid=5")
    mounts: list[dict[str, Any]] = [
        {"destination": "/proc", "type": "proc", "source": "proc"},
        {
            "destination": "/dev",
            "type": "tmpfs",
            "source": "tmpfs",
            "options": ["nosuid", "strictatime", "mode=755", "size=65536k"],
        },
        {"destination": "/dev/pts", "type": "devpts", "source": "devpts", "options": pts},
        {
            "destination": "/dev/shm",
            "type": "tmpfs",
            "source": "shm",
            "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"],
        },
        {
            "destination": "/dev/mqueue",
            "type": "mqueue",
            "source": "mqueue",
            "options": ["nosuid", "noexec", "nodev"],
        },
    ]
    # sysfs may only be mounted by the user namespace owning the network namespace: not
    # ours with the host's network, nor a nested one (--userns keep-id/nomap) joining a
    # network namespace the engine made (bridge, slirp4netns, NAME): bind the host's /sys.
    nested_userns = spec.userns in ("keep-id", "nomap")
    if spec.network == "host" or (nested_userns and spec.network != "none"):
        mounts.append(
            {
                "destination": "/sys",
                "type": "bind",
                "source": "/sys",
                "options": ["rbind", "nosuid", "noexec", "nodev", "ro"],
            }
        )
    else:
        mounts.append(
            {
                "destination": "/sys",
                "type": "sysfs",
                "source": "sysfs",
                "options": ["nosuid", "noexec", "nodev", "ro"],
            }
        )
    for dest, host in sorted(ctx.etc_files.items()):
        mounts.append(
            {"destination": dest, "type": "bind", "source": host, "options": ["rbind", "rprivate"]}
        )
    # Persistence: --tmpfs, -v, --mount, --volumes-from, image VOLUMEs (engine/mounts.py).
    from rootless.engine.mounts import user_mounts

    mounts.extend(user_mounts(spec, ctx))
    if spec.init:
        mounts.append(
            {
                "destination": INIT_PATH,
                "type": "bind",
                "source": init_binary(),
                "options": ["bind", "ro", "nosuid", "nodev"],
            }
        )
    return mounts


def init_binary() -> str:
    for c in INIT_CANDIDATES:
        if os.access(c, os.X_OK):
            return c
    raise UsageError("--init needs catatonit or tini-static", hint="apt-get install catatonit")


def _rlimits(spec: RunSpec) -> list[dict[str, Any]]:
    out = []
    for u in spec.ulimits:
        soft = RLIMIT_INFINITY if u.soft == -1 else u.soft
        hard = RLIMIT_INFINITY if u.hard == -1 else u.hard
        out.append({"type": f"RLIMIT_{u.name.upper()}", "soft": soft, "hard": hard})
    return out


# --userns nomap: the container's root is the engine's uid (and gid) 1, the first
# subordinate id; its ids are the engine's shifted by this much, and so must its files be
# (engine/containers/rootfs.create).
NOMAP_ID_OFFSET = 1


def _userns(spec: RunSpec, ctx: BundleContext, user: ResolvedUser) -> dict[str, Any] | None:
    """A nested user namespace for --userns keep-id/nomap (65536 ids of the engine's)."""
    size = 65536
    if spec.userns == "keep-id":
        u, g = ctx.host_uid, ctx.host_gid

        def keep(i: int) -> list[dict[str, int]]:
            return [
                {"containerID": 0, "hostID": 1, "size": i},
                {"containerID": i, "hostID": 0, "size": 1},
                {"containerID": i + 1, "hostID": i + 1, "size": size - i - 1},
            ]

        return {"uidMappings": keep(u), "gidMappings": keep(g)}
    if spec.userns == "nomap":
        m = [{"containerID": 0, "hostID": NOMAP_ID_OFFSET, "size": size - NOMAP_ID_OFFSET}]
        return {"uidMappings": m, "gidMappings": m}
    return None


def make_config(spec: RunSpec, ctx: BundleContext) -> dict[str, Any]:
    icfg = ctx.image_config
    hostname = spec.hostname or ctx.container_id[:12]
    user = resolve_user(ctx.rootfs, spec.user or icfg.get("User") or None)
    if spec.userns == "keep-id" and not spec.user:
        user = ResolvedUser(ctx.host_uid, ctx.host_gid, [], user.home)
    args = process_args(spec, icfg)
    if spec.init:
        args = [INIT_PATH, "--", *args]
    caps = capabilities(spec)
    process: dict[str, Any] = {
        "terminal": spec.tty,
        "user": {"uid": user.uid, "gid": user.gid},
        "args": args,
        "env": environment(spec, icfg, hostname, user.home),
        "cwd": spec.workdir or icfg.get("WorkingDir") or "/",
        "capabilities": {k: caps for k in ("bounding", "effective", "permitted")},
        "noNewPrivileges": spec.no_new_privileges and not spec.privileged,
    }
    if user.additional_gids:
        process["user"]["additionalGids"] = user.additional_gids
    if user.uid != 0:
        process["capabilities"]["effective"] = []
        process["capabilities"]["permitted"] = []
    rl = _rlimits(spec)
    if rl:
        process["rlimits"] = rl
    namespaces: list[dict[str, str]] = [
        {"type": "pid"},
        {"type": "ipc"},
        {"type": "uts"},
        {"type": "mount"},
    ]
    if spec.network != "host":
        ns = {"type": "network"}
        if ctx.netns_path:
            ns["path"] = ctx.netns_path
        namespaces.append(ns)
    linux: dict[str, Any] = {"namespaces": namespaces}
    userns = _userns(spec, ctx, user)
    if userns:
        namespaces.append({"type": "user"})
        linux.update(userns)
    if not spec.privileged:
        linux["maskedPaths"] = list(MASKED_PATHS)
        linux["readonlyPaths"] = list(READONLY_PATHS)
    sec = _seccomp(spec)
    if sec:
        from rootless.engine.seccomp_profile import render

        linux["seccomp"] = render(sec, caps)
    return {
        "ociVersion": "1.0.2",
        "process": process,
        "root": {"path": ctx.rootfs, "readonly": spec.read_only},
        "hostname": hostname,
        "mounts": _mounts(spec, ctx),
        "linux": linux,
        "annotations": {f"label.{k}": v for k, v in spec.labels.items()},
    }


def write_bundle(bundle_dir: Path, config: dict[str, Any]) -> None:
    """Rewritten on every start, so no fsync: tmp + rename is enough for readers."""
    bundle_dir.mkdir(parents=True, exist_ok=True)
    tmp = bundle_dir / f".config.json.{os.getpid()}.tmp"
    tmp.write_bytes(json.dumps(config).encode())
    os.chmod(tmp, 0o600)
    os.replace(tmp, bundle_dir / "config.json")


def validate(spec: RunSpec) -> None:
    """Check what can be checked before any work is done (bad input -> no debris)."""
    capabilities(spec)
    from rootless.engine.mounts import validate as validate_mounts  # persistence

    validate_mounts(spec)
    if spec.init:
        init_binary()
    _seccomp(spec)
    if spec.userns not in (None, "", "host", "keep-id", "nomap"):
        raise UsageError(f"unsupported --userns {spec.userns!r}", hint="use keep-id, nomap or host")
