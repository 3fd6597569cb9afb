"""The user's walkthrough (shared/WALKTHROUGH.md), section by section, verbatim.

Each test types the course's commands through the real CLI (interactive ones on a real
pty) against the offline stand-ins for Docker Hub's images, served by a local registry,
and checks what the course says happens. Only adaptations: `~` is the test's own home
directory, and a literal host port (8080, 5432) is replaced by a free one when it is busy.
"""

from __future__ import annotations

import json
import os
import re
import socket
import struct
import subprocess
from pathlib import Path

import pexpect
import pytest

from tests.integration.walkthrough_env import (  # noqa: F401  (fixtures)
    PROMPT,
    Walk,
    apt_install,
    exit_shell,
    http_get,
    port_or_free,
    shell,
    wait_for,
    walk_fixture,
    walk_registry_fixture,
)

pytestmark = [pytest.mark.slow, pytest.mark.timeout(1500)]


def container_rows(w: Walk) -> list[tuple[str, str]]:
    out = w.ok("ps", "-a", "--no-trunc", "--format", "{{.ID}} {{.Names}}").out
    return [(line.split()[0], line.split()[1]) for line in out.splitlines() if line.strip()]


def short_id_from_prompt(c: pexpect.spawn) -> str:
    c.expect(PROMPT, timeout=120)
    return str(c.match.group(1))


# ---------------------------------------------------------------- Running
def test_running(walk: Walk) -> None:
    w = walk
    later: list[str] = []  # failed checks that do not stop the later steps
    w.reg.offer("hello-world", "httpd", "ubuntu")

    # rootless run hello-world   -- pulls if missing; each run: new id + name
    first = w.ok("run", "hello-world")
    assert "Hello from rootless!" in first.out, first.out + first.err
    assert any("hello-world" in line for line in w.ok("images").out.splitlines())
    # "pulls if missing": once pulled, the short name finds the local image.
    r = w.run("image", "inspect", "hello-world")
    if r.rc != 0:
        later.append(f"`rootless image inspect hello-world` after the pull: {r.err.strip()}")
    second = w.ok("run", "hello-world")
    assert "Hello from rootless!" in second.out
    rows = container_rows(w)
    assert len(rows) == 2, rows
    assert rows[0][0] != rows[1][0] and rows[0][1] != rows[1][1], rows

    # rootless run -d -p 8080:80 --rm httpd   -- detached, removed on stop
    port = port_or_free(8080)
    cid = w.ok("run", "-d", "-p", f"{port}:80", "--rm", "httpd").out.strip().splitlines()[-1]
    assert re.fullmatch(r"[0-9a-f]{64}", cid), cid
    try:
        page = http_get(f"http://127.0.0.1:{port}/", 60)
        if "It works!" not in page:
            later.append(f"httpd on published port {port} served {page[:200]!r}")
    except AssertionError as e:
        later.append(f"`rootless run -d -p {port}:80 --rm httpd`: {e}")
    w.ok("stop", cid, timeout=120)
    wait_for("the --rm container to go", lambda: cid not in dict(container_rows(w)), 60)

    # rootless run -it ubuntu   -- files made here are gone in the next container
    c = w.spawn("run", "-it", "ubuntu")
    short_id_from_prompt(c)
    shell(c, "echo made-here > /myfile && ls /myfile")
    assert exit_shell(c) == 0
    c = w.spawn("run", "-it", "ubuntu")
    short_id_from_prompt(c)
    out = shell(c, "ls /myfile; echo rc=$?")
    assert "No such file" in out and "rc=2" in out, out
    exit_shell(c)
    assert not later, "\n".join(later)


# ---------------------------------------------------------------- Persistence
def test_persistence_volume_and_host_folder(walk: Walk) -> None:
    w = walk
    w.reg.offer("ubuntu")
    w.ok("volume", "create", "myvolume")

    # rootless run -it -v myvolume:/myfolder ubuntu   -- data kept across containers
    c = w.spawn("run", "-it", "-v", "myvolume:/myfolder", "ubuntu")
    short_id_from_prompt(c)
    shell(c, "echo kept > /myfolder/data.txt")
    exit_shell(c)
    c = w.spawn("run", "-it", "-v", "myvolume:/myfolder", "ubuntu")
    short_id_from_prompt(c)
    assert "kept" in shell(c, "cat /myfolder/data.txt")
    exit_shell(c)

    # rootless run -it -v ~/hostfolder:/myfolder ubuntu   -- files owned by the user
    hostfolder = w.home / "hostfolder"
    hostfolder.mkdir()
    c = w.spawn("run", "-it", "-v", f"{hostfolder}:/myfolder", "ubuntu")
    short_id_from_prompt(c)
    shell(c, "echo from-container > /myfolder/made-inside.txt")
    exit_shell(c)
    made = hostfolder / "made-inside.txt"
    assert made.read_text() == "from-container\n"
    st = made.stat()
    assert (st.st_uid, st.st_gid) == (os.getuid(), os.getgid()), (st.st_uid, st.st_gid)


def _pg_ready_on(port: int) -> bool:
    """The server answers on the published port: SSLRequest -> 'S' or 'N'."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=2) as s:
            s.sendall(struct.pack("!ii", 8, 80877103))
            return s.recv(1) in (b"S", b"N")
    except OSError:
        return False


def _start_postgres(w: Walk, hostfolder: Path, port: int) -> str:
    r = w.ok(
        "run", "-d", "--rm", "-e", "POSTGRES_PASSWORD=foo", "-e", "POSTGRES_DB=mydb",
        "-p", f"{port}:5432", "-v", f"{hostfolder}:/var/lib/postgresql/data", "postgres",
    )  # fmt: skip
    cid = r.out.strip().splitlines()[-1]

    def logs() -> str:
        got = w.run("logs", cid)
        return got.out + got.err

    try:
        wait_for("postgres to start", lambda: "ready to accept connections" in logs(), 120)
    except AssertionError as e:
        raise AssertionError(f"{e}; its log:\n{logs()[-2000:]}") from None
    return cid


def test_persistence_postgres(walk: Walk) -> None:
    w = walk
    w.reg.offer("postgres")
    hostfolder = w.home / "hostfolder"
    hostfolder.mkdir()
    port = port_or_free(5432)
    later: list[str] = []  # failed checks that do not stop the later steps
    cid = _start_postgres(w, hostfolder, port)
    # PGDATA is the container's postgres user's (a subuid), mode 0700, as with Docker.
    pg_version = hostfolder / "PG_VERSION"
    assert w.run("unshare", "test", "-s", str(pg_version)).rc == 0, "PGDATA not in ~/hostfolder"
    try:
        wait_for(f"postgres on the published port {port}", lambda: _pg_ready_on(port), 30)
    except AssertionError as e:
        later.append(f"-p {port}:5432: {e}")

    # rootless exec -it CONTAINER bash; psql -U postgres -d mydb; the SQL
    c = w.spawn("exec", "-it", cid, "bash")
    c.expect(PROMPT)
    c.sendline("psql -U postgres -d mydb")
    c.expect(r"mydb=# ")
    c.sendline("CREATE TABLE mytable (id INT, name VARCHAR(255));")
    c.expect(r"CREATE TABLE\r\n")
    c.expect(r"mydb=# ")
    c.sendline("INSERT INTO mytable (id, name) VALUES (1, 'Alice'), (2, 'Bob'), (3, 'Charles');")
    c.expect(r"INSERT 0 3")
    c.expect(r"mydb=# ")
    c.sendline("SELECT * FROM mytable;")
    c.expect(r"\(3 rows\)")
    table = str(c.before)
    assert all(n in table for n in ("Alice", "Bob", "Charles")), table
    c.expect(r"mydb=# ")
    c.sendline(r"\q")
    c.expect(PROMPT)
    exit_shell(c)
    w.ok("stop", cid, timeout=120)
    wait_for(
        "the --rm container to go", lambda: cid not in w.run("ps", "-aq", "--no-trunc").out, 60
    )

    # rows survive a new container on the same data
    cid2 = _start_postgres(w, hostfolder, port)
    assert cid2 != cid
    r = w.ok("exec", cid2, "psql", "-U", "postgres", "-d", "mydb", "-c", "SELECT * FROM mytable;")
    assert all(n in r.out for n in ("Alice", "Bob", "Charles")) and "(3 rows)" in r.out, r.out
    w.ok("stop", cid2, timeout=120)
    assert not later, "\n".join(later)


# ---------------------------------------------------------------- Commit and build
def test_commit_and_build(walk: Walk) -> None:
    w = walk
    w.reg.offer("ubuntu")

    # rootless run -it ubuntu   -- apt update && apt install iputils-ping; exit
    c = w.spawn("run", "-it", "ubuntu")
    short = short_id_from_prompt(c)
    out = apt_install(c, "apt update && apt install iputils-ping")
    assert "Setting up iputils-ping" in out, out[-2000:]
    exit_shell(c)

    # rootless commit CONTAINER myubuntuimage
    w.ok("commit", short, "myubuntuimage", timeout=600)

    # rootless run -it myubuntuimage   -- ping is there
    c = w.spawn("run", "-it", "myubuntuimage")
    short_id_from_prompt(c)
    out = shell(c, "ping -c 1 127.0.0.1")
    assert "1 received" in out, out
    exit_shell(c)

    # rootless build -t myimage .   -- with a lowercase `dockerfile`
    ctx = w.home / "buildctx"
    ctx.mkdir()
    (ctx / "dockerfile").write_text(
        "FROM ubuntu\nRUN apt-get update && apt-get install -y iputils-ping && apt-get clean\n"
    )
    w.ok("build", "-t", "myimage", ".", cwd=ctx, timeout=900)
    r = w.ok("run", "--rm", "myimage", "ping", "-c", "1", "127.0.0.1")
    assert "1 received" in r.out, r.out + r.err


# ---------------------------------------------------------------- Composing
APP_PY = """\
from flask import Flask
from flask_restful import Resource, Api
from redis import Redis

app = Flask(__name__)
api = Api(app)
redis = Redis(host="my_redis_db", port=6379)


class Hits(Resource):
    def get(self):
        count = redis.incr("hits")
        return "I have been hit {} times.".format(count)


api.add_resource(Hits, "/")
"""

APP_DOCKERFILE = """\
FROM python
RUN pip install flask flask_restful redis
WORKDIR /src
COPY ./app.py .
EXPOSE 5000
ENV FLASK_APP app.py
ENV FLASK_RUN_HOST 0.0.0.0
CMD ["flask", "run"]
"""


def _hits(port: int, deadline_s: float = 90) -> int:
    body = http_get(f"http://127.0.0.1:{port}/", deadline_s)
    m = re.search(r"I have been hit (\d+) times\.", body)
    assert m, body
    return int(m.group(1))


def test_composing(walk: Walk) -> None:
    w = walk
    w.reg.offer("python", "redis")
    port = port_or_free(8080)
    proj = w.home / "myproject"
    (proj / "my_flask_app").mkdir(parents=True)
    (proj / "my_flask_app" / "app.py").write_text(APP_PY)
    (proj / "my_flask_app" / "dockerfile").write_text(APP_DOCKERFILE)
    (proj / "compose.yaml").write_text(
        "services:\n"
        "  my_flask_app:\n"
        "    build: ./my_flask_app/\n"
        f'    ports:\n      - "{port}:5000"\n'
        "  my_redis_db:\n"
        "    image: redis\n"
    )

    # rootless compose build && rootless compose create && rootless compose start
    later: list[str] = []  # failed checks that do not stop the later steps
    r = w.run("compose", "build", cwd=proj, timeout=900)
    if r.rc != 0 and "Dockerfile" in r.err and "not found" in r.err:
        # Record it, then go on with a `Dockerfile` to check the remaining steps.
        later.append(f"`rootless compose build` with a lowercase dockerfile: {r.err.strip()}")
        (proj / "my_flask_app" / "dockerfile").rename(proj / "my_flask_app" / "Dockerfile")
        r = w.run("compose", "build", cwd=proj, timeout=900)
    assert r.rc == 0, f"`rootless compose build` -> {r.rc}\n{r.err[-3000:]}"
    r = w.run("compose", "create", cwd=proj)
    if r.rc != 0 and "not found locally" in r.err:
        # Record it; then name the pulled image as Docker Hub's to check the later steps.
        later.append(f"`rootless compose create` after pulling redis: {r.err.strip()}")
        w.ok("tag", f"{w.reg.host}/redis:latest", "redis")
        r = w.run("compose", "create", cwd=proj)
    assert r.rc == 0, f"`rootless compose create` -> {r.rc}\n{r.err[-3000:]}"
    w.ok("compose", "start", cwd=proj)
    n = _hits(port)
    assert _hits(port) == n + 1
    nets = w.ok("network", "ls").out
    assert "myproject_default" in nets, nets
    w.ok("compose", "stop", cwd=proj, timeout=120)

    # rootless compose up   -- all together; curl localhost:8080 counts up
    up = w.popen("compose", "up", cwd=proj)
    m = _hits(port)
    assert _hits(port) == m + 1
    assert up.poll() is None, "compose up left the foreground"
    os.killpg(up.pid, 2)  # Ctrl-C: compose up stops the services
    up.wait(timeout=120)
    w.ok("compose", "down", cwd=proj, timeout=120)
    assert not later, "\n".join(later)


# ---------------------------------------------------------------- Networking
def _bridge_ips(w: Walk, network: str) -> dict[str, str]:
    data = json.loads(w.ok("network", "inspect", network).out)
    containers = data[0].get("Containers") or {}
    return {v["Name"]: v["IPv4Address"].split("/")[0] for v in containers.values()}


def test_networking(walk: Walk) -> None:
    w = walk
    w.reg.offer("ubuntu")

    # rootless network ls   -- bridge, host, none
    names = {line.split()[1] for line in w.ok("network", "ls").out.splitlines()[1:] if line.strip()}
    assert {"bridge", "host", "none"} <= names, names

    # rootless run -dit --name ubuntu1 ubuntu; exec -it: apt install net-tools iputils-ping
    w.ok("run", "-dit", "--name", "ubuntu1", "ubuntu")
    c = w.spawn("exec", "-it", "ubuntu1", "bash")
    c.expect(PROMPT, timeout=60)
    out = apt_install(c, "apt update && apt install net-tools iputils-ping")
    assert "Setting up iputils-ping" in out and "Setting up net-tools" in out, out[-2000:]
    exit_shell(c)
    w.ok("commit", "ubuntu1", "myubuntuimage", timeout=600)
    w.ok("run", "-dit", "--name", "ubuntu2", "myubuntuimage")

    # rootless network inspect bridge   -- both containers with their IPs
    ips = _bridge_ips(w, "bridge")
    assert {"ubuntu1", "ubuntu2"} <= set(ips), ips
    ip2 = ips["ubuntu2"]

    # exec -it ubuntu1 bash: ping <ubuntu2's IP> works
    c = w.spawn("exec", "-it", "ubuntu1", "bash")
    c.expect(PROMPT, timeout=60)
    out = shell(c, f"ping -c 2 -W 2 {ip2}")
    assert " 0% packet loss" in out, out
    exit_shell(c)
    # ... the host cannot reach them except through published ports: the bridge lives in
    # a namespace of ours, so the host has no interface or route of its own to ubuntu2
    # (this machine's gateway answers TCP for any address, so no connect() probe).
    route = json.loads(
        subprocess.run(
            ["ip", "-j", "route", "get", ip2], capture_output=True, text=True, check=True
        ).stdout
    )[0]
    assert route.get("gateway"), f"the host routes to {ip2} itself: {route}"
    addrs = subprocess.run(["ip", "-o", "-4", "addr"], capture_output=True, text=True).stdout
    subnet = ip2.rsplit(".", 2)[0] + "."
    assert f" {subnet}" not in addrs, f"a host interface is on ubuntu2's network:\n{addrs}"

    # rootless network disconnect bridge ubuntu1; network connect none ubuntu1
    w.ok("network", "disconnect", "bridge", "ubuntu1")
    w.ok("network", "connect", "none", "ubuntu1")
    r = w.run("exec", "ubuntu1", "ping", "-c", "1", "-W", "2", ip2)
    assert r.rc != 0, "ubuntu1 still reaches ubuntu2 after connect none"
    ifaces = w.ok("exec", "ubuntu1", "cat", "/proc/net/dev").out
    devs = {line.split(":")[0].strip() for line in ifaces.splitlines()[2:]}
    assert devs == {"lo"}, devs

    # rootless network create mybridge; run -it --name ubuntu3 --network mybridge ... bash
    w.ok("network", "create", "mybridge")
    c = w.spawn("run", "-it", "--name", "ubuntu3", "--network", "mybridge", "myubuntuimage", "bash")
    c.expect(PROMPT, timeout=120)
    out = shell(c, "ping -c 1 ubuntu3")
    assert "1 received" in out, out
    exit_shell(c)
