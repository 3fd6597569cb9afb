"""Loading whole projects: compose-go's CLI vectors and loader fixtures, podman's
compose scenarios, file lookup, env files, extends, profiles and the typed model."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest

from rootless.compose.errors import ComposeError
from rootless.compose.loader import ProjectOptions, load_project
from rootless.compose.model import Project
from tests.conftest import CONFORMANCE
from tests.unit._compose_conformance import ids, root, vectors

OPTIONS = vectors("project_options.json")
NAME_CASES = OPTIONS.get("cases", [])
LOAD_CASES = OPTIONS.get("loading", [])


@pytest.fixture
def cli_copy(conformance: Path, tmp_path: Path) -> Path:
    """A writable copy of compose-go's cli/ directory (the vectors' paths are relative)."""
    dest = tmp_path / "cli"
    shutil.copytree(root() / "cli", dest)
    for p in [dest, *dest.rglob("*")]:
        p.chmod(0o755 if p.is_dir() else 0o644)
    return dest


def _options(case: dict[str, Any], cli: Path) -> ProjectOptions:
    cwd = cli / case["cwd"] if "cwd" in case else cli
    workdir = case.get("working_dir")
    if workdir and workdir.startswith("<"):
        workdir = str(cli)  # "the directory that holds testdata/"
    return ProjectOptions(
        files=list(case.get("files", [])),
        project_name=case.get("name_flag"),
        project_directory=workdir,
        env_files=[str(cli / f) for f in case.get("env_files", [])],
        environ=dict(case.get("env", {})),
        cwd=str(cwd),
        stdin=case.get("stdin"),
        dot_env=bool(case.get("use_dot_env", False)),
        resolve_env_files=bool(case.get("discard_env_file", True)),
    )


@pytest.mark.parametrize("case", NAME_CASES, ids=ids(NAME_CASES, "expected_name"))
def test_project_name(case: dict[str, Any], cli_copy: Path) -> None:
    opts = _options(case, cli_copy)
    if "error_contains" in case:
        with pytest.raises(ComposeError) as err:
            load_project(opts)
        assert case["error_contains"] in str(err.value)
        return
    expected = case["expected_name"]
    if expected.startswith("<"):
        expected = cli_copy.name
    assert load_project(opts).name == expected


def _at(model: Any, dotted: str) -> Any:
    node = model
    for part in dotted.replace("[", ".[").split("."):
        if part.startswith("["):
            node = node[int(part[1:-1])]
        else:
            node = node.get(part) if isinstance(node, dict) else None
    return node


@pytest.mark.parametrize("case", LOAD_CASES, ids=ids(LOAD_CASES, "note"))
def test_loading(case: dict[str, Any], cli_copy: Path) -> None:
    opts = _options(case, cli_copy)
    if case.get("default_config_path"):
        opts.project_directory = str(cli_copy / case["working_dir"])
    project = load_project(opts)
    for key, value in case["expect"].items():
        if key == "compose_files":
            assert project.files == [v.replace("<abs>", str(cli_copy)) for v in value]
        else:
            assert _at(project.model, key) == value, key


def test_conformance_counts(conformance: Path) -> None:
    assert (len(NAME_CASES), len(LOAD_CASES)) == (21, 6)


# --- compose-go loader fixtures -------------------------------------------------------

TESTDATA = root() / "loader" / "testdata"


def _load(path: Path, **kw: Any) -> Project:
    kw.setdefault("environ", {})
    return load_project(ProjectOptions(files=[str(path)], cwd=str(path.parent), **kw))


@pytest.mark.parametrize(
    ("fixture", "message"),
    [
        (
            "compose-depends-on-cycle.yaml",
            "dependency cycle detected: service1 -> service2 -> service3 -> service1",
        ),
        ("compose-depends-on-self.yaml", "dependency cycle detected: service1 -> service1"),
        ("compose-depends-on-profile-no-cycle.yaml", "dependency cycle detected"),
        ("empty.yaml", "empty compose file"),
    ],
)
def test_fixture_errors(fixture: str, message: str, conformance: Path) -> None:
    with pytest.raises(ComposeError) as err:
        _load(TESTDATA / fixture)
    assert message in str(err.value)
    assert fixture in str(err.value)  # the line names the file


def test_fixture_with_version(conformance: Path) -> None:
    project = _load(TESTDATA / "compose-test-with-version.yaml", project_name="v")
    assert any("version" in w for w in project.warnings)
    assert project.model["services"]["web"]["build"]["context"] == str(TESTDATA / "Dockerfile")
    other = project.services["other"]
    assert [(v.type, v.target) for v in other.volumes] == [("volume", "/data")]
    assert "front" in project.networks
    assert project.volumes["data"].driver == "local"


def test_fixture_extends_other_file(conformance: Path) -> None:
    project = _load(TESTDATA / "compose-test-extends.yaml")
    svc = project.services["importer"]
    assert svc.image == "nginx"
    assert svc.container_name == "imported"
    # env_file is relative to the extended file's directory, not the extending one.
    assert svc.environment == {"SOURCE": "extends"}
    assert [(v.source, v.target) for v in svc.volumes] == [("/opt/data", "/var/lib/mysql")]


def test_fixture_extends_nested_dirs(conformance: Path) -> None:
    project = _load(TESTDATA / "extends" / "withdir" / "compose.yaml", project_name="x")
    assert project.services["test"].image == "hello-world"


def test_fixture_extends_reset(conformance: Path) -> None:
    project = _load(TESTDATA / "extends" / "reset.yaml", project_name="x")
    assert project.services["init"].command == ["sleep", "infinity"]
    assert project.services["base"].command is None
    assert project.services["base"].image == "alpine:latest"


def test_fixture_extends_sibling_build_context(conformance: Path) -> None:
    project = _load(TESTDATA / "extends" / "nested.yaml", project_name="x")
    build = project.services["with-build"].build
    assert build is not None and build.context == str(TESTDATA / "extends")


def test_env_file_examples(conformance: Path, tmp_path: Path) -> None:
    loader_dir = root() / "loader"
    for name in ("example1.env", "example2.env"):
        shutil.copy(loader_dir / name, tmp_path / name)
    (tmp_path / "compose.yaml").write_text(
        "services:\n  a:\n    image: x\n    env_file:\n      - example1.env\n"
        "      - path: example2.env\n        required: false\n      - path: absent.env\n"
        "        required: false\n"
    )
    env = _load(tmp_path / "compose.yaml", project_name="x").services["a"].environment
    assert env["FOO"] == "foo_from_env_file"
    assert env["BAR"] == "bar_from_env_file_2"
    assert env["BAZ"] == "baz_from_env_file"
    assert env["QUX"] == "quz_from_env_file_2"
    assert env["ENV.WITH.DOT"] == "ok"
    assert env["ENV_WITH_UNDERSCORE"] == "ok"


def test_label_file_examples(conformance: Path, tmp_path: Path) -> None:
    loader_dir = root() / "loader"
    for name in ("example1.label", "example2.label"):
        shutil.copy(loader_dir / name, tmp_path / name)
    (tmp_path / "compose.yaml").write_text(
        "services:\n  a:\n    image: x\n    labels: {BAZ: from_compose}\n"
        "    label_file: [example1.label, example2.label]\n"
    )
    labels = _load(tmp_path / "compose.yaml", project_name="x").services["a"].labels
    assert labels == {
        "FOO": "foo_from_label_file",
        "LABEL.WITH.DOT": "ok",
        "LABEL_WITH_UNDERSCORE": "ok",
        "BAR": "bar_from_label_file_2",
        "BAZ": "from_compose",
        "QUX": "quz_from_label_file_2",
    }


def test_using_variables_passes_schema_before_interpolation(conformance: Path) -> None:
    from rootless.compose import schema
    from rootless.compose.yamlio import parse

    path = root() / "schema" / "using-variables.yaml"
    schema.validate(parse(path.read_text(), str(path)), str(path))


SCENARIOS = sorted((CONFORMANCE / "podman-compose-scenarios").glob("*/docker-compose.yml"))


@pytest.mark.parametrize("path", SCENARIOS, ids=[p.parent.name for p in SCENARIOS])
def test_podman_scenario_loads(path: Path, conformance: Path) -> None:
    project = _load(path)
    assert project.name == path.parent.name
    assert project.services
    assert set(project.service_order()) == set(project.services)


def test_podman_scenarios_all_present(conformance: Path) -> None:
    assert len(SCENARIOS) == 13


# --- our own behaviour ------------------------------------------------------------------


def _write(directory: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        path = directory / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


def test_lookup_walks_up_and_takes_override(tmp_path: Path) -> None:
    _write(
        tmp_path / "My Proj",
        {
            "compose.yaml": "services:\n  web:\n    image: a\n",
            "compose.override.yaml": "services:\n  web:\n    image: b\n",
            "sub/deeper/.keep": "",
        },
    )
    project = load_project(
        ProjectOptions(cwd=str(tmp_path / "My Proj" / "sub" / "deeper"), environ={})
    )
    assert project.name == "myproj"
    assert project.services["web"].image == "b"
    assert project.working_dir == tmp_path / "My Proj"


@pytest.mark.parametrize(
    "name", ["compose.yaml", "compose.yml", "docker-compose.yml", "docker-compose.yaml"]
)
def test_default_file_names(tmp_path: Path, name: str) -> None:
    _write(tmp_path, {name: "services:\n  web:\n    image: a\n"})
    project = load_project(ProjectOptions(cwd=str(tmp_path), environ={}, project_name="p"))
    assert project.files == [str(tmp_path / name)]


def test_no_compose_file_is_one_line(tmp_path: Path) -> None:
    with pytest.raises(ComposeError, match=r"no compose file found in .* use -f FILE"):
        load_project(ProjectOptions(cwd=str(tmp_path), environ={}))


def test_interpolation_from_dot_env_and_os(tmp_path: Path) -> None:
    _write(
        tmp_path,
        {
            ".env": "TAG=1.0\nPORT=8080\nHOST_IP=127.0.0.1\n",
            "compose.yaml": (
                "name: ${NAME:-demo}\nservices:\n  web:\n    image: app:${TAG}\n"
                "    ports: ['${HOST_IP}:${PORT}:80']\n    environment:\n"
                "      - LITERAL=$$HOME\n      - FROM_OS\n    deploy:\n      replicas: ${N:-2}\n"
            ),
        },
    )
    project = load_project(
        ProjectOptions(cwd=str(tmp_path), environ={"TAG": "2.0", "FROM_OS": "y"})
    )
    web = project.services["web"]
    assert project.name == "demo"
    assert web.image == "app:2.0"  # the OS environment wins over .env
    assert (web.ports[0].host_ip, web.ports[0].published, web.ports[0].target) == (
        "127.0.0.1",
        "8080",
        80,
    )
    assert web.environment == {"LITERAL": "$HOME", "FROM_OS": "y"}
    assert web.deploy.replicas == 2 and web.replicas == 2


def test_unset_variable_warns(tmp_path: Path) -> None:
    _write(tmp_path, {"compose.yaml": "services:\n  web:\n    image: app:${MISSING}\n"})
    project = load_project(ProjectOptions(cwd=str(tmp_path), environ={}))
    assert project.services["web"].image == "app:"
    assert any('"MISSING" variable is not set' in w for w in project.warnings)


def test_multiple_files_merge_in_order(tmp_path: Path) -> None:
    _write(
        tmp_path,
        {
            "a.yaml": "services:\n  web:\n    image: a\n    environment: {A: '1', B: '1'}\n    ports: ['80']\n",
            "b.yaml": "services:\n  web:\n    environment: [B=2]\n    ports: ['81']\n  db:\n    image: pg\n",
        },
    )
    project = load_project(
        ProjectOptions(files=["a.yaml", "b.yaml"], cwd=str(tmp_path), environ={})
    )
    web = project.services["web"]
    assert web.environment == {"A": "1", "B": "2"}
    assert [p.target for p in web.ports] == [80, 81]
    assert sorted(project.services) == ["db", "web"]


def test_profiles(tmp_path: Path) -> None:
    _write(
        tmp_path,
        {
            "compose.yaml": (
                "services:\n  web:\n    image: a\n  debug:\n    image: b\n    profiles: [dev]\n"
                "  tools:\n    image: c\n    profiles: [ops, dev]\n"
            )
        },
    )
    base = ProjectOptions(cwd=str(tmp_path), environ={})
    assert sorted(load_project(base).services) == ["web"]
    assert sorted(load_project(base).disabled) == ["debug", "tools"]
    base.profiles = ["dev"]
    assert sorted(load_project(base).services) == ["debug", "tools", "web"]
    by_env = ProjectOptions(cwd=str(tmp_path), environ={"COMPOSE_PROFILES": "ops"})
    assert sorted(load_project(by_env).services) == ["tools", "web"]


def test_dependency_on_disabled_profile_is_an_error(tmp_path: Path) -> None:
    _write(
        tmp_path,
        {
            "compose.yaml": (
                "services:\n  web:\n    image: a\n    depends_on: [db]\n"
                "  db:\n    image: b\n    profiles: [data]\n"
            )
        },
    )
    with pytest.raises(ComposeError, match=r"services\.web\.depends_on\.db: .*--profile data"):
        load_project(ProjectOptions(cwd=str(tmp_path), environ={}))


def test_stdin_file(tmp_path: Path) -> None:
    project = load_project(
        ProjectOptions(
            files=["-"], cwd=str(tmp_path), environ={}, stdin="services:\n  a:\n    image: x\n"
        )
    )
    assert project.services["a"].image == "x"
    assert project.name == tmp_path.name.lower().replace(".", "")


# --- include ----------------------------------------------------------------------------


def test_fixture_include(conformance: Path) -> None:
    project = _load(TESTDATA / "compose-include.yaml", project_name="x")
    assert sorted(project.services) == ["bar", "imported"]
    imported = project.services["imported"]
    assert imported.environment == {"SOURCE": "extends"}  # env_file relative to subdir/
    assert project.services["bar"].environment == {"FOO": "BAR"}


def test_fixture_include_relative_paths(conformance: Path) -> None:
    included = _load(TESTDATA / "include" / "compose.yaml", project_name="x").services["included"]
    assert included.build is not None and included.build.context == str(TESTDATA / "include")
    assert [(v.source, v.target) for v in included.volumes] == [(str(TESTDATA / "include"), "/mnt")]


def test_fixture_include_project_directory(conformance: Path) -> None:
    svc = _load(TESTDATA / "include" / "project-directory.yaml", project_name="x").services[
        "service"
    ]
    subdir = TESTDATA / "subdir"
    assert svc.build is not None and svc.build.context == str(subdir)
    assert svc.volumes[0].source == str(subdir / "compose-test-extends-imported.yaml")
    assert svc.environment == {"SOURCE": "extends"}


def test_fixture_include_with_extends(conformance: Path) -> None:
    svc = _load(TESTDATA / "combined" / "compose.yaml", project_name="x").services["service"]
    assert svc.build is not None and svc.build.context == str(TESTDATA / "combined" / "dir")


def test_fixture_include_cycle(conformance: Path) -> None:
    with pytest.raises(ComposeError) as err:
        _load(TESTDATA / "compose-include-cycle.yaml")
    assert str(err.value).startswith("include cycle detected")


def test_include_conflict_is_an_error(tmp_path: Path) -> None:
    _write(
        tmp_path,
        {
            "compose.yaml": "include: [lib/db.yaml]\nservices:\n  db:\n    image: mine\n",
            "lib/db.yaml": "services:\n  db:\n    image: theirs\n",
        },
    )
    with pytest.raises(ComposeError) as err:
        load_project(ProjectOptions(cwd=str(tmp_path), environ={}))
    assert str(err.value) == (
        f"{tmp_path / 'compose.yaml'}: services.db: also defined by the included "
        f"{tmp_path / 'lib' / 'db.yaml'} (rename one of them)"
    )


def test_include_env_file(tmp_path: Path) -> None:
    _write(
        tmp_path,
        {
            "compose.yaml": "include:\n  - path: lib/db.yaml\n    env_file: lib/db.env\n",
            "lib/db.yaml": "services:\n  db:\n    image: postgres:${PG_VERSION}\n",
            "lib/db.env": "PG_VERSION=16\n",
        },
    )
    project = load_project(ProjectOptions(cwd=str(tmp_path), environ={}))
    assert project.services["db"].image == "postgres:16"


def test_optional_dependency_on_unknown_service_is_dropped(tmp_path: Path) -> None:
    _write(
        tmp_path,
        {
            "compose.yaml": (
                "services:\n  web:\n    image: a\n    depends_on:\n"
                "      ghost: {condition: service_started, required: false}\n"
            )
        },
    )
    project = load_project(ProjectOptions(cwd=str(tmp_path), environ={}))
    assert project.services["web"].depends_on == {}
    assert any('unknown service "ghost", ignored' in w for w in project.warnings)
