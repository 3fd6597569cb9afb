"""Named volumes: a directory per volume, its data at $data/volumes/NAME/_data.

Metadata lives beside the data in volume.json, written atomically under the volumes lock.
Data files belong to whatever uid wrote them inside a container, i.e. to subuids, so
create (with uid=/gid=), rm and prune must run inside the engine's user namespace.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from rootless.errors import Conflict, NotFound, UsageError
from rootless.fsutil import atomic_write_json, locked, read_json
from rootless.paths import Paths

META = "volume.json"
DATA = "_data"
# Options of the local driver we honour: o=uid=N,gid=N,mode=0NNN sets the data dir's
# owner (inside the user namespace) and mode.
_O_KEYS = ("uid", "gid", "mode")


@dataclass
class Volume:
    name: str
    mountpoint: str
    created_at: str
    driver: str = "local"
    labels: dict[str, str] = field(default_factory=dict)
    options: dict[str, str] = field(default_factory=dict)
    anonymous: bool = False
    needs_copy_up: bool = True  # fill from the image on the first mount, then never again

    def inspect(self) -> dict[str, Any]:
        """Docker's `volume inspect` shape (plus Podman's Anonymous/NeedsCopyUp)."""
        return {
            "CreatedAt": self.created_at,
            "Driver": self.driver,
            "Labels": dict(self.labels),
            "Mountpoint": self.mountpoint,
            "Name": self.name,
            "Options": dict(self.options),
            "Scope": "local",
            "Anonymous": self.anonymous,
            "NeedsCopyUp": self.needs_copy_up,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Volume:
        known = cls.__dataclass_fields__
        return cls(**{k: v for k, v in d.items() if k in known})


def _now() -> str:
    t = time.time()
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t)) + f".{int(t % 1 * 1e9):09d}Z"


def parse_options(options: dict[str, str]) -> dict[str, int]:
    """Check `--opt` for the local driver; returns the uid/gid/mode it asks for."""
    out: dict[str, int] = {}
    for key, value in options.items():
        if key != "o":
            raise UsageError(
                f"unsupported volume option {key!r}",
                hint="the local driver takes o=uid=N,gid=N,mode=0755",
            )
        for item in [x for x in value.split(",") if x]:
            k, eq, v = item.partition("=")
            if not eq or k not in _O_KEYS:
                raise UsageError(
                    f"unsupported volume option o={item!r}", hint="use uid=N, gid=N or mode=0755"
                )
            try:
                out[k] = int(v, 8) if k == "mode" else int(v)
            except ValueError:
                raise UsageError(f"volume option {k}={v!r} is not a number") from None
    return out


class VolumeStore:
    def __init__(self, paths: Paths) -> None:
        self.paths = paths
        self.base = paths.volumes

    def lock(self) -> contextlib.AbstractContextManager[int]:
        return locked(self.paths.locks / "volumes.lock")

    def _dir(self, name: str) -> Path:
        from rootless.engine.mounts import VOLUME_NAME

        if not VOLUME_NAME.match(name):
            raise UsageError(f"invalid volume name {name!r}", hint="use [a-zA-Z0-9][a-zA-Z0-9_.-]*")
        return self.base / name

    def _save(self, vol: Volume) -> None:
        atomic_write_json(self._dir(vol.name) / META, asdict(vol), 0o600)

    # ---- reading -----------------------------------------------------------------------
    def get(self, name: str) -> Volume:
        try:
            return Volume.from_dict(read_json(self._dir(name) / META))
        except (FileNotFoundError, NotADirectoryError):
            raise NotFound(f"no such volume: {name}") from None
        except (ValueError, TypeError) as e:
            raise NotFound(f"volume {name}: unreadable metadata ({e})") from None

    def exists(self, name: str) -> bool:
        return (self._dir(name) / META).is_file()

    def all(self) -> list[Volume]:
        if not self.base.is_dir():
            return []
        out = []
        for p in sorted(self.base.iterdir()):
            if p.name.startswith("."):
                continue
            with contextlib.suppress(NotFound, UsageError):
                out.append(self.get(p.name))
        return out

    # ---- writing -----------------------------------------------------------------------
    def create(
        self,
        name: str | None = None,
        *,
        labels: dict[str, str] | None = None,
        options: dict[str, str] | None = None,
        anonymous: bool = False,
        exist_ok: bool = True,
    ) -> Volume:
        """Create a volume (a random name when none is given). An existing one is
        returned as it is when exist_ok (Docker's `volume create` is idempotent)."""
        opts = dict(options or {})
        owner = parse_options(opts)
        name = name or secrets.token_hex(32)
        d = self._dir(name)
        with self.lock():
            if self.exists(name):
                if exist_ok:
                    return self.get(name)
                raise Conflict(f"volume {name} already exists")
            self.base.mkdir(parents=True, exist_ok=True, mode=0o700)
            tmp = self.base / f".tmp-{name}"
            shutil.rmtree(tmp, ignore_errors=True)
            (tmp / DATA).mkdir(parents=True, mode=0o700)
            os.chmod(tmp / DATA, owner.get("mode", 0o755))
            if "uid" in owner or "gid" in owner:
                os.chown(tmp / DATA, owner.get("uid", -1), owner.get("gid", -1))
            vol = Volume(
                name=name,
                mountpoint=str(d / DATA),
                created_at=_now(),
                labels=dict(labels or {}),
                options=opts,
                anonymous=anonymous,
            )
            atomic_write_json(tmp / META, asdict(vol), 0o600)
            os.rename(tmp, d)
        return vol

    def ensure(
        self, name: str, *, anonymous: bool = False, options: dict[str, str] | None = None
    ) -> Volume:
        """The volume `name`, created on first use (-v NAME:/path)."""
        try:
            return self.get(name)
        except NotFound:
            return self.create(name, anonymous=anonymous, options=options)

    def mark_copied(self, name: str) -> None:
        with self.lock():
            vol = self.get(name)
            if vol.needs_copy_up:
                vol.needs_copy_up = False
                self._save(vol)

    def users(self) -> dict[str, list[str]]:
        """volume name -> names of the containers (any state) that use it."""
        from rootless.engine.containers.store import Store
        from rootless.engine.mounts import volume_names

        out: dict[str, list[str]] = {}
        for rec in Store(self.paths).records():
            for v in volume_names(self.paths, rec.id, rec.spec, rec.image_config):
                out.setdefault(v, []).append(rec.name)
        return out

    def remove(self, name: str, *, force: bool = False) -> None:
        """Remove a volume; refuses one that a container uses unless `force`."""
        if not self.exists(name):
            raise NotFound(f"no such volume: {name}")
        if not force:
            users = self.users().get(name)
            if users:
                raise Conflict(
                    f"volume {name} is in use by container(s) {', '.join(sorted(users))}",
                    hint="remove those containers first, or use volume rm -f",
                )
        self._delete(name)

    def _delete(self, name: str) -> None:
        from rootless.storage.driver import remove_tree

        with self.lock():
            d = self._dir(name)
            if not d.exists():
                return
            # Rename first so a half-removed volume never looks whole.
            trash = self.base / f".tmp-rm-{name}"
            os.rename(d, trash)
        remove_tree(trash)

    def prune(self, filters: dict[str, list[str]] | None = None) -> list[str]:
        """Remove every volume no container uses (and matching `filters`)."""
        used = self.users()
        removed = []
        for vol in self.all():
            if vol.name in used or not matches(vol, filters or {}, in_use=False):
                continue
            self._delete(vol.name)
            removed.append(vol.name)
        return removed

    def remove_anonymous(self, rec: Any) -> list[str]:
        """For `rm -v` (and --rm): the anonymous volumes of container record `rec` that no
        other container uses."""
        from rootless.engine.mounts import anonymous_name, parse_spec

        ms = parse_spec(rec.spec)
        mine = {anonymous_name(rec.id, m.target) for m in ms if m.kind == "volume" and not m.source}
        for t in rec.image_config.get("Volumes") or {}:
            mine.add(anonymous_name(rec.id, os.path.normpath(t)))
        users = self.users()
        removed = []
        for name in sorted(mine):
            others = [u for u in users.get(name, []) if u != rec.name]
            if self.exists(name) and self.get(name).anonymous and not others:
                self._delete(name)
                removed.append(name)
        return removed


FILTER_KEYS = ("name", "label", "dangling", "driver", "anonymous")


def parse_filters(items: list[str]) -> dict[str, list[str]]:
    from rootless.engine.filters import parse_filters as parse

    return parse(items, FILTER_KEYS)


def _bool(val: str) -> bool:
    if val.lower() in ("true", "1"):
        return True
    if val.lower() in ("false", "0"):
        return False
    raise UsageError(f"invalid filter value {val!r}: use true or false")


def matches(vol: Volume, filters: dict[str, list[str]], *, in_use: bool) -> bool:
    for key, vals in filters.items():
        if key == "name" and not any(v in vol.name for v in vals):
            return False
        if key == "driver" and vol.driver not in vals:
            return False
        if key == "dangling" and not any(_bool(v) == (not in_use) for v in vals):
            return False
        if key == "anonymous" and not any(_bool(v) == vol.anonymous for v in vals):
            return False
        if key == "label":
            for v in vals:
                k, sep, want = v.partition("=")
                if k not in vol.labels or (sep and vol.labels[k] != want):
                    return False
    return True
