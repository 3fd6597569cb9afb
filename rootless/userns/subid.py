"""Read /etc/subuid and /etc/subgid ourselves (useradd picks ranges of its own)."""

from __future__ import annotations

import os
import pwd
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class IdRange:
    start: int
    count: int

    def to_dict(self) -> dict[str, int]:
        return {"start": self.start, "count": self.count}


def current_user() -> tuple[int, str]:
    uid = os.getuid()
    try:
        return uid, pwd.getpwuid(uid).pw_name
    except KeyError:
        return uid, str(uid)


def ranges_for(user: str, uid: int, path: str | os.PathLike[str]) -> list[IdRange]:
    """The ranges in `path` whose owner field names `user` or `uid`."""
    found: list[IdRange] = []
    try:
        text = Path(path).read_text()
    except OSError:
        return found
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        parts = line.split(":")
        if len(parts) != 3:
            continue
        owner, start, count = parts
        if owner not in (user, str(uid)):
            continue
        try:
            r = IdRange(int(start), int(count))
        except ValueError:
            continue
        if r.count > 0:
            found.append(r)
    return found


def subuid_ranges(user: str | None = None, uid: int | None = None) -> list[IdRange]:
    cu, cn = current_user()
    return ranges_for(user or cn, cu if uid is None else uid, "/etc/subuid")


def subgid_ranges(user: str | None = None, uid: int | None = None) -> list[IdRange]:
    cu, cn = current_user()
    return ranges_for(user or cn, cu if uid is None else uid, "/etc/subgid")
