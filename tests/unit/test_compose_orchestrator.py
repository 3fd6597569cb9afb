"""The orchestrator's pure parts: service -> RunSpec, labels and config hash, healthcheck
commands, log prefixes, service selection. Projects come from the real loader."""

from __future__ import annotations

from pathlib import Path

import pytest

from rootless.compose import labels as L
from rootless.compose.convert import mount, publish, to_runspec
from rootless.compose.health import command, probe_for
from rootless.compose.loader import ProjectOptions, load_project
from rootless.compose.logmux import format_lines, prefixes
from rootless.compose.model import PortSpec, Project, VolumeMount
from rootless.compose.orchestrator import Orchestrator, human_size
from rootless.errors import UsageError
from rootless.paths import Paths

YAML = """
name: shop
services:
  web:
    image: busybox:latest
    command: httpd -f -p 80
    environment: [A=1, B]
    ports: ["127.0.0.1:8080:80", "9000"]
    volumes: [data:/data, ./site:/site:ro, {type: tmpfs, target: /cache, tmpfs: {size: 1m}}]
    networks:
      front: {aliases: [www], ipv4_address: 10.90.0.5}
    restart: on-failure:3
    stop_grace_period: 3s
    stop_signal: SIGINT
    ulimits: {nofile: {soft: 100, hard: 200}}
    init: true
    read_only: true
    tmpfs: [/run:size=1m]
    cap_add: [NET_ADMIN]
    working_dir: /srv
    user: "1000"
    labels: {team: a}
    depends_on:
      db: {condition: service_healthy}
  db:
    build: ./db
    healthcheck: {test: "test -f /ready", interval: 2s, retries: 5}
    network_mode: none
    deploy: {replicas: 2}
  job:
    image: busybox:latest
    network_mode: service:web
    volumes_from: [db]
networks:
  front:
    ipam: {config: [{subnet: 10.90.0.0/24}]}
volumes:
  data: {}
"""


@pytest.fixture
def project(tmp_path: Path) -> Project:
    (tmp_path / "compose.yaml").write_text(YAML)
    (tmp_path / "db").mkdir()
    return load_project(
        ProjectOptions(files=[str(tmp_path / "compose.yaml")], environ={"B": "two"})
    )


def test_service_becomes_a_runspec(project: Project, tmp_path: Path) -> None:
    conv = to_runspec(project, project.services["web"], 1)
    s = conv.spec
    assert s.name == "shop-web-1" and s.image == "busybox:latest"
    assert s.command == ["httpd", "-f", "-p", "80"]
    assert s.env == {"A": "1", "B": "two"}
    assert s.publish == ["127.0.0.1:8080:80/tcp", "9000/tcp"]
    assert s.mounts == [
        "type=volume,source=shop_data,target=/data",
        f"type=bind,source={tmp_path}/site,target=/site,readonly",
        "type=tmpfs,target=/cache,tmpfs-size=1048576",
    ]
    assert s.network == "shop_front"
    assert conv.aliases == ["web", "www"]
    assert (s.restart.name, s.restart.max_retries) == ("on-failure", 3)
    assert (s.stop_timeout, s.stop_signal) == (3, "SIGINT")
    assert [(u.name, u.soft, u.hard) for u in s.ulimits] == [("nofile", 100, 200)]
    assert s.init and s.read_only and s.tmpfs == {"/run": "size=1m"}
    assert (s.cap_add, s.workdir, s.user) == (["NET_ADMIN"], "/srv", "1000")
    assert s.labels["team"] == "a"
    assert s.labels[L.PROJECT] == "shop" and s.labels[L.SERVICE] == "web"
    assert s.labels[L.NUMBER] == "1" and s.labels[L.ONEOFF] == "False"
    assert s.labels[L.WORKING_DIR] == str(tmp_path)
    assert s.labels[L.CONFIG_FILES] == str(tmp_path / "compose.yaml")
    assert s.labels[L.CONFIG_HASH] == L.config_hash(project.services["web"])
    assert s.pull == "never"


def test_built_service_names_and_modes(project: Project) -> None:
    db = to_runspec(project, project.services["db"], 2).spec
    assert db.image == "shop-db" and db.name == "shop-db-2" and db.network == "none"
    job = to_runspec(project, project.services["job"], 1).spec
    assert job.network == "container:shop-web-1"
    assert job.volumes_from == ["shop-db-1"]
    assert project.services["db"].replicas == 2


def test_default_network_is_project_default(tmp_path: Path) -> None:
    (tmp_path / "compose.yaml").write_text("services:\n  a: {image: busybox}\n")
    p = load_project(ProjectOptions(files=[str(tmp_path / "compose.yaml")], project_name="x"))
    conv = to_runspec(p, p.services["a"], 1)
    assert conv.spec.network == "x_default" and conv.aliases == ["a"]


def test_oneoff_has_no_fixed_name(project: Project) -> None:
    s = to_runspec(project, project.services["web"], 1, oneoff=True).spec
    assert s.name is None and s.labels[L.ONEOFF] == "True"


def test_config_hash_tracks_config_not_scale(project: Project) -> None:
    svc = project.services["db"]
    before = L.config_hash(svc)
    svc.deploy.replicas = 5
    svc.scale = 3
    assert L.config_hash(svc) == before
    svc.environment["NEW"] = "1"
    assert L.config_hash(svc) != before


def test_ports_and_mounts_text() -> None:
    assert publish(PortSpec(target=53, protocol="udp")) == "53/udp"
    assert publish(PortSpec(target=80, published="8080", host_ip="::1")) == "[::1]:8080:80/tcp"
    assert publish(PortSpec(target=80, host_ip="127.0.0.1")) == "127.0.0.1::80/tcp"
    p = Project(name="p", working_dir=Path("/"), services={})
    assert mount(p, VolumeMount(type="volume", target="/anon")) == "type=volume,target=/anon"
    with pytest.raises(UsageError, match="unsupported volume type"):
        mount(p, VolumeMount(type="npipe", target="/x", source="y"))


def test_healthcheck_commands_and_image_fallback(project: Project) -> None:
    assert command(["CMD", "pg_isready", "-q"]) == ["pg_isready", "-q"]
    assert command(["CMD-SHELL", "curl -f localhost"]) == ["/bin/sh", "-c", "curl -f localhost"]
    assert command(["NONE"]) is None and command(None) is None
    probe = probe_for(project.services["db"].healthcheck, {})
    assert probe is not None
    assert probe.argv == ["/bin/sh", "-c", "test -f /ready"]
    assert (probe.interval, probe.retries) == (2.0, 5)
    image_hc = {"Healthcheck": {"Test": ["CMD", "true"], "Interval": 1_500_000_000, "Retries": 2}}
    probe = probe_for(None, image_hc)
    assert probe is not None and probe.argv == ["true"]
    assert (probe.interval, probe.retries) == (1.5, 2)
    assert probe_for(None, {}) is None


def test_log_prefixes_align_and_color() -> None:
    pre = prefixes(["a-1", "long-name-1"], color=False)
    assert pre == {"a-1": "a-1          | ", "long-name-1": "long-name-1  | "}
    colored = prefixes(["a-1", "b-1"], color=True)
    assert colored["a-1"].startswith("\x1b[36m") and colored["b-1"].startswith("\x1b[33m")
    assert format_lines("x | ", b"one\ntwo\n") == ["x | one", "x | two"]
    assert format_lines("", b"partial", "T") == ["T partial"]


def test_service_selection_orders_dependencies(project: Project, tmp_path: Path) -> None:
    orch = Orchestrator(Paths(tmp_path / "d", tmp_path / "c", tmp_path / "r"), project)
    assert orch.order(["web"]) == ["db", "web"]
    assert orch.order(["web"], with_deps=False) == ["web"]
    with pytest.raises(UsageError, match="no such service: nope"):
        orch.order(["nope"])


def test_human_size() -> None:
    assert [human_size(n) for n in (512, 2140160, 3_500_000_000)] == ["512B", "2.14MB", "3.5GB"]


def test_probe_deadline_interrupts_a_hanging_command() -> None:
    import subprocess
    import time

    from rootless.compose.health import _deadline, _ProbeTimeout

    t0 = time.monotonic()
    with pytest.raises(_ProbeTimeout), _deadline(0.3):
        subprocess.run(["sleep", "30"])
    assert time.monotonic() - t0 < 5
    with _deadline(5):  # a quick command is not disturbed, and the timer is cleared
        assert subprocess.run(["true"]).returncode == 0
    time.sleep(0.1)
