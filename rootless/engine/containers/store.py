"""Where container records live, how a user's reference (id, prefix, name) finds one,
and the name index that keeps names unique.

Names: one file per name under $data/containers/.names/, created with O_EXCL, so two
concurrent `run --name x` cannot both win even without the lock; the short global names
lock only serialises generate-and-claim and rename.
"""

from __future__ import annotations

import contextlib
import errno
import os
from collections.abc import Iterator
from pathlib import Path

from rootless.engine.containers import record as R
from rootless.engine.names import looks_like_id, random_name, validate_name
from rootless.errors import Conflict, NotFound
from rootless.fsutil import locked
from rootless.paths import Paths


class Store:
    def __init__(self, paths: Paths) -> None:
        self.paths = paths
        self.base = paths.containers
        self.names_dir = self.base / ".names"

    # ---- locks -----------------------------------------------------------------
    def lock(self, cid: str) -> contextlib.AbstractContextManager[int]:
        return locked(self.paths.locks / f"ctr-{cid}.lock")

    def names_lock(self) -> contextlib.AbstractContextManager[int]:
        return locked(self.paths.locks / "names.lock")

    def dir(self, cid: str) -> R.ContainerDir:
        return R.ContainerDir(self.base, cid)

    # ---- names -----------------------------------------------------------------
    def _claim(self, name: str, cid: str) -> bool:
        self.names_dir.mkdir(parents=True, exist_ok=True)
        try:
            fd = os.open(self.names_dir / name, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            return False
        with os.fdopen(fd, "w") as f:
            f.write(cid)
        return True

    def claim_name(self, name: str | None, cid: str) -> str:
        with self.names_lock():
            if name:
                validate_name(name)
                if not self._claim(name, cid):
                    owner = self.name_owner(name) or "?"
                    raise Conflict(
                        f'the container name "{name}" is already in use by {owner[:12]}',
                        hint="remove that container or choose another --name",
                    )
                return name
            for attempt in range(200):
                cand = random_name() if attempt < 100 else f"{random_name()}{attempt}"
                if self._claim(cand, cid):
                    return cand
        raise Conflict("could not generate a unique container name")

    def release_name(self, name: str, cid: str) -> None:
        if self.name_owner(name) == cid:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self.names_dir / name)

    def name_owner(self, name: str) -> str | None:
        try:
            return (self.names_dir / name).read_text().strip() or None
        except (FileNotFoundError, NotADirectoryError):
            return None
        except OSError as e:
            if e.errno == errno.ENAMETOOLONG:
                return None
            raise

    # ---- lookup ----------------------------------------------------------------
    def ids(self) -> list[str]:
        if not self.base.is_dir():
            return []
        return [p.name for p in self.base.iterdir() if not p.name.startswith(".")]

    def resolve(self, ref: str) -> str:
        """Full id for a name, a full id or a unique id prefix."""
        if not ref:
            raise NotFound("no container given")
        if "/" not in ref and ref not in (".", ".."):
            owner = self.name_owner(ref)
            if owner and self.dir(owner).record.exists():
                return owner
            if looks_like_id(ref):
                if len(ref) == 64 and self.dir(ref).record.exists():
                    return ref
                hits = [i for i in self.ids() if i.startswith(ref)]
                if len(hits) == 1 and self.dir(hits[0]).record.exists():
                    return hits[0]
                if len(hits) > 1:
                    raise Conflict(
                        f"container id prefix {ref!r} is ambiguous", hint="give more digits"
                    )
        raise NotFound(f"no such container: {ref}")

    def load(self, cid: str) -> R.Record:
        try:
            return R.load(self.dir(cid))
        except FileNotFoundError:
            raise NotFound(f"no such container: {cid[:12]}") from None

    def save(self, rec: R.Record) -> None:
        R.save(self.dir(rec.id), rec)

    def records(self) -> Iterator[R.Record]:
        for cid in self.ids():
            try:
                yield R.load(self.dir(cid))
            except (FileNotFoundError, ValueError, KeyError):
                continue  # being created or removed right now

    def new_dir(self, cid: str) -> R.ContainerDir:
        d = self.dir(cid)
        d.path.mkdir(parents=True, mode=0o700)
        return d


def stop_file(d: R.ContainerDir) -> Path:
    from rootless.monitor.protocol import STOP_FILE

    return d.path / STOP_FILE
