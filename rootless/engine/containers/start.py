"""start: mount the rootfs, set up the network, write the bundle, launch the monitor."""

from __future__ import annotations

import contextlib
import os

from rootless.engine import bundle
from rootless.engine.containers import rootfs
from rootless.engine.containers.context import Ctx
from rootless.engine.containers.launch import start_monitor
from rootless.engine.containers.record import ContainerDir, Record
from rootless.engine.containers.state import ContainerState, require
from rootless.engine.containers.store import stop_file
from rootless.errors import EngineError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable

    from rootless.engine.containers.prestart import PendingMonitor


def _etc_files(d: ContainerDir, rec: Record) -> dict[str, str]:
    """/etc/hosts, hostname, resolv.conf when the network hook provides none."""
    hostname = rec.spec.hostname or rec.id[:12]
    hosts = ["127.0.0.1\tlocalhost", "::1\tlocalhost ip6-localhost ip6-loopback"]
    hosts.append(f"127.0.1.1\t{hostname} {rec.name}")
    try:
        with open("/etc/resolv.conf", encoding="utf-8") as f:
            resolv = f.read()
    except OSError:
        resolv = ""
    files = {"hosts": "\n".join(hosts) + "\n", "hostname": hostname + "\n", "resolv.conf": resolv}
    out = {}
    for name, content in files.items():
        p = d.path / name
        p.write_text(content)
        out[f"/etc/{name}"] = str(p)
    return out


def _full_idmap() -> bool:
    try:
        with open("/proc/self/gid_map", "rb") as f:  # bytes: no ascii codec to import
            return sum(int(ln.split()[2]) for ln in f if ln.strip()) > 5
    except OSError:
        return False


def prepare(ctx: Ctx, rec: Record, d: ContainerDir) -> None:
    """Everything the runtime needs on disk: mounted rootfs, network, bundle."""
    rec.rootfs = rootfs.mount(ctx.paths, rec.id, rec.storage_driver, discard=rec.spec.remove)
    # cgroups: the container's cgroup (only when a cgroup v2 subtree is delegated to us);
    # the monitor moves the container's init into it before the runtime starts it.
    from rootless.engine import cgroups_hook

    rec.cgroup = cgroups_hook.setup(ctx, rec)
    if rec.spec.network == "none":
        # The hot path: the runtime makes the empty network namespace (lo up) itself;
        # the netstack (and its imports) stay out of `run --network none`.
        netns, etc_files = None, _etc_files(d, rec)
    else:
        from rootless.engine import network_hook

        net = network_hook.setup(ctx.paths, rec)
        netns = net.netns_path
        etc_files = dict(getattr(net, "etc_files", None) or {}) or _etc_files(d, rec)
    rec.netns = netns or ""
    bctx = bundle.BundleContext(
        container_id=rec.id,
        rootfs=rec.rootfs,
        image_config=rec.image_config,
        netns_path=netns,
        full_idmap=_full_idmap(),
        host_uid=ctx.host_uid,
        host_gid=ctx.host_gid,
        etc_files=etc_files,
        paths=ctx.paths,  # persistence: volumes and --volumes-from
    )
    bundle.write_bundle(d.bundle, bundle.make_config(rec.spec, bctx))


def start_locked(
    ctx: Ctx,
    rec: Record,
    *,
    wait_attach: bool = False,
    pending: PendingMonitor | None = None,
    after_go: Callable[[], object] | None = None,
) -> int:
    """Start `rec` (its lock held). Returns the container's pid. `after_go`: run while
    the monitor starts the container (launch.start_monitor)."""
    state, _ = ctx.state(rec)
    require("start", state, rec.name)
    d = ctx.store.dir(rec.id)
    with contextlib.suppress(FileNotFoundError):
        os.unlink(stop_file(d))
    with contextlib.suppress(FileNotFoundError):
        os.unlink(d.monitor)
    rt = ctx.runtime(rec)
    if os.path.exists(os.path.join(rt.root, rec.id)):
        rt.delete(rec.id)  # left by a run whose monitor was killed: the id must be free
    try:
        prepare(ctx, rec, d)
        rec.state = ContainerState.RUNNING
        rec.error = ""
        ctx.store.save(rec)
        return start_monitor(
            ctx.paths, d, rec, wait_attach=wait_attach, pending=pending, after_go=after_go
        )
    except EngineError as e:
        from rootless.engine.containers.cleanup import teardown

        rec.state = ContainerState.EXITED
        rec.error = str(e)
        teardown(ctx, rec)
        ctx.store.save(rec)
        raise


def start(ctx: Ctx, ref: str, *, wait_attach: bool = False) -> Record:
    cid = ctx.store.resolve(ref)
    with ctx.store.lock(cid):
        rec = ctx.store.load(cid)
        start_locked(ctx, rec, wait_attach=wait_attach)
    return rec
