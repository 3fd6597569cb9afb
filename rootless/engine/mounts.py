"""User mounts: -v, --mount, --tmpfs, --volumes-from and image VOLUMEs -> OCI mount dicts.

Parsing is pure (unit-testable, no filesystem). `user_mounts()` runs when the bundle is
written, inside the engine's user namespace with the rootfs mounted: it creates named and
anonymous volumes on first use, fills an empty new volume with the image's content at the
target, creates missing `-v` host directories (as Docker does), and resolves each target
inside the rootfs as `chroot` would, so a symlink in the image can never make a mount land
on a host path.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, replace
from pathlib import Path

from rootless.errors import NotFound, UsageError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Literal

    from rootless.engine.bundle import BundleContext
    from rootless.engine.runspec import RunSpec
    from rootless.paths import Paths

    MountKind = Literal["bind", "volume", "tmpfs"]

VOLUME_NAME = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9_.-]*$")
PROPAGATIONS = ("shared", "rshared", "slave", "rslave", "private", "rprivate")
# -v modes we accept; z/Z (SELinux relabel) have no meaning without SELinux.
_VOLUME_MODES = {"ro", "rw", "z", "Z", "nocopy", "copy", *PROPAGATIONS}
_TMPFS_FLAGS = {"ro", "rw", "exec", "noexec", "suid", "nosuid", "dev", "nodev", "atime",
                "noatime", "nodiratime", "relatime", "strictatime", "tmpcopyup", "notmpcopyup"}  # fmt: skip
_TMPFS_KEYS = {"size", "mode", "uid", "gid", "nr_inodes", "nr_blocks"}
_MAX_SYMLINKS = 40


@dataclass(frozen=True)
class MountSpec:
    """One user mount, parsed. `source`: host path (bind), volume name ("" = anonymous)."""

    kind: MountKind
    target: str
    source: str = ""
    readonly: bool = False
    propagation: str = ""
    options: tuple[str, ...] = ()  # tmpfs options (size=..., mode=...)
    nocopy: bool = False  # volume: don't fill it with the image's content
    create_source: bool = False  # -v creates a missing host dir; --mount refuses
    volume_opts: tuple[tuple[str, str], ...] = ()  # --mount volume-opt=K=V


# ---- parsing ---------------------------------------------------------------------------
def _clean_target(target: str, what: str) -> str:
    if not target.startswith("/"):
        raise UsageError(
            f"invalid {what}: destination {target!r} is not an absolute path",
            hint="container paths start with /",
        )
    norm = os.path.normpath(target)
    norm = "/" + norm.lstrip("/")
    if norm == "/":
        raise UsageError(f"invalid {what}: destination can't be '/'")
    return norm


def _is_host_path(source: str) -> bool:
    return source.startswith(("/", ".", "~"))


def host_path(source: str, cwd: str | None = None) -> str:
    """`~/x`, `./x`, `../x` -> an absolute, normalised host path (compose-style)."""
    p = os.path.expanduser(source)
    if not os.path.isabs(p):
        p = os.path.join(cwd or os.getcwd(), p)
    return os.path.normpath(p)


def _check_volume_name(name: str, what: str) -> None:
    if not VOLUME_NAME.match(name):
        raise UsageError(
            f"invalid {what}: {name!r} is not a valid volume name",
            hint="names are [a-zA-Z0-9][a-zA-Z0-9_.-]*; host paths must start with /, ./ or ~",
        )


def parse_volume(text: str, cwd: str | None = None) -> MountSpec:
    """`-v [SOURCE:]TARGET[:MODES]`: SOURCE is a host path (/, ./, ~) or a volume name."""
    what = f"volume {text!r}"
    parts = text.split(":")
    if not text or len(parts) > 3 or any(p == "" for p in parts[:2]):
        raise UsageError(f"invalid {what}", hint="use -v [NAME|/host/path:]/ctr/path[:ro]")
    if len(parts) == 1:
        return MountSpec("volume", _clean_target(parts[0], what))
    if len(parts) == 2 and parts[0].startswith("/") and set(parts[1].split(",")) <= _VOLUME_MODES:
        # "/ctr:ro" is an anonymous volume with modes.
        source, target, modes = "", parts[0], parts[1]
    else:
        source, target = parts[0], parts[1]
        modes = parts[2] if len(parts) == 3 else ""
    target = _clean_target(target, what)
    readonly, propagation, nocopy = False, "", False
    for mode in [m for m in modes.split(",") if m]:
        if mode not in _VOLUME_MODES:
            raise UsageError(
                f"invalid mode {mode!r} in {what}",
                hint="use ro, rw, nocopy or a propagation (rprivate, rshared, rslave)",
            )
        if mode in ("ro", "rw"):
            readonly = mode == "ro"
        elif mode in PROPAGATIONS:
            propagation = mode
        elif mode == "nocopy":
            nocopy = True
    if not source:
        return MountSpec("volume", target, readonly=readonly, nocopy=nocopy)
    if _is_host_path(source):
        if nocopy:
            raise UsageError(f"invalid {what}: nocopy applies to volumes, not bind mounts")
        return MountSpec(
            "bind", target, host_path(source, cwd), readonly, propagation, create_source=True
        )
    _check_volume_name(source, what)
    if propagation:
        raise UsageError(f"invalid {what}: propagation applies to bind mounts, not volumes")
    return MountSpec("volume", target, source, readonly, nocopy=nocopy)


def _truthy(key: str, value: str | None, what: str) -> bool:
    if value is None:
        return True
    v = value.lower()
    if v in ("1", "true"):
        return True
    if v in ("0", "false"):
        return False
    raise UsageError(f"invalid {what}: {key}={value!r} must be true or false")


def _size_bytes(value: str, what: str) -> int:
    m = re.fullmatch(r"(\d+)([kmgKMG]?)[bB]?", value.strip())
    if not m:
        raise UsageError(f"invalid {what}: tmpfs-size {value!r}", hint="e.g. tmpfs-size=64m")
    return int(m.group(1)) * {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30}[m.group(2).lower()]


def _csv_fields(text: str) -> list[str]:
    import csv

    try:
        rows = list(csv.reader([text]))
    except csv.Error as e:
        raise UsageError(f"invalid mount {text!r}: {e}") from None
    return [f.strip() for f in (rows[0] if rows else []) if f.strip()]


def parse_mount(text: str, cwd: str | None = None) -> MountSpec:
    """`--mount type=bind|volume|tmpfs,source=..,target=..,readonly,...` (Docker's keys)."""
    what = f"mount {text!r}"
    kind = "volume"
    source = target = propagation = ""
    readonly = nocopy = False
    options: list[str] = []
    vopts: list[tuple[str, str]] = []
    for fieldtext in _csv_fields(text):
        key, sep, value = fieldtext.partition("=")
        key = key.lower()
        val: str | None = value if sep else None
        if key == "type":
            if value not in ("bind", "volume", "tmpfs"):
                raise UsageError(
                    f"invalid {what}: unsupported type {value!r}", hint="use bind, volume or tmpfs"
                )
            kind = value
        elif key in ("source", "src"):
            source = value
        elif key in ("target", "destination", "dst"):
            target = value
        elif key in ("readonly", "ro"):
            readonly = _truthy(key, val, what)
        elif key == "bind-propagation":
            if value not in PROPAGATIONS:
                raise UsageError(
                    f"invalid {what}: bind-propagation {value!r}", hint=", ".join(PROPAGATIONS)
                )
            propagation = value
        elif key == "volume-nocopy":
            nocopy = _truthy(key, val, what)
        elif key == "volume-opt":
            k, eq, v = value.partition("=")
            if not eq or not k:
                raise UsageError(f"invalid {what}: volume-opt needs KEY=VALUE")
            vopts.append((k, v))
        elif key == "volume-driver":
            if value != "local":
                raise UsageError(f"invalid {what}: only the local volume driver exists")
        elif key == "tmpfs-size":
            options.append(f"size={_size_bytes(value, what)}")
        elif key == "tmpfs-mode":
            if not re.fullmatch(r"[0-7]{1,4}", value):
                raise UsageError(f"invalid {what}: tmpfs-mode {value!r} must be octal, e.g. 1777")
            options.append(f"mode={value}")
        elif key in ("consistency", "bind-nonrecursive", "relabel"):
            continue  # accepted for compatibility; no effect here
        else:
            raise UsageError(f"invalid {what}: unknown key {key!r}")
    if not target:
        raise UsageError(f"invalid {what}: target is required", hint="add target=/path")
    target = _clean_target(target, what)
    kind_t: MountKind = kind  # type: ignore[assignment]
    if kind_t == "bind":
        if not source:
            raise UsageError(f"invalid {what}: a bind mount needs source=/host/path")
        if vopts or nocopy or options:
            raise UsageError(f"invalid {what}: volume-*/tmpfs-* keys don't apply to bind mounts")
        return MountSpec("bind", target, host_path(source, cwd), readonly, propagation)
    if kind_t == "tmpfs":
        if source:
            raise UsageError(f"invalid {what}: a tmpfs mount takes no source")
        return MountSpec("tmpfs", target, readonly=readonly, options=tuple(options))
    if propagation or options:
        raise UsageError(f"invalid {what}: bind-*/tmpfs-* keys don't apply to volumes")
    if source:
        _check_volume_name(source, what)
    return MountSpec("volume", target, source, readonly, nocopy=nocopy, volume_opts=tuple(vopts))


def parse_tmpfs(target: str, opts: str) -> MountSpec:
    """`--tmpfs /path[:size=64m,mode=1777,...]`."""
    what = f"tmpfs {target}:{opts}" if opts else f"tmpfs {target}"
    readonly = False
    out: list[str] = []
    for o in [x for x in opts.split(",") if x]:
        key, eq, value = o.partition("=")
        if eq and key in _TMPFS_KEYS:
            if key == "size":
                value = str(_size_bytes(value, what)) if not value.endswith("%") else value
            out.append(f"{key}={value}")
        elif not eq and key in _TMPFS_FLAGS:
            if key in ("ro", "rw"):
                readonly = key == "ro"
            elif key not in ("tmpcopyup", "notmpcopyup"):
                out.append(key)
        else:
            raise UsageError(
                f"invalid {what}: unknown option {o!r}", hint="e.g. size=64m,mode=1777"
            )
    return MountSpec("tmpfs", _clean_target(target, what), readonly=readonly, options=tuple(out))


def parse_volumes_from(text: str) -> tuple[str, bool | None]:
    """`--volumes-from CTR[:ro|:rw]` -> (container, readonly override or None)."""
    ref, _, mode = text.partition(":")
    if not ref or mode not in ("", "ro", "rw"):
        raise UsageError(f"invalid --volumes-from {text!r}", hint="use CONTAINER[:ro|:rw]")
    return ref, (None if not mode else mode == "ro")


def absolutize(spec: RunSpec, cwd: str | None = None) -> None:
    """Rewrite relative host paths of -v/--mount against `cwd` now: the spec is stored and
    a later `start` runs elsewhere."""
    vols = []
    for v in spec.volumes:
        m = parse_volume(v, cwd)
        if m.kind == "bind":
            v = m.source + v[v.index(":") :]
        vols.append(v)
    spec.volumes = vols
    out = []
    for text in spec.mounts:
        m = parse_mount(text, cwd)
        if m.kind == "bind":
            fields = []
            for f in _csv_fields(text):
                key = f.partition("=")[0].lower()
                fields.append(f"source={m.source}" if key in ("source", "src") else f)
            text = ",".join(fields)
        out.append(text)
    spec.mounts = out


def parse_spec(spec: RunSpec) -> list[MountSpec]:
    """The RunSpec's own mounts (not --volumes-from); duplicate targets are an error."""
    found: list[MountSpec] = []
    found += [parse_tmpfs(t, o) for t, o in spec.tmpfs.items()]
    found += [parse_volume(v) for v in spec.volumes]
    found += [parse_mount(m) for m in getattr(spec, "mounts", [])]
    seen: set[str] = set()
    for m in found:
        if m.target in seen:
            raise UsageError(f"duplicate mount point {m.target}", hint="mount each path once")
        seen.add(m.target)
    for ref in getattr(spec, "volumes_from", []):
        parse_volumes_from(ref)
    return found


def validate(spec: RunSpec) -> None:
    parse_spec(spec)


def check_references(paths: Paths, spec: RunSpec) -> None:
    """At create time: every --volumes-from container exists (Docker refuses early)."""
    for ref in getattr(spec, "volumes_from", []):
        _mounts_of(paths, parse_volumes_from(ref)[0], frozenset())


def anonymous_name(container_id: str, target: str) -> str:
    """Anonymous volumes are named from (container, target): stable across restarts, so
    `start` reuses them and rm -v / --volumes-from can find them without extra state."""
    import hashlib

    return hashlib.sha256(f"{container_id}:{target}".encode()).hexdigest()


def _image_volume_targets(image_config: dict[str, Any]) -> list[str]:
    return sorted(
        t for t in (image_config.get("Volumes") or {}) if isinstance(t, str) and t.startswith("/")
    )


def container_mounts(
    paths: Paths | None,
    container_id: str,
    spec: RunSpec,
    image_config: dict[str, Any],
    _seen: frozenset[str] = frozenset(),
) -> list[MountSpec]:
    """Every user mount of a container with anonymous volumes named, --volumes-from
    expanded (recursively) and the image's VOLUMEs that no user mount covers."""
    own = parse_spec(spec)
    out = [replace(m, source=anonymous_name(container_id, m.target)) if m.kind == "volume" and not m.source else m for m in own]  # fmt: skip
    targets = {m.target for m in out}
    for ref in getattr(spec, "volumes_from", []):
        cref, ro = parse_volumes_from(ref)
        for m in _mounts_of(paths, cref, _seen | {container_id}):
            if m.target in targets or m.kind == "tmpfs":
                continue
            targets.add(m.target)
            out.append(replace(m, readonly=m.readonly if ro is None else ro, create_source=False))
    for t in _image_volume_targets(image_config):
        norm = _clean_target(t, f"image volume {t}")
        if norm not in targets:
            targets.add(norm)
            out.append(MountSpec("volume", norm, anonymous_name(container_id, norm)))
    return out


def _mounts_of(paths: Paths | None, ref: str, seen: frozenset[str]) -> list[MountSpec]:
    if paths is None:
        raise UsageError("--volumes-from needs the engine's paths")
    from rootless.engine.containers.store import Store

    store = Store(paths)
    try:
        cid = store.resolve(ref)
    except NotFound:
        raise NotFound(f"--volumes-from: no such container: {ref}") from None
    if cid in seen:
        return []
    rec = store.load(cid)
    return container_mounts(paths, rec.id, rec.spec, rec.image_config, seen)


def volume_names(
    paths: Paths | None, container_id: str, spec: RunSpec, image_config: dict[str, Any]
) -> set[str]:
    """Names of the volumes a container uses (for `volume rm` and prune)."""
    try:
        ms = container_mounts(paths, container_id, spec, image_config)
    except (UsageError, NotFound):
        ms = _safe_parse(spec)
    return {m.source for m in ms if m.kind == "volume" and m.source}


def _safe_parse(spec: RunSpec) -> list[MountSpec]:
    out = []
    for v in spec.volumes:
        try:
            out.append(parse_volume(v))
        except UsageError:
            continue
    return out


# ---- resolution inside the rootfs -----------------------------------------------------
def resolve_in_rootfs(rootfs: str, target: str) -> str:
    """The container path `target` with every symlink resolved as if `rootfs` were "/".
    Absolute links restart at the rootfs, ".." stops at it: the result always lies inside.
    Missing components are kept as they are (the runtime creates them)."""
    parts = [p for p in target.split("/") if p]
    resolved: list[str] = []
    links = 0
    while parts:
        part = parts.pop(0)
        if part == ".":
            continue
        if part == "..":
            if resolved:
                resolved.pop()
            continue
        host = os.path.join(rootfs, *resolved, part)
        try:
            link = os.readlink(host)
        except OSError:  # not a symlink, or missing: keep the name
            resolved.append(part)
            continue
        links += 1
        if links > _MAX_SYMLINKS:
            raise UsageError(f"too many symlinks resolving {target} in the image")
        if link.startswith("/"):
            resolved = []
        parts = [p for p in link.split("/") if p] + parts
    return "/" + "/".join(resolved)


# ---- OCI mounts ------------------------------------------------------------------------
def _bind_options(m: MountSpec) -> list[str]:
    o = ["rbind", m.propagation or "rprivate"]
    if m.readonly:
        o.append("ro")
    return o


def _prepare_bind_source(m: MountSpec) -> None:
    if os.path.exists(m.source):
        return
    if not m.create_source:
        raise NotFound(
            f"bind source path does not exist: {m.source}",
            hint="create it first (-v creates missing directories, --mount does not)",
        )
    try:
        os.makedirs(m.source, mode=0o755, exist_ok=True)
    except OSError as e:
        raise UsageError(f"cannot create bind source {m.source}: {e.strerror}") from None


def oci_mount(m: MountSpec, source: str, destination: str) -> dict[str, Any]:
    if m.kind == "tmpfs":
        opts = ["nosuid", "nodev", *m.options] + (["ro"] if m.readonly else [])
        return {"destination": destination, "type": "tmpfs", "source": "tmpfs", "options": opts}
    return {
        "destination": destination,
        "type": "bind",
        "source": source,
        "options": _bind_options(m),
    }


def user_mounts(spec: RunSpec, ctx: BundleContext) -> list[dict[str, Any]]:
    """OCI mounts for the user's mounts, parents before children. Runs inside the engine's
    user namespace with ctx.rootfs mounted (volumes are created and filled here)."""
    paths: Paths | None = getattr(ctx, "paths", None)
    ms = container_mounts(paths, ctx.container_id, spec, ctx.image_config)
    out = []
    for m in sorted(ms, key=lambda x: (x.target.count("/"), x.target)):
        dest = resolve_in_rootfs(ctx.rootfs, m.target)
        source = ""
        if m.kind == "bind":
            _prepare_bind_source(m)
            source = m.source
        elif m.kind == "volume":
            source = str(_volume_source(paths, m, ctx.rootfs, dest, ctx.container_id))
        out.append(oci_mount(m, source, dest))
    return out


def _volume_source(paths: Paths | None, m: MountSpec, rootfs: str, dest: str, cid: str) -> Path:
    if paths is None:
        raise UsageError("volumes need the engine's paths")
    from rootless.engine.volumes import VolumeStore

    store = VolumeStore(paths)
    anonymous = m.source == anonymous_name(cid, m.target)
    vol = store.ensure(m.source, anonymous=anonymous, options=dict(m.volume_opts))
    data = Path(vol.mountpoint)
    if vol.needs_copy_up:
        if not m.nocopy:
            copy_up(rootfs, dest, data)
        store.mark_copied(vol.name)
    return data


def copy_up(rootfs: str, dest: str, data: Path) -> bool:
    """Fill an empty volume with the image's content at `dest` (owners, modes, xattrs
    kept). The image dir is opened with RESOLVE_IN_ROOT, so nothing outside the rootfs is
    ever read. Returns whether anything was copied."""
    import subprocess

    from rootless.engine.containers.safepath import open_in_root

    if any(data.iterdir()):
        return False
    try:
        fd = open_in_root(rootfs, dest, os.O_RDONLY | os.O_DIRECTORY)
    except OSError:
        return False  # nothing (or not a directory) in the image there
    try:
        st = os.fstat(fd)
        os.chown(data, st.st_uid, st.st_gid)
        os.chmod(data, st.st_mode & 0o7777)
        if not os.listdir(fd):
            return False
        p = subprocess.run(
            ["cp", "-a", f"/proc/self/fd/{fd}/.", str(data) + "/"],
            pass_fds=(fd,),
            capture_output=True,
            text=True,
        )
        if p.returncode != 0:
            raise UsageError(f"cannot copy the image's {dest} into the volume: {p.stderr.strip()}")
    finally:
        os.close(fd)
    return True


def inspect_mounts(
    paths: Paths | None, container_id: str, spec: RunSpec, image_config: dict[str, Any]
) -> list[dict[str, Any]]:
    """Docker's `inspect` .Mounts for a container (host paths of volumes included)."""
    out = []
    for m in container_mounts(paths, container_id, spec, image_config):
        row: dict[str, Any] = {
            "Type": m.kind,
            "Destination": m.target,
            "Mode": "ro" if m.readonly else "",
            "RW": not m.readonly,
            "Propagation": m.propagation or ("rprivate" if m.kind == "bind" else ""),
        }
        if m.kind == "volume":
            row.update(
                Name=m.source,
                Driver="local",
                Source=str(paths.volumes / m.source / "_data") if paths else "",
            )
        elif m.kind == "bind":
            row["Source"] = m.source
        else:
            row["Source"] = ""
        out.append(row)
    return out
