"""The registry client against a REAL registry (Debian's docker-registry) on 127.0.0.1:
plain HTTP marked insecure, TLS with a test CA, htpasswd basic auth, bearer tokens
(Docker Hub's flow), tampered blobs, pushes read back by skopeo and podman, and a
multi-arch index resolved to this host's platform."""

from __future__ import annotations

import json
import os
import shutil
import signal
import stat
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import TEST_IMAGES, Env, need
from tests.integration.registry_server import (
    PASSWORD,
    USER,
    Registry,
    TokenServer,
    run_registry,
    skopeo_copy,
    skopeo_inspect,
)

BUSYBOX = TEST_IMAGES / "busybox"


@pytest.fixture
def reg_env(rl: Env, tmp_path: Path) -> Env:
    """The isolated engine, with its own HOME (certs.d) and auth file."""
    home = tmp_path / "home"
    home.mkdir()
    rl.extra_env = {"HOME": str(home), "REGISTRY_AUTH_FILE": str(tmp_path / "auth.json")}
    return rl


def write_conf(rl: Env, host: str, *, insecure: bool) -> None:
    rl.config.mkdir(parents=True, exist_ok=True)
    (rl.config / "registries.conf").write_text(
        f'unqualified-search-registries = ["{host}"]\n\n'
        f'[[registry]]\nlocation = "{host}"\ninsecure = {"true" if insecure else "false"}\n'
    )


@pytest.fixture
def plain_registry(tmp_path: Path) -> Iterator[Registry]:
    need(shutil.which("docker-registry"), "docker-registry", "as root: scripts/setup-host.sh")
    need((BUSYBOX / "index.json").is_file(), "busybox test image", "scripts/make-test-images.sh")
    with run_registry(tmp_path / "reg") as reg:
        skopeo_copy(
            f"oci:{BUSYBOX}:latest",
            f"docker://{reg.host}/library/busybox:latest",
            "--dest-tls-verify=false",
        )
        yield reg


def _digest_of(rl: Env, ref: str) -> str:
    res = rl.run("image", "inspect", ref, check=True)
    data = json.loads(res.out)
    return str((data[0] if isinstance(data, list) else data)["Digest"])


def test_pull_insecure_http_short_name_and_digest(reg_env: Env, plain_registry: Registry) -> None:
    reg = plain_registry
    write_conf(reg_env, reg.host, insecure=True)
    # A short name goes to the search registry (library/ is Docker Hub's alone).
    skopeo_copy(
        f"oci:{BUSYBOX}:latest", f"docker://{reg.host}/busybox:latest", "--dest-tls-verify=false"
    )
    res = reg_env.run("pull", "-q", "busybox")
    assert res.rc == 0, res.err
    want = skopeo_inspect(f"docker://{reg.host}/library/busybox:latest", "--tls-verify=false")[
        "Digest"
    ]
    assert _digest_of(reg_env, f"{reg.host}/busybox:latest") == want
    images = reg_env.run("images", "--format", "json", check=True)
    assert f"{reg.host}/busybox" in images.out
    # What skopeo pushed, we run.
    ran = reg_env.run("run", "--rm", "--network", "none", "busybox", "echo", "pulled-and-ran")
    assert ran.rc == 0, ran.err
    assert ran.out.strip() == "pulled-and-ran"
    # By digest, and a second pull that finds every layer present.
    res = reg_env.run("pull", "-q", f"{reg.host}/library/busybox@{want}")
    assert res.rc == 0, res.err


def test_not_insecure_means_tls_required(reg_env: Env, plain_registry: Registry) -> None:
    write_conf(reg_env, "example.invalid", insecure=True)  # our registry is not marked
    res = reg_env.run("pull", "-q", f"{plain_registry.host}/library/busybox")
    assert res.rc == 125
    assert plain_registry.host in res.err
    assert len(res.err.strip().splitlines()) == 1


def test_manifest_unknown_and_unreachable(reg_env: Env, plain_registry: Registry) -> None:
    write_conf(reg_env, plain_registry.host, insecure=True)
    res = reg_env.run("pull", "-q", f"{plain_registry.host}/library/busybox:nope")
    assert res.rc == 125 and "not found" in res.err
    from tests.integration.registry_server import free_port

    closed = f"127.0.0.1:{free_port()}"
    write_conf(reg_env, closed, insecure=True)
    res = reg_env.run("pull", "-q", f"{closed}/x/y")
    assert res.rc == 125 and "cannot reach" in res.err


def test_tampered_blob_is_refused_and_store_unchanged(
    reg_env: Env, plain_registry: Registry
) -> None:
    reg = plain_registry
    write_conf(reg_env, reg.host, insecure=True)
    manifest = json.loads(
        subprocess.run(
            [
                "skopeo",
                "inspect",
                "--raw",
                "--tls-verify=false",
                f"docker://{reg.host}/library/busybox:latest",
            ],
            check=True,
            capture_output=True,
            text=True,
        ).stdout
    )
    layer = manifest["layers"][0]["digest"]
    data = reg.blob_data(layer)
    raw = bytearray(data.read_bytes())
    raw[len(raw) // 2] ^= 0xFF
    data.write_bytes(bytes(raw))
    res = reg_env.run("pull", "-q", f"{reg.host}/library/busybox")
    assert res.rc == 125
    assert "digest" in res.err
    images = reg_env.run("images", "-q", check=True)
    assert images.out.strip() == ""
    blobs = reg_env.root / "storage" / "blobs" / "sha256"
    assert not blobs.exists() or not any(blobs.iterdir())


def test_tls_verified_with_test_ca_and_unknown_ca_refused(reg_env: Env, tmp_path: Path) -> None:
    need((BUSYBOX / "index.json").is_file(), "busybox test image", "scripts/make-test-images.sh")
    with run_registry(tmp_path / "treg", tls=True) as reg:
        assert reg.tls_ca
        skopeo_copy(
            f"oci:{BUSYBOX}:latest",
            f"docker://{reg.host}/library/busybox:latest",
            f"--dest-cert-dir={reg.tls_ca.parent}",
        )
        write_conf(reg_env, "example.invalid", insecure=False)
        res = reg_env.run("pull", "-q", f"{reg.host}/library/busybox")
        assert res.rc == 125
        assert "certificate" in res.err.lower()
        certs = Path(reg_env.extra_env["HOME"]) / ".config/containers/certs.d" / reg.host
        certs.mkdir(parents=True)
        shutil.copy(reg.tls_ca, certs / "ca.crt")
        res = reg_env.run("pull", "-q", f"{reg.host}/library/busybox")
        assert res.rc == 0, res.err


def test_basic_auth_login_logout(reg_env: Env, tmp_path: Path) -> None:
    need((BUSYBOX / "index.json").is_file(), "busybox test image", "scripts/make-test-images.sh")
    with run_registry(tmp_path / "breg", htpasswd=True) as reg:
        skopeo_copy(
            f"oci:{BUSYBOX}:latest",
            f"docker://{reg.host}/library/busybox:latest",
            "--dest-tls-verify=false",
            f"--dest-creds={USER}:{PASSWORD}",
        )
        write_conf(reg_env, reg.host, insecure=True)
        res = reg_env.run("pull", "-q", f"{reg.host}/library/busybox")
        assert res.rc == 125 and "login" in res.err
        bad = reg_env.run("login", "-u", USER, "--password-stdin", reg.host, input="wrong\n")
        assert bad.rc == 125
        ok = reg_env.run("login", "-u", USER, "--password-stdin", reg.host, input=PASSWORD + "\n")
        assert ok.rc == 0, ok.err
        assert PASSWORD not in ok.out + ok.err
        auth = Path(reg_env.extra_env["REGISTRY_AUTH_FILE"])
        assert stat.S_IMODE(auth.stat().st_mode) == 0o600
        assert reg.host in json.loads(auth.read_text())["auths"]
        res = reg_env.run("pull", "-q", f"{reg.host}/library/busybox")
        assert res.rc == 0, res.err
        assert PASSWORD not in res.out + res.err
        out = reg_env.run("logout", reg.host, check=True)
        assert "Removed" in out.out
        assert reg.host not in json.loads(auth.read_text())["auths"]


def test_bearer_token_flow(reg_env: Env, busybox_image: str, tmp_path: Path) -> None:
    token = TokenServer(tmp_path / "token")
    with token.running(), run_registry(tmp_path / "treg", token=token) as reg:
        write_conf(reg_env, reg.host, insecure=True)
        dest = f"{reg.host}/team/busybox:v1"
        # Anonymous tokens carry pull only: the push is refused with the login hint.
        res = reg_env.run("push", "-q", busybox_image, dest)
        assert res.rc == 125 and "login" in res.err
        ok = reg_env.run("login", "-u", USER, "--password-stdin", reg.host, input=PASSWORD + "\n")
        assert ok.rc == 0, ok.err
        res = reg_env.run("push", busybox_image, dest)
        assert res.rc == 0, res.err
        seen = token.requests
        assert any(
            r.get("scope") == "repository:team/busybox:pull,push" and r["user"] == USER
            for r in seen
        ), seen
        assert all(r.get("service") == token.service for r in seen)
        reg_env.run("rmi", busybox_image, check=True)
        res = reg_env.run("pull", "-q", dest)
        assert res.rc == 0, res.err


def test_push_read_back_by_skopeo_formats_and_chunks(
    reg_env: Env, busybox_image: str, plain_registry: Registry
) -> None:
    reg = plain_registry
    write_conf(reg_env, reg.host, insecure=True)
    local = _digest_of(reg_env, busybox_image)
    res = reg_env.run("push", busybox_image, f"{reg.host}/mine/bb:as-is")
    assert res.rc == 0, res.err
    info = skopeo_inspect(f"docker://{reg.host}/mine/bb:as-is", "--tls-verify=false")
    assert info["Digest"] == local  # digests survive the round trip
    assert res.out.strip() == local
    res = reg_env.run(
        "push", "--format", "v2s2", "--chunked", busybox_image, f"{reg.host}/mine/bb:v2s2"
    )
    assert res.rc == 0, res.err
    raw = json.loads(
        subprocess.run(
            [
                "skopeo",
                "inspect",
                "--raw",
                "--tls-verify=false",
                f"docker://{reg.host}/mine/bb:v2s2",
            ],
            check=True,
            capture_output=True,
            text=True,
        ).stdout
    )
    assert raw["mediaType"] == "application/vnd.docker.distribution.manifest.v2+json"
    # The pushed image's layers are intact: skopeo copies it out and verifies them.
    subprocess.run(
        [
            "skopeo",
            "copy",
            "--quiet",
            "--src-tls-verify=false",
            f"docker://{reg.host}/mine/bb:v2s2",
            f"dir:{reg_env.home / 'copied'}",
        ],
        check=True,
        timeout=120,
    )


@pytest.mark.slow
def test_pushed_image_runs_in_podman(
    reg_env: Env, busybox_image: str, plain_registry: Registry, tmp_path: Path
) -> None:
    need(shutil.which("podman"), "podman", "as root: scripts/setup-host.sh")
    reg = plain_registry
    write_conf(reg_env, reg.host, insecure=True)
    reg_env.run("push", busybox_image, f"{reg.host}/mine/bb:1", check=True)
    # podman in its own dirs; its runtime dir holds its pause pid, which we end ourselves.
    import tempfile

    prun = Path(tempfile.mkdtemp(prefix="rlpod-", dir="/tmp"))  # podman: runroot < 50 chars
    env = {
        **os.environ,
        "XDG_RUNTIME_DIR": str(prun),
        "HOME": str(tmp_path / "phome"),
        "XDG_CONFIG_HOME": str(tmp_path / "phome/.config"),
        "XDG_DATA_HOME": str(tmp_path / "phome/.local/share"),
    }
    base = [
        "podman",
        "--root",
        str(tmp_path / "proot"),
        "--runroot",
        str(prun / "rr"),
        "--storage-driver",
        "vfs",
        "--cgroup-manager",
        "cgroupfs",
        "--events-backend",
        "file",
        "--runtime",
        "runc",
    ]
    try:
        pulled = subprocess.run(
            [*base, "pull", "-q", "--tls-verify=false", f"{reg.host}/mine/bb:1"],
            env=env,
            capture_output=True,
            text=True,
            timeout=180,
        )
        assert pulled.returncode == 0, pulled.stderr
        out = subprocess.run(
            [
                *base,
                "run",
                "--rm",
                "--network",
                "none",
                f"{reg.host}/mine/bb:1",
                "echo",
                "ran-in-podman",
            ],
            env=env,
            capture_output=True,
            text=True,
            timeout=180,
        )
        assert out.returncode == 0, out.stderr
        assert "ran-in-podman" in out.stdout
    finally:
        subprocess.run(
            [*base, "unshare", "rm", "-rf", str(tmp_path / "proot")],
            env=env,
            capture_output=True,
            timeout=120,
        )
        for pidfile in prun.rglob("pause.pid"):
            try:
                os.kill(int(pidfile.read_text()), signal.SIGKILL)
            except (ValueError, ProcessLookupError):
                pass
        shutil.rmtree(prun, ignore_errors=True)


def _multiarch_layout(dest: Path) -> tuple[str, str]:
    """An OCI layout whose index lists the busybox manifest for amd64 and a variant of it
    for arm64 (same layers, config says arm64). Returns (amd64 digest, arm64 digest)."""
    import hashlib

    shutil.copytree(BUSYBOX, dest)
    index = json.loads((dest / "index.json").read_text())
    amd = index["manifests"][0]
    blobs = dest / "blobs" / "sha256"

    def put(obj: dict[str, object]) -> tuple[str, int]:
        data = json.dumps(obj, separators=(",", ":")).encode()
        h = hashlib.sha256(data).hexdigest()
        (blobs / h).write_bytes(data)
        return "sha256:" + h, len(data)

    manifest = json.loads((blobs / amd["digest"][7:]).read_text())
    config = json.loads((blobs / manifest["config"]["digest"][7:]).read_text())
    config["architecture"] = "arm64"
    cdig, csize = put(config)
    manifest["config"] = {**manifest["config"], "digest": cdig, "size": csize}
    mdig, msize = put(manifest)
    inner = {
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": [
            {
                **{k: v for k, v in amd.items() if k != "annotations"},
                "platform": {"os": "linux", "architecture": "amd64"},
            },
            {
                "mediaType": amd["mediaType"],
                "digest": mdig,
                "size": msize,
                "platform": {"os": "linux", "architecture": "arm64", "variant": "v8"},
            },
        ],
    }
    idig, isize = put(inner)
    (dest / "index.json").write_text(
        json.dumps(
            {
                "schemaVersion": 2,
                "manifests": [
                    {
                        "mediaType": "application/vnd.oci.image.index.v1+json",
                        "digest": idig,
                        "size": isize,
                        "annotations": {"org.opencontainers.image.ref.name": "multi"},
                    }
                ],
            }
        )
    )
    return amd["digest"], mdig


def test_multiarch_index_resolves_to_host_platform(
    reg_env: Env, plain_registry: Registry, tmp_path: Path
) -> None:
    reg = plain_registry
    amd, arm = _multiarch_layout(tmp_path / "multi")
    skopeo_copy(
        f"oci:{tmp_path / 'multi'}:multi",
        f"docker://{reg.host}/library/multi:1",
        "--all",
        "--dest-tls-verify=false",
    )
    write_conf(reg_env, reg.host, insecure=True)
    reg_env.run("pull", "-q", f"{reg.host}/library/multi:1", check=True)
    assert _digest_of(reg_env, f"{reg.host}/library/multi:1") == amd
    res = reg_env.run("pull", "-q", "--platform", "linux/arm64", f"{reg.host}/library/multi:1")
    assert res.rc == 0, res.err
    assert _digest_of(reg_env, f"{reg.host}/library/multi:1") == arm
    res = reg_env.run("pull", "-q", "--platform", "linux/s390x", f"{reg.host}/library/multi:1")
    assert res.rc == 125 and "s390x" in res.err
