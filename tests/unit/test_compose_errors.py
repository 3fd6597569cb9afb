"""Invalid compose files: each gives one line naming the file, the key path and the
expectation."""

from __future__ import annotations

from pathlib import Path

import pytest

from rootless.compose.errors import ComposeError
from rootless.compose.loader import ProjectOptions, load_project

PORT_FORM = "expected [HOST_IP:][HOST_PORT:]CONTAINER_PORT[/PROTOCOL]"
VOLUME_FORM = "expected [SOURCE:]TARGET[:ro|rw|...]"

CASES: dict[str, tuple[str, str]] = {
    "unknown_key": (
        "services:\n  web:\n    image: a\n    imagee: b\n",
        "services.web.imagee: unknown key (not in the compose spec; use an x- prefix for extensions)",
    ),
    "wrong_type": (
        "services:\n  web:\n    image: a\n    ports: 80\n",
        "services.web.ports: expected a list, got a number",
    ),
    "bad_port": (
        "services:\n  web:\n    image: a\n    ports: ['80:99999']\n",
        f"services.web.ports[0]: Invalid containerPort: 99999; {PORT_FORM}",
    ),
    "bad_port_protocol": (
        "services:\n  web:\n    image: a\n    ports: ['80/icmp']\n",
        f"services.web.ports[0]: Invalid proto: icmp; {PORT_FORM}",
    ),
    "port_long_without_target": (
        "services:\n  a:\n    image: x\n    ports:\n      - published: 80\n",
        "services.a.ports[0]: long syntax needs target: (the container port)",
    ),
    "missing_image_and_build": (
        "services:\n  web:\n    command: echo hi\n",
        "services.web: needs an image or a build section (add image: NAME or build: DIR)",
    ),
    "required_variable": (
        "services:\n  web:\n    image: ${IMAGE:?set IMAGE to the image to run}\n",
        "services.web.image: required variable IMAGE is missing a value: set IMAGE to the image to run",
    ),
    "invalid_template": (
        "services:\n  a:\n    image: ${oops\n",
        'services.a.image: invalid interpolation format "${oops" (write a literal $ as $$)',
    ),
    "cyclic_depends_on": (
        "services:\n  a:\n    image: x\n    depends_on: [b]\n  b:\n    image: x\n    depends_on: [a]\n",
        "services.a.depends_on: dependency cycle detected: a -> b -> a",
    ),
    "unknown_service_in_depends_on": (
        "services:\n  a:\n    image: x\n    depends_on:\n      db:\n        condition: service_healthy\n",
        'services.a.depends_on.db: unknown service "db" (services: a)',
    ),
    "bad_depends_on_condition": (
        "services:\n  a:\n    image: x\n    depends_on:\n      b: {condition: started}\n  b:\n    image: x\n",
        "services.a.depends_on.b.condition: must be one of service_started, service_healthy, "
        "service_completed_successfully, got 'started'",
    ),
    "bad_volume_too_many_colons": (
        "services:\n  a:\n    image: x\n    volumes: ['/a:/b:ro:extra']\n",
        f"services.a.volumes[0]: invalid spec: /a:/b:ro:extra: too many colons; {VOLUME_FORM}",
    ),
    "bad_volume_empty_section": (
        "services:\n  a:\n    image: x\n    volumes: ['/a::ro']\n",
        f"services.a.volumes[0]: invalid spec: /a::ro: empty section between colons; {VOLUME_FORM}",
    ),
    "undefined_named_volume": (
        "services:\n  a:\n    image: x\n    volumes: ['data:/data']\n",
        'services.a.volumes[0]: undefined volume "data" (declare it under the top-level volumes:)',
    ),
    "duplicate_container_name": (
        "services:\n  a:\n    image: x\n    container_name: same\n"
        "  b:\n    image: x\n    container_name: same\n",
        'services.b.container_name: "same" is already used by service a (container names must be unique)',
    ),
    "undefined_network": (
        "services:\n  a:\n    image: x\n    networks: [front]\n",
        'services.a.networks.front: undefined network "front" (declare it under the top-level networks:)',
    ),
    "network_mode_unknown_service": (
        "services:\n  a:\n    image: x\n    network_mode: service:nope\n",
        'services.a.network_mode: unknown service "nope" (services: a)',
    ),
    "network_mode_with_networks": (
        "services:\n  a:\n    image: x\n    network_mode: host\n    networks: [default]\n",
        "services.a.networks: cannot be combined with network_mode (remove one of them)",
    ),
    "bad_duration": (
        "services:\n  a:\n    image: x\n    stop_grace_period: soon\n",
        "services.a.stop_grace_period: expected a duration like 30s or 1m30s, got 'soon'",
    ),
    "bad_size": (
        "services:\n  a:\n    image: x\n    deploy:\n      resources:\n        limits:\n"
        "          memory: lots\n",
        "services.a.deploy.resources.limits.memory: expected a size like 512m or 1g, got 'lots'",
    ),
    "bad_cast_after_interpolation": (
        "services:\n  a:\n    image: x\n    deploy:\n      replicas: ${N:-many}\n",
        "services.a.deploy.replicas: expected an integer, got 'many'",
    ),
    "extends_unknown_service": (
        "services:\n  a:\n    extends: base\n",
        'services.a.extends.service: service "base" not found in {file}',
    ),
    "yaml_syntax": (
        "services:\n  a:\n    image: [x\n",
        "line 4 column 1: expected ',' or ']', but got '<stream end>'",
    ),
    "duplicate_key": (
        "services:\n  a:\n    image: x\n    image: y\n",
        'line 4 column 5: found duplicate key "image" with value "y" (original value: "x")',
    ),
    "top_level_not_a_mapping": ("- a\n- b\n", "top level must be a mapping, got a list"),
    "empty_file": ("", "empty compose file (add a services: section)"),
}


@pytest.mark.parametrize("name", list(CASES))
def test_invalid_file_gives_one_precise_line(name: str, tmp_path: Path) -> None:
    text, expected = CASES[name]
    path = tmp_path / "compose.yaml"
    path.write_text(text)
    with pytest.raises(ComposeError) as err:
        load_project(ProjectOptions(cwd=str(tmp_path), environ={}, project_name="p"))
    message = err.value.line()
    assert "\n" not in message
    assert message == f"{path}: " + expected.replace("{file}", str(path))


def test_error_names_the_override_file_that_caused_it(tmp_path: Path) -> None:
    (tmp_path / "base.yaml").write_text("services:\n  a:\n    image: x\n")
    (tmp_path / "over.yaml").write_text("services:\n  a:\n    ports: ['http']\n")
    with pytest.raises(ComposeError) as err:
        load_project(
            ProjectOptions(files=["base.yaml", "over.yaml"], cwd=str(tmp_path), environ={})
        )
    assert str(err.value).startswith(f"{tmp_path / 'over.yaml'}: services.a.ports[0]: ")


def test_semantic_error_names_the_file_defining_the_key(tmp_path: Path) -> None:
    (tmp_path / "base.yaml").write_text("services:\n  a:\n    image: x\n")
    (tmp_path / "over.yaml").write_text("services:\n  a:\n    depends_on: [ghost]\n")
    with pytest.raises(ComposeError) as err:
        load_project(
            ProjectOptions(files=["base.yaml", "over.yaml"], cwd=str(tmp_path), environ={})
        )
    assert str(err.value) == (
        f'{tmp_path / "over.yaml"}: services.a.depends_on.ghost: unknown service "ghost" (services: a)'
    )


def test_missing_file_and_env_file(tmp_path: Path) -> None:
    with pytest.raises(ComposeError, match=r"compose file .*nope\.yaml not found \(check -f\)"):
        load_project(ProjectOptions(files=["nope.yaml"], cwd=str(tmp_path), environ={}))
    (tmp_path / "compose.yaml").write_text("services:\n  a:\n    image: x\n    env_file: [a.env]\n")
    with pytest.raises(ComposeError, match=r"services\.a\.env_file: file .*a\.env not found"):
        load_project(ProjectOptions(cwd=str(tmp_path), environ={}, project_name="p"))


def test_invalid_explicit_project_name(tmp_path: Path) -> None:
    (tmp_path / "compose.yaml").write_text("services:\n  a:\n    image: x\n")
    with pytest.raises(ComposeError, match='invalid project name "Bad Name"'):
        load_project(ProjectOptions(cwd=str(tmp_path), environ={}, project_name="Bad Name"))
