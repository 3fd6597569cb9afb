"""The embedded DNS responder of a user-defined network.

It listens on the bridge's gateway address (port 53, inside the bridge namespace) and
answers A queries for the names in a JSON records file the engine rewrites atomically
on connect/disconnect: {"names": {"web": ["10.89.0.2"], ...}, "views": {"10.89.0.3":
{"db": ["10.89.1.2"]}}}. A container on several networks asks the first nameserver
only (an NXDOMAIN ends the search), so "views" gives, per client address, the names of
its other networks too, as Docker's single embedded resolver does. Other queries are
forwarded upstream (slirp4netns' resolver). Names are matched case-insensitively,
with or without a trailing search domain that is not itself a record.
"""

from __future__ import annotations

import contextlib
import json
import os
import select
import socket
import threading
from pathlib import Path

from dnslib import QTYPE, RCODE, RR, A, DNSRecord

TTL = 5  # short: containers come and go


class Records:
    """The names file, re-read whenever it was replaced."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self._stamp: tuple[int, int, int] = (-1, -1, -1)
        self._names: dict[str, list[str]] = {}
        self._views: dict[str, dict[str, list[str]]] = {}

    def lookup(self, name: str, client: str = "") -> list[str] | None:
        # Each rewrite is a rename, so the inode changes even within one mtime tick.
        try:
            st = self.path.stat()
            stamp = (st.st_ino, st.st_mtime_ns, st.st_size)
        except FileNotFoundError:
            stamp = (0, 0, 0)
        if stamp != self._stamp:
            self._stamp = stamp
            try:
                data = json.loads(self.path.read_text())
                self._names = {k.lower(): list(v) for k, v in data.get("names", {}).items()}
                self._views = {
                    ip: {k.lower(): list(v) for k, v in view.items()}
                    for ip, view in data.get("views", {}).items()
                }
            except (OSError, ValueError, AttributeError):
                self._names, self._views = {}, {}
        key = name.rstrip(".").lower()
        head = key.split(".", 1)[0]  # "web.mynet" or "web.example.search"
        for table in (self._names, self._views.get(client, {})):
            if key in table:
                return table[key]
            if "." in key and head in table:
                return table[head]
        return None


class Responder:
    def __init__(
        self, sock: socket.socket, records: Records, upstream: str | None, upstream_port: int = 53
    ) -> None:
        self.sock = sock
        self.records = records
        self.upstream = upstream
        self.upstream_port = upstream_port

    def serve(self, stop_fd: int | None = None) -> None:
        fds = [self.sock.fileno()] + ([stop_fd] if stop_fd is not None else [])
        while True:
            ready, _, _ = select.select(fds, [], [])
            if stop_fd is not None and stop_fd in ready:
                return
            try:
                data, addr = self.sock.recvfrom(4096)
            except OSError:
                continue
            reply = self.answer(data, addr[0])
            if reply is not None:
                with contextlib.suppress(OSError):
                    self.sock.sendto(reply, addr)
            elif self.upstream:
                threading.Thread(target=self._forward, args=(data, addr), daemon=True).start()

    def answer(self, data: bytes, client: str = "") -> bytes | None:
        """Our reply, or None when the query should go upstream."""
        try:
            q = DNSRecord.parse(data)
        except Exception:
            return None
        qname = str(q.q.qname)
        ips = self.records.lookup(qname, client)
        if ips is None:
            if self.upstream:
                return None
            reply = q.reply()
            reply.header.rcode = RCODE.NXDOMAIN
            return bytes(reply.pack())
        reply = q.reply()
        if q.q.qtype in (QTYPE.A, QTYPE.ANY):
            for ip in ips:
                reply.add_answer(RR(qname, QTYPE.A, rdata=A(ip), ttl=TTL))
        return bytes(reply.pack())  # AAAA etc. of a known name: NOERROR, no data

    def _forward(self, data: bytes, addr: tuple[str, int]) -> None:
        assert self.upstream
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as up:
            up.settimeout(3)
            try:
                up.sendto(data, (self.upstream, self.upstream_port))
                reply, _ = up.recvfrom(65535)
                self.sock.sendto(reply, addr)
            except OSError:
                pass


def write_records(
    path: str | os.PathLike[str],
    names: dict[str, list[str]],
    views: dict[str, dict[str, list[str]]] | None = None,
) -> None:
    """Atomic rewrite of a records file (netstack stays free of engine imports)."""
    p = Path(path)
    tmp = p.with_name(f".{p.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps({"names": names, "views": views or {}}, sort_keys=True))
    os.replace(tmp, p)
