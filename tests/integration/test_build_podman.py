"""Our build against podman's: the same Dockerfile gives the same image config, and the
image we write is one podman and skopeo accept (pull, inspect, run)."""

from __future__ import annotations

import json
import shutil
import subprocess
import tarfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import TEST_IMAGES, Env, need
from tests.integration.podman_peer import podman_peer

Podman = Callable[..., subprocess.CompletedProcess[str]]

# Every instruction that shapes the config. SHELL comes after CMD/ENTRYPOINT: podman
# (buildah 1.28) ignores SHELL for shell-form CMD where Docker (and we) apply it.
DOCKERFILE = """\
FROM busybox
ARG VERSION=1.0
ARG UNUSED
ENV APP_HOME=/srv/app PATH=/srv/app/bin:$PATH
ENV EMPTY="" QUOTED="a b"
LABEL org.example.version=$VERSION maintainer="someone" "with space"=yes
EXPOSE 5000 53/udp 8000-8001
WORKDIR $APP_HOME
WORKDIR sub
COPY hello.txt ./
RUN echo built > built.txt
VOLUME ["/data", "/cache"]
VOLUME /logs
USER nobody:nogroup
STOPSIGNAL SIGINT
HEALTHCHECK --interval=30s --timeout=5s --start-period=2s --retries=4 CMD wget -q -O- http://localhost:5000/ || exit 1
ONBUILD RUN echo child
MAINTAINER nobody@example.com
ENTRYPOINT ["/bin/sh", "-c"]
CMD echo hello $APP_HOME
SHELL ["/bin/sh", "-ec"]
"""

FIELDS = ("Env", "Cmd", "Entrypoint", "WorkingDir", "User", "ExposedPorts", "Volumes",
          "Labels", "StopSignal")  # fmt: skip


@pytest.fixture
def podman(tmp_path: Path) -> Iterator[Podman]:
    """Rootless podman with its own root/runroot/tmpdir, vfs, and runc (Debian's crun
    refuses this host's hybrid cgroups)."""
    need(shutil.which("podman"), "podman", "apt-get install podman (scripts/setup-host.sh)")
    need(shutil.which("runc"), "runc", "apt-get install runc (scripts/setup-host.sh)")
    with podman_peer(tmp_path / "podman-root", "--runtime", "runc") as run:
        yield run


def _oci_archive(layout: Path, dest: Path) -> Path:
    """podman cannot pull oci:DIR from a path with a dot-directory (~/.cache): tar it."""
    with tarfile.open(dest, "w") as tf:
        for p in sorted(layout.iterdir()):
            tf.add(p, arcname=p.name)
    return dest


def _ours(rl: Env, ref: str) -> dict[str, Any]:
    data = json.loads(rl.run("image", "inspect", ref, check=True).out)
    return dict((data[0] if isinstance(data, list) else data)["Config"])


def test_config_matches_podman_build(
    rl: Env, busybox_image: str, podman: Podman, tmp_path: Path
) -> None:
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    (ctx / "Dockerfile").write_text(DOCKERFILE)
    (ctx / "hello.txt").write_text("hi\n")
    archive = _oci_archive(TEST_IMAGES / "busybox", tmp_path / "busybox.tar")
    podman("pull", "-q", f"oci-archive:{archive}:latest")
    podman("tag", "docker.io/library/busybox:latest", "busybox:latest")
    podman("build", "-q", "--format", "docker", "-t", "cmp", str(ctx))
    theirs_all = json.loads(podman("image", "inspect", "cmp").stdout)[0]
    theirs = dict(theirs_all["Config"])
    theirs["Labels"].pop("io.buildah.version", None)
    theirs["Healthcheck"] = theirs_all.get("Healthcheck")

    r = rl.run("build", "-t", "cmp", str(ctx), timeout=300)
    assert r.rc == 0, r.err
    ours = _ours(rl, "cmp")
    for key in (*FIELDS, "Healthcheck"):
        assert ours.get(key) == theirs.get(key), (
            f"{key}: ours {ours.get(key)} podman {theirs.get(key)}"
        )
    assert ours["OnBuild"] == ["RUN echo child"]
    assert ours["Shell"] == ["/bin/sh", "-ec"]


def test_podman_and_skopeo_accept_the_image(
    rl: Env, busybox_image: str, podman: Podman, tmp_path: Path
) -> None:
    need(shutil.which("skopeo"), "skopeo", "apt-get install skopeo (scripts/setup-host.sh)")
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    (ctx / "Dockerfile").write_text(
        "FROM busybox AS b\nRUN echo artefact > /a\nFROM scratch\nCOPY --from=b /bin/busybox /bin/sh\n"
        'COPY --from=b /a /a\nENV K=v\nCMD ["/bin/sh", "-c", "cat /a; echo $K"]\n'
    )
    assert rl.run("build", "-t", "interop", str(ctx), timeout=300).rc == 0
    archive = tmp_path / "interop.tar"
    rl.run("save", "--format", "oci-archive", "-o", str(archive), "interop", check=True)
    p = subprocess.run(["skopeo", "inspect", "--config", f"oci-archive:{archive}"],
                       capture_output=True, text=True, timeout=120)  # fmt: skip
    assert p.returncode == 0, p.stderr
    cfg = json.loads(p.stdout)
    assert cfg["config"]["Cmd"] == ["/bin/sh", "-c", "cat /a; echo $K"]
    assert len(cfg["rootfs"]["diff_ids"]) == 2  # scratch + two COPY layers
    podman("pull", "-q", f"oci-archive:{archive}")
    images = podman("images", "--format", "{{.ID}}").stdout.split()
    out = podman("run", "--rm", "--network", "none", images[0]).stdout
    assert out == "artefact\nv\n"
