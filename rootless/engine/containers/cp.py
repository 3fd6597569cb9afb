"""cp: copy files between a container and the host, both ways.

The container side is always reached through openat2(RESOLVE_IN_ROOT) and *at() calls on
directory fds with O_NOFOLLOW: a symlink inside the container (even `etc -> /etc` or
`x -> ../../..`) can never make us read or write outside its rootfs.
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
from collections.abc import Iterator
from dataclasses import dataclass

from rootless.engine.containers import rootfs
from rootless.engine.containers.context import Ctx
from rootless.engine.containers.record import Record
from rootless.engine.containers.safepath import open_in_root
from rootless.errors import EngineError, NotFound, UsageError

CHUNK = 1 << 20
RUNTIME_MOUNTPOINTS = frozenset(
    {
        "/dev",
        "/proc",
        "/sys",
        "/etc/hosts",
        "/etc/hostname",
        "/etc/resolv.conf",
        "/run/rootless-init",
    }
)


@dataclass
class Location:
    container: str | None  # None: the host
    path: str


def parse_location(arg: str) -> Location:
    if arg.startswith(("/", ".")) or ":" not in arg:
        return Location(None, arg)
    ref, _, path = arg.partition(":")
    return Location(ref, path or "/")


@contextlib.contextmanager
def _container_root(ctx: Ctx, rec: Record) -> Iterator[str]:
    """The container's rootfs, mounted for the duration if it was not."""
    if rec.rootfs:
        yield rec.rootfs
        return
    path = rootfs.mount(ctx.paths, rec.id, rec.storage_driver)
    try:
        yield path
    finally:
        rootfs.unmount(ctx.paths, rec.id, rec.storage_driver)


def _copy_fd(src: int, dst: int) -> None:
    while True:
        buf = os.read(src, CHUNK)
        if not buf:
            return
        view = memoryview(buf)
        while view:
            n = os.write(dst, view)
            view = view[n:]


# ---- container -> host ---------------------------------------------------------------
def _out_tree(dfd: int, dest: str) -> None:
    """Copy the directory open at `dfd` to host path `dest`, links as links."""
    os.makedirs(dest, exist_ok=True)
    for name in os.listdir(dfd):
        st = os.stat(name, dir_fd=dfd, follow_symlinks=False)
        target = os.path.join(dest, name)
        if stat.S_ISDIR(st.st_mode):
            sub = os.open(name, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=dfd)
            try:
                _out_tree(sub, target)
            finally:
                os.close(sub)
            os.chmod(target, stat.S_IMODE(st.st_mode) | 0o700)
        elif stat.S_ISLNK(st.st_mode):
            with contextlib.suppress(FileNotFoundError):
                os.unlink(target)
            os.symlink(os.readlink(name, dir_fd=dfd), target)
        elif stat.S_ISREG(st.st_mode):
            fd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW, dir_fd=dfd)
            try:
                _out_file(fd, target, stat.S_IMODE(st.st_mode))
            finally:
                os.close(fd)
        # devices, fifos and sockets are skipped, as docker cp does for specials


def _out_file(fd: int, target: str, mode: int) -> None:
    out = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode | 0o600)
    try:
        _copy_fd(fd, out)
    finally:
        os.close(out)
    os.chmod(target, mode | 0o600)


def copy_out(root: str, src: str, dest: str) -> None:
    try:
        fd = open_in_root(root, src, os.O_RDONLY)
    except OSError as e:
        raise NotFound(f"{src}: {e.strerror} in the container") from None
    try:
        st = os.fstat(fd)
        base = os.path.basename(os.path.normpath(src)) or "root"
        target = os.path.join(dest, base) if os.path.isdir(dest) else dest
        if stat.S_ISDIR(st.st_mode):
            if src.endswith("/.") and os.path.isdir(dest):
                target = dest  # "dir/." copies the contents, as in docker cp
            _out_tree(fd, target)
        elif stat.S_ISREG(st.st_mode):
            _out_file(fd, target, stat.S_IMODE(st.st_mode))
        else:
            raise UsageError(f"{src} is not a regular file or directory")
    finally:
        os.close(fd)


# ---- host -> container ---------------------------------------------------------------
def _in_entry(src: str, pfd: int, name: str) -> None:
    st = os.lstat(src)
    with contextlib.suppress(FileNotFoundError):
        old = os.stat(name, dir_fd=pfd, follow_symlinks=False)
        # Never write through a symlink of the container: replace the link itself.
        if stat.S_ISLNK(old.st_mode) or (stat.S_ISDIR(old.st_mode) != stat.S_ISDIR(st.st_mode)):
            if stat.S_ISDIR(old.st_mode):
                raise UsageError(f"cannot overwrite directory {name} with a non-directory")
            os.unlink(name, dir_fd=pfd)
    if stat.S_ISDIR(st.st_mode):
        with contextlib.suppress(FileExistsError):
            os.mkdir(name, stat.S_IMODE(st.st_mode), dir_fd=pfd)
        sub = os.open(name, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=pfd)
        try:
            for child in os.listdir(src):
                _in_entry(os.path.join(src, child), sub, child)
        finally:
            os.close(sub)
    elif stat.S_ISLNK(st.st_mode):
        os.symlink(os.readlink(src), name, dir_fd=pfd)
    elif stat.S_ISREG(st.st_mode):
        mode = stat.S_IMODE(st.st_mode)
        out = os.open(name, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, mode, dir_fd=pfd)
        try:
            with open(src, "rb") as f:
                _copy_fd(f.fileno(), out)
            os.fchmod(out, mode)
        finally:
            os.close(out)


def copy_in(root: str, src: str, dest: str) -> None:
    if not os.path.lexists(src):
        raise NotFound(f"{src}: no such file or directory on the host")
    base = os.path.basename(os.path.normpath(src))
    try:
        dfd = open_in_root(root, dest, os.O_RDONLY | os.O_DIRECTORY)
        name = base
    except OSError as e:
        if e.errno not in (errno.ENOENT, errno.ENOTDIR):
            raise EngineError(f"{dest}: {e.strerror} in the container") from None
        parent, name = os.path.split(dest.rstrip("/"))
        try:
            dfd = open_in_root(root, parent or "/", os.O_RDONLY | os.O_DIRECTORY)
        except OSError as e2:
            raise NotFound(f"{parent}: {e2.strerror} in the container") from None
    try:
        if os.path.isdir(src) and src.endswith("/."):
            for child in os.listdir(src):
                _in_entry(os.path.join(src, child), dfd, child)
        else:
            _in_entry(src, dfd, name)
    finally:
        os.close(dfd)


def cp(ctx: Ctx, src: str, dest: str) -> None:
    a, b = parse_location(src), parse_location(dest)
    if (a.container is None) == (b.container is None):
        raise UsageError("cp copies between a container and the host: use CONTAINER:PATH once")
    ref = a.container or b.container
    assert ref is not None
    cid = ctx.store.resolve(ref)
    with ctx.store.lock(cid):
        rec = ctx.store.load(cid)
        with _container_root(ctx, rec) as root:
            if a.container:
                copy_out(root, a.path, os.path.abspath(b.path))
            else:
                copy_in(root, os.path.abspath(a.path), b.path)


def diff(ctx: Ctx, ref: str) -> list[tuple[str, str]]:
    """Docker's diff: (A|C|D, /path) for what the container changed."""
    cid = ctx.store.resolve(ref)
    rec = ctx.store.load(cid)
    if not rec.storage_driver:
        return []
    drv = rootfs.driver(ctx.paths, rec.storage_driver)
    kinds = {"add": "A", "modify": "C", "delete": "D", "opaque": "C"}
    with ctx.store.lock(cid):
        changes = [(kinds[c.kind], "/" + c.path.lstrip("/")) for c in drv.changes(cid)]
    # Mount points the runtime created are not the container's own changes.
    return [(k, p) for k, p in changes if not (k == "A" and p in RUNTIME_MOUNTPOINTS)]
