"""Interop with tools no one here wrote: skopeo and podman read what we write, and we
load what they write. Digests must survive every round trip."""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import TEST_IMAGES, Env, need
from tests.integration.podman_peer import podman_peer

Run = Callable[..., subprocess.CompletedProcess[str]]


def _layout_digests(name: str) -> tuple[str, str]:
    """(manifest digest, config digest) of a test image layout."""
    layout = TEST_IMAGES / name
    index = json.loads((layout / "index.json").read_text())
    mdigest = index["manifests"][0]["digest"]
    manifest = json.loads((layout / "blobs" / "sha256" / mdigest[7:]).read_text())
    return mdigest, manifest["config"]["digest"]


def _skopeo(*args: str) -> subprocess.CompletedProcess[str]:
    need(shutil.which("skopeo"), "skopeo", "apt-get install skopeo (scripts/setup-host.sh)")
    p = subprocess.run(["skopeo", *args], capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, f"skopeo {' '.join(args)}: {p.stderr}"
    return p


@pytest.fixture
def podman(tmp_path: Path) -> Iterator[Run]:
    """podman with its own root, runroot and tmpdir (so its pause process is ours to end)."""
    need(shutil.which("podman"), "podman", "apt-get install podman (scripts/setup-host.sh)")
    base = tmp_path / "podman"
    with podman_peer(base / "root") as run:
        yield run


def _inspect(rl: Env, ref: str) -> dict[str, Any]:
    info = rl.run("image", "inspect", ref, check=True).json()
    assert isinstance(info, list)
    return info[0]  # type: ignore[no-any-return]


def test_load_skopeo_archives(rl: Env, tmp_path: Path) -> None:
    mdigest, cdigest = _layout_digests("busybox")
    src = f"oci:{TEST_IMAGES / 'busybox'}:latest"
    docker_tar = tmp_path / "bb-docker.tar"
    oci_tar = tmp_path / "bb-oci.tar"
    _skopeo("copy", "-q", src, f"docker-archive:{docker_tar}:docker.io/library/busybox:latest")
    _skopeo("copy", "-q", src, f"oci-archive:{oci_tar}:docker.io/library/other:v1")
    try:
        r = rl.run("load", "-i", str(docker_tar), check=True)
        assert "docker.io/library/busybox:latest" in r.out
        assert _inspect(rl, "busybox")["Id"] == cdigest[7:]  # image id = config digest
        with open(oci_tar, "rb") as f:  # from stdin
            p = subprocess.run(
                [shutil.which("rootless") or "rootless", "load"],
                stdin=f, capture_output=True, text=True, env=rl.env(), timeout=120,
            )  # fmt: skip
        assert p.returncode == 0, p.stderr
        info = _inspect(rl, "other:v1")
        assert info["Digest"] == mdigest  # the manifest digest survives oci-archive
        assert info["Id"] == cdigest[7:]
        assert rl.run("image", "check", check=True).out == ""
    finally:
        rl.run("unshare", "rm", "-rf", "--one-file-system", str(rl.root))


def test_podman_and_skopeo_read_what_we_save(
    rl: Env, busybox_image: str, podman: Run, tmp_path: Path
) -> None:
    mdigest, cdigest = _layout_digests("busybox")
    docker_tar = tmp_path / "out-docker.tar"
    oci_tar = tmp_path / "out-oci.tar"
    oci_dir = tmp_path / "out-dir"
    rl.run("save", "-o", str(docker_tar), "busybox", check=True)
    rl.run("save", "--format", "oci-archive", "-o", str(oci_tar), "busybox", check=True)
    rl.run("save", "--format", "oci-dir", "-o", str(oci_dir), "busybox", check=True)

    info = json.loads(_skopeo("inspect", f"docker-archive:{docker_tar}").stdout)
    assert info["Layers"], info
    cfg = json.loads(_skopeo("inspect", "--config", f"docker-archive:{docker_tar}").stdout)
    assert cfg["config"]["Cmd"] == ["sh"]
    info = json.loads(_skopeo("inspect", f"oci-archive:{oci_tar}").stdout)
    assert info["Digest"] == mdigest
    info = json.loads(_skopeo("inspect", f"oci:{oci_dir}").stdout)
    assert info["Digest"] == mdigest

    out = podman("load", "-i", str(docker_tar)).stdout
    assert "busybox" in out
    ids = podman("images", "--no-trunc", "--format", "{{.ID}}").stdout.split()
    assert cdigest[7:] in [i.removeprefix("sha256:") for i in ids]
    podman("rmi", "-a")
    podman("load", "-i", str(oci_tar))
    ids = podman("images", "--no-trunc", "--format", "{{.ID}}").stdout.split()
    assert cdigest[7:] in [i.removeprefix("sha256:") for i in ids]


def test_we_load_what_podman_saves(rl: Env, podman: Run, tmp_path: Path) -> None:
    _, cdigest = _layout_digests("busybox")
    src = tmp_path / "src.tar"
    _skopeo("copy", "-q", f"oci:{TEST_IMAGES / 'busybox'}:latest",
            f"docker-archive:{src}:docker.io/library/busybox:latest")  # fmt: skip
    podman("load", "-i", str(src))
    pd = tmp_path / "podman-docker.tar"
    po = tmp_path / "podman-oci.tar"
    podman("save", "-o", str(pd), "docker.io/library/busybox:latest")
    podman("save", "--format", "oci-archive", "-o", str(po), "docker.io/library/busybox:latest")
    try:
        rl.run("load", "-i", str(pd), check=True)
        assert _inspect(rl, "busybox")["Id"] == cdigest[7:]
        rl.run("rmi", "busybox", check=True)
        rl.run("load", "-i", str(po), check=True)
        # podman rewrites the config when it writes OCI; what it wrote must be what we hold.
        raw = _skopeo("inspect", "--raw", f"oci-archive:{po}").stdout
        info = _inspect(rl, "busybox")
        assert info["Id"] == json.loads(raw)["config"]["digest"][7:]
        assert info["Digest"] == "sha256:" + hashlib.sha256(raw.encode()).hexdigest()
        assert rl.run("image", "check", check=True).out == ""
    finally:
        rl.run("unshare", "rm", "-rf", "--one-file-system", str(rl.root))


def test_save_load_round_trip_keeps_digests(rl: Env, busybox_image: str, tmp_path: Path) -> None:
    for fmt in ("oci-archive", "oci-dir", "docker-archive"):
        before = _inspect(rl, "busybox")
        out = tmp_path / f"rt-{fmt}"
        rl.run("save", "--format", fmt, "-o", str(out), "busybox", check=True)
        rl.run("rmi", "busybox", check=True)
        rl.run("load", "-i", str(out), check=True)
        after = _inspect(rl, "busybox")
        assert after["Id"] == before["Id"]
        assert after["RootFS"] == before["RootFS"]
        if fmt != "docker-archive":  # docker-archive has no manifest to keep
            assert after["Digest"] == before["Digest"]
