"""What each metadata instruction does to the image config (the OCI config's "config").

Pure functions over a plain dict, so they are unit-tested without any container. Field
names and shapes are Docker's (Env list, ExposedPorts/Volumes as sets, Healthcheck in
nanoseconds, Shell, OnBuild), which podman and skopeo read from OCI configs as well.
"""

from __future__ import annotations

import posixpath
import re
from typing import Any

from rootless.build.errors import InstructionError
from rootless.build.instructions import (
    Cmd,
    Entrypoint,
    Expose,
    Healthcheck,
    Instruction,
    Label,
    Onbuild,
    Shell,
    StopSignal,
    User,
    Volume,
    Workdir,
)

DEFAULT_SHELL = ["/bin/sh", "-c"]
_PORT = re.compile(r"^(\d+)(?:-(\d+))?(?:/(tcp|udp|sctp))?$", re.IGNORECASE)


def shell_of(config: dict[str, Any]) -> list[str]:
    return list(config.get("Shell") or DEFAULT_SHELL)


def command(cmd: list[str] | str, shell_form: bool, config: dict[str, Any]) -> list[str]:
    """argv for CMD/ENTRYPOINT/RUN: exec form as is, shell form through SHELL."""
    if shell_form:
        assert isinstance(cmd, str)
        return [*shell_of(config), cmd]
    assert isinstance(cmd, list)
    return list(cmd)


def expose_ports(ports: list[str]) -> list[str]:
    """`80`, `53/udp`, `8000-8002` -> config keys `80/tcp`, `53/udp`, `8000-8002/tcp`.
    A range stays one key, as podman/buildah store it."""
    out: list[str] = []
    for p in ports:
        m = _PORT.match(p.strip())
        if m is None:
            raise InstructionError(f"invalid port {p!r} in EXPOSE (use PORT[-END][/tcp|udp])")
        first = int(m.group(1))
        last = int(m.group(2) or first)
        if not 0 < first <= last <= 65535:
            raise InstructionError(f"invalid port range {p!r} in EXPOSE")
        proto = (m.group(3) or "tcp").lower()
        out.append(f"{m.group(1)}-{m.group(2)}/{proto}" if m.group(2) else f"{first}/{proto}")
    return out


def workdir(current: str | None, path: str) -> str:
    joined = path if path.startswith("/") else posixpath.join(current or "/", path)
    return posixpath.normpath(joined).replace("//", "/")


def healthcheck(h: Healthcheck) -> dict[str, Any]:
    out: dict[str, Any] = {"Test": list(h.test)}
    if h.none:
        return out
    for key, value in (
        ("Interval", h.interval),
        ("Timeout", h.timeout),
        ("StartPeriod", h.start_period),
        ("StartInterval", h.start_interval),
        ("Retries", h.retries),
    ):
        if value:
            out[key] = value
    return out


class StageConfig:
    """The config being built for one stage, plus the stage-local facts that rules need
    (was CMD set in this Dockerfile? for ENTRYPOINT's reset of an inherited CMD)."""

    def __init__(self, base: dict[str, Any] | None) -> None:
        self.config: dict[str, Any] = dict(base or {})
        self.cmd_set = False
        self.author: str | None = None

    def apply(self, instr: Instruction) -> None:
        """Apply a metadata instruction (ENV and ARG are handled through StageScope)."""
        c = self.config
        if isinstance(instr, Cmd):
            c["Cmd"] = command(instr.cmd, instr.shell_form, c)
            self.cmd_set = True
        elif isinstance(instr, Entrypoint):
            c["Entrypoint"] = command(instr.cmd, instr.shell_form, c)
            if not self.cmd_set:
                c.pop("Cmd", None)  # an inherited CMD does not fit a new ENTRYPOINT
        elif isinstance(instr, Label):
            labels = dict(c.get("Labels") or {})
            labels.update({p.key: p.value for p in instr.pairs})
            c["Labels"] = labels
        elif isinstance(instr, Expose):
            ports = dict(c.get("ExposedPorts") or {})
            ports.update({p: {} for p in expose_ports(instr.ports)})
            c["ExposedPorts"] = ports
        elif isinstance(instr, Volume):
            vols = dict(c.get("Volumes") or {})
            vols.update({p: {} for p in instr.paths})
            c["Volumes"] = vols
        elif isinstance(instr, User):
            c["User"] = instr.user
        elif isinstance(instr, Workdir):
            c["WorkingDir"] = workdir(c.get("WorkingDir"), instr.path)
        elif isinstance(instr, StopSignal):
            c["StopSignal"] = instr.signal
        elif isinstance(instr, Shell):
            c["Shell"] = list(instr.shell)
        elif isinstance(instr, Healthcheck):
            c["Healthcheck"] = healthcheck(instr)
        elif isinstance(instr, Onbuild):
            c["OnBuild"] = [*(c.get("OnBuild") or []), instr.expression]

    def set_env(self, pairs: list[tuple[str, str]]) -> None:
        """ENV: a variable set again moves to the end (podman/buildah's order)."""
        env = [e for e in self.config.get("Env") or []]
        for key, value in pairs:
            env = [e for e in env if e.partition("=")[0] != key]
            env.append(f"{key}={value}")
        self.config["Env"] = env
