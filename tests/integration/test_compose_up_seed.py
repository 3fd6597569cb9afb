"""The seed's example as a test: a Flask + flask_restful app built by compose, counting
hits in a redis built offline from Debian's redis-server package.

Needs the Debian mirror inside builds (apt-get through slirp4netns): slow, runs in CI.
The redis image is cached as an OCI layout under ~/.cache/rootless-test-images/redis.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import TEST_IMAGES, Env, Result, kill_net_helpers
from tests.integration.test_net_support import free_port, http_get

pytestmark = pytest.mark.slow

REDIS_REF = "redis:bookworm"
REDIS_DOCKERFILE = """\
FROM debian:bookworm
RUN apt-get update && apt-get install -y --no-install-recommends redis-server \\
 && rm -rf /var/lib/apt/lists/*
EXPOSE 6379
CMD ["redis-server", "--protected-mode", "no", "--bind", "0.0.0.0", "--save", ""]
"""

APP_PY = """\
from flask import Flask
from flask_restful import Resource, Api
from redis import Redis

app = Flask(__name__)
api = Api(app)
redis = Redis(host="my_redis_db", port=6379)


class Hits(Resource):
    def get(self):
        return "I have been hit {} times.".format(redis.incr("hits"))


api.add_resource(Hits, "/")
"""

APP_DOCKERFILE = """\
FROM debian:bookworm
RUN apt-get update && apt-get install -y --no-install-recommends \\
    python3-flask python3-flask-restful python3-redis && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY ./app.py .
EXPOSE 5000
ENV FLASK_APP app.py
ENV FLASK_RUN_HOST 0.0.0.0
CMD ["flask", "run"]
"""

COMPOSE = """\
services:
  my_flask_app:
    build: .
    ports:
      - "{port}:5000"
  my_redis_db:
    image: redis:bookworm
"""


def ensure_redis_image(rl: Env, work: Path) -> None:
    """Load the cached redis layout, or build it from Debian's package and cache it."""
    layout = TEST_IMAGES / "redis"
    if (layout / "index.json").is_file():
        rl.run("load", "-q", "-i", str(layout), check=True, timeout=300)
        return
    ctx = work / "redis-build"
    ctx.mkdir()
    (ctx / "Dockerfile").write_text(REDIS_DOCKERFILE)
    r = rl.run("build", "-q", "-t", REDIS_REF, str(ctx), timeout=900)
    assert r.rc == 0, f"building redis from Debian's package failed: {r.err}"
    TEST_IMAGES.mkdir(parents=True, exist_ok=True)
    tmp = TEST_IMAGES / f".redis-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    r = rl.run("save", "--format", "oci-dir", "-o", str(tmp), REDIS_REF, timeout=300)
    if r.rc == 0 and not layout.exists():
        os.rename(tmp, layout)  # atomic: a half-written cache is never used
    shutil.rmtree(tmp, ignore_errors=True)


@pytest.fixture
def seed(rl: Env, debian_image: str, tmp_path: Path) -> Iterator[tuple[Env, Path, int]]:
    ensure_redis_image(rl, tmp_path)
    d = tmp_path / "seed"
    d.mkdir()
    port = free_port()
    (d / "app.py").write_text(APP_PY)
    (d / "Dockerfile").write_text(APP_DOCKERFILE)
    (d / "compose.yaml").write_text(COMPOSE.format(port=port))
    yield rl, d, port
    with contextlib.suppress(Exception):
        compose(rl, d, "down", "-t", "0")
    with contextlib.suppress(Exception):
        rl.run("rm", "-af", timeout=60)
    kill_net_helpers(rl)


def compose(rl: Env, d: Path, *args: str, timeout: float = 900) -> Result:
    return rl.run("compose", "-f", str(d / "compose.yaml"), *args, timeout=timeout)


def hit(port: int, want: int) -> str:
    """GET / until the app answers (flask and redis may still be starting)."""
    got = ""
    for _ in range(150):
        got = http_get(f"http://127.0.0.1:{port}/", timeout=3)
        if "I have been hit" in got:
            break
        time.sleep(0.2)
    assert f"I have been hit {want} times." in got, got
    return got


def assert_running(rl: Env, d: Path) -> None:
    rows = json.loads(compose(rl, d, "ps", "--format", "json").out)
    assert {(r["Service"], r["State"]) for r in rows} == {
        ("my_flask_app", "running"),
        ("my_redis_db", "running"),
    }


def assert_down(rl: Env, d: Path) -> None:
    r = compose(rl, d, "down")
    assert r.rc == 0, r.err
    assert rl.run("ps", "-aq", check=True).out.strip() == ""
    nets = rl.run("network", "ls", "--format", "{{.Name}}", check=True).out.split()
    assert "seed_default" not in nets


def test_seed_flask_redis_up_and_step_by_step(seed: tuple[Env, Path, int]) -> None:
    rl, d, port = seed
    r = compose(rl, d, "up", "-d")
    assert r.rc == 0, r.err
    hit(port, 1)
    hit(port, 2)
    assert_running(rl, d)
    assert_down(rl, d)

    # build, create, start step by step give the same result
    for verb in ("build", "create", "start"):
        r = compose(rl, d, verb)
        assert r.rc == 0, f"compose {verb}: {r.err}"
    hit(port, 1)
    hit(port, 2)
    assert_running(rl, d)
    assert_down(rl, d)
