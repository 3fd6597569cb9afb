"""The monitor's main loop: start the container through the OCI runtime, own its stdio or
pty, write the log, reap it, record the exit, apply the restart policy, then hand teardown
to the engine's cleanup command.

Only the standard library, and little of it: this process lives as long as the container.
"""

from __future__ import annotations

# The C-level modules (_signal, _socket) and no json/typing: the public modules pull in
# enum, re, selectors..., ~4 MB of RSS kept for the container's whole life.
import _signal as signal
import _socket
import os
import select
import sys
import time

from rootless.errors import failure_line
from rootless.monitor import protocol as P
from rootless.monitor.jsonlite import dumps
from rootless.monitor.logfile import JsonLog, rfc3339_now

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

ATTACH_WAIT = 30.0  # seconds to hold output for the CLI that asked to attach
CLIENT_DRAIN_WAIT = 30.0  # seconds to let attached clients take the exit and clean up
LOG_MAX_SIZE_ENV = "ROOTLESS_MONITOR_LOG_MAX_SIZE"  # bytes: overrides the engine's log cap


class StartError(Exception):
    pass


_TRACE = bool(os.environ.get("ROOTLESS_MONITOR_TRACE"))
_T0 = time.monotonic()


def trace(what: str) -> None:
    """Timestamps into monitor.log when ROOTLESS_MONITOR_TRACE is set (start-up profiling)."""
    if _TRACE:
        sys.stderr.write(f"{(time.monotonic() - _T0) * 1000:8.1f} ms  {what}\n")
        sys.stderr.flush()


def _proc_start(pid: int) -> str:
    with open(f"/proc/{pid}/stat", "rb") as f:
        return f.read().rsplit(b")", 1)[1].split()[19].decode()


def _accept(lsock: _socket.socket) -> _socket.socket:
    fd, _ = lsock._accept()  # type: ignore[attr-defined]  # the C call socket.accept wraps
    return _socket.socket(fileno=fd)


def _set_subreaper() -> None:
    # The container's init is reparented to us when `runtime create` exits: being the
    # subreaper is how we get its exit status (as conmon does).
    from rootless import syscalls  # ctypes_lite underneath: not the ctypes package's RSS

    syscalls.prctl(syscalls.PR_SET_CHILD_SUBREAPER, 1)


def spawn(
    argv: list[str],
    stdio: tuple[int, int, int],
    env: dict[str, str] | None = None,
    cwd: str | None = None,
) -> int:
    pid = os.fork()
    if pid == 0:
        try:
            if cwd:
                os.chdir(cwd)
            signal.set_wakeup_fd(-1)
            for sig in (signal.SIGPIPE, signal.SIGCHLD, signal.SIGHUP, signal.SIGINT):
                signal.signal(sig, signal.SIG_DFL)
            for i, fd in enumerate(stdio):
                os.dup2(fd, i)
            if env is None:
                os.execvp(argv[0], argv)
            else:
                os.execvpe(argv[0], argv, env)
        finally:
            os._exit(127)
    return pid


class Monitor:
    def __init__(self, cdir: str, args: dict[str, Any], status_fd: int) -> None:
        self.cdir = cdir
        self.a = args
        self.status_fd = status_fd
        self.id: str = args["id"]
        self.tty: bool = args.get("tty", False)
        self.stdin_open: bool = args.get("stdin", False)
        self.devnull = os.open(os.devnull, os.O_RDWR | os.O_CLOEXEC)
        self.status: dict[str, Any] = {
            "pid": os.getpid(),
            "pid_start": _proc_start(os.getpid()),
            "container_pid": 0,
            "status": "starting",
            "exit_code": None,
            "started_at": "",
            "finished_at": "",
            "restarts": 0,
            "error": "",
        }
        self.log = JsonLog(os.path.join(cdir, "ctr.log"), int(args.get("log_max_size", 0)))
        self.clients: dict[int, _socket.socket] = {}
        self.outputs: dict[int, str] = {}  # fd -> stream name
        self.stdin_w = -1  # where client stdin goes (pipe or pty master)
        self.master = -1
        self.cpid = 0
        self.cleaned = False
        self.poller: select.poll | None = None
        self._registered_outputs: list[int] = []

    # ---- status file -------------------------------------------------------------
    def write_status(self, **kw: Any) -> None:
        self.status.update(kw)
        path = os.path.join(self.cdir, P.STATUS_FILE)
        tmp = f"{path}.{os.getpid()}.tmp"
        try:
            with open(tmp, "w") as f:
                f.write(dumps(self.status))
            os.replace(tmp, path)
        except OSError:
            pass  # the container dir was removed under us (rm -f): nothing left to record

    def report(self, msg: dict[str, Any]) -> None:
        """One line on the status pipe to the CLI that started us, then close it."""
        if self.status_fd < 0:
            return
        try:
            os.write(self.status_fd, dumps(msg).encode() + b"\n")
        except OSError:
            pass  # the CLI is gone; the container runs on
        os.close(self.status_fd)
        self.status_fd = -1

    # ---- runtime -----------------------------------------------------------------
    def runtime(self, *args: str, stdio: tuple[int, int, int] | None = None) -> int:
        argv = [*self.a["runtime_cmd"], *args]
        # In the bundle: runc moves there itself, other runtimes may not; relative paths
        # (console socket, log) then mean the same to all of them.
        return spawn(argv, stdio or (self.devnull, self.devnull, self.devnull), cwd="bundle")

    def runtime_error(self, what: str) -> str:
        """The runtime's last error line from its log, else a generic message."""
        import json  # the failure path only

        msg = ""
        try:
            with open(os.path.join(self.cdir, "bundle", "runtime.log"), encoding="utf-8") as f:
                for line in f:
                    try:
                        entry = json.loads(line)
                    except ValueError:
                        if line.strip():
                            msg = line.strip()
                        continue
                    if entry.get("level") in ("error", "fatal"):
                        msg = entry.get("msg", msg)
        except OSError:
            pass
        return msg or f"{what} failed"

    def delete_container(self) -> None:
        """The runtime's `delete --force`: its state for this container is gone after."""
        own_root = self.a.get("runtime_root")
        if not own_root:
            self.wait_child_quiet(self.runtime("delete", "--force", self.id))
            return
        from rootless.runtime.inprocess import delete_container

        try:
            delete_container(own_root, self.id)
        except Exception as e:  # as a failed `runtime delete`: noted, never fatal here
            sys.stderr.write(f"runtime delete {self.id}: {failure_line(e)}\n")

    def wait_child(self, pid: int) -> int:
        while True:
            try:
                _, st = os.waitpid(pid, 0)
                return os.waitstatus_to_exitcode(st)
            except InterruptedError:
                continue

    def create_and_start(self) -> None:
        pidfile = os.path.join(self.cdir, "pidfile")
        for stale in (pidfile, os.path.join(self.cdir, "bundle", "runtime.log")):
            try:
                os.unlink(stale)
            except FileNotFoundError:
                pass
        own_root = self.a.get("runtime_root") or ""
        out_r = err_r = -1
        if self.tty:
            stdio = (self.devnull, self.devnull, self.devnull)  # the init opens the pty
        else:
            out_r, out_w = os.pipe()
            err_r, err_w = os.pipe()
            in_r = self.devnull
            if self.stdin_open:
                in_r, self.stdin_w = os.pipe()
            stdio = (in_r, out_w, err_w)
        trace("runtime create")
        try:
            if own_root:
                self.cpid, master = self._create_in_process(own_root, pidfile, stdio)
            else:
                master = self._create_with_command(pidfile, stdio)
                with open(pidfile) as f:
                    self.cpid = int(f.read().strip())
        except BaseException:
            for fd in (out_r, err_r, -1 if self.tty else self.stdin_w):
                if fd >= 0:
                    os.close(fd)
            self.stdin_w = -1
            raise
        finally:
            if not self.tty:
                for fd in {stdio[0], stdio[1], stdio[2]} - {self.devnull}:
                    os.close(fd)
        trace("runtime create done")
        if self.tty:
            os.set_blocking(master, False)
            self.master = master
            self.stdin_w = master
            self.outputs = {master: "stdout"}
        else:
            for fd in (out_r, err_r):
                os.set_blocking(fd, False)
            self.outputs = {out_r: "stdout", err_r: "stderr"}
        self.enter_cgroup()
        if own_root:
            from rootless.runtime.inprocess import start_container

            try:
                start_container(own_root, self.id)
            except Exception as e:
                raise StartError(failure_line(e)) from None
        elif self.wait_child(self.runtime("start", self.id)) != 0:
            raise StartError(self.runtime_error("runtime start"))
        trace("runtime start done")
        self.write_status(
            status="running",
            container_pid=self.cpid,
            started_at=rfc3339_now(),
            finished_at="",
            exit_code=None,
            error="",
        )

    def _create_in_process(
        self, root: str, pidfile: str, stdio: tuple[int, int, int]
    ) -> tuple[int, int]:
        """Our own runtime's `create`, called here: no interpreter per verb. The same
        state lands under `root` as with `rootless-runtime --root ROOT create`."""
        from rootless.runtime.inprocess import create_container

        try:
            c = create_container(
                root, self.id, self.a["bundle"], pid_file=pidfile, stdio=stdio, terminal=self.tty
            )
        except Exception as e:
            raise StartError(failure_line(e)) from None
        return c.pid, c.console_master

    def _create_with_command(self, pidfile: str, stdio: tuple[int, int, int]) -> int:
        """`RUNTIME create` as a child process; the pty master with a terminal, else -1."""
        base = ["create", "--bundle", self.a["bundle"], "--pid-file", pidfile]
        if not self.tty:
            if self.wait_child(self.runtime(*base, self.id, stdio=stdio)) != 0:
                raise StartError(self.runtime_error("runtime create"))
            return -1
        # Relative (sun_path holds 108 bytes), resolved in the bundle dir.
        sock_path = os.path.join("bundle", "console.sock")
        try:
            os.unlink(sock_path)
        except FileNotFoundError:
            pass
        lsock = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM)
        lsock.bind(sock_path)
        lsock.listen(1)
        pid = self.runtime(*base, "--console-socket", "console.sock", self.id)
        master = self._recv_console(lsock, pid)
        lsock.close()
        os.unlink(sock_path)
        rc = self.wait_child(pid)
        if rc != 0 or master < 0:
            if master >= 0:
                os.close(master)
            raise StartError(self.runtime_error("runtime create"))
        return master

    def enter_cgroup(self) -> None:
        """cgroups: move the created (not yet started) container into its cgroup, so its
        limits hold from its first instruction; its children inherit the cgroup."""
        cg = self.a.get("cgroup")
        if not cg:
            return
        try:
            fd = os.open(os.path.join(cg, "cgroup.procs"), os.O_WRONLY)
            try:
                os.write(fd, str(self.cpid).encode())
            finally:
                os.close(fd)
        except OSError as e:
            raise StartError(f"cannot move the container into its cgroup {cg}: {e}") from None

    def _recv_console(self, lsock: _socket.socket, pid: int) -> int:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            r, _, _ = select.select([lsock], [], [], 0.05)
            if r:
                from rootless.runtime.inprocess import receive_fd

                conn = _accept(lsock)
                try:
                    return receive_fd(conn)
                finally:
                    conn.close()
            done, _ = os.waitpid(pid, os.WNOHANG)
            if done:
                # reaped already: make wait_child's status available again is impossible,
                # so report failure directly.
                raise StartError(self.runtime_error("runtime create"))
        return -1

    # ---- I/O ---------------------------------------------------------------------
    def broadcast(self, kind: int, data: bytes) -> None:
        for fd, c in list(self.clients.items()):
            try:
                c.send(bytes([kind]) + data)
            except OSError:
                self.drop_client(fd)

    def drop_client(self, fd: int) -> None:
        c = self.clients.pop(fd, None)
        if c is not None:
            c.close()
        if self.poller is not None:
            try:
                self.poller.unregister(fd)
            except KeyError:
                pass

    def read_output(self, fd: int) -> bool:
        """Read once from an output fd. False on EOF (fd closed and forgotten)."""
        try:
            data = os.read(fd, P.MAX_MSG - 1)
        except BlockingIOError:
            return True
        except OSError:  # EIO: the pty's slave side is gone
            data = b""
        if not data:
            self.outputs.pop(fd, None)
            if self.poller is not None:
                try:
                    self.poller.unregister(fd)
                except KeyError:
                    pass
            if fd != self.master:
                os.close(fd)
                # closed here: drain_outputs must not close the number again (by then it
                # may be a client's socket or a new pipe)
                if fd in self._registered_outputs:
                    self._registered_outputs.remove(fd)
            return False
        stream = self.outputs[fd]
        self.log.write(stream, data)
        self.broadcast(P.STDOUT if stream == "stdout" else P.STDERR, data)
        return True

    def drain_outputs(self) -> None:
        for fd in list(self.outputs):
            while fd in self.outputs:
                try:
                    data = os.read(fd, P.MAX_MSG - 1)
                except BlockingIOError:
                    break
                except OSError:
                    data = b""
                if not data:
                    self.outputs.pop(fd, None)
                    break
                stream = self.outputs[fd]
                self.log.write(stream, data)
                self.broadcast(P.STDOUT if stream == "stdout" else P.STDERR, data)
        for fd in list(self.outputs):
            self.outputs.pop(fd)
        if self.poller is not None:
            for fd in list(self._registered_outputs):
                try:
                    self.poller.unregister(fd)
                except KeyError:
                    pass
        for fd in self._registered_outputs:
            try:
                os.close(fd)
            except OSError:
                pass
        self._registered_outputs = []
        if self.stdin_w >= 0 and self.stdin_w != self.master:
            os.close(self.stdin_w)
        self.stdin_w = -1
        self.master = -1

    def client_message(self, fd: int) -> None:
        c = self.clients[fd]
        try:
            msg = c.recv(P.MAX_MSG)
        except OSError:
            msg = b""
        if not msg:
            self.drop_client(fd)
            return
        kind, data = msg[0], msg[1:]
        if kind == P.STDIN and self.stdin_w >= 0:
            try:
                os.write(self.stdin_w, data)
            except OSError:
                pass
        elif kind == P.RESIZE and self.master >= 0:
            import fcntl
            import struct
            import termios

            try:
                rows, cols = (int(x) for x in data.split())
                fcntl.ioctl(self.master, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
            except (ValueError, OSError, struct.error):
                pass  # a malformed message or size: ignored (as idle.c), never fatal
        elif kind == P.CLOSE_STDIN and self.stdin_w >= 0 and self.stdin_w != self.master:
            os.close(self.stdin_w)
            self.stdin_w = -1
        elif kind == P.CLEANED:
            self.cleaned = True

    def accept(self, lsock: _socket.socket) -> None:
        try:
            c = _accept(lsock)
        except OSError:
            return
        self.clients[c.fileno()] = c
        if self.poller is not None:
            self.poller.register(c.fileno(), select.POLLIN)

    # ---- lifecycle ---------------------------------------------------------------
    def should_restart(self, code: int) -> bool:
        policy = self.a.get("restart", {}) or {}
        name = policy.get("name", "no")
        if os.path.exists(os.path.join(self.cdir, P.STOP_FILE)):
            return False
        if name in ("always", "unless-stopped"):
            return True
        if name == "on-failure" and code != 0:
            mx = int(policy.get("max_retries", 0))
            return mx == 0 or self.status["restarts"] < mx
        return False

    def reap(self) -> int | None:
        """Reap every exited child; the container's exit code once init is gone."""
        code = None
        while True:
            try:
                pid, st = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                break
            if pid == 0:
                break
            if pid == self.cpid:
                code = os.waitstatus_to_exitcode(st)
                if code < 0:  # killed by a signal: 128+N as shells report it
                    code = 128 - code
        return code

    def prepare_process(self) -> int:
        """Subreaper, signals, log size override; returns the SIGCHLD wake pipe's read end."""
        _set_subreaper()
        rd, wr = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        signal.set_wakeup_fd(wr)
        signal.signal(signal.SIGCHLD, lambda *_: None)
        for sig in (signal.SIGHUP, signal.SIGINT):
            signal.signal(sig, signal.SIG_IGN)
        cap = os.environ.get(LOG_MAX_SIZE_ENV, "")
        if cap.isdigit():  # tests lower the engine's cap to see rotation happen
            self.log.max_size = int(cap)
        return rd

    def run(self) -> None:
        os.chdir(self.cdir)
        rd = self.prepare_process()
        try:
            os.unlink(P.ATTACH_SOCKET)
        except FileNotFoundError:
            pass
        lsock = _socket.socket(_socket.AF_UNIX, _socket.SOCK_SEQPACKET)
        lsock.bind(P.ATTACH_SOCKET)
        lsock.listen(16)
        try:
            self.create_and_start()
        except (StartError, OSError, ValueError) as e:
            err = str(e)
            self.write_status(status="failed", error=err, finished_at=rfc3339_now())
            self.report({"ok": False, "error": err})
            self.delete_container()
            self.run_cleanup()
            return
        self.report({"ok": True, "pid": self.cpid})
        trace("reported")

        wait_attach = self.a.get("wait_attach", False)
        if wait_attach:
            # Hold the container's output (in the pipe / pty buffer) until the CLI that
            # asked to attach connects, so it sees every byte.
            r, _, _ = select.select([lsock], [], [], ATTACH_WAIT)
            if r:
                self.accept_plain(lsock)
        self.supervise(lsock, rd, None)

    def resume(self, lsock: _socket.socket, code: int) -> None:
        """Back from the C idle monitor: the container exited with `code`, its output is
        logged and its fds closed; carry on exactly where loop() would have returned."""
        self.supervise(lsock, self.prepare_process(), code)

    def supervise(self, lsock: _socket.socket, rd: int, code: int | None) -> None:
        """From a running container (code None) or a finished one to the monitor's end:
        supervise it, record the exit, restart it per policy, tear down."""
        while True:
            if code is None:
                self.hand_off(lsock)  # no return when the C idle monitor takes over
                code = self.loop(lsock, rd)
                self.drain_outputs()
            # A container about to be restarted shows "restarting" through the back-off,
            # never "exited": `stop` would take that for done and return while we start
            # it again.
            restart = self.should_restart(code)
            self.write_status(
                status="restarting" if restart else "exited",
                exit_code=code,
                finished_at=rfc3339_now(),
                container_pid=0,
            )
            if restart:
                self.delete_container()
                n = self.status["restarts"]
                if self.stopped_during_back_off(min(0.1 * (2**n), 10.0)):
                    # `stop` saw "restarting" and waits for "exited": nothing may start.
                    self.write_status(status="exited")
                else:
                    self.write_status(status="restarting", restarts=n + 1)
                    try:
                        self.create_and_start()
                        code = None
                        continue
                    except (StartError, OSError, ValueError) as e:
                        self.write_status(status="failed", error=str(e))
                        code = 127
            self.broadcast(P.EXIT, str(code).encode())
            break
        # The attached CLI tears down the rest meanwhile and waits for this message
        # instead of running the runtime a second time.
        self.delete_container()
        self.broadcast(P.RUNTIME_DELETED, b"")
        self.wait_clients(lsock, rd)
        if not self.cleaned:
            self.run_cleanup()

    def stopped_during_back_off(self, seconds: float) -> bool:
        """Sleep before a restart, but end it as soon as a user stops the container."""
        stop_file = os.path.join(self.cdir, P.STOP_FILE)
        deadline = time.monotonic() + seconds
        while not os.path.exists(stop_file):
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            time.sleep(min(left, 0.05))
        return True

    def hand_off(self, lsock: _socket.socket) -> None:
        """exec() the C idle monitor (idle.c) with every fd we hold, when nobody attached
        at start and it is built; it execs us again with `--resume` at the exit. Returns
        only when the Python loop stays: attached runs (the exec back would delay
        `run --rm`), ROOTLESS_MONITOR_IDLE=python, no binary."""
        if self.a.get("wait_attach") or self.cpid <= 0:
            return
        from rootless.monitor import idle_build

        if idle_build.forced_python():
            return
        built = idle_build.ensure_built()
        if built.path is None:
            trace(f"idle monitor unavailable: {built.error}")
            return
        fds = [lsock.fileno(), self.log.fd, *self.outputs, *self.clients]
        fds += [fd for fd in (self.stdin_w, self.master) if fd >= 0]
        argv = [built.path, "--log", f"{self.log.fd},{self.log.size},{self.log.max_size},"
                f"{self.log.keep},{self.log.path}", "--listen", str(lsock.fileno()),
                "--pid", str(self.cpid), "--stdin", str(self.stdin_w),
                "--master", str(self.master)]  # fmt: skip
        for fd, stream in self.outputs.items():
            argv += ["--out", f"{fd},{stream}"]
        for fd in self.clients:
            argv += ["--client", str(fd)]
        main_py = os.path.join(os.path.dirname(os.path.abspath(__file__)), "__main__.py")
        argv += ["--", sys.executable, "-S", main_py, "--resume", self.cdir]
        for fd in fds:
            os.set_inheritable(fd, True)
        trace("hand-off to the idle monitor")
        try:
            os.execv(built.path, argv)
        except OSError as e:
            trace(f"idle monitor exec failed: {e}")
            for fd in fds:
                os.set_inheritable(fd, False)

    def accept_plain(self, lsock: _socket.socket) -> None:
        try:
            c = _accept(lsock)
        except OSError:
            return
        self.clients[c.fileno()] = c

    def loop(self, lsock: _socket.socket, wake: int) -> int:
        poller = select.poll()
        self.poller = poller
        poller.register(wake, select.POLLIN)
        poller.register(lsock.fileno(), select.POLLIN)
        for fd in self.clients:
            poller.register(fd, select.POLLIN)
        self._registered_outputs = list(self.outputs)
        for fd in self.outputs:
            poller.register(fd, select.POLLIN)
        code = self.reap()  # it may have exited before we were listening
        while code is None:
            try:
                events = poller.poll()
            except InterruptedError:
                continue
            for fd, _ in events:
                if fd == wake:
                    try:
                        os.read(wake, 512)
                    except OSError:
                        pass
                    code = self.reap() if code is None else code
                elif fd == lsock.fileno():
                    self.accept(lsock)
                elif fd in self.outputs:
                    self.read_output(fd)
                elif fd in self.clients:
                    self.client_message(fd)
            if code is None:
                code = self.reap()
        self.poller = None
        return code

    def wait_clients(self, lsock: _socket.socket, wake: int) -> None:
        deadline = time.monotonic() + CLIENT_DRAIN_WAIT
        while self.clients and not self.cleaned:
            left = deadline - time.monotonic()
            if left <= 0:
                break
            r, _, _ = select.select(list(self.clients.values()), [], [], left)
            for c in r:
                self.client_message(c.fileno())
        for fd in list(self.clients):
            self.drop_client(fd)

    def wait_child_quiet(self, pid: int) -> None:
        try:
            self.wait_child(pid)
        except ChildProcessError:
            pass

    def run_cleanup(self) -> None:
        cmd = self.a.get("cleanup_cmd")
        if not cmd:
            return
        env = dict(os.environ)
        env.update(self.a.get("cleanup_env", {}))
        self.wait_child_quiet(spawn(cmd, (self.devnull, self.devnull, self.devnull), env))


def _daemonize() -> None:
    """Second fork: the CLI reaps our parent (it exits at once); we are adopted elsewhere
    and no longer share the CLI's fate."""
    if os.fork() > 0:
        os._exit(0)
    os.setsid()


def _read_go(fd: int) -> str:
    """`--go FD`: started ahead of time; wait for the container dir (EOF: cancelled)."""
    data = b""
    while not data.endswith(b"\n"):
        chunk = os.read(fd, 4096)
        if not chunk:
            sys.exit(0)
        data += chunk
    os.close(fd)
    return data.decode().strip()


def _resume(argv: list[str]) -> None:
    """`--resume CDIR CODE CLEANED LISTEN_FD [CLIENT_FD...]`: exec()ed by the C idle
    monitor when the container exited (same pid; stdio, cwd and session inherited)."""
    cdir, code, cleaned = argv[1], int(argv[2]), argv[3] == "1"
    lsock = _socket.socket(fileno=int(argv[4]))
    clients = [_socket.socket(fileno=int(fd)) for fd in argv[5:]]
    for sock in (lsock, *clients):
        os.set_inheritable(sock.fileno(), False)
    import json  # gone at the next hand-off or exit; RSS does not matter here
    import marshal

    try:
        with open(os.path.join(cdir, P.ARGS_FILE), "rb") as f:
            args = marshal.load(f)
        with open(os.path.join(cdir, P.STATUS_FILE), encoding="utf-8") as f:
            status = json.load(f)
    except (OSError, ValueError, EOFError) as e:
        # The container dir went away meanwhile (rm -f): tell clients how it ended.
        trace(f"resume without the container dir: {e}")
        for c in clients:
            try:
                c.send(bytes([P.EXIT]) + str(code).encode())
            except OSError:
                pass
        sys.exit(0)
    mon = Monitor(cdir, args, -1)
    mon.status.update({k: v for k, v in status.items() if k in mon.status})
    mon.cleaned = cleaned
    mon.clients = {c.fileno(): c for c in clients}
    try:
        mon.resume(lsock, code)
    except Exception as e:
        mon.write_status(status="failed", error=f"monitor: {e}")
        raise
    sys.exit(0)


def main(argv: list[str]) -> None:
    if argv[0] == "--resume":
        _resume(argv)
    if argv[0] == "--go":
        os.chdir("/")  # spawned in the CLI's cwd: never pin it (a mount the user unmounts)
        status_fd = int(argv[2])
        os.set_inheritable(status_fd, False)
        # Started ahead of the CLI's mount/bundle work: load our runtime while we wait
        # (the default; ~5 ms less between the go and the container's start).
        from rootless.runtime.inprocess import preload

        preload()
        _daemonize()  # while we wait: the fork is not between the go and the container
        cdir = _read_go(int(argv[1]))
    else:
        cdir, status_fd = argv[0], int(argv[1])
        _daemonize()
    os.set_inheritable(status_fd, False)  # never leak it into the runtime or the container
    import marshal

    with open(os.path.join(cdir, P.ARGS_FILE), "rb") as f:
        args = marshal.load(f)
    devnull = os.open(os.devnull, os.O_RDWR)
    errlog = os.open(
        os.path.join(cdir, "monitor.log"), os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600
    )
    os.dup2(devnull, 0)
    os.dup2(devnull, 1)
    os.dup2(errlog, 2)
    os.close(devnull)
    os.close(errlog)
    trace("monitor forked")
    mon = Monitor(cdir, args, status_fd)
    try:
        mon.run()
    except Exception as e:  # last resort: record why, never leave the CLI waiting
        mon.write_status(status="failed", error=f"monitor: {e}")
        mon.report({"ok": False, "error": f"monitor: {e}"})
        raise
    sys.exit(0)
