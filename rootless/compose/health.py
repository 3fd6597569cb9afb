"""Healthchecks run by the orchestrator (the engine has no healthcheck runner): the test
command goes through `exec` at the configured interval, as Docker's daemon would."""

from __future__ import annotations

import contextlib
import os
import signal
import threading
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from rootless.compose.model import Healthcheck
from rootless.engine.containers.context import Ctx
from rootless.engine.containers.record import Record
from rootless.engine.containers.waiting import RUNNING_STATES
from rootless.errors import EngineError

NS = 1e9  # image configs give durations in nanoseconds


@dataclass
class Probe:
    argv: list[str]
    interval: float = 30.0
    timeout: float = 30.0
    retries: int = 3
    start_period: float = 0.0
    start_interval: float = 5.0


class Unhealthy(EngineError):
    pass


def probe_for(hc: Healthcheck | None, image_config: Mapping[str, Any]) -> Probe | None:
    """The service's healthcheck, else the image's HEALTHCHECK; None when there is none."""
    if hc is not None and hc.disable:
        return None
    img = image_config.get("Healthcheck") or {}
    assert isinstance(img, dict)
    test = (hc.test if hc else None) or img.get("Test")
    argv = command(test)
    if argv is None:
        return None

    def pick(mine: float | int | None, key: str, default: float) -> float:
        if mine is not None:
            return float(mine)
        theirs = img.get(key)
        return float(theirs) / (1 if key == "Retries" else NS) if theirs else default

    return Probe(
        argv=argv,
        interval=pick(hc.interval if hc else None, "Interval", 30.0),
        timeout=pick(hc.timeout if hc else None, "Timeout", 30.0),
        retries=int(pick(hc.retries if hc else None, "Retries", 3)),
        start_period=pick(hc.start_period if hc else None, "StartPeriod", 0.0),
        start_interval=pick(hc.start_interval if hc else None, "StartInterval", 5.0),
    )


def command(test: object) -> list[str] | None:
    """["CMD", a, b] -> [a, b]; ["CMD-SHELL", s] -> sh -c s; ["NONE"] / empty -> None."""
    if not isinstance(test, list) or not test or test[0] == "NONE":
        return None
    kind, rest = str(test[0]), [str(t) for t in test[1:]]
    if kind == "CMD":
        return rest or None
    if kind == "CMD-SHELL":
        return ["/bin/sh", "-c", " ".join(rest)] if rest else None
    return [str(t) for t in test]  # a bare command list


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """The probe's output is not ours to print: point fds 1 and 2 at /dev/null."""
    saved = [os.dup(1), os.dup(2)]
    null = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(null, 1)
        os.dup2(null, 2)
        yield
    finally:
        os.dup2(saved[0], 1)
        os.dup2(saved[1], 2)
        for fd in (*saved, null):
            os.close(fd)


class _ProbeTimeout(Exception):
    pass


@contextlib.contextmanager
def _deadline(seconds: float) -> Iterator[None]:
    """Interrupt the probe after `seconds`: subprocess.run kills its child when the
    SIGALRM handler raises. Only the main thread gets signals; elsewhere no deadline."""
    if seconds <= 0 or threading.current_thread() is not threading.main_thread():
        yield
        return

    def expire(_sig: int, _frame: object) -> None:
        raise _ProbeTimeout

    old = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


def run_once(ctx: Ctx, rec: Record, probe: Probe) -> bool:
    """One probe: the test command exits 0 within the timeout."""
    from rootless.engine.containers.exec import ExecSpec, exec_

    try:
        with _quiet(), _deadline(probe.timeout):
            return exec_(ctx, rec.id, ExecSpec(command=probe.argv)) == 0
    except (EngineError, _ProbeTimeout):
        return False


def wait_healthy(ctx: Ctx, rec: Record, probe: Probe, *, timeout: float | None = None) -> None:
    """Return once a probe passes; raise Unhealthy after `retries` failures past the start
    period, or when the container stops."""
    started = time.monotonic()
    failures = 0
    while True:
        state, _ = ctx.state(rec)
        if state not in RUNNING_STATES:
            raise Unhealthy(f"container {rec.name} exited before it became healthy")
        if run_once(ctx, rec, probe):
            return
        elapsed = time.monotonic() - started
        in_start_period = elapsed < probe.start_period
        if not in_start_period:
            failures += 1
            if failures >= max(1, probe.retries):
                raise Unhealthy(f"container {rec.name} is unhealthy")
        if timeout is not None and elapsed > timeout:
            raise Unhealthy(f"container {rec.name} did not become healthy in {timeout:.0f}s")
        time.sleep(probe.start_interval if in_start_period else probe.interval)
