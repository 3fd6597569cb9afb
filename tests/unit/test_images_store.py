"""The image store on the vfs driver, as the plain user (no namespace needed): loading a
synthetic OCI layout, names, refcounted layers, corruption and debris handling."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import tarfile
from pathlib import Path

import pytest

from rootless.errors import Conflict, NotFound
from rootless.images.load import BadImageArchive, load
from rootless.images.store import CorruptBlob, ImageStore, chain_ids
from rootless.storage.vfs import VfsDriver


def _tar(files: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tf:
        for name, data in files.items():
            ti = tarfile.TarInfo(name)
            ti.size = len(data)
            ti.mode = 0o644
            tf.addfile(ti, io.BytesIO(data))
    return buf.getvalue()


def _sha(b: bytes) -> str:
    return "sha256:" + hashlib.sha256(b).hexdigest()


def make_layout(root: Path, layers: list[bytes], name: str, cmd: str = "sh") -> str:
    """An OCI layout with one image; returns its config digest."""
    blobs = root / "blobs" / "sha256"
    blobs.mkdir(parents=True, exist_ok=True)

    def put(b: bytes) -> dict[str, object]:
        (blobs / _sha(b)[7:]).write_bytes(b)
        return {"digest": _sha(b), "size": len(b)}

    descs = [
        {"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", **put(gzip.compress(t))}
        for t in layers
    ]
    config = json.dumps({
        "architecture": "amd64", "os": "linux", "config": {"Cmd": [cmd]},
        "rootfs": {"type": "layers", "diff_ids": [_sha(t) for t in layers]},
    }).encode()  # fmt: skip
    cfg = put(config)
    manifest = json.dumps({
        "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", **cfg},
        "layers": descs,
    }).encode()  # fmt: skip
    index = {"schemaVersion": 2, "manifests": [{
        "mediaType": "application/vnd.oci.image.manifest.v1+json", **put(manifest),
        "annotations": {"org.opencontainers.image.ref.name": name}}]}  # fmt: skip
    (root / "index.json").write_text(json.dumps(index))
    (root / "oci-layout").write_text('{"imageLayoutVersion":"1.0.0"}')
    return str(cfg["digest"])


@pytest.fixture
def store(tmp_path: Path) -> ImageStore:
    root = tmp_path / "storage"
    return ImageStore(root, VfsDriver(root / "vfs"))


BASE = _tar({"etc/os": b"base\n"})
APP = _tar({"app/run": b"app\n"})


def test_chain_ids_follow_the_oci_definition() -> None:
    d1, d2 = _sha(b"1"), _sha(b"2")
    c = chain_ids([d1, d2])
    assert c[0] == d1[7:]
    assert c[1] == hashlib.sha256(f"{d1} {d2}".encode()).hexdigest()


def test_load_shares_layers_between_images(store: ImageStore, tmp_path: Path) -> None:
    a = make_layout(tmp_path / "a", [BASE], "example.com/base:1")
    b = make_layout(tmp_path / "b", [BASE, APP], "example.com/app:1", cmd="run")
    load(store, tmp_path / "a")
    load(store, tmp_path / "b")
    base = store.get("example.com/base:1")
    app = store.get("example.com/app:1")
    assert base.id == a[7:] and app.id == b[7:]
    assert app.layers[0] == base.layers[0]  # the base layer is shared, bottom-first
    assert (store.driver.layer_dir(app.top_layer or "") / "etc" / "os").read_bytes() == b"base\n"
    assert store.get(app.id[:8]).id == app.id
    # Removing the base image keeps the shared layer the app still needs.
    store.remove("example.com/base:1")
    assert store.driver.exists(app.layers[0])
    assert store.check() == []
    store.remove("example.com/app:1")
    assert store.driver.layer_ids() == []
    assert list(store.blobs.iterdir()) == []


def test_names_move_and_untag(store: ImageStore, tmp_path: Path) -> None:
    make_layout(tmp_path / "a", [BASE], "example.com/x:1")
    make_layout(tmp_path / "b", [APP], "example.com/y:1")
    load(store, tmp_path / "a")
    load(store, tmp_path / "b")
    store.tag("example.com/y:1", "example.com/x:1")  # the name moves
    assert store.get("example.com/x:1").id == store.get("example.com/y:1").id
    dangling = [i for i in store.images() if not i.names]
    assert len(dangling) == 1
    assert store.prune() == [dangling[0].id]
    what, _ = store.remove("example.com/x:1")
    assert what == "untagged"
    with pytest.raises(NotFound):
        store.get("example.com/x:1")


def test_ambiguous_id_prefix(store: ImageStore, tmp_path: Path) -> None:
    make_layout(tmp_path / "a", [BASE], "example.com/x:1")
    load(store, tmp_path / "a")
    with pytest.raises(NotFound):
        store.get("0000000")
    idx = store.read_index()
    iid = next(iter(idx.images))
    twin = iid[:3] + ("0" * 61 if iid[3:] != "0" * 61 else "1" * 61)
    idx.images[twin] = dict(idx.images[iid], id=twin)
    store._write_index(idx)
    with pytest.raises(Conflict):
        store.resolve_id(iid[:3])
    assert store.resolve_id(iid[:12]) == iid


def test_tampered_blob_is_refused(store: ImageStore, tmp_path: Path) -> None:
    make_layout(tmp_path / "a", [BASE], "example.com/x:1")
    blobs = tmp_path / "a" / "blobs" / "sha256"
    victim = max(blobs.iterdir(), key=lambda p: p.stat().st_size)  # the layer
    victim.write_bytes(gzip.compress(_tar({"etc/os": b"evil\n"})))
    with pytest.raises(CorruptBlob):
        load(store, tmp_path / "a")
    assert store.images() == []


def test_config_diff_ids_must_match_layers(store: ImageStore, tmp_path: Path) -> None:
    make_layout(tmp_path / "a", [BASE], "example.com/x:1")
    # Swap the layer for another one under its own (correct) digest: the config lies.
    index = json.loads((tmp_path / "a" / "index.json").read_text())
    blobs = tmp_path / "a" / "blobs" / "sha256"
    manifest = json.loads((blobs / index["manifests"][0]["digest"][7:]).read_text())
    other = gzip.compress(APP)
    (blobs / _sha(other)[7:]).write_bytes(other)
    manifest["layers"][0].update(digest=_sha(other), size=len(other))
    mb = json.dumps(manifest).encode()
    (blobs / _sha(mb)[7:]).write_bytes(mb)
    index["manifests"][0].update(digest=_sha(mb), size=len(mb))
    (tmp_path / "a" / "index.json").write_text(json.dumps(index))
    with pytest.raises(CorruptBlob):
        load(store, tmp_path / "a")
    assert store.images() == []


def test_debris_of_an_interrupted_command_is_removed(store: ImageStore, tmp_path: Path) -> None:
    make_layout(tmp_path / "a", [BASE], "example.com/x:1")
    (store.tmp).mkdir(parents=True)
    (store.tmp / "999999999-1").write_bytes(b"half a blob")  # its writer is gone
    (store.driver.layers / ".tmp-abc" / "diff").mkdir(parents=True)
    assert any("debris" in p for p in store.check())
    (store.tmp / f"{os.getppid()}-1").write_bytes(b"a live writer's blob")
    load(store, tmp_path / "a")
    assert [p.name for p in store.tmp.iterdir()] == [f"{os.getppid()}-1"]  # kept
    assert not (store.driver.layers / ".tmp-abc").exists()
    (store.tmp / f"{os.getppid()}-1").unlink()
    assert store.check() == []


def test_not_an_archive(store: ImageStore, tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    with pytest.raises(BadImageArchive):
        load(store, tmp_path / "empty")


def test_in_use_hook_blocks_rmi_unless_forced(tmp_path: Path) -> None:
    from rootless.images.store import _IN_USE_HOOKS, register_in_use
    from rootless.paths import Paths

    paths = Paths(data=tmp_path / "data", config=tmp_path / "cfg", runtime=tmp_path / "run")
    store = ImageStore(paths, VfsDriver(paths.storage / "vfs"))
    cfg = make_layout(tmp_path / "a", [BASE], "example.com/x:1")

    def users(p: Paths) -> dict[str, list[str]]:
        assert p == paths
        return {cfg[7:]: ["web"]}

    register_in_use(users)
    try:
        load(store, tmp_path / "a")
        with pytest.raises(Conflict, match="in use by container"):
            store.remove("example.com/x:1")
        assert store.prune(all_unused=True) == []
        assert store.remove("example.com/x:1", force=True) == ("deleted", [cfg[7:]])
    finally:
        _IN_USE_HOOKS.remove(users)
