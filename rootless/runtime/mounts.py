"""The container's filesystem: rootfs propagation, config mounts, /dev, pivot_root,
readonly root, masked and readonly paths. Runs in the container init, inside the new
mount namespace; every kernel call goes through rootless.syscalls.
"""

from __future__ import annotations

import errno
import os
import stat

from rootless import syscalls as sc
from rootless.errors import EngineError
from rootless.runtime.spec import Device, Mount, Spec

# option -> (set flags, clear flags)
_FLAGS: dict[str, tuple[int, int]] = {
    "ro": (sc.MS_RDONLY, 0),
    "rw": (0, sc.MS_RDONLY),
    "nosuid": (sc.MS_NOSUID, 0),
    "suid": (0, sc.MS_NOSUID),
    "nodev": (sc.MS_NODEV, 0),
    "dev": (0, sc.MS_NODEV),
    "noexec": (sc.MS_NOEXEC, 0),
    "exec": (0, sc.MS_NOEXEC),
    "sync": (sc.MS_SYNCHRONOUS, 0),
    "async": (0, sc.MS_SYNCHRONOUS),
    "dirsync": (sc.MS_DIRSYNC, 0),
    "mand": (sc.MS_MANDLOCK, 0),
    "nomand": (0, sc.MS_MANDLOCK),
    "noatime": (sc.MS_NOATIME, 0),
    "atime": (0, sc.MS_NOATIME),
    "nodiratime": (sc.MS_NODIRATIME, 0),
    "diratime": (0, sc.MS_NODIRATIME),
    "relatime": (sc.MS_RELATIME, 0),
    "norelatime": (0, sc.MS_RELATIME),
    "strictatime": (sc.MS_STRICTATIME, 0),
    "nostrictatime": (0, sc.MS_STRICTATIME),
    "remount": (sc.MS_REMOUNT, 0),
    "bind": (sc.MS_BIND, 0),
    "rbind": (sc.MS_BIND | sc.MS_REC, 0),
}
PROPAGATION = {
    "private": sc.MS_PRIVATE,
    "rprivate": sc.MS_PRIVATE | sc.MS_REC,
    "shared": sc.MS_SHARED,
    "rshared": sc.MS_SHARED | sc.MS_REC,
    "slave": sc.MS_SLAVE,
    "rslave": sc.MS_SLAVE | sc.MS_REC,
    "unbindable": sc.MS_UNBINDABLE,
    "runbindable": sc.MS_UNBINDABLE | sc.MS_REC,
}
# Options handled by higher layers (engines) that the kernel must not see.
_IGNORED = {"tmpcopyup", "defaults", "notmpcopyup", "copy-symlink", "idmap", "ridmap"}
_ATIME = sc.MS_NOATIME | sc.MS_NODIRATIME | sc.MS_RELATIME | sc.MS_STRICTATIME

DEFAULT_DEVICES = ("/dev/null", "/dev/zero", "/dev/full", "/dev/random", "/dev/urandom", "/dev/tty")
DEV_SYMLINKS = (
    ("/proc/self/fd", "/dev/fd"),
    ("/proc/self/fd/0", "/dev/stdin"),
    ("/proc/self/fd/1", "/dev/stdout"),
    ("/proc/self/fd/2", "/dev/stderr"),
)


class MountError(EngineError):
    """A mount the bundle asks for could not be made."""


class MountOptions:
    __slots__ = ("data", "flags", "propagation")

    def __init__(self, flags: int = 0, propagation: int = 0, data: str = "") -> None:
        self.flags = flags
        self.propagation = propagation
        self.data = data

    @property
    def is_bind(self) -> bool:
        return bool(self.flags & sc.MS_BIND)


def parse_options(options: list[str]) -> MountOptions:
    flags = 0
    prop = 0
    data: list[str] = []
    for opt in options:
        if opt in _FLAGS:
            set_, clear = _FLAGS[opt]
            flags = (flags | set_) & ~clear
        elif opt in PROPAGATION:
            prop |= PROPAGATION[opt]
        elif opt in _IGNORED:
            continue
        else:
            data.append(opt)
    return MountOptions(flags, prop, ",".join(data))


def secure_join(root: str, unsafe: str) -> str:
    """root + unsafe with every symlink resolved as if `root` were "/": never escapes root."""
    parts = [p for p in unsafe.split("/") if p not in ("", ".")]
    done: list[str] = []
    links = 0
    while parts:
        part = parts.pop(0)
        if part == "..":
            if done:
                done.pop()
            continue
        candidate = os.path.join(root, *done, part)
        try:
            st = os.lstat(candidate)
        except FileNotFoundError:
            done.append(part)
            continue
        if stat.S_ISLNK(st.st_mode):
            links += 1
            if links > 255:
                raise MountError(f"too many symlinks resolving {unsafe} in {root}")
            target = os.readlink(candidate)
            if target.startswith("/"):
                done = []
            parts = [p for p in target.split("/") if p not in ("", ".")] + parts
            continue
        done.append(part)
    return os.path.join(root, *done)


def _locked_flags(path: str) -> int:
    """Flags of the existing mount at `path` a user namespace may not clear on remount."""
    try:
        f = os.statvfs(path).f_flag
    except OSError:
        return 0
    out = 0
    for st_flag, ms_flag in (
        (os.ST_NOSUID, sc.MS_NOSUID),
        (os.ST_NODEV, sc.MS_NODEV),
        (os.ST_NOEXEC, sc.MS_NOEXEC),
        (os.ST_NOATIME, sc.MS_NOATIME),
        (os.ST_NODIRATIME, sc.MS_NODIRATIME),
        (os.ST_RELATIME, sc.MS_RELATIME),
    ):
        if f & st_flag:
            out |= ms_flag
    return out


def remount_bind(path: str, flags: int) -> None:
    """Apply per-mount flags to a bind mount, keeping the flags the kernel locks."""
    keep = _locked_flags(path)
    if flags & _ATIME:
        keep &= ~_ATIME
    want = (flags | keep) & ~(sc.MS_REC | sc.MS_BIND | sc.MS_REMOUNT)
    sc.mount(None, path, None, want | sc.MS_BIND | sc.MS_REMOUNT)


def _create_target(dest: str, is_dir: bool) -> None:
    if is_dir:
        os.makedirs(dest, exist_ok=True)
        return
    os.makedirs(os.path.dirname(dest), exist_ok=True)
    if not os.path.lexists(dest):
        os.close(os.open(dest, os.O_CREAT | os.O_WRONLY | os.O_CLOEXEC, 0o644))


def bind(source: str, dest: str, opts: MountOptions) -> None:
    try:
        is_dir = os.path.isdir(source)
    except OSError:
        is_dir = False
    if not os.path.exists(source):
        raise MountError(f"bind mount source {source} does not exist")
    _create_target(dest, is_dir)
    sc.mount(source, dest, None, sc.MS_BIND | (opts.flags & sc.MS_REC))
    extra = opts.flags & ~(sc.MS_BIND | sc.MS_REC)
    if extra:
        remount_bind(dest, extra)


class Preopened:
    """What a new user namespace's root may not reach by path, taken before unsharing it.

    Its root is some subordinate id: it cannot search the user's 0700 dirs holding the
    rootfs and the bind sources (--userns nomap), and capabilities do not help with
    files whose owner it does not map. So the rootfs becomes our cwd (unshare carries
    the cwd into the new mount namespace) and each bind source a detached clone
    (open_tree), attached later with move_mount, as runc 1.2 does with its sources."""

    __slots__ = ("binds", "root_from_cwd")

    def __init__(self) -> None:
        self.root_from_cwd = False
        self.binds: dict[int, tuple[int, bool]] = {}  # mount index -> (tree fd, is dir)


def preopen(spec: Spec) -> Preopened:
    pre = Preopened()
    for i, m in enumerate(spec.mounts):
        opts = parse_options(m.options)
        if not (opts.is_bind or m.type == "bind") or not m.source:
            continue
        rec = sc.AT_RECURSIVE if opts.flags & sc.MS_REC else 0
        try:
            fd = sc.open_tree(m.source, sc.OPEN_TREE_CLONE | sc.OPEN_TREE_CLOEXEC | rec)
        except OSError:
            continue  # mount_one tries the path itself and reports why it fails
        pre.binds[i] = (fd, os.path.isdir(m.source))
    os.chdir(spec.root_path)
    pre.root_from_cwd = True
    return pre


def mount_one(m: Mount, rootfs: str, tree: tuple[int, bool] | None = None) -> None:
    dest = secure_join(rootfs, m.destination)
    opts = parse_options(m.options)
    kind = m.type or ("bind" if opts.is_bind else "none")
    try:
        if tree is not None:  # a bind source cloned before a new user namespace
            _create_target(dest, tree[1])
            sc.move_mount(tree[0], dest)
            os.close(tree[0])
            extra = opts.flags & ~(sc.MS_BIND | sc.MS_REC)
            if extra:
                remount_bind(dest, extra)
        elif opts.is_bind or kind == "bind":
            if not opts.is_bind:
                opts.flags |= sc.MS_BIND
            bind(m.source or "", dest, opts)
        elif kind in ("cgroup", "cgroup2"):
            _mount_cgroup(dest, opts)
        else:
            os.makedirs(dest, exist_ok=True)
            try:
                sc.mount(m.source or kind, dest, kind, opts.flags, opts.data or None)
            except OSError as e:
                # Without a network (or ipc) namespace of our own the kernel refuses a
                # fresh sysfs (mqueue): bind the host's instead, as runc does.
                host = {"sysfs": "/sys", "mqueue": "/dev/mqueue"}.get(kind)
                if e.errno != errno.EPERM or host is None:
                    raise
                bind(host, dest, MountOptions(opts.flags | sc.MS_BIND | sc.MS_REC))
        if opts.propagation:
            sc.mount(None, dest, None, opts.propagation)
    except OSError as e:
        raise MountError(f"mount {kind} on {m.destination}: {os.strerror(e.errno or 0)}") from None


def _mount_cgroup(dest: str, opts: MountOptions) -> None:
    """cgroup2 if the kernel lets us (cgroup namespace), else the host's tree read-only."""
    os.makedirs(dest, exist_ok=True)
    try:
        sc.mount("cgroup2", dest, "cgroup2", opts.flags)
        return
    except OSError:
        pass
    if os.path.isdir("/sys/fs/cgroup"):
        bind("/sys/fs/cgroup", dest, MountOptions(opts.flags | sc.MS_BIND | sc.MS_REC))


def prepare_root(spec: Spec, pre: Preopened | None = None) -> None:
    """Stop mount events propagating to the host, and make the rootfs a mount point."""
    prop = PROPAGATION.get(spec.rootfs_propagation or "rslave", sc.MS_SLAVE | sc.MS_REC)
    # Shared is applied after pivot_root; before it the host must not see our mounts.
    sc.mount(None, "/", None, sc.MS_SLAVE | sc.MS_REC if prop & sc.MS_SHARED else prop)
    if pre is not None and pre.root_from_cwd:
        # The rootfs is our cwd, its path out of reach: clone it onto itself and reach
        # the clone (not the mount under it, which the path would) through its fd.
        tree = sc.open_tree(".", sc.OPEN_TREE_CLONE | sc.OPEN_TREE_CLOEXEC | sc.AT_RECURSIVE)
        sc.move_mount(tree, ".")
        spec.root_path = f"/proc/self/fd/{tree}"
        return
    sc.mount(spec.root_path, spec.root_path, None, sc.MS_BIND | sc.MS_REC)


def mount_all(spec: Spec, pre: Preopened | None = None) -> None:
    binds = pre.binds if pre is not None else {}
    for i, m in enumerate(spec.mounts):
        mount_one(m, spec.root_path, binds.get(i))


def dev_is_bind(spec: Spec) -> bool:
    return any(
        m.destination.rstrip("/") == "/dev" and "bind" in (m.type or "") + " ".join(m.options)
        for m in spec.mounts
    )


def setup_dev(spec: Spec) -> None:
    """Default devices as bind mounts of the host's nodes (mknod is refused in a user
    namespace), the config's devices, and the /dev symlinks."""
    rootfs = spec.root_path
    if dev_is_bind(spec):
        return
    wanted = [Device(p) for p in DEFAULT_DEVICES]
    wanted += [d for d in spec.devices if d.path not in DEFAULT_DEVICES]
    for dev in wanted:
        if not os.path.exists(dev.path):
            continue
        dest = secure_join(rootfs, dev.path)
        _create_target(dest, False)
        sc.mount(dev.path, dest, None, sc.MS_BIND)
    for target, link in DEV_SYMLINKS:
        _symlink(target, secure_join(rootfs, link))
    if os.path.exists("/proc/kcore"):
        _symlink("/proc/kcore", secure_join(rootfs, "/dev/core"))
    ptmx = secure_join(rootfs, "/dev/ptmx")
    if os.path.isdir(secure_join(rootfs, "/dev/pts")):
        if os.path.lexists(ptmx):
            os.unlink(ptmx)
        os.symlink("pts/ptmx", ptmx)


def _symlink(target: str, link: str) -> None:
    try:
        os.symlink(target, link)
    except FileExistsError:
        pass


def pivot(rootfs: str) -> None:
    """pivot_root(".", ".") into the rootfs and detach the old root stacked under it."""
    old = os.open("/", os.O_DIRECTORY | os.O_RDONLY | os.O_CLOEXEC)
    new = os.open(rootfs, os.O_DIRECTORY | os.O_RDONLY | os.O_CLOEXEC)
    try:
        os.fchdir(new)
        sc.pivot_root(".", ".")
        os.fchdir(old)
        # Make sure the unmount below cannot reach the host through propagation.
        sc.mount(None, ".", None, sc.MS_SLAVE | sc.MS_REC)
        sc.umount2(".", sc.MNT_DETACH)
        os.chdir("/")
    finally:
        os.close(old)
        os.close(new)


def after_pivot(spec: Spec) -> None:
    if spec.rootfs_propagation and PROPAGATION[spec.rootfs_propagation] & sc.MS_SHARED:
        sc.mount(None, "/", None, PROPAGATION[spec.rootfs_propagation])
    for path in spec.readonly_paths:
        readonly_path(path)
    for path in spec.masked_paths:
        mask_path(path)


def readonly_path(path: str) -> None:
    if not os.path.exists(path):
        return
    sc.mount(path, path, None, sc.MS_BIND | sc.MS_REC)
    remount_bind(path, sc.MS_RDONLY)


def mask_path(path: str) -> None:
    if not os.path.exists(path):
        return
    if os.path.isdir(path):
        sc.mount("tmpfs", path, "tmpfs", sc.MS_RDONLY)
    else:
        sc.mount("/dev/null", path, None, sc.MS_BIND)


def readonly_root() -> None:
    remount_bind("/", sc.MS_RDONLY)
