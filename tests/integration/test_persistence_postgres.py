"""A database survives its container: PostgreSQL from Debian's packages on a named volume.

The postgres test image is a Debian minbase rootfs with `postgresql` (mmdebstrap, cached
under the test images dir) imported with `rootless import`, plus a small entrypoint that
initdb's an empty data dir as the postgres user, like the official image does.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import socket
import struct
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import TEST_IMAGES, Env, need, remove_engine_data

ENTRYPOINT = r"""#!/bin/sh
# Like the official postgres image: initdb an empty PGDATA as postgres, then run postgres.
set -e
PGDATA=${PGDATA:-/var/lib/postgresql/data}
BIN=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)
mkdir -p "$PGDATA" /run/postgresql
chown postgres:postgres "$PGDATA" /run/postgresql
chmod 700 "$PGDATA"
as_pg() { setpriv --reuid=postgres --regid=postgres --init-groups "$@"; }
if [ ! -s "$PGDATA/PG_VERSION" ]; then
  pw=$(mktemp)
  printf '%s\n' "${POSTGRES_PASSWORD:-postgres}" > "$pw"
  chown postgres "$pw"
  as_pg "$BIN/initdb" -D "$PGDATA" -U "${POSTGRES_USER:-postgres}" --pwfile="$pw" \
    --auth-local=trust --auth-host=scram-sha-256 >/dev/null
  rm -f "$pw"
fi
exec setpriv --reuid=postgres --regid=postgres --init-groups \
  "$BIN/postgres" -D "$PGDATA" -c listen_addresses='*' -c unix_socket_directories=/run/postgresql
"""
MMDEBSTRAP = [
    "mmdebstrap", "--quiet", "--mode=unshare", "--variant=minbase", "--include=postgresql",
    "--customize-hook=upload {entry} /usr/local/bin/pg-entrypoint",
    '--customize-hook=chmod 755 "$1/usr/local/bin/pg-entrypoint"',
    "--format=tar", "bookworm",
]  # fmt: skip
ROOTFS = TEST_IMAGES / "postgres-rootfs.tar"
STAMP = TEST_IMAGES / "postgres-rootfs.stamp"


def _stamp() -> str:
    return hashlib.sha256((ENTRYPOINT + "\0".join(MMDEBSTRAP)).encode()).hexdigest()


def build_postgres_rootfs() -> Path:
    """Build (once; cached by a stamp of the recipe) the postgres rootfs tarball."""
    if ROOTFS.is_file() and STAMP.is_file() and STAMP.read_text().strip() == _stamp():
        return ROOTFS
    need(shutil.which("mmdebstrap"), "mmdebstrap", "apt-get install mmdebstrap (setup-host.sh)")
    TEST_IMAGES.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=TEST_IMAGES, prefix=".postgres-") as tmp:
        entry = Path(tmp) / "pg-entrypoint"
        entry.write_text(ENTRYPOINT)
        out = Path(tmp) / "rootfs.tar"
        cmd = [a.format(entry=entry) for a in MMDEBSTRAP] + [str(out)]
        env = dict(os.environ, SOURCE_DATE_EPOCH="1700000000")
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=1200, env=env)
        need(p.returncode == 0, f"postgres rootfs via mmdebstrap: {p.stderr[-400:]}",
             "check the Debian mirror is reachable and mmdebstrap --mode=unshare works")  # fmt: skip
        os.replace(out, ROOTFS)
    STAMP.write_text(_stamp())
    return ROOTFS


@pytest.fixture
def postgres_image(rl: Env) -> Iterator[str]:
    tar = build_postgres_rootfs()
    rl.run(
        "import", "--change", 'ENTRYPOINT ["/usr/local/bin/pg-entrypoint"]', str(tar),
        "postgres-test", check=True, timeout=600,
    )  # fmt: skip
    yield "postgres-test"
    remove_engine_data(rl)


def _psql(rl: Env, ctr: str, sql: str) -> str:
    r = rl.run(
        "exec", ctr, "psql", "-h", "/run/postgresql", "-U", "postgres", "-At", "-c", sql,
        timeout=60,
    )  # fmt: skip
    assert r.rc == 0, r.err
    return r.out


def _wait_ready(rl: Env, ctr: str, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    last = ""
    while time.monotonic() < deadline:
        r = rl.run("exec", ctr, "pg_isready", "-h", "/run/postgresql", timeout=30)
        if r.rc == 0:
            return
        last = r.out + r.err
        time.sleep(0.5)
    logs = rl.run("logs", ctr).out + rl.run("logs", ctr).err
    raise AssertionError(f"postgres not ready after {timeout}s: {last}\n{logs[-2000:]}")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _answers_ssl_request(port: int) -> bytes:
    """PostgreSQL's SSLRequest over the published port: the server answers N (or S)."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(struct.pack("!ii", 8, 80877103))
        return s.recv(1)


@pytest.mark.slow
def test_database_survives_its_container(rl: Env, postgres_image: str) -> None:
    port = _free_port()
    run = ["run", "-d", "-e", "POSTGRES_PASSWORD=secret", "-v", "pgdata:/var/lib/postgresql/data",
           "--network", "slirp4netns", "-p", f"127.0.0.1:{port}:5432"]  # fmt: skip
    first = rl.run(*run, "--name", "pg1", postgres_image, timeout=120)
    assert first.rc == 0, first.err
    try:
        _wait_ready(rl, "pg1")
        assert _answers_ssl_request(port) in (b"N", b"S")  # reachable through -p
        _psql(rl, "pg1", "CREATE TABLE fruit (id int PRIMARY KEY, name text)")
        _psql(rl, "pg1", "INSERT INTO fruit VALUES (1, 'apple'), (2, 'pear'), (3, 'plum')")
    finally:
        rl.run("rm", "-f", "pg1", timeout=60)
    assert "pgdata" in rl.run("volume", "ls", "-q").out.split()

    second = rl.run(*run, "--name", "pg2", postgres_image, timeout=120)
    assert second.rc == 0, second.err
    try:
        _wait_ready(rl, "pg2")
        rows = _psql(rl, "pg2", "SELECT id, name FROM fruit ORDER BY id")
        assert rows.split() == ["1|apple", "2|pear", "3|plum"]
    finally:
        rl.run("rm", "-f", "pg2", timeout=60)
    # The data files belong to the container's postgres user: a mapped subuid on the host.
    data = Path(rl.run("volume", "inspect", "--format", "{{.Mountpoint}}", "pgdata").out.strip())
    assert data.stat().st_uid != os.getuid()
