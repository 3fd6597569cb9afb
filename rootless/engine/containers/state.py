"""ContainerState: the one state machine every verb asks before it acts."""

from __future__ import annotations

from enum import StrEnum

from rootless.errors import Conflict


class ContainerState(StrEnum):
    CREATED = "created"
    RUNNING = "running"
    PAUSED = "paused"
    RESTARTING = "restarting"
    EXITED = "exited"
    REMOVING = "removing"


S = ContainerState
# verb -> states it is allowed from
ALLOWED: dict[str, frozenset[ContainerState]] = {
    "start": frozenset({S.CREATED, S.EXITED}),
    "stop": frozenset({S.RUNNING, S.PAUSED, S.RESTARTING}),
    "kill": frozenset({S.RUNNING, S.PAUSED, S.RESTARTING}),
    "pause": frozenset({S.RUNNING}),
    "unpause": frozenset({S.PAUSED}),
    "exec": frozenset({S.RUNNING}),
    "attach": frozenset({S.RUNNING, S.RESTARTING}),
    "top": frozenset({S.RUNNING, S.PAUSED}),
    "remove": frozenset({S.CREATED, S.EXITED}),
    "restart": frozenset({S.CREATED, S.RUNNING, S.PAUSED, S.EXITED, S.RESTARTING}),
    "rename": frozenset({S.CREATED, S.RUNNING, S.PAUSED, S.EXITED, S.RESTARTING}),
}

_HINTS = {
    "remove": "stop it first or use rm -f",
    "exec": "start it first",
    "start": "it is already running",
    "pause": "only a running container can be paused",
    "unpause": "it is not paused",
}


def can(verb: str, state: ContainerState) -> bool:
    return state in ALLOWED[verb]


def require(verb: str, state: ContainerState, name: str) -> None:
    """Raise Conflict with one actionable line when `verb` is not allowed in `state`."""
    if not can(verb, state):
        raise Conflict(
            f"cannot {verb} container {name}: it is {state.value}", hint=_HINTS.get(verb)
        )
