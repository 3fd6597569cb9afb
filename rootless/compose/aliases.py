"""Service names as DNS aliases on the project's networks.

RunSpec has no `network_alias` field yet (the network hook reads it with getattr), so
until it does, the orchestrator adds the aliases to the container's endpoints after
start and rewrites the network's name records. Once RunSpec grows the field,
convert.py sets it and this becomes a no-op.
"""

from __future__ import annotations

from dataclasses import fields

from rootless.engine.runspec import RunSpec
from rootless.paths import Paths


def spec_carries_aliases() -> bool:
    return "network_alias" in {f.name for f in fields(RunSpec)}


def add_aliases(paths: Paths, container_id: str, aliases: list[str]) -> None:
    if not aliases or spec_carries_aliases():
        return
    from rootless.engine import network_hook
    from rootless.engine.networks import Networks

    nets = Networks(paths)
    for net, _ in nets.attached(container_id):
        with nets.lock():
            cur = nets._read(net.name)  # no public update; see module doc
            if cur is None or container_id not in cur.containers:
                continue
            ep = cur.containers[container_id]
            ep.aliases = list(dict.fromkeys([*ep.aliases, *aliases]))
            nets.save(cur)
        network_hook._write_names(paths, cur)
