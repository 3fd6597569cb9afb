"""The parts of an OCI runtime config.json (Linux) that this runtime implements, as records.

Parsing is strict about types (a bad bundle gives one clear line) and lenient about
fields we do not use, as the spec asks (unknown properties MUST be ignored).
"""

from __future__ import annotations

import os

from rootless.errors import EngineError
from rootless.runtime import jsonlite

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


class BundleError(EngineError):
    """The bundle's config.json is missing or invalid."""


class Record:
    """A plain typed record. Not a dataclass: importing dataclasses pulls in inspect and
    re, ~10 ms on every container start."""

    __slots__: tuple[str, ...] = ()

    def __eq__(self, other: object) -> bool:
        return type(self) is type(other) and all(
            getattr(self, k) == getattr(other, k) for k in self.__slots__
        )

    def __repr__(self) -> str:
        fields = ", ".join(f"{k}={getattr(self, k)!r}" for k in self.__slots__)
        return f"{type(self).__name__}({fields})"

    def to_dict(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self.__slots__}


class IdMap(Record):
    __slots__ = ("container_id", "host_id", "size")

    def __init__(self, container_id: int, host_id: int, size: int) -> None:
        self.container_id = container_id
        self.host_id = host_id
        self.size = size


class Namespace(Record):
    __slots__ = ("path", "type")

    def __init__(self, type: str, path: str | None = None) -> None:
        self.type = type
        self.path = path


class Mount(Record):
    __slots__ = ("destination", "options", "source", "type")

    def __init__(
        self,
        destination: str,
        type: str | None = None,
        source: str | None = None,
        options: list[str] | None = None,
    ) -> None:
        self.destination = destination
        self.type = type
        self.source = source
        self.options = options or []


class Rlimit(Record):
    __slots__ = ("hard", "soft", "type")

    def __init__(self, type: str, soft: int, hard: int) -> None:
        self.type = type
        self.soft = soft
        self.hard = hard


class Hook(Record):
    __slots__ = ("args", "env", "path", "timeout")

    def __init__(
        self,
        path: str,
        args: list[str] | None = None,
        env: list[str] | None = None,
        timeout: int | None = None,
    ) -> None:
        self.path = path
        self.args = args or []
        self.env = env or []
        self.timeout = timeout


class Capabilities(Record):
    __slots__ = ("ambient", "bounding", "effective", "inheritable", "permitted")

    def __init__(
        self,
        bounding: list[str] | None = None,
        effective: list[str] | None = None,
        inheritable: list[str] | None = None,
        permitted: list[str] | None = None,
        ambient: list[str] | None = None,
    ) -> None:
        self.bounding = bounding or []
        self.effective = effective or []
        self.inheritable = inheritable or []
        self.permitted = permitted or []
        self.ambient = ambient or []


class User(Record):
    __slots__ = ("additional_gids", "gid", "uid", "umask")

    def __init__(
        self,
        uid: int = 0,
        gid: int = 0,
        umask: int | None = None,
        additional_gids: list[int] | None = None,
    ) -> None:
        self.uid = uid
        self.gid = gid
        self.umask = umask
        self.additional_gids = additional_gids or []


class Process(Record):
    __slots__ = (
        "args",
        "capabilities",
        "console_size",
        "cwd",
        "env",
        "no_new_privileges",
        "oom_score_adj",
        "rlimits",
        "terminal",
        "user",
    )

    def __init__(
        self,
        args: list[str],
        cwd: str = "/",
        env: list[str] | None = None,
        terminal: bool = False,
        user: User | None = None,
        capabilities: Capabilities | None = None,
        rlimits: list[Rlimit] | None = None,
        no_new_privileges: bool = False,
        oom_score_adj: int | None = None,
        console_size: tuple[int, int] | None = None,  # (height, width)
    ) -> None:
        self.args = args
        self.cwd = cwd
        self.env = env or []
        self.terminal = terminal
        self.user = user or User()
        self.capabilities = capabilities
        self.rlimits = rlimits or []
        self.no_new_privileges = no_new_privileges
        self.oom_score_adj = oom_score_adj
        self.console_size = console_size


class Device(Record):
    __slots__ = ("file_mode", "gid", "major", "minor", "path", "type", "uid")

    def __init__(
        self,
        path: str,
        type: str = "c",
        major: int = 0,
        minor: int = 0,
        file_mode: int | None = None,
        uid: int | None = None,
        gid: int | None = None,
    ) -> None:
        self.path = path
        self.type = type
        self.major = major
        self.minor = minor
        self.file_mode = file_mode
        self.uid = uid
        self.gid = gid


class Spec(Record):
    __slots__ = (
        "annotations",
        "devices",
        "domainname",
        "gid_mappings",
        "hooks",
        "hostname",
        "masked_paths",
        "mounts",
        "namespaces",
        "oci_version",
        "process",
        "raw",
        "readonly_paths",
        "root_path",
        "root_readonly",
        "rootfs_propagation",
        "seccomp",
        "sysctl",
        "uid_mappings",
    )

    def __init__(
        self,
        oci_version: str,
        root_path: str,  # absolute
        root_readonly: bool,
        process: Process | None,
        hostname: str | None = None,
        domainname: str | None = None,
        mounts: list[Mount] | None = None,
        hooks: dict[str, list[Hook]] | None = None,
        annotations: dict[str, str] | None = None,
        namespaces: list[Namespace] | None = None,
        uid_mappings: list[IdMap] | None = None,
        gid_mappings: list[IdMap] | None = None,
        devices: list[Device] | None = None,
        sysctl: dict[str, str] | None = None,
        masked_paths: list[str] | None = None,
        readonly_paths: list[str] | None = None,
        rootfs_propagation: str | None = None,
        seccomp: dict[str, Any] | None = None,
        raw: dict[str, Any] | None = None,
    ) -> None:
        self.oci_version = oci_version
        self.root_path = root_path
        self.root_readonly = root_readonly
        self.process = process
        self.hostname = hostname
        self.domainname = domainname
        self.mounts = mounts or []
        self.hooks = hooks or {}
        self.annotations = annotations or {}
        self.namespaces = namespaces or []
        self.uid_mappings = uid_mappings or []
        self.gid_mappings = gid_mappings or []
        self.devices = devices or []
        self.sysctl = sysctl or {}
        self.masked_paths = masked_paths or []
        self.readonly_paths = readonly_paths or []
        self.rootfs_propagation = rootfs_propagation
        self.seccomp = seccomp
        self.raw = raw or {}

    def namespace(self, kind: str) -> Namespace | None:
        for ns in self.namespaces:
            if ns.type == kind:
                return ns
        return None


NAMESPACE_TYPES = ("user", "mount", "pid", "uts", "ipc", "network", "cgroup", "time")
HOOK_KINDS = (
    "prestart",
    "createRuntime",
    "createContainer",
    "startContainer",
    "poststart",
    "poststop",
)


def _get(obj: dict[str, Any], key: str, kind: type, default: Any, where: str) -> Any:
    value = obj.get(key, default)
    if value is None:
        return default
    if kind is int and isinstance(value, bool):
        raise BundleError(f"config.json: {where}.{key} must be an integer")
    if not isinstance(value, kind):
        raise BundleError(f"config.json: {where}.{key} must be {kind.__name__}")
    return value


def _str_list(obj: dict[str, Any], key: str, where: str) -> list[str]:
    values = _get(obj, key, list, [], where)
    if not all(isinstance(v, str) for v in values):
        raise BundleError(f"config.json: {where}.{key} must be a list of strings")
    return list(values)


def parse_process(p: dict[str, Any], where: str = "process") -> Process:
    if not isinstance(p, dict):
        raise BundleError(f"config.json: {where} must be an object")
    args = _str_list(p, "args", where)
    if not args:
        raise BundleError(f"config.json: {where}.args must not be empty")
    cwd = _get(p, "cwd", str, "/", where)
    if not cwd.startswith("/"):
        raise BundleError(f"config.json: {where}.cwd must be an absolute path, not {cwd!r}")
    u = _get(p, "user", dict, {}, where)
    user = User(
        uid=_get(u, "uid", int, 0, f"{where}.user"),
        gid=_get(u, "gid", int, 0, f"{where}.user"),
        umask=u.get("umask"),
        additional_gids=[int(g) for g in _get(u, "additionalGids", list, [], f"{where}.user")],
    )
    caps = None
    if isinstance(p.get("capabilities"), dict):
        c = p["capabilities"]
        caps = Capabilities(
            **{k: _str_list(c, k, f"{where}.capabilities") for k in Capabilities.__slots__}
        )
    rlimits = []
    for r in _get(p, "rlimits", list, [], where):
        if not isinstance(r, dict) or not isinstance(r.get("type"), str):
            raise BundleError(f"config.json: {where}.rlimits entries need a type")
        rlimits.append(Rlimit(r["type"], int(r.get("soft", 0)), int(r.get("hard", 0))))
    oom = p.get("oomScoreAdj")
    size = p.get("consoleSize")
    console_size = None
    if isinstance(size, dict):
        console_size = (int(size.get("height", 0)), int(size.get("width", 0)))
    return Process(
        args=args,
        cwd=cwd,
        env=_str_list(p, "env", where),
        terminal=bool(p.get("terminal", False)),
        user=user,
        capabilities=caps,
        rlimits=rlimits,
        no_new_privileges=bool(p.get("noNewPrivileges", False)),
        oom_score_adj=None if oom is None else int(oom),
        console_size=console_size,
    )


def _idmaps(items: list[Any], where: str) -> list[IdMap]:
    out = []
    for m in items:
        try:
            out.append(IdMap(int(m["containerID"]), int(m["hostID"]), int(m["size"])))
        except (KeyError, TypeError, ValueError):
            raise BundleError(f"config.json: {where} needs containerID, hostID and size") from None
    return out


def parse_spec(cfg: dict[str, Any], bundle: str) -> Spec:
    if not isinstance(cfg, dict):
        raise BundleError("config.json: the top level must be an object")
    root = _get(cfg, "root", dict, {}, "config")
    root_path = _get(root, "path", str, "", "root")
    if not root_path:
        raise BundleError("config.json: root.path is required")
    root_path = os.path.normpath(os.path.join(bundle, root_path))
    proc = cfg.get("process")
    process = parse_process(proc) if proc is not None else None
    mounts = []
    for m in _get(cfg, "mounts", list, [], "config"):
        if not isinstance(m, dict) or not isinstance(m.get("destination"), str):
            raise BundleError("config.json: every mount needs a destination")
        if not m["destination"].startswith("/"):
            raise BundleError(
                f"config.json: mount destination {m['destination']!r} is not absolute"
            )
        mounts.append(
            Mount(
                m["destination"], m.get("type"), m.get("source"), _str_list(m, "options", "mount")
            )
        )
    hooks: dict[str, list[Hook]] = {}
    for kind, items in _get(cfg, "hooks", dict, {}, "config").items():
        if kind not in HOOK_KINDS:
            continue
        hooks[kind] = []
        for h in items or []:
            if not isinstance(h, dict) or not isinstance(h.get("path"), str):
                raise BundleError(f"config.json: hooks.{kind} entries need a path")
            hooks[kind].append(
                Hook(
                    h["path"],
                    _str_list(h, "args", "hook"),
                    _str_list(h, "env", "hook"),
                    h.get("timeout"),
                )
            )
    linux = _get(cfg, "linux", dict, {}, "config")
    namespaces = []
    for n in _get(linux, "namespaces", list, [], "linux"):
        kind = n.get("type") if isinstance(n, dict) else None
        if kind not in NAMESPACE_TYPES:
            raise BundleError(f"config.json: unknown namespace type {kind!r}")
        namespaces.append(Namespace(kind, n.get("path") or None))
    devices = []
    for d in _get(linux, "devices", list, [], "linux"):
        devices.append(
            Device(
                path=d["path"],
                type=d.get("type", "c"),
                major=int(d.get("major", 0)),
                minor=int(d.get("minor", 0)),
                file_mode=d.get("fileMode"),
                uid=d.get("uid"),
                gid=d.get("gid"),
            )
        )
    return Spec(
        oci_version=str(cfg.get("ociVersion", "")),
        root_path=root_path,
        root_readonly=bool(root.get("readonly", False)),
        process=process,
        hostname=cfg.get("hostname"),
        domainname=cfg.get("domainname"),
        mounts=mounts,
        hooks=hooks,
        annotations=dict(_get(cfg, "annotations", dict, {}, "config")),
        namespaces=namespaces,
        uid_mappings=_idmaps(_get(linux, "uidMappings", list, [], "linux"), "linux.uidMappings"),
        gid_mappings=_idmaps(_get(linux, "gidMappings", list, [], "linux"), "linux.gidMappings"),
        devices=devices,
        sysctl={str(k): str(v) for k, v in _get(linux, "sysctl", dict, {}, "linux").items()},
        masked_paths=_str_list(linux, "maskedPaths", "linux"),
        readonly_paths=_str_list(linux, "readonlyPaths", "linux"),
        rootfs_propagation=linux.get("rootfsPropagation") or None,
        seccomp=linux.get("seccomp"),
        raw=cfg,
    )


def load_bundle(bundle: str) -> Spec:
    """Read BUNDLE/config.json; the bundle path is made absolute."""
    bundle = os.path.abspath(bundle)
    path = os.path.join(bundle, "config.json")
    try:
        cfg = jsonlite.load_file(path)
    except FileNotFoundError:
        raise BundleError(f"no config.json in bundle {bundle}") from None
    except (OSError, ValueError) as e:
        raise BundleError(f"cannot read {path}: {e}") from None
    spec = parse_spec(cfg, bundle)
    if not os.path.isdir(spec.root_path):
        raise BundleError(f"rootfs {spec.root_path} is not a directory")
    return spec
