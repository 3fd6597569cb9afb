"""The typed model the orchestrator consumes: every field the issue lists, and the
depends_on start order."""

from __future__ import annotations

from pathlib import Path

import pytest

from rootless.compose.loader import ProjectOptions, load_project
from rootless.compose.model import (
    BuildSpec,
    Dependency,
    Healthcheck,
    PortSpec,
    Project,
    ResourceLimits,
    ServiceNetwork,
    Ulimit,
    VolumeMount,
    topological_order,
)

FULL = """
name: shop
services:
  web:
    build:
      context: ./web
      dockerfile: web.Dockerfile
      args: {VERSION: "1.2", FROM_ENV: null}
      target: prod
      labels: [stage=build]
    command: ["gunicorn", "-b", "0.0.0.0:8000"]
    entrypoint: /entry.sh --verbose
    environment: {MODE: prod, DEBUG: false, WORKERS: 4}
    ports:
      - "127.0.0.1:8080:8000"
      - target: 9000
        published: "9001"
        protocol: udp
    expose: [7000, "7001"]
    volumes:
      - data:/var/lib/data
      - ./static:/static:ro
      - type: tmpfs
        target: /cache
        tmpfs: {size: 64m}
      - type: bind
        source: /etc/hosts
        target: /etc/extra-hosts
        read_only: true
    networks:
      front:
        aliases: [www, shop-web]
        ipv4_address: 10.5.0.10
      back: {}
    depends_on:
      db:
        condition: service_healthy
        restart: true
      cache:
        condition: service_started
        required: false
    healthcheck:
      test: ["CMD", "curl", "-f", "http://localhost:8000"]
      interval: 30s
      timeout: 5s
      retries: 3
      start_period: 1m
    restart: unless-stopped
    user: "1000:1000"
    working_dir: /app
    hostname: web1
    container_name: shop-web
    labels: {tier: front}
    init: true
    read_only: true
    tmpfs: /run
    extra_hosts: ["db.local:10.5.0.2", "gw=10.5.0.1"]
    dns: [1.1.1.1, 9.9.9.9]
    stop_signal: SIGINT
    stop_grace_period: 1m30s
    cap_add: [NET_ADMIN]
    cap_drop: [ALL]
    ulimits:
      nproc: 65535
      nofile: {soft: 20000, hard: 40000}
    deploy:
      replicas: 1
      resources:
        limits: {cpus: "0.5", memory: 512M, pids: 100}
        reservations: {memory: 128m}
  db:
    image: postgres:16
    environment: [POSTGRES_PASSWORD=secret, FROM_OS]
    healthcheck:
      test: pg_isready
    networks: [back]
    volumes: [data:/var/lib/postgresql/data]
  cache:
    image: redis
    network_mode: service:db
  worker:
    image: shop-worker
    depends_on: [web]
    deploy: {replicas: 3}
networks:
  front:
    driver: bridge
    ipam:
      config: [{subnet: 10.5.0.0/24}]
  back:
    internal: true
  outside:
    external: true
volumes:
  data:
    labels: {backup: daily}
  shared:
    external: true
"""


@pytest.fixture
def project(tmp_path: Path) -> Project:
    (tmp_path / "compose.yaml").write_text(FULL)
    return load_project(
        ProjectOptions(cwd=str(tmp_path), environ={"FROM_ENV": "e", "FROM_OS": "o"})
    )


def test_service_fields(project: Project, tmp_path: Path) -> None:
    web = project.services["web"]
    assert web.build == BuildSpec(
        context=str(tmp_path / "web"),
        dockerfile="web.Dockerfile",
        args={"VERSION": "1.2", "FROM_ENV": "e"},
        target="prod",
        labels={"stage": "build"},
    )
    assert web.command == ["gunicorn", "-b", "0.0.0.0:8000"]
    assert web.entrypoint == ["/entry.sh", "--verbose"]
    assert web.environment == {"MODE": "prod", "DEBUG": "false", "WORKERS": "4"}
    assert web.ports == [
        PortSpec(target=8000, published="8080", host_ip="127.0.0.1"),
        PortSpec(target=9000, published="9001", protocol="udp"),
    ]
    assert web.expose == ["7000", "7001"]
    assert web.volumes == [
        VolumeMount(type="volume", source="data", target="/var/lib/data"),
        VolumeMount(type="bind", source=str(tmp_path / "static"), target="/static", read_only=True),
        VolumeMount(type="tmpfs", target="/cache", tmpfs_size=64 << 20),
        VolumeMount(type="bind", source="/etc/hosts", target="/etc/extra-hosts", read_only=True),
    ]
    assert web.networks == {
        "front": ServiceNetwork(aliases=["www", "shop-web"], ipv4_address="10.5.0.10"),
        "back": ServiceNetwork(),
    }
    assert web.depends_on == {
        "db": Dependency(condition="service_healthy", restart=True),
        "cache": Dependency(required=False),
    }
    assert web.healthcheck == Healthcheck(
        test=["CMD", "curl", "-f", "http://localhost:8000"],
        interval=30.0,
        timeout=5.0,
        retries=3,
        start_period=60.0,
    )
    assert (web.restart, web.user, web.working_dir, web.hostname) == (
        "unless-stopped",
        "1000:1000",
        "/app",
        "web1",
    )
    assert web.container_name == "shop-web"
    assert web.labels == {"tier": "front"}
    assert web.init is True and web.read_only is True
    assert web.tmpfs == ["/run"]
    assert web.extra_hosts == [("db.local", "10.5.0.2"), ("gw", "10.5.0.1")]
    assert web.dns == ["1.1.1.1", "9.9.9.9"]
    assert (web.stop_signal, web.stop_grace_period) == ("SIGINT", 90.0)
    assert (web.cap_add, web.cap_drop) == (["NET_ADMIN"], ["ALL"])
    assert web.ulimits == {"nproc": Ulimit(65535, 65535), "nofile": Ulimit(20000, 40000)}
    assert web.deploy.replicas == 1
    assert web.deploy.limits == ResourceLimits(cpus=0.5, memory=512 << 20, pids=100)
    assert web.deploy.reservations.memory == 128 << 20


def test_other_services(project: Project) -> None:
    db = project.services["db"]
    assert db.environment == {"POSTGRES_PASSWORD": "secret", "FROM_OS": "o"}
    assert db.healthcheck is not None and db.healthcheck.test == ["CMD-SHELL", "pg_isready"]
    cache = project.services["cache"]
    assert cache.network_mode == "service:db" and cache.networks == {}
    # network_mode: service:db implies a dependency on db.
    assert cache.depends_on == {"db": Dependency(restart=True)}
    assert project.services["worker"].replicas == 3
    assert project.services["db"].networks == {"back": ServiceNetwork()}


def test_top_level(project: Project) -> None:
    assert project.name == "shop"
    front, back, outside = (project.networks[k] for k in ("front", "back", "outside"))
    assert (front.name, front.driver, front.subnets) == (
        "shop_front",
        "bridge",
        [{"subnet": "10.5.0.0/24"}],
    )
    assert (back.name, back.internal) == ("shop_back", True)
    assert (outside.name, outside.external) == ("outside", True)
    assert "default" in project.networks  # worker uses the implicit default network
    data, shared = project.volumes["data"], project.volumes["shared"]
    assert (data.name, data.labels, data.external) == ("shop_data", {"backup": "daily"}, False)
    assert (shared.name, shared.external) == ("shared", True)


def test_service_order_respects_depends_on(project: Project) -> None:
    order = project.service_order()
    assert sorted(order) == sorted(project.services)
    for name, svc in project.services.items():
        for dep in svc.depends_on:
            assert order.index(dep) < order.index(name)
    assert project.service_order(["worker"]) == ["db", "cache", "web", "worker"]


def test_topological_order_ties_and_cycles() -> None:
    assert topological_order({"a": [], "b": [], "c": ["a"]}) == ["a", "b", "c"]
    with pytest.raises(ValueError, match="dependency cycle detected: x -> y -> x"):
        topological_order({"x": ["y"], "y": ["x"]})
