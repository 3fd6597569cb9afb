"""What `enter()` returns, and reading id maps from /proc."""

from __future__ import annotations

from dataclasses import dataclass, field

# One id map line: (id inside the namespace, id outside, count).
MapLine = tuple[int, int, int]


@dataclass(frozen=True)
class UsernsInfo:
    """The engine's user namespace: who holds it and how ids map into it."""

    pause_pid: int  # the process holding the namespace open (0 if it is gone)
    full: bool  # True: the subuid/subgid ranges are mapped; False: a single-id map
    uid_map: list[MapLine] = field(default_factory=list)
    gid_map: list[MapLine] = field(default_factory=list)

    def to_dict(self) -> dict[str, object]:
        return {
            "pause_pid": self.pause_pid,
            "full": self.full,
            "uid_map": [list(m) for m in self.uid_map],
            "gid_map": [list(m) for m in self.gid_map],
        }


def parse_map(text: str) -> list[MapLine]:
    """Parse the text of /proc/PID/uid_map (or gid_map)."""
    lines: list[MapLine] = []
    for row in text.splitlines():
        parts = row.split()
        if len(parts) == 3:
            lines.append((int(parts[0]), int(parts[1]), int(parts[2])))
    return lines


def read_map(pid: int | str, kind: str) -> list[MapLine]:
    """`kind` is "uid" or "gid"; `pid` may be "self"."""
    with open(f"/proc/{pid}/{kind}_map") as f:
        return parse_map(f.read())


def is_full(uid_map: list[MapLine]) -> bool:
    """More than one id mapped: the namespace can hold files of many owners."""
    return sum(count for _, _, count in uid_map) > 1


def info_for(pause_pid: int) -> UsernsInfo:
    """Describe the user namespace this process is in."""
    uid_map = read_map("self", "uid")
    return UsernsInfo(pause_pid, is_full(uid_map), uid_map, read_map("self", "gid"))
