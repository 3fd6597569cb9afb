"""run = create + start (+ attach, wait, and teardown/--rm in this process)."""

from __future__ import annotations

import contextlib

from rootless.engine.containers.context import Ctx
from rootless.engine.containers.create import create
from rootless.engine.containers.prestart import PendingMonitor, prestart
from rootless.engine.containers.record import Record
from rootless.engine.containers.start import start_locked
from rootless.engine.runspec import RunSpec
from rootless.errors import EngineError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable


def _load_attach_and_teardown() -> None:
    """What an attached run needs once its container runs: imported while the monitor
    creates and starts it (launch.start_monitor's after_go), off the start-up path."""
    from rootless.engine.containers import attach, cleanup  # noqa: F401


def run(
    ctx: Ctx,
    spec: RunSpec,
    pending: PendingMonitor | None = None,
    on_attach: Callable[[], None] | None = None,
) -> tuple[Record, int | None]:
    """Returns (record, exit code); exit code None when detached. `pending`: a monitor
    interpreter the caller started already (else one is started here); used or cancelled.
    `on_attach`: called once the container runs, before relaying its I/O."""
    if pending is None:
        pending = prestart()  # the monitor's interpreter starts while we create
    try:
        rec = create(ctx, spec)
        try:
            with ctx.store.lock(rec.id):
                start_locked(
                    ctx,
                    rec,
                    wait_attach=not spec.detach,
                    pending=pending,
                    after_go=None if spec.detach else _load_attach_and_teardown,
                )
        except EngineError:
            if spec.remove:
                from rootless.engine.containers.cleanup import destroy

                with ctx.store.lock(rec.id), contextlib.suppress(EngineError):
                    destroy(ctx, ctx.store.load(rec.id))
            raise
    finally:
        pending.cancel()  # unused (an error before start): it exits
    if spec.detach:
        return rec, None
    if on_attach is not None:
        on_attach()
    return rec, attach_and_wait(ctx, rec, stdin=spec.interactive)


def signal_forwarder(ctx: Ctx, rec: Record) -> Callable[[int], None]:
    def forward(sig: int) -> None:
        ctx.runtime(rec).kill(rec.id, str(sig))

    return forward


def attach_and_wait(ctx: Ctx, rec: Record, *, stdin: bool) -> int | None:
    from rootless.engine.containers.attach import AttachSession, connect
    from rootless.engine.containers.cleanup import cleanup_locked

    sess = AttachSession(
        connect(ctx.store.dir(rec.id)),
        tty=rec.spec.tty,
        stdin=stdin,
        detach_keys=rec.spec.detach_keys,
        on_signal=signal_forwarder(ctx, rec),
    )
    try:
        code = sess.run()
        if code is None:
            return None
        # Tear down here (we hold the engine already) while the monitor deletes the
        # runtime's state, then let the monitor go.
        waited = False

        def runtime_deleted() -> None:
            nonlocal waited
            waited = True
            if not sess.wait_runtime_deleted():
                ctx.runtime(rec).delete(rec.id)  # the monitor did not: do it here

        with ctx.store.lock(rec.id):
            try:
                cur = ctx.store.load(rec.id)
            except EngineError:
                cur = None
            if cur is None or cleanup_locked(
                ctx, cur, runtime_done=True, runtime_wait=runtime_deleted
            ):
                if not waited:
                    runtime_deleted()
                sess.cleaned()
        return code
    finally:
        sess.close()
