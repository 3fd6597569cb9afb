"""What exists for a project right now: its containers, found by their compose labels."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from rootless.compose import labels as L
from rootless.engine.containers.context import Ctx
from rootless.engine.containers.record import Record
from rootless.engine.containers.state import ContainerState


@dataclass
class Existing:
    record: Record
    state: ContainerState

    @property
    def service(self) -> str:
        return self.record.spec.labels.get(L.SERVICE, "")

    @property
    def number(self) -> int:
        try:
            return int(self.record.spec.labels.get(L.NUMBER, "0"))
        except ValueError:
            return 0

    @property
    def config_hash(self) -> str:
        return self.record.spec.labels.get(L.CONFIG_HASH, "")

    @property
    def oneoff(self) -> bool:
        return self.record.spec.labels.get(L.ONEOFF) == "True"

    @property
    def name(self) -> str:
        return self.record.name


def project_containers(ctx: Ctx, project: str, *, oneoff: bool = False) -> list[Existing]:
    """The project's containers (one-off `run` containers only when asked), by service
    and number."""
    out = []
    for rec in ctx.store.records():
        if rec.spec.labels.get(L.PROJECT) != project:
            continue
        ex = Existing(rec, ctx.state(rec)[0])
        if ex.oneoff and not oneoff:
            continue
        out.append(ex)
    out.sort(key=lambda e: (e.service, e.oneoff, e.number, e.name))
    return out


def by_service(existing: Iterable[Existing]) -> dict[str, list[Existing]]:
    out: dict[str, list[Existing]] = {}
    for ex in existing:
        out.setdefault(ex.service, []).append(ex)
    return out
