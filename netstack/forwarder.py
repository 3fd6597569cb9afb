"""The host-side port forwarder: accept on the host, connect from inside the namespace.

- Inner sockets are created by a small child process that has joined the target
  network namespace and hands them back over a unix socket with SCM_RIGHTS (the design
  of rootlesskit's builtin port driver), in batches. A socket keeps the namespace it
  was created in, so the forwarder itself never leaves the host's namespace.
- The container sees the real client address (TCP). A loopback client's inner socket
  is made in the container's own namespace, bound to the client's 127/8 address and
  port (local there, no privilege needed). Any other client, on a network's bridge
  namespace: the inner socket is IP_TRANSPARENT and bound to the client's address; nft
  marks the replies for local delivery (see bridge.py).
- TCP bytes move with splice(2) through a pipe, never through Python buffers: one
  thread, one epoll, level-triggered, every socket non-blocking.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import heapq
import itertools
import json
import os
import select
import socket
import time
from dataclasses import dataclass

from netstack import nsutil
from netstack.ports import Listener, is_loopback

IP_TRANSPARENT = 19
F_SETPIPE_SZ = 1031
PIPE_SIZE = 1 << 20  # /proc/sys/fs/pipe-max-size's default
SPLICE_FLAGS = os.SPLICE_F_MOVE | os.SPLICE_F_NONBLOCK
UDP_IDLE = 60.0
POOLED_PIPES = 64
TCP_SYN_SENT = 2  # struct tcp_info's first byte, tcpi_state
# When the server's accept queue is full its kernel drops our SYN, and ours would resend
# it only after 1 s: we try again sooner, with a fresh socket, after each of these.
CONNECT_RETRIES = (0.002, 0.004, 0.008, 0.016, 0.032, 0.064, 0.128, 0.256)


@dataclass(frozen=True)
class Target:
    ip: str  # the container's address as seen from the target namespace
    transparent: bool = False  # bind inner sockets to the client's address


class SocketFactory:
    """A child process inside `netns` that makes sockets and passes them back by
    SCM_RIGHTS.

    A socket belongs to the namespace it was created in for its whole life, whoever
    binds or connects it later; so the child only creates them, in batches, and the
    forwarder keeps a pool: one round trip per BATCH connections instead of one per
    connection (a synchronous round trip per accept stalled every other connection
    whenever the child was slow to be scheduled).
    """

    BATCH = 32

    def __init__(self, netns: str) -> None:
        parent, child = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        pid = os.fork()
        if pid == 0:  # pragma: no cover - runs in the child
            parent.close()
            # Hold nothing else: not the host listeners, nor another factory's channel
            # (its child would then never see EOF and its close() would wait forever).
            keep = child.fileno()
            os.closerange(3, keep)
            os.closerange(keep + 1, 1 << 20)
            code = 0
            try:
                fd = os.open(netns, os.O_RDONLY)
                nsutil.setns(fd)
                os.close(fd)
                _serve(child)
            except BaseException:
                code = 1
            os._exit(code)
        child.close()
        self.pid = pid
        self.chan = parent
        self.pool: dict[tuple[int, int], list[int]] = {}

    def take(self, family: int, kind: int) -> socket.socket:
        """A fresh, unbound socket that lives in the target namespace."""
        pool = self.pool.setdefault((family, kind), [])
        if not pool:
            self.chan.send(json.dumps({"f": int(family), "k": int(kind), "n": self.BATCH}).encode())
            msg, fds, _, _ = socket.recv_fds(self.chan, 64, self.BATCH)
            if not fds:
                code = int(msg.decode() or errno.EIO)
                raise OSError(code, os.strerror(code))
            pool.extend(fds)
        return socket.socket(family, kind, fileno=pool.pop())

    def make(
        self,
        proto: str,
        family: int,
        dst: tuple[str, int],
        src: tuple[str, int] | None,
        transparent: bool = False,
    ) -> socket.socket:
        """A non-blocking socket in the namespace, connecting to dst from src if given.

        `transparent`: src is a foreign address, bound with IP_TRANSPARENT (our user
        namespace owns that network namespace, so we hold CAP_NET_ADMIN for it even from
        the host's namespace). If src's port is taken there, the address is kept with
        another port; if the address itself cannot be bound, it is dropped.
        """
        kind = socket.SOCK_STREAM if proto == "tcp" else socket.SOCK_DGRAM
        s = self._bound(family, kind, src, transparent) if src else self.take(family, kind)
        try:
            if kind == socket.SOCK_STREAM:
                s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            s.setblocking(False)
            err = s.connect_ex(dst)
            if err not in (0, errno.EINPROGRESS):
                raise OSError(err, os.strerror(err))
        except BaseException:
            s.close()
            raise
        return s

    def _bound(
        self, family: int, kind: int, src: tuple[str, int], transparent: bool
    ) -> socket.socket:
        """A fresh socket bound to src, else to src's address on another port (the
        client's port is taken in the namespace), else unbound."""
        for addr in (src, (src[0], 0), None):
            s = self.take(family, kind)
            if addr is None:
                return s
            try:
                if transparent:
                    s.setsockopt(socket.SOL_IP, IP_TRANSPARENT, 1)
                # the client's port comes back while an earlier inner connection from
                # it may still be in TIME_WAIT here
                s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                s.bind(addr)
                return s
            except OSError:
                s.close()
        raise AssertionError("unreachable")

    def close(self) -> None:
        for fds in self.pool.values():
            for fd in fds:
                os.close(fd)
        self.pool.clear()
        self.chan.close()
        with contextlib.suppress(ChildProcessError):
            os.waitpid(self.pid, 0)


def _serve(chan: socket.socket) -> None:
    while req := chan.recv(512):
        r = json.loads(req)
        socks: list[socket.socket] = []
        try:
            for _ in range(min(int(r["n"]), 64)):
                socks.append(socket.socket(r["f"], r["k"] | socket.SOCK_CLOEXEC))
            socket.send_fds(chan, [b"ok"], [s.fileno() for s in socks])
        except OSError as e:
            chan.send(str(e.errno or errno.EIO).encode())
        finally:
            for s in socks:
                s.close()


class _Pump:
    """One direction of a TCP connection: src -> pipe -> dst."""

    def __init__(
        self, src: socket.socket, dst: socket.socket, pipes: list[tuple[int, int]]
    ) -> None:
        self.src, self.dst = src, dst
        self.pipes = pipes  # the forwarder's pool of empty default-size pipes
        self.pr, self.pw = pipes.pop() if pipes else os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        self.cap = 65536  # grown to PIPE_SIZE once a splice fills it: bulk transfers only,
        # since big pipes count against the user's pipe-user-pages-soft for all pipes
        self.pending = 0
        self.eof = False
        self.stalled = False  # pipe (probably) full: wait for dst, not src
        self.shut = False

    def run(self) -> None:
        """Move bytes until nothing moves. Raises OSError on a broken peer.

        Reading and writing overlap: the pipe keeps filling from src while dst drains
        it, so neither TCP connection waits for the other (reading only into an empty
        pipe halved the throughput: the sender stalled during every drain).
        """
        # An EAGAIN is not asked for twice in one call (a failed splice costs a syscall
        # and a Python exception; a small request used to take two of them per event).
        src_dry = dst_full = False
        while True:
            moved = False
            if self.pending and not dst_full:
                try:
                    n = os.splice(self.pr, self.dst.fileno(), self.pending, flags=SPLICE_FLAGS)
                    self.pending -= n
                    self.stalled = False
                    moved = n > 0
                except BlockingIOError:
                    dst_full = True
            if not self.eof and not self.stalled and not src_dry:
                try:
                    n = os.splice(self.src.fileno(), self.pw, self.cap, flags=SPLICE_FLAGS)
                except BlockingIOError:
                    # With an empty pipe, src is empty. Otherwise either could be; assume
                    # the pipe is full and wait for dst to drain (EPOLLOUT) rather than
                    # spin on EPOLLIN.
                    self.stalled = self.pending > 0
                    src_dry = not self.pending
                else:
                    if n == 0:
                        self.eof = True
                    elif n >= self.cap and self.cap < PIPE_SIZE:
                        with contextlib.suppress(OSError):
                            self.cap = fcntl.fcntl(self.pw, F_SETPIPE_SZ, PIPE_SIZE)
                    self.pending += n
                    moved = moved or n > 0
            if self.eof and not self.pending and not self.shut:
                self.shut = True
                with contextlib.suppress(OSError):
                    self.dst.shutdown(socket.SHUT_WR)
            if not moved:
                return

    def wants_read(self) -> bool:
        return not self.eof and not self.stalled

    def close(self) -> None:
        # An empty pipe of the default size is as good as new: keep it for the next
        # connection (saves 6 syscalls per connection). Grown ones are given back.
        if not self.pending and self.cap == 65536 and len(self.pipes) < POOLED_PIPES:
            self.pipes.append((self.pr, self.pw))
        else:
            os.close(self.pr)
            os.close(self.pw)


class _Conn:
    def __init__(self, a: socket.socket, b: socket.socket, pipes: list[tuple[int, int]]) -> None:
        self.a, self.b = a, b
        self.up, self.down = _Pump(a, b, pipes), _Pump(b, a, pipes)
        self.masks: dict[int, int] = {}  # what epoll has, to skip no-op modifies

    def step(self) -> bool:
        """Advance both directions; False when the connection is finished."""
        try:
            self.up.run()
            self.down.run()
        except OSError:
            return False
        return not (self.up.shut and self.down.shut)

    def mask(self, s: socket.socket) -> int:
        ev = 0
        for p in (self.up, self.down):
            if p.src is s and p.wants_read():
                ev |= select.EPOLLIN
            if p.dst is s and p.pending:
                ev |= select.EPOLLOUT
        return ev

    def close(self) -> None:
        for p in (self.up, self.down):
            p.close()
        self.a.close()
        self.b.close()


@dataclass
class _UdpSession:
    inner: socket.socket
    client: tuple[str, int]
    listener: socket.socket
    last: float


@dataclass
class _Pending:
    """An accepted client whose inner connection is still to be made."""

    client: socket.socket
    addr: tuple[str, int]
    port: int  # the container's
    attempt: int = 0


def _syn_dropped(s: socket.socket) -> bool:
    """On loopback and veth the kernel handles our SYN within connect() itself, so a
    socket still in SYN_SENT afterwards had it dropped by a full accept queue (busybox
    httpd listens with a backlog of 9; seen on ~0.2% of connections under ab -c 16,
    each stalling 1 s, which capped requests/s of every relay here)."""
    return s.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 1)[0] == TCP_SYN_SENT


class Forwarder:
    """Serve every listener until stop() or a watched fd becomes readable."""

    def __init__(
        self,
        listeners: list[Listener],
        factory: SocketFactory,
        target: Target,
        loopback_factory: SocketFactory | None = None,
    ) -> None:
        self.listeners = {lst.sock.fileno(): lst for lst in listeners}
        self.factory = factory
        # sockets made in the container's own namespace, for loopback clients
        self.loopback_factory = loopback_factory
        self.target = target
        self.ep = select.epoll()
        self.conns: dict[int, _Conn] = {}
        self.udp: dict[tuple[int, tuple[str, int]], _UdpSession] = {}
        self.udp_inner: dict[int, _UdpSession] = {}
        self.stop_fds: set[int] = set()
        self.pipes: list[tuple[int, int]] = []
        self.retries: list[tuple[float, int, _Pending]] = []  # heap by due time
        self.seq = itertools.count()  # tie-breaker: _Pending does not compare
        for fd in self.listeners:
            self.ep.register(fd, select.EPOLLIN)

    def watch(self, fd: int) -> None:
        """Stop serving when `fd` becomes readable (a pidfd, or a pipe's far end closing)."""
        self.stop_fds.add(fd)
        self.ep.register(fd, select.EPOLLIN)

    def serve(self) -> None:
        next_sweep = time.monotonic() + UDP_IDLE
        while True:
            for fd, _ev in self.ep.poll(self._timeout()):
                if fd in self.stop_fds:
                    return
                if fd in self.listeners:
                    lst = self.listeners[fd]
                    if lst.mapping.proto == "tcp":
                        self._accept(lst)
                    else:
                        self._udp_in(lst)
                elif fd in self.conns:
                    self._step(self.conns[fd])
                elif fd in self.udp_inner:
                    self._udp_out(self.udp_inner[fd])
            self._retry_due()
            if self.udp and time.monotonic() > next_sweep:
                self._sweep()
                next_sweep = time.monotonic() + UDP_IDLE

    def _timeout(self) -> float:
        wait = UDP_IDLE if self.udp else -1.0
        if self.retries:
            due = max(0.0, self.retries[0][0] - time.monotonic())
            wait = due if wait < 0 else min(wait, due)
        return wait

    def close(self) -> None:
        for c in set(self.conns.values()):
            c.close()
        for _, _, p in self.retries:
            p.client.close()
        for s in self.udp.values():
            s.inner.close()
        for r, w in self.pipes:
            os.close(r)
            os.close(w)
        self.ep.close()

    # --- TCP ---

    def _inner(self, proto: str, client: tuple[str, int], port: int) -> socket.socket:
        family = socket.AF_INET6 if ":" in self.target.ip else socket.AF_INET
        dst = (self.target.ip, port)
        ip = client[0].removeprefix("::ffff:")
        loopback = is_loopback(ip)
        if loopback and proto == "tcp" and self.loopback_factory and family == socket.AF_INET:
            # In the container's own namespace its loopback addresses are local, so the
            # server sees the client as it is (::1, the containers being IPv4-only, as
            # 127.0.0.1). Not for UDP: a server bound to 0.0.0.0 would answer from
            # 127.0.0.1, which a socket connected to the container's address drops.
            src = (ip if "." in ip else "127.0.0.1", client[1])
            return self.loopback_factory.make(proto, family, dst, src)
        if self.target.transparent and not loopback and (":" in ip) == (":" in dst[0]):
            return self.factory.make(proto, family, dst, (ip, client[1]), transparent=True)
        return self.factory.make(proto, family, dst, None)

    def _accept(self, lst: Listener) -> None:
        while True:
            try:
                client, addr = lst.sock.accept()
            except BlockingIOError:
                return
            except OSError:  # e.g. EMFILE: leave it queued, try again later
                return
            client.setblocking(False)
            # Forward segments as they come: Nagle on a relay adds a round trip of delay
            # to every small write the server makes.
            client.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self._connect(_Pending(client, addr, lst.mapping.container_port))

    def _connect(self, p: _Pending) -> None:
        try:
            inner = self._inner("tcp", p.addr, p.port)
        except OSError:
            p.client.close()
            return
        if p.attempt < len(CONNECT_RETRIES) and _syn_dropped(inner):
            inner.close()  # in SYN_SENT: goes quietly
            due = time.monotonic() + CONNECT_RETRIES[p.attempt]
            p.attempt += 1
            heapq.heappush(self.retries, (due, next(self.seq), p))
            return
        try:
            conn = _Conn(p.client, inner, self.pipes)
        except OSError:  # no fds left for its pipes: drop this one, keep serving
            p.client.close()
            inner.close()
            return
        self.conns[p.client.fileno()] = conn
        self.conns[inner.fileno()] = conn
        self._step(conn)

    def _retry_due(self) -> None:
        now = time.monotonic()
        while self.retries and self.retries[0][0] <= now:
            self._connect(heapq.heappop(self.retries)[2])

    def _step(self, conn: _Conn) -> None:
        if conn.step():
            for s in (conn.a, conn.b):
                fd, m = s.fileno(), conn.mask(s)
                if fd not in conn.masks:
                    self.ep.register(fd, m)
                elif conn.masks[fd] != m:
                    self.ep.modify(fd, m)
                conn.masks[fd] = m
            return
        for s in (conn.a, conn.b):
            if s.fileno() in conn.masks:
                self.ep.unregister(s.fileno())
            del self.conns[s.fileno()]
        conn.close()

    # --- UDP: one connected inner socket per client address ---

    def _udp_in(self, lst: Listener) -> None:
        while True:
            try:
                data, addr = lst.sock.recvfrom(65535)
            except (BlockingIOError, ConnectionRefusedError):
                return
            key = (lst.sock.fileno(), addr[:2])
            sess = self.udp.get(key)
            if sess is None:
                try:
                    inner = self._inner("udp", addr[:2], lst.mapping.container_port)
                except OSError:
                    continue
                sess = _UdpSession(inner, addr, lst.sock, 0.0)
                self.udp[key] = sess
                self.udp_inner[inner.fileno()] = sess
                self.ep.register(inner.fileno(), select.EPOLLIN)
            sess.last = time.monotonic()
            with contextlib.suppress(OSError):
                sess.inner.send(data)

    def _udp_out(self, sess: _UdpSession) -> None:
        while True:
            try:
                data = sess.inner.recv(65535)
            except BlockingIOError:
                return
            except OSError:  # ICMP unreachable from the container: drop it
                return
            sess.last = time.monotonic()
            with contextlib.suppress(OSError):
                sess.listener.sendto(data, sess.client)

    def _sweep(self) -> None:
        cutoff = time.monotonic() - UDP_IDLE
        for key, sess in list(self.udp.items()):
            if sess.last < cutoff:
                self.ep.unregister(sess.inner.fileno())
                del self.udp_inner[sess.inner.fileno()]
                del self.udp[key]
                sess.inner.close()
