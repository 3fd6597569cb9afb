"""`rootless compose config` through the real CLI, as the unprivileged user."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from tests.conftest import CONFORMANCE, Env, Result

APP = """
services:
  web:
    image: nginx:${TAG:-latest}
    ports: ["8080:80"]
    depends_on: [db]
    volumes: [data:/data, ./html:/usr/share/nginx/html:ro]
    environment:
      GREETING: ${GREETING}
  db:
    image: postgres
    environment: [POSTGRES_PASSWORD]
  debug:
    image: busybox
    profiles: [dev]
volumes:
  data: {}
"""


def compose(
    rl: Env, cwd: Path, *args: str, env: dict[str, str] | None = None, input: str | None = None
) -> Result:
    return rl.run_wrapped(["env", "-C", str(cwd)], "compose", *args, env=env, input=input)


@pytest.fixture
def app(tmp_path: Path) -> Path:
    d = tmp_path / "My_App"
    d.mkdir()
    (d / "compose.yaml").write_text(APP)
    (d / ".env").write_text("GREETING=hello from .env\n")
    return d


def test_config_prints_the_normalized_model(rl: Env, app: Path) -> None:
    res = compose(rl, app, "config", env={"TAG": "1.25", "POSTGRES_PASSWORD": "pw"})
    assert res.rc == 0, res.err
    model = yaml.safe_load(res.out)  # YAML 1.1 reader: the output must not be ambiguous
    assert model["name"] == "my_app"
    assert list(model["services"]) == ["db", "web"]  # profile "dev" is not active
    web = model["services"]["web"]
    assert web["image"] == "nginx:1.25"
    assert web["ports"] == [
        {"mode": "ingress", "target": 80, "published": "8080", "protocol": "tcp"}
    ]
    assert web["environment"] == {"GREETING": "hello from .env"}
    assert web["depends_on"] == {"db": {"condition": "service_started", "required": True}}
    assert web["volumes"][1] == {
        "type": "bind",
        "source": str(app / "html"),
        "target": "/usr/share/nginx/html",
        "read_only": True,
        "bind": {"create_host_path": True},
    }
    assert web["networks"] == {"default": None}
    assert model["services"]["db"]["environment"] == {"POSTGRES_PASSWORD": "pw"}
    assert model["networks"] == {"default": {"name": "my_app_default"}}
    assert model["volumes"] == {"data": {"name": "my_app_data"}}


def test_config_output_loads_back_to_itself(rl: Env, app: Path) -> None:
    first = compose(rl, app, "config", env={"POSTGRES_PASSWORD": "pw"})
    assert first.rc == 0, first.err
    again = compose(rl, app, "-p", "my_app", "-f", "-", "config", input=first.out)
    assert again.rc == 0, again.err
    assert yaml.safe_load(again.out) == yaml.safe_load(first.out)


def test_config_json_and_listings(rl: Env, app: Path) -> None:
    res = compose(rl, app, "config", "--format", "json")
    assert res.rc == 0, res.err
    assert json.loads(res.out)["services"]["web"]["image"] == "nginx:latest"
    assert compose(rl, app, "config", "--services").out.split() == ["db", "web"]
    assert compose(rl, app, "--profile", "dev", "config", "--services").out.split() == [
        "db",
        "debug",
        "web",
    ]
    assert compose(rl, app, "config", "--volumes").out.split() == ["data"]
    assert compose(rl, app, "config", "--profiles").out.split() == ["dev"]
    quiet = compose(rl, app, "config", "-q")
    assert (quiet.rc, quiet.out) == (0, "")
    written = compose(rl, app, "config", "-o", "out.yaml")
    assert (written.rc, written.out) == (0, "")
    assert (
        yaml.safe_load((app / "out.yaml").read_text())["services"]["web"]["image"] == "nginx:latest"
    )
    bad = compose(rl, app, "config", "-o", str(app / "no" / "such" / "dir.yaml"))
    assert bad.rc == 125 and bad.err.startswith("Error: cannot write")


def test_unset_variable_is_a_warning_on_stderr(rl: Env, app: Path) -> None:
    res = compose(rl, app, "config", "--services")
    assert res.rc == 0
    assert 'WARN: the "TAG" variable is not set' not in res.err  # it has a default
    (app / ".env").write_text("")
    res = compose(rl, app, "config", "--services")
    assert 'WARN: the "GREETING" variable is not set, defaulting to a blank string' in res.err


def test_global_options(rl: Env, app: Path, tmp_path: Path) -> None:
    (app / "prod.yaml").write_text(
        "services:\n  web:\n    image: nginx:prod\n    ports: ['9090:80']\n"
    )
    (tmp_path / "custom.env").write_text("GREETING=custom\n")
    res = compose(
        rl,
        tmp_path,
        "-f", str(app / "compose.yaml"),
        "-f", str(app / "prod.yaml"),
        "-p", "shop",
        "--env-file", str(tmp_path / "custom.env"),
        "config", "--format", "json",
    )  # fmt: skip
    assert res.rc == 0, res.err
    model = json.loads(res.out)
    assert model["name"] == "shop"
    web = model["services"]["web"]
    assert web["image"] == "nginx:prod"
    assert [p["published"] for p in web["ports"]] == ["8080", "9090"]
    assert web["environment"] == {"GREETING": "custom"}
    # --project-directory moves the base of relative paths and the default file lookup.
    res = compose(rl, tmp_path, "--project-directory", str(app), "config", "--format", "json")
    assert res.rc == 0, res.err
    assert json.loads(res.out)["services"]["web"]["volumes"][1]["source"] == str(app / "html")


def test_lookup_in_parent_directory_and_env_vars(rl: Env, app: Path) -> None:
    sub = app / "src" / "deep"
    sub.mkdir(parents=True)
    res = compose(rl, sub, "config", "--format", "json")
    assert res.rc == 0, res.err
    assert json.loads(res.out)["name"] == "my_app"
    (app / "other.yaml").write_text("services:\n  solo:\n    image: busybox\n")
    res = compose(
        rl,
        app,
        "config",
        "--services",
        env={"COMPOSE_FILE": "other.yaml", "COMPOSE_PROJECT_NAME": "envname"},
    )
    assert res.out.split() == ["solo"]
    res = compose(rl, app, "config", "--format", "json", env={"COMPOSE_PROJECT_NAME": "envname"})
    assert json.loads(res.out)["name"] == "envname"


INVALID = {
    "unknown key": (
        "services:\n  a:\n    image: x\n    imagee: y\n",
        "services.a.imagee: unknown key",
    ),
    "wrong type": (
        "services:\n  a:\n    image: x\n    ports: 80\n",
        "services.a.ports: expected a list",
    ),
    "bad port": (
        "services:\n  a:\n    image: x\n    ports: ['70000:80']\n",
        "services.a.ports[0]: Invalid hostPort: 70000",
    ),
    "no image": (
        "services:\n  a:\n    restart: always\n",
        "services.a: needs an image or a build section",
    ),
    "required var": (
        "services:\n  a:\n    image: ${IMG:?set IMG}\n",
        "services.a.image: required variable IMG is missing a value: set IMG",
    ),
    "cycle": (
        "services:\n  a:\n    image: x\n    depends_on: [a]\n",
        "dependency cycle detected: a -> a",
    ),
    "unknown dependency": (
        "services:\n  a:\n    image: x\n    depends_on: [b]\n",
        'services.a.depends_on.b: unknown service "b"',
    ),
    "bad volume": (
        "services:\n  a:\n    image: x\n    volumes: [':/x']\n",
        "services.a.volumes[0]: invalid spec: :/x: empty section between colons",
    ),
    "duplicate container_name": (
        "services:\n  a:\n    image: x\n    container_name: cc\n  b:\n    image: x\n    container_name: cc\n",
        'services.b.container_name: "cc" is already used by service a',
    ),
    "undefined network": (
        "services:\n  a:\n    image: x\n    networks: [nope]\n",
        'services.a.networks.nope: undefined network "nope"',
    ),
    "undefined volume": (
        "services:\n  a:\n    image: x\n    volumes: ['v:/v']\n",
        'services.a.volumes[0]: undefined volume "v"',
    ),
}


@pytest.mark.parametrize("kind", list(INVALID))
def test_invalid_file_exits_125_with_one_line(rl: Env, tmp_path: Path, kind: str) -> None:
    text, expected = INVALID[kind]
    (tmp_path / "compose.yaml").write_text(text)
    res = compose(rl, tmp_path, "-p", "p", "config")
    assert res.rc == 125
    assert res.out == ""
    lines = res.err.strip().splitlines()
    assert len(lines) == 1, res.err
    assert lines[0].startswith(f"Error: {tmp_path / 'compose.yaml'}: ")
    assert expected in lines[0]


def test_no_compose_file_is_exit_125(rl: Env, tmp_path: Path) -> None:
    res = compose(rl, tmp_path, "config")
    assert res.rc == 125
    assert "no compose file found" in res.err


def test_podman_scenarios_print_config(rl: Env, conformance: Path) -> None:
    for path in sorted((CONFORMANCE / "podman-compose-scenarios").glob("*/docker-compose.yml")):
        res = compose(rl, path.parent, "config", "-q")
        assert res.rc == 0, f"{path}: {res.err}"
