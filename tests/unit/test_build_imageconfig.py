"""What metadata instructions do to the image config (podman/Docker shapes)."""

from __future__ import annotations

from typing import Any

import pytest

from rootless.build.dockerfile import parse_dockerfile
from rootless.build.errors import InstructionError
from rootless.build.expand import StageScope
from rootless.build.imageconfig import StageConfig, expose_ports, workdir


def config_after(lines: str, base: dict[str, Any] | None = None) -> dict[str, Any]:
    df = parse_dockerfile(f"FROM scratch\n{lines}\n")
    cfg = StageConfig(base)
    scope = StageScope({}, {}, (base or {}).get("Env") or [])
    for raw in df.stages[0].instructions:
        ins = scope.apply(raw)
        if ins.keyword == "ENV":
            cfg.set_env([(p.key, p.value) for p in ins.pairs])  # type: ignore[attr-defined]
        elif ins.keyword != "ARG":
            cfg.apply(ins)
    return cfg.config


def test_cmd_and_entrypoint_forms() -> None:
    c = config_after('CMD echo hi\nENTRYPOINT ["/bin/tini", "--"]')
    assert c["Entrypoint"] == ["/bin/tini", "--"]
    assert c["Cmd"] == ["/bin/sh", "-c", "echo hi"]  # set in this Dockerfile: kept


def test_entrypoint_drops_inherited_cmd() -> None:
    c = config_after('ENTRYPOINT ["run"]', {"Cmd": ["sh"]})
    assert "Cmd" not in c


def test_shell_applies_to_shell_form() -> None:
    c = config_after('SHELL ["/bin/bash", "-euc"]\nCMD echo hi')
    assert c["Cmd"] == ["/bin/bash", "-euc", "echo hi"]
    assert c["Shell"] == ["/bin/bash", "-euc"]


def test_env_order_and_expansion() -> None:
    c = config_after("ENV A=1 PATH=/x:$PATH\nENV A=2", {"Env": ["PATH=/bin", "B=b"]})
    assert c["Env"] == ["B=b", "PATH=/x:/bin", "A=2"]


def test_labels_ports_volumes() -> None:
    c = config_after(
        'ARG V=3\nLABEL a=1 "b c"=$V\nEXPOSE 80 53/udp 8000-8001\nVOLUME ["/data"]\nVOLUME /x /y'
    )
    assert c["Labels"] == {"a": "1", "b c": "3"}
    assert c["ExposedPorts"] == {"80/tcp": {}, "53/udp": {}, "8000-8001/tcp": {}}
    assert c["Volumes"] == {"/data": {}, "/x": {}, "/y": {}}


def test_workdir_user_stopsignal() -> None:
    c = config_after("WORKDIR /a\nWORKDIR b/../c\nUSER app:staff\nSTOPSIGNAL SIGINT")
    assert c["WorkingDir"] == "/a/c"
    assert c["User"] == "app:staff"
    assert c["StopSignal"] == "SIGINT"


def test_healthcheck_and_onbuild() -> None:
    c = config_after(
        "HEALTHCHECK --interval=30s --retries=4 CMD curl -f http://x/ || exit 1\n"
        "ONBUILD RUN echo child"
    )
    assert c["Healthcheck"] == {
        "Test": ["CMD-SHELL", "curl -f http://x/ || exit 1"],
        "Interval": 30_000_000_000,
        "Retries": 4,
    }
    assert c["OnBuild"] == ["RUN echo child"]
    assert config_after("HEALTHCHECK NONE")["Healthcheck"] == {"Test": ["NONE"]}


@pytest.mark.parametrize("bad", ["http", "0", "70000", "9-3", "80/icmp"])
def test_bad_ports(bad: str) -> None:
    with pytest.raises(InstructionError):
        expose_ports([bad])


def test_workdir_join() -> None:
    assert workdir(None, "app") == "/app"
    assert workdir("/srv", "/abs") == "/abs"
    assert workdir("/srv", "../x") == "/x"
