"""RUN: one command in a throw-away container on the working rootfs.

The bundle comes from the containers engine's generator (rootless.engine.bundle) with a
RunSpec, so RUN gets exactly what `rootless run` gets (default capabilities, seccomp,
masked paths). The network comes from the engine's network hook: slirp4netns by default,
so apt-get and pip reach their mirrors (DNS 10.0.2.3). The OCI runtime (runc, or ours)
runs in the foreground with the command's output passed straight through.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import posixpath
import secrets
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import IO, Any

from rootless.build.errors import DockerfileError
from rootless.build.mounts import Mount
from rootless.build.rootpath import resolve_in_root
from rootless.paths import Paths

NETWORKS = {"default": "slirp4netns", "slirp4netns": "slirp4netns", "none": "none", "host": "host"}


class RunFailed(DockerfileError):
    """A RUN command exited non-zero."""


@dataclass
class RunRequest:
    argv: list[str]
    env: dict[str, str]
    workdir: str = "/"
    user: str | None = None
    network: str = "default"  # default (slirp4netns) | none | host
    mounts: list[Mount] = field(default_factory=list)
    # --mount=type=bind sources: mount -> host dir it reads from (context or a stage)
    bind_roots: dict[int, str] = field(default_factory=dict)


def cache_dir(paths: Paths, m: Mount) -> str:
    """The host directory behind a `--mount=type=cache` (shared by id, else target)."""
    key = hashlib.sha256((m.id or m.target).encode()).hexdigest()[:24]
    d = paths.data / "build" / "cache-mounts" / key
    if not d.is_dir():
        d.mkdir(parents=True, mode=0o755)
        os.chown(d, m.uid or 0, m.gid or 0)
        os.chmod(d, m.mode if m.mode is not None else 0o755)
    return str(d)


def oci_mounts(paths: Paths, req: RunRequest) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for i, m in enumerate(req.mounts):
        if m.type == "cache":
            src = cache_dir(paths, m)
            opts = ["rbind", "rprivate"] + (["ro"] if m.readonly else [])
            out.append({"destination": m.target, "type": "bind", "source": src, "options": opts})
        elif m.type == "tmpfs":
            opts = ["nosuid", "nodev"] + ([f"size={m.size}"] if m.size else [])
            out.append(
                {"destination": m.target, "type": "tmpfs", "source": "tmpfs", "options": opts}
            )
        elif m.type == "bind":
            root = req.bind_roots[i]
            src = resolve_in_root(root, m.source or "/")
            if not os.path.exists(src):
                raise DockerfileError(f"RUN --mount: source {m.source or '/'} does not exist")
            opts = ["rbind", "rprivate"] + (["ro"] if m.readonly else [])
            out.append({"destination": m.target, "type": "bind", "source": src, "options": opts})
        else:
            raise DockerfileError(
                f"RUN --mount=type={m.type} is not supported by this builder",
                hint="use type=cache, bind or tmpfs",
            )
    return out


def _mount_points(rootfs: str, config: dict[str, Any]) -> list[str]:
    """Mount destinations (and their parents) missing from the rootfs: the runtime
    creates them as empty files/dirs, which must not end up in the layer."""
    missing: list[str] = []
    for m in config["mounts"]:
        path = posixpath.normpath(m["destination"])
        while path != "/" and not os.path.lexists(resolve_in_root(rootfs, path, follow_last=False)):
            missing.append(path)
            path = posixpath.dirname(path)
    return missing


def _remove_empty(rootfs: str, created: list[str]) -> set[str]:
    """Remove the mount points we caused; returns the existing directories that held
    them (rootfs-relative): their copy-up is not a change of the step."""
    touched: set[str] = set()
    for dest in sorted(created, key=len, reverse=True):
        host = resolve_in_root(rootfs, dest, follow_last=False)
        with contextlib.suppress(OSError):
            if os.path.isdir(host) and not os.path.islink(host):
                os.rmdir(host)
            elif os.path.isfile(host) and os.path.getsize(host) == 0:
                os.unlink(host)
            else:
                continue
            parent = posixpath.dirname(dest)
            if parent not in created and parent != "/":
                touched.add(parent.lstrip("/"))
    return touched


def run(paths: Paths, rootfs: str, req: RunRequest, out: IO[bytes] | int | None) -> set[str]:
    """Run the command; its stdout/stderr go to `out`. Raises RunFailed on non-zero exit.
    Returns the directories only the runtime's mount points touched (see _remove_empty)."""
    from rootless.engine import network_hook
    from rootless.engine.bundle import BundleContext, make_config, write_bundle
    from rootless.engine.containers.ociruntime import Runtime, select
    from rootless.engine.runspec import RunSpec

    if req.network not in NETWORKS:
        raise DockerfileError(
            f"unsupported network {req.network!r} for RUN", hint="use default, none or host"
        )
    cid = "build-" + secrets.token_hex(12)
    spec = RunSpec(
        image="",
        command=list(req.argv),
        entrypoint=[],
        env=dict(req.env),
        workdir=req.workdir,
        user=req.user or None,
        hostname=cid[:12],
        network=NETWORKS[req.network],
    )
    runtime = Runtime.for_paths(paths, select(None))
    bundle = paths.runtime / "build" / cid
    created: list[str] = []
    touched: set[str] = set()
    record = SimpleNamespace(id=cid, name=cid, spec=spec, image_config={})
    try:
        net = network_hook.setup(paths, record)
        ctx = BundleContext(
            container_id=cid,
            rootfs=rootfs,
            image_config={},
            netns_path=net.netns_path,
            etc_files=net.etc_files,
        )
        config = make_config(spec, ctx)
        config["mounts"] += oci_mounts(paths, req)
        created = _mount_points(rootfs, config)
        write_bundle(bundle, config)
        if isinstance(out, int) or out is None:
            dest: Any = out
        else:
            out.flush()
            dest = out
        sys.stdout.flush()
        p = subprocess.run(
            [*runtime.base(), "run", "--bundle", str(bundle), cid],
            stdin=subprocess.DEVNULL,
            stdout=dest,
            stderr=subprocess.STDOUT if dest is not None else None,
        )
        if p.returncode != 0:
            raise RunFailed(
                f"RUN {' '.join(req.argv[-1:]) if req.argv else ''}: "
                f"the command exited with status {p.returncode}"
            )
    finally:
        runtime.delete(cid)
        with contextlib.suppress(Exception):
            network_hook.teardown(paths, cid)
        shutil.rmtree(bundle, ignore_errors=True)
        touched = _remove_empty(rootfs, created)
    return touched
