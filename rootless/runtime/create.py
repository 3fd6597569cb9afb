"""`create`: fork the container init, give it its namespaces and filesystem, and leave
it blocked on exec.fifo until `start`.

    runtime (this process)        stage 1 (fork)                  init (pid 1 inside)
    ----------------------        --------------                  -------------------
                                  unshare(USER) / setns(user)
    write uid/gid maps  <-idmap-  become root, non-dumpable
                                  setns(paths), unshare(rest)
                      <-init pid- fork (new pid namespace) ------> mounts, /dev
    createRuntime hooks <-mounted-                                 createContainer hooks
                        -state->                                   pivot_root, hostname,
    save state.json   <-ready---                                   sysctl, masked paths
    exit                                                           open exec.fifo (blocks)

Stage 1 exits as soon as init exists, so init is reparented (to a subreaper if the
caller set one: `run` does, to wait for it), as runc's init is.
"""

from __future__ import annotations

import _socket
import os
import sys

from rootless import syscalls as sc
from rootless.errors import EngineError
from rootless.runtime import mounts
from rootless.runtime.channel import Channel
from rootless.runtime.spec import IdMap, Spec, load_bundle
from rootless.runtime.state import (
    ContainerState,
    Store,
    now_rfc3339,
    proc_start_time,
    validate_id,
    write_atomic,
)

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from rootless.runtime.bpfcache import Program


NS_FLAGS = {
    "user": sc.CLONE_NEWUSER,
    "mount": sc.CLONE_NEWNS,
    "pid": sc.CLONE_NEWPID,
    "uts": sc.CLONE_NEWUTS,
    "ipc": sc.CLONE_NEWIPC,
    "network": sc.CLONE_NEWNET,
    "cgroup": sc.CLONE_NEWCGROUP,
    "time": 0x80,  # CLONE_NEWTIME
}
NS_PROC_NAMES = {
    "user": "user",
    "mount": "mnt",
    "pid": "pid",
    "uts": "uts",
    "ipc": "ipc",
    "network": "net",
    "cgroup": "cgroup",
    "time": "time",
}
NEWUIDMAP = "/usr/bin/newuidmap"
NEWGIDMAP = "/usr/bin/newgidmap"


class CreateOptions:
    __slots__ = (
        "bundle",
        "cid",
        "console_sock",
        "console_socket",
        "pid_file",
        "preserve_fds",
        "stdio",
    )

    def __init__(
        self,
        cid: str,
        bundle: str,
        pid_file: str | None = None,
        console_socket: str | None = None,
        preserve_fds: int = 0,
        console_sock: _socket.socket | None = None,  # already connected (run's own tty)
        stdio: tuple[int, int, int] | None = None,
    ) -> None:
        self.cid = cid
        self.bundle = bundle
        self.pid_file = pid_file
        self.console_socket = console_socket
        self.preserve_fds = preserve_fds
        self.console_sock = console_sock
        # The container's stdin/stdout/stderr when not ours (a caller in this process).
        self.stdio = stdio


def create(store: Store, opts: CreateOptions) -> ContainerState:
    validate_id(opts.cid)
    spec = load_bundle(opts.bundle)
    if spec.process is None:
        raise EngineError("config.json has no process to run")
    if spec.hostname and not _has_new_ns(spec, "uts"):
        raise EngineError("unable to set hostname without a private UTS namespace")
    console = None
    if spec.process.terminal:
        console = opts.console_sock or console_socket_connect(opts.console_socket)
        if console is None:
            raise EngineError("process.terminal is true: --console-socket is required")
    # Compiled (or taken from the cache) here, before the fork: errors in the profile fail
    # `create` directly, and the init only has to load the program.
    filt = prepare_seccomp(spec.seccomp, spec.process.no_new_privileges, seccomp_cache(store))
    sdir = store.reserve(opts.cid)
    ok = False
    init_pid = 0
    cgroup: str | None = None
    try:
        fifo = os.path.join(sdir, "exec.fifo")
        os.mkfifo(fifo, 0o622)
        _chown_to_container_root(fifo, spec)
        parent, child = Channel.pair()
        rootless_euid = os.geteuid() != 0
        pid = os.fork()
        if pid == 0:  # stage 1: never returns
            parent.close()
            _child_main(spec, child, fifo, console, filt, opts, rootless_euid)
        child.close()
        if console is not None:
            console.close()
        init_pid = _drive(spec, parent, pid, opts)
        linux = spec.raw.get("linux") or {}
        if linux.get("cgroupsPath") or linux.get("resources"):
            from rootless.runtime import cgroups

            cgroup = cgroups.setup(spec.raw, init_pid)  # init waits for us: not running yet
        st = ContainerState(
            id=opts.cid,
            pid=init_pid,
            bundle=os.path.abspath(opts.bundle),
            rootfs=spec.root_path,
            created=now_rfc3339(),
            start_time=proc_start_time(init_pid) or 0,
            annotations=spec.annotations,
            config=spec.raw,
            cgroup=cgroup,
        )
        _finish_handshake(spec, parent, st)
        store.save(st)
        if opts.pid_file:
            write_atomic(os.path.abspath(opts.pid_file), str(init_pid).encode(), 0o644)
        ok = True
        return st
    finally:
        if not ok:
            if init_pid:
                try:
                    os.kill(init_pid, 9)
                except OSError:
                    pass
            if cgroup:
                from rootless.runtime import cgroups

                cgroups.remove(cgroup)
            store.remove(opts.cid)


def _chown_to_container_root(path: str, spec: Spec) -> None:
    """A new user namespace's root may own no file of ours (--userns nomap): give it
    the fifo its init reopens for writing, as runc does."""
    user = spec.namespace("user")
    if user is None or user.path:
        return
    uid = next((m.host_id for m in spec.uid_mappings if m.container_id == 0), None)
    gid = next((m.host_id for m in spec.gid_mappings if m.container_id == 0), None)
    if uid is not None and gid is not None and (uid, gid) != (os.geteuid(), os.getegid()):
        try:
            os.chown(path, uid, gid)
        except PermissionError:
            pass  # not ours to give (no CAP_CHOWN): the mode alone must do


def console_socket_connect(path: str | None) -> _socket.socket | None:
    if not path:
        return None
    from rootless.runtime.console import connect

    return connect(path)


def _has_new_ns(spec: Spec, kind: str) -> bool:
    ns = spec.namespace(kind)
    return ns is not None


def _drive(spec: Spec, ch: Channel, stage1: int, opts: CreateOptions) -> int:
    """Serve stage 1 and init until init has its mounts; the init pid.

    Stage 1 and init share the channel, so init's "mounted" may overtake stage 1's
    "init": accept both in either order.
    """
    init = 0
    mounted = False
    try:
        while not (init and mounted):
            msg = ch.recv()
            if "idmap" in msg:
                write_id_maps(stage1, spec.uid_mappings, spec.gid_mappings)
                ch.send(ok=True)
            elif "init" in msg:
                init = int(msg["init"])
            elif "mounted" in msg:
                mounted = True
        return init
    finally:
        if init != stage1:  # without a pid namespace stage 1 goes on as init
            os.waitpid(stage1, 0)


def _finish_handshake(spec: Spec, ch: Channel, st: ContainerState) -> None:
    from rootless.runtime.hooks import run_hooks

    state = st.to_oci("creating")
    try:
        # prestart (deprecated) and createRuntime run in the runtime's namespaces.
        run_hooks("prestart", spec.hooks.get("prestart", []), state)
        run_hooks("createRuntime", spec.hooks.get("createRuntime", []), state)
    except EngineError as e:
        ch.send(error=str(e))
        raise
    ch.send(state=state)
    ch.recv()  # ready
    ch.close()


# ---- uid/gid maps -------------------------------------------------------------------


def _map_text(maps: list[IdMap]) -> str:
    return "".join(f"{m.container_id} {m.host_id} {m.size}\n" for m in maps)


def needs_helper(maps: list[IdMap], own_id: int) -> bool:
    """Anything beyond our own id needs the setuid newuidmap/newgidmap (as runc does)."""
    return not (len(maps) == 1 and maps[0].host_id == own_id and maps[0].size == 1)


def write_id_maps(pid: int, uids: list[IdMap], gids: list[IdMap]) -> None:
    if not uids or not gids:
        raise EngineError("a new user namespace needs linux.uidMappings and linux.gidMappings")
    privileged = os.geteuid() == 0
    if privileged or not needs_helper(gids, os.getegid()):
        if not privileged:
            sc.write_proc(f"/proc/{pid}/setgroups", "deny")
        _write_map(f"/proc/{pid}/gid_map", gids)
    else:
        _run_helper(NEWGIDMAP, pid, gids)
    if privileged or not needs_helper(uids, os.geteuid()):
        _write_map(f"/proc/{pid}/uid_map", uids)
    else:
        _run_helper(NEWUIDMAP, pid, uids)


def _write_map(path: str, maps: list[IdMap]) -> None:
    try:
        sc.write_proc(path, _map_text(maps))
    except OSError as e:
        raise EngineError(f"writing {path}: {e.strerror}") from None


def _run_helper(helper: str, pid: int, maps: list[IdMap]) -> None:
    if not os.access(helper, os.X_OK):
        raise EngineError(f"{helper} is missing: install the uidmap package")
    import subprocess

    argv = [helper, str(pid)]
    for m in maps:
        argv += [str(m.container_id), str(m.host_id), str(m.size)]
    p = subprocess.run(argv, capture_output=True, text=True)
    if p.returncode != 0:
        raise EngineError(
            f"{os.path.basename(helper)} failed: {p.stderr.strip()} "
            "(check /etc/subuid and /etc/subgid for this user)"
        )


# ---- the forked side ----------------------------------------------------------------


def _child_main(
    spec: Spec,
    ch: Channel,
    fifo: str,
    console: _socket.socket | None,
    filt: Program | None,
    opts: CreateOptions,
    rootless_euid: bool,
) -> None:
    code = 1
    try:
        if opts.stdio is not None:
            for target, fd in enumerate(opts.stdio):
                os.dup2(fd, target)
        from rootless.runtime.process import reset_signals, set_oom_score_adj

        reset_signals()
        # Before we become non-dumpable (which makes /proc/self files root's); inherited.
        set_oom_score_adj(spec.process)  # type: ignore[arg-type]
        # Opened now: a new user namespace's root may not search the state dir.
        fifo_fd = os.open(fifo, os.O_PATH | os.O_CLOEXEC)
        pre = _stage1(spec, ch)
        _init(spec, ch, fifo_fd, console, filt, opts.preserve_fds, rootless_euid, pre)  # execs
    except BaseException as e:  # report and exit; never unwind into the caller's code
        msg = _describe(e)
        try:
            ch.send(error=msg)
        except OSError:
            os.write(2, f"rootless-runtime: {msg}\n".encode())
    finally:
        os._exit(code)


def _describe(e: BaseException) -> str:
    if isinstance(e, EngineError):
        return e.line()
    if isinstance(e, OSError):
        where = f" {e.filename}" if e.filename else ""
        return f"container init: {e.strerror or e}{where}"
    return f"container init: {type(e).__name__}: {e}"


def _stage1(spec: Spec, ch: Channel) -> mounts.Preopened | None:
    user = spec.namespace("user")
    new_user = user is not None and not user.path
    pre = None
    if user is not None and user.path:
        sc.setns_path(user.path, sc.CLONE_NEWUSER)
    if new_user:
        # Namespaces given by path first, as runc: they belong to the user namespace we
        # are in now, whose privileges a new (nested) one would no longer have.
        _join_paths(spec)
        pre = mounts.preopen(spec)
        sc.unshare(sc.CLONE_NEWUSER)
        ch.send(idmap=True)
        ch.recv("runtime")
        # Become root of the new namespace when 0 is mapped.
        try:
            os.setresgid(0, 0, 0)
            os.setresuid(0, 0, 0)
        except OSError:
            pass
    # From here on /proc/self is not ours to expose: no ptrace, no /proc/PID/mem of us.
    # (Only now: the runtime writes our uid/gid maps, which needs us dumpable.)
    sc.prctl(sc.PR_SET_DUMPABLE, 0)
    if not new_user:
        _join_paths(spec)
    flags = 0
    for ns in spec.namespaces:
        if ns.type != "user" and not ns.path:
            flags |= NS_FLAGS[ns.type]
    if flags:
        sc.unshare(flags)
    if spec.namespace("pid") is not None or flags & 0x80:
        # A new (or joined) pid namespace holds only our children: fork init into it.
        pid = os.fork()
        if pid:
            ch.send(init=pid)
            os._exit(0)
    else:
        ch.send(init=os.getpid())
    return pre


def _join_paths(spec: Spec) -> None:
    for ns in spec.namespaces:
        if ns.type != "user" and ns.path:
            sc.setns_path(ns.path, NS_FLAGS[ns.type])


def _init(
    spec: Spec,
    ch: Channel,
    fifo_fd: int,
    console: _socket.socket | None,
    filt: Program | None,
    preserve_fds: int,
    rootless_euid: bool,
    pre: mounts.Preopened | None = None,
) -> None:
    from rootless.runtime.hooks import run_hooks
    from rootless.runtime.process import (
        apply_rlimits,
        check_executable,
        finalize_and_exec,
    )

    assert spec.process is not None
    os.setsid()
    if spec.namespace("mount") is None:
        raise EngineError("a mount namespace is required (linux.namespaces: mount)")
    mounts.prepare_root(spec, pre)
    mounts.mount_all(spec, pre)
    mounts.setup_dev(spec)
    os.makedirs(mounts.secure_join(spec.root_path, spec.process.cwd), exist_ok=True)
    ch.send(mounted=True)
    state = ch.recv("runtime")["state"]
    run_hooks("createContainer", spec.hooks.get("createContainer", []), state)
    # Past pivot_root our own modules and libraries are out of reach: load them now.
    if spec.hooks.get("startContainer"):
        import subprocess  # noqa: F401
    if console is not None:
        from rootless.runtime.console import setup_pty
    mounts.pivot(spec.root_path)
    if spec.hostname:
        sc.sethostname(spec.hostname)
    if spec.domainname:
        sc.setdomainname(spec.domainname)
    net = spec.namespace("network")
    if net is not None and not net.path:
        _loopback_up()
    for key, value in spec.sysctl.items():
        _sysctl(key, value)
    mounts.after_pivot(spec)
    if spec.root_readonly:
        mounts.readonly_root()
    if console is not None:
        setup_pty(console, spec.process.console_size)
    apply_rlimits(spec.process)
    check_executable(spec.process)  # a typo in args fails `create`, as with runc
    ch.send(ready=True)
    ch.close()
    # Block until `start` opens the fifo for reading (through /proc: the path is gone).
    wfd = os.open(f"/proc/self/fd/{fifo_fd}", os.O_WRONLY | os.O_CLOEXEC)
    os.write(wfd, b"0")
    os.close(wfd)
    os.close(fifo_fd)
    state["status"] = "running"
    run_hooks("startContainer", spec.hooks.get("startContainer", []), state)
    finalize_and_exec(spec.process, filt, preserve_fds, rootless_euid)


def _loopback_up() -> None:
    """`lo` up in a new network namespace, as runc does (libcontainer's loopback network):
    `--network none` still has 127.0.0.1."""
    import fcntl

    s = _socket.socket(_socket.AF_INET, _socket.SOCK_DGRAM)
    try:
        name = b"lo".ljust(16, b"\0")  # struct ifreq: name[16] + a 24-byte union
        got = fcntl.ioctl(s.fileno(), 0x8913, name + bytes(24))  # SIOCGIFFLAGS
        flags = int.from_bytes(got[16:18], sys.byteorder) | 0x1  # IFF_UP
        fcntl.ioctl(s.fileno(), 0x8914, name + flags.to_bytes(2, sys.byteorder) + bytes(22))
    finally:
        s.close()


def seccomp_cache(store: Store) -> str:
    """Where compiled seccomp programs are kept: beside the containers' state."""
    from rootless.runtime.bpfcache import CACHE_DIR_NAME

    return os.path.join(store.root, CACHE_DIR_NAME)


def prepare_seccomp(
    profile: dict[str, Any] | None, no_new_privs: bool, cache_dir: str | None = None
) -> Program | None:
    if not profile:
        return None
    from rootless.runtime.bpfcache import program

    return program(profile, no_new_privs, cache_dir)


def _sysctl(key: str, value: str) -> None:
    path = "/proc/sys/" + key.replace(".", "/")
    try:
        sc.write_proc(path, value)
    except OSError as e:
        raise EngineError(f"sysctl {key}={value}: {e.strerror}") from None
