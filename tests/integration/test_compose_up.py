"""`rootless compose` end to end with busybox services: real containers, a real bridge
network with service-name DNS, published ports, healthchecks through exec."""

from __future__ import annotations

import contextlib
import json
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import Env, Result, kill_net_helpers
from tests.integration.test_net_support import free_port, http_get

pytestmark = pytest.mark.slow

WEB_CMD = "echo hello-$$GREETING > /tmp/index.html; exec httpd -f -p 80 -h /tmp"


@pytest.fixture
def proj(rl: Env, busybox_image: str, tmp_path: Path) -> Iterator[Env]:
    d = tmp_path / "proj"
    d.mkdir()
    yield rl
    with contextlib.suppress(Exception):
        compose(rl, "down", "-v", "--remove-orphans", "-t", "0", timeout=120)
    with contextlib.suppress(Exception):
        rl.run("rm", "-af", timeout=60)
    kill_net_helpers(rl)


def project_dir(rl: Env) -> Path:
    return rl.home / "proj"


def write(rl: Env, text: str) -> None:
    (project_dir(rl) / "compose.yaml").write_text(text)


def compose(rl: Env, *args: str, timeout: float = 180, check: bool = False) -> Result:
    return rl.run(
        "compose", "--project-directory", str(project_dir(rl)), "-f",
        str(project_dir(rl) / "compose.yaml"), *args, timeout=timeout, check=check,
    )  # fmt: skip


def ps(rl: Env, *args: str) -> dict[str, dict[str, Any]]:
    rows: list[dict[str, Any]] = json.loads(
        compose(rl, "ps", "-a", "--format", "json", *args, check=True).out
    )
    return {r["Name"]: r for r in rows}


def wait_http(url: str, want: str = "", tries: int = 100) -> str:
    got = ""
    for _ in range(tries):
        got = http_get(url, timeout=3)
        if not got.startswith("curl failed") and want in got:
            break
        time.sleep(0.1)
    return got


def two_services(port: int, greeting: str = "one", client_env: str = "a") -> str:
    return f"""
name: demo
services:
  web:
    image: busybox:latest
    command: ["sh", "-c", "{WEB_CMD}"]
    environment: {{GREETING: {greeting}}}
    ports: ["{port}:80"]
    init: true
    stop_grace_period: 2s
  client:
    image: busybox:latest
    command: ["sleep", "600"]
    environment: {{MARK: {client_env}}}
    depends_on: [web]
    init: true
    stop_grace_period: 2s
"""


def test_up_converges_recreates_only_changed_and_down_cleans(proj: Env) -> None:
    port = free_port()
    write(proj, two_services(port))
    r = compose(proj, "up", "-d")
    assert r.rc == 0, r.err
    assert "Network demo_default  Created" in r.err
    rows = ps(proj)
    assert set(rows) == {"demo-web-1", "demo-client-1"}
    assert all(r["State"] == "running" for r in rows.values())
    assert rows["demo-web-1"]["Service"] == "web"
    labels = rows["demo-web-1"]["Labels"]
    assert isinstance(labels, dict)
    assert labels["com.docker.compose.project"] == "demo"
    assert labels["com.docker.compose.container-number"] == "1"
    assert wait_http(f"http://127.0.0.1:{port}/index.html") == "hello-one\n"
    # every service resolves every other by its service name on demo_default
    r = compose(proj, "exec", "-T", "client", "wget", "-qO-", "http://web/index.html")
    assert r.rc == 0 and r.out == "hello-one\n", r.err
    net = proj.run("network", "inspect", "demo_default", check=True).json()[0]  # type: ignore[index]
    assert net["Labels"]["com.docker.compose.project"] == "demo"

    # up twice changes nothing
    r = compose(proj, "up", "-d")
    assert r.rc == 0, r.err
    assert "Created" not in r.err and "Recreate" not in r.err
    again = ps(proj)
    assert {n: r["Id"] for n, r in again.items()} == {n: r["Id"] for n, r in rows.items()}

    # editing one service's environment recreates only that one
    write(proj, two_services(port, client_env="b"))
    r = compose(proj, "up", "-d")
    assert r.rc == 0, r.err
    after = ps(proj)
    assert after["demo-web-1"]["Id"] == rows["demo-web-1"]["Id"]
    assert after["demo-client-1"]["Id"] != rows["demo-client-1"]["Id"]
    assert compose(proj, "exec", "-T", "client", "sh", "-c", "echo $MARK").out == "b\n"

    r = compose(proj, "down")
    assert r.rc == 0, r.err
    assert ps(proj) == {}
    assert proj.run("ps", "-aq", check=True).out.strip() == ""
    nets = proj.run("network", "ls", "--format", "{{.Name}}", check=True).out.split()
    assert "demo_default" not in nets
    assert http_get(f"http://127.0.0.1:{port}/index.html", timeout=2).startswith("curl failed")


def test_create_start_stop_restart_logs_step_by_step(proj: Env) -> None:
    port = free_port()
    write(proj, two_services(port, greeting="steps"))
    assert compose(proj, "create").rc == 0
    assert {r["State"] for r in ps(proj).values()} == {"created"}
    r = compose(proj, "start")
    assert r.rc == 0, r.err
    assert r.err.index("demo-web-1  Started") < r.err.index("demo-client-1  Started")
    assert wait_http(f"http://127.0.0.1:{port}/index.html") == "hello-steps\n"
    compose(proj, "exec", "-T", "client", "sh", "-c", "echo to-the-log > /proc/1/fd/1")
    r = compose(proj, "logs", "--no-color", "client")
    assert "demo-client-1  | to-the-log" in r.out, r.out + r.err
    assert compose(proj, "port", "web", "80").out.strip().endswith(f":{port}")
    top = compose(proj, "top", "web")
    assert "httpd" in top.out
    assert compose(proj, "stop", "client").rc == 0
    states = {n: r["State"] for n, r in ps(proj).items()}
    assert states == {"demo-web-1": "running", "demo-client-1": "exited"}
    assert set(compose(proj, "ps", "--services").out.split()) == {"web"}
    r = compose(proj, "restart")
    assert r.rc == 0, r.err
    assert {r["State"] for r in ps(proj).values()} == {"running"}
    # after a restart the alias comes back: client still reaches web by name
    r = compose(proj, "exec", "-T", "client", "wget", "-qO-", "http://web/index.html")
    assert r.out == "hello-steps\n", r.err
    assert compose(proj, "exec", "-T", "web", "false").rc == 1
    r = compose(proj, "exec", "-T", "nope", "true")
    assert r.rc == 125 and "no such service: nope" in r.err


def test_depends_on_conditions_wait_healthcheck_and_completion(proj: Env) -> None:
    write(
        proj,
        """
name: deps
services:
  db:
    image: busybox:latest
    command: ["sh", "-c", "sleep 2; touch /tmp/ready; exec sleep 600"]
    healthcheck: {test: ["CMD", "test", "-f", "/tmp/ready"], interval: 300ms, retries: 30}
    init: true
  migrate:
    image: busybox:latest
    command: ["sh", "-c", "echo migrated"]
  app:
    image: busybox:latest
    command: ["sleep", "600"]
    init: true
    depends_on:
      db: {condition: service_healthy}
      migrate: {condition: service_completed_successfully}
volumes:
  data: {}
""",
    )
    t0 = time.monotonic()
    r = compose(proj, "up", "-d")
    assert r.rc == 0, r.err
    assert time.monotonic() - t0 >= 2  # app waited for the healthcheck
    err = r.err
    assert err.index("deps-db-1  Healthy") < err.index("deps-app-1  Started")
    assert err.index("deps-migrate-1  Exited") < err.index("deps-app-1  Started")
    states = {n: r["State"] for n, r in ps(proj).items()}
    assert states == {"deps-db-1": "running", "deps-migrate-1": "exited", "deps-app-1": "running"}
    r = compose(proj, "up", "-d", "--wait", "db", "app")  # nothing to change; db is healthy
    assert r.rc == 0 and "deps-db-1  Healthy" in r.err and "Created" not in r.err, r.err

    # a dependency that fails its condition stops `up` with one clear line
    write(
        proj,
        """
name: deps
services:
  bad:
    image: busybox:latest
    command: ["false"]
  app:
    image: busybox:latest
    command: ["sleep", "600"]
    depends_on: {bad: {condition: service_completed_successfully}}
""",
    )
    r = compose(proj, "up", "-d", "--remove-orphans")
    assert r.rc == 125
    assert "dependency failed to start: service bad didn't complete successfully: exit 1" in r.err

    # a probe that outlives its timeout counts as a failure
    write(
        proj,
        """
name: deps
services:
  slow:
    image: busybox:latest
    command: ["sleep", "600"]
    init: true
    healthcheck: {test: ["CMD", "sleep", "30"], timeout: 300ms, interval: 100ms, retries: 2}
  app:
    image: busybox:latest
    command: ["sleep", "600"]
    depends_on: {slow: {condition: service_healthy}}
""",
    )
    t0 = time.monotonic()
    r = compose(proj, "up", "-d", "--remove-orphans")
    assert r.rc == 125 and "dependency failed to start: container deps-slow-1 is unhealthy" in r.err
    assert time.monotonic() - t0 < 25


def test_scale_orphans_volumes_and_run(proj: Env) -> None:
    write(
        proj,
        """
name: sc
services:
  worker:
    image: busybox:latest
    command: ["sh", "-c", "echo $$HOSTNAME >> /data/seen; exec sleep 600"]
    volumes: [shared:/data]
    deploy: {replicas: 2}
    init: true
  other:
    image: busybox:latest
    command: ["sleep", "600"]
    init: true
volumes:
  shared: {labels: {kind: test}}
""",
    )
    r = compose(proj, "up", "-d", "--scale", "worker=3")
    assert r.rc == 0, r.err
    assert {n for n in ps(proj)} == {"sc-worker-1", "sc-worker-2", "sc-worker-3", "sc-other-1"}
    vol = proj.run("volume", "inspect", "sc_shared", check=True).json()[0]  # type: ignore[index]
    assert vol["Labels"]["com.docker.compose.project"] == "sc" and vol["Labels"]["kind"] == "test"
    # back to the file's replicas: the extra one goes
    assert compose(proj, "up", "-d").rc == 0
    assert {n for n in ps(proj)} == {"sc-worker-1", "sc-worker-2", "sc-other-1"}
    # a one-off run container, removed afterwards, sees the same volume
    r = compose(proj, "run", "--rm", "-T", "worker", "sh", "-c", "sleep 0.5; wc -l < /data/seen")
    assert r.rc == 0 and int(r.out.strip()) >= 2, r.err
    assert compose(proj, "run", "--rm", "-T", "--no-deps", "other", "sh", "-c", "exit 7").rc == 7
    assert not any("-run-" in n for n in ps(proj))
    # a service removed from the file is an orphan: a warning, then --remove-orphans
    text = (project_dir(proj) / "compose.yaml").read_text()
    write(
        proj,
        text.replace(
            '  other:\n    image: busybox:latest\n    command: ["sleep", "600"]\n    init: true\n',
            "",
        ),
    )
    r = compose(proj, "up", "-d")
    assert "orphan containers for services (other)" in r.err
    assert compose(proj, "up", "-d", "--remove-orphans").rc == 0
    assert "sc-other-1" not in ps(proj)
    assert compose(proj, "down", "-v").rc == 0
    assert proj.run("volume", "inspect", "sc_shared").rc != 0


def test_build_and_abort_on_container_exit(proj: Env) -> None:
    ctx = project_dir(proj) / "app"
    ctx.mkdir()
    (ctx / "msg.txt").write_text("built-by-compose\n")
    (ctx / "Containerfile.custom").write_text(
        "FROM busybox:latest\nARG WHO=nobody\nCOPY msg.txt /msg.txt\n"
        'RUN echo "arg=$WHO" >> /msg.txt\nCMD ["cat", "/msg.txt"]\n'
    )
    write(
        proj,
        """
name: bld
services:
  app:
    build: {context: ./app, dockerfile: Containerfile.custom, args: {WHO: tester}}
  idle:
    image: busybox:latest
    command: ["sleep", "600"]
    init: true
""",
    )
    r = compose(proj, "build", timeout=300)
    assert r.rc == 0, r.err
    assert "bld-app" in proj.run("images", "--format", "{{.Repository}}", check=True).out
    r = compose(proj, "up", "--abort-on-container-exit", "--no-color", timeout=300)
    assert r.rc == 0, r.err
    assert "bld-app-1   | built-by-compose" in r.out and "arg=tester" in r.out, r.out
    assert ps(proj)["bld-idle-1"]["State"] == "exited"  # stopped with the others
    # a rebuilt image recreates only its service's container
    before = {n: r["Id"] for n, r in ps(proj).items()}
    (ctx / "msg.txt").write_text("rebuilt\n")
    r = compose(proj, "up", "-d", "--build", timeout=300)
    assert r.rc == 0, r.err
    after = {n: r["Id"] for n, r in ps(proj).items()}
    assert after["bld-app-1"] != before["bld-app-1"] and after["bld-idle-1"] == before["bld-idle-1"]
    assert "rebuilt" in compose(proj, "logs", "app").out
    r = compose(proj, "images", "--format", "json")
    assert {row["Repository"] for row in json.loads(r.out)} >= {"bld-app", "busybox"}
    assert compose(proj, "down", "--rmi", "local").rc == 0
    assert "bld-app" not in proj.run("images", "--format", "{{.Repository}}", check=True).out


def test_pull_and_push_through_a_local_registry(proj: Env, tmp_path: Path) -> None:
    import shutil

    from tests.conftest import TEST_IMAGES, need
    from tests.integration.registry_server import run_registry, skopeo_copy, skopeo_inspect

    need(shutil.which("docker-registry"), "docker-registry", "as root: scripts/setup-host.sh")
    with run_registry(tmp_path / "reg") as reg:
        skopeo_copy(
            f"oci:{TEST_IMAGES / 'busybox'}:latest",
            f"docker://{reg.host}/library/bb:latest",
            "--dest-tls-verify=false",
        )
        proj.config.mkdir(parents=True, exist_ok=True)
        (proj.config / "registries.conf").write_text(
            f'[[registry]]\nlocation = "{reg.host}"\ninsecure = true\n'
        )
        ctx = project_dir(proj) / "b"
        ctx.mkdir()
        (ctx / "Dockerfile").write_text("FROM busybox:latest\nRUN echo pushed > /mark\n")
        write(
            proj,
            f"""
name: reg
services:
  pulled:
    image: {reg.host}/library/bb:latest
    command: ["sleep", "600"]
    init: true
  built:
    build: ./b
    image: {reg.host}/team/built:1
""",
        )
        r = compose(proj, "pull")
        assert r.rc == 0, r.err
        assert f"Image {reg.host}/library/bb:latest  Pulled" in r.err
        assert compose(proj, "build", "-q").rc == 0
        r = compose(proj, "push")
        assert r.rc == 0, r.err
        info = skopeo_inspect(f"docker://{reg.host}/team/built:1", "--tls-verify=false")
        assert info["Digest"]
        r = compose(proj, "up", "-d", "--wait", "pulled")
        assert r.rc == 0, r.err
        assert ps(proj)["reg-pulled-1"]["State"] == "running"


def _popen(rl: Env, *args: str) -> subprocess.Popen[str]:
    import shutil
    import sys

    exe = shutil.which("rootless")
    base = [exe] if exe else [sys.executable, "-m", "rootless"]
    d = project_dir(rl)
    cmd = [*base, "compose", "-f", str(d / "compose.yaml"), *args]
    return subprocess.Popen(
        cmd, env=rl.env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


def test_concurrent_up_converges_once_and_ctrl_c_stops_attached_up(proj: Env) -> None:
    write(
        proj,
        """
name: att
services:
  tick:
    image: busybox:latest
    command: ["sh", "-c", "echo tick-start; exec sleep 600"]
    init: true
    stop_grace_period: 2s
""",
    )
    first, second = _popen(proj, "up", "-d"), _popen(proj, "up", "-d")
    for p in (first, second):
        _, err = p.communicate(timeout=180)
        assert p.returncode == 0, err
    assert list(ps(proj)) == ["att-tick-1"]  # the project lock serialised them

    attached = _popen(proj, "up")
    try:
        assert attached.stdout is not None
        line = attached.stdout.readline()  # blocks until the log stream prints
        assert line.startswith("att-tick-1  | tick-start"), line
        attached.send_signal(signal.SIGINT)
        _, err = attached.communicate(timeout=60)
    finally:
        if attached.poll() is None:
            attached.kill()
            attached.wait()
    assert attached.returncode == 130, err
    assert "Gracefully stopping" in err
    assert ps(proj)["att-tick-1"]["State"] == "exited"


def test_pause_unpause_kill_rm(proj: Env) -> None:
    write(
        proj,
        """
name: sig
services:
  s:
    image: busybox:latest
    command: ["sleep", "600"]
    init: true
""",
    )
    assert compose(proj, "up", "-d").rc == 0
    assert compose(proj, "rm").err.strip() == "No stopped containers"  # running ones stay
    assert compose(proj, "pause").rc == 0
    assert ps(proj)["sig-s-1"]["State"] == "paused"
    assert compose(proj, "unpause").rc == 0
    assert ps(proj)["sig-s-1"]["State"] == "running"
    r = compose(proj, "kill", "-s", "NOPE")
    assert r.rc == 125 and "invalid signal" in r.err
    assert compose(proj, "kill").rc == 0
    for _ in range(50):
        if ps(proj)["sig-s-1"]["State"] == "exited":
            break
        time.sleep(0.1)
    assert ps(proj)["sig-s-1"]["State"] == "exited"
    r = compose(proj, "rm", "-f")
    assert r.rc == 0 and "sig-s-1  Removed" in r.err, r.err
    assert ps(proj) == {}
