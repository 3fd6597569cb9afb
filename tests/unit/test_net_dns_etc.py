"""The embedded DNS responder's answers and the generated /etc files."""

from __future__ import annotations

import os
import socket
import threading
from pathlib import Path

import pytest
from dnslib import RCODE, RR, DNSRecord

from netstack.dns import Records, Responder, write_records
from netstack.etcfiles import EtcSpec, hosts, parse_add_host, resolv_conf, write_all


def _ask(resp: Responder, name: str, qtype: str = "A") -> DNSRecord | None:
    raw = resp.answer(bytes(DNSRecord.question(name, qtype).pack()))
    return DNSRecord.parse(raw) if raw is not None else None


def test_answers_names_aliases_and_search_suffixes(tmp_path: Path) -> None:
    f = tmp_path / "names.json"
    write_records(f, {"web": ["10.89.0.2"], "DB": ["10.89.0.3"]})
    resp = Responder(socket.socket(socket.AF_INET, socket.SOCK_DGRAM), Records(f), None)
    a = _ask(resp, "web")
    assert a is not None and [str(r.rdata) for r in a.rr] == ["10.89.0.2"]
    b = _ask(resp, "db.example.org")
    assert b is not None and str(b.rr[0].rdata) == "10.89.0.3"
    aaaa = _ask(resp, "web", "AAAA")
    assert aaaa is not None and aaaa.rr == [] and aaaa.header.rcode == RCODE.NOERROR
    missing = _ask(resp, "nosuch")
    assert missing is not None and missing.header.rcode == RCODE.NXDOMAIN
    # Updates are seen at once (the file is replaced, even within one mtime tick).
    write_records(f, {"web": ["10.89.0.9"]})
    c = _ask(resp, "web")
    assert c is not None and str(c.rr[0].rdata) == "10.89.0.9"
    assert _ask(resp, "db") is not None
    assert _ask(resp, "db").header.rcode == RCODE.NXDOMAIN  # type: ignore[union-attr]


def test_unknown_names_go_upstream(tmp_path: Path) -> None:
    """A real round trip over UDP on loopback: client -> responder -> fake upstream."""
    up = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    up.bind(("127.0.0.1", 0))
    resp_sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    resp_sock.bind(("127.0.0.1", 0))
    write_records(tmp_path / "n.json", {"local": ["10.89.0.2"]})
    resp = Responder(resp_sock, Records(tmp_path / "n.json"), "127.0.0.1", up.getsockname()[1])
    stop_r, stop_w = os.pipe()
    server = threading.Thread(target=resp.serve, args=(stop_r,))
    server.start()

    def upstream() -> None:
        data, addr = up.recvfrom(4096)
        q = DNSRecord.parse(data)
        reply = q.reply()
        reply.add_answer(*RR.fromZone(f"{q.q.qname} 60 A 198.51.100.1"))
        up.sendto(bytes(reply.pack()), addr)

    t = threading.Thread(target=upstream)
    t.start()
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as c:
            c.settimeout(5)
            c.sendto(bytes(DNSRecord.question("example.org").pack()), resp_sock.getsockname())
            got = DNSRecord.parse(c.recv(4096))
        assert str(got.rr[0].rdata) == "198.51.100.1"
    finally:
        os.write(stop_w, b"x")
        server.join(5)
        t.join(5)
        up.close()
        resp_sock.close()


def test_records_file_missing_is_empty(tmp_path: Path) -> None:
    assert Records(tmp_path / "absent.json").lookup("x") is None


def test_etc_files_content_and_inode_kept(tmp_path: Path) -> None:
    spec = EtcSpec(
        hostname="web1",
        nameservers=["10.89.0.1"],
        search=["example.org"],
        options=["ndots:1"],
        own_ips=["10.89.0.2"],
        aliases=["web"],
        extra_hosts=[("special", "192.0.2.7")],
    )
    assert resolv_conf(spec) == ("nameserver 10.89.0.1\nsearch example.org\noptions ndots:1\n")
    h = hosts(spec)
    assert "127.0.0.1\tlocalhost" in h and "10.89.0.2\tweb1 web" in h and "192.0.2.7\tspecial" in h
    files = write_all(tmp_path, spec)
    ino = os.stat(files["/etc/hosts"]).st_ino
    spec.own_ips = ["10.89.0.5"]
    write_all(tmp_path, spec)
    assert os.stat(files["/etc/hosts"]).st_ino == ino, "bind-mounted files keep their inode"
    assert "10.89.0.5" in Path(files["/etc/hosts"]).read_text()
    assert Path(files["/etc/hostname"]).read_text() == "web1\n"


@pytest.mark.parametrize(
    "value, want",
    [
        ("db:10.0.0.5", ("db", "10.0.0.5")),
        ("v6:[::1]", ("v6", "::1")),
        ("a=1.2.3.4", ("a", "1.2.3.4")),
    ],
)
def test_add_host(value: str, want: tuple[str, str]) -> None:
    assert parse_add_host(value) == want


def test_add_host_rejects() -> None:
    with pytest.raises(ValueError):
        parse_add_host("nohost")


def test_client_views_add_names_of_other_networks(tmp_path: Path) -> None:
    f = tmp_path / "names.json"
    write_records(f, {"web": ["10.89.0.2"]}, {"10.89.0.3": {"db": ["10.89.1.2"]}})
    resp = Responder(socket.socket(socket.AF_INET, socket.SOCK_DGRAM), Records(f), None)
    q = bytes(DNSRecord.question("db").pack())
    seen = resp.answer(q, "10.89.0.3")
    assert seen is not None and str(DNSRecord.parse(seen).rr[0].rdata) == "10.89.1.2"
    other = resp.answer(q, "10.89.0.9")
    assert other is not None and DNSRecord.parse(other).header.rcode == RCODE.NXDOMAIN
