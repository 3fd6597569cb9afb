"""The image commands end to end: the real CLI, the real user namespace, real layers."""

from __future__ import annotations

import io
import json
import tarfile
from pathlib import Path

from tests.conftest import TEST_IMAGES, Env


def _ids(rl: Env) -> list[str]:
    return rl.run("images", "-q", "--no-trunc", check=True).out.split()


def test_load_list_inspect(rl: Env, busybox_image: str) -> None:
    out = rl.run("images", check=True).out
    assert "docker.io/library/busybox" in out and "latest" in out
    rows = rl.run("images", "--format", "json", check=True).json()
    assert isinstance(rows, list) and len(rows) == 1
    index = json.loads((TEST_IMAGES / "busybox" / "index.json").read_text())
    manifest_digest = index["manifests"][0]["digest"]
    assert rows[0]["Digest"] == manifest_digest  # digests survive loading
    info = rl.run("image", "inspect", "busybox", check=True).json()
    assert isinstance(info, list)
    assert info[0]["Config"]["Cmd"] == ["sh"]
    assert info[0]["RepoTags"] == ["docker.io/library/busybox:latest"]
    assert rl.run("images", "--format", "{{.Repository}}:{{.Tag}}", check=True).out.strip() == (
        "docker.io/library/busybox:latest"
    )
    fmt = rl.run("image", "inspect", "--format", "{{.Config.Cmd}} {{json .RepoTags}}", "busybox")
    assert fmt.out.strip() == '[sh] ["docker.io/library/busybox:latest"]', fmt.err
    assert len(_ids(rl)[0]) == 64
    assert rl.run("image", "check", check=True).out == ""


def test_tag_untag_and_rmi(rl: Env, busybox_image: str) -> None:
    rl.run("tag", "busybox", "mybox:v1", "quay.io/x/y:z", check=True)
    names = rl.run("image", "inspect", "busybox", check=True).json()[0]["RepoTags"]  # type: ignore[index]
    assert set(names) == {
        "docker.io/library/busybox:latest",
        "docker.io/library/mybox:v1",
        "quay.io/x/y:z",
    }
    r = rl.run("rmi", "mybox:v1", check=True)
    assert "Untagged: docker.io/library/mybox:v1" in r.out
    r = rl.run("rmi", "nosuch:image")
    assert r.rc == 125 and "image not known" in r.err
    r = rl.run("tag", "busybox", "Bad Name")
    assert r.rc == 125 and "invalid image name" in r.err
    rl.run("rmi", "quay.io/x/y:z", check=True)
    r = rl.run("rmi", "busybox", check=True)
    assert "Deleted:" in r.out
    assert _ids(rl) == []
    # Layers and blobs went with the last image.
    assert rl.run("image", "check", check=True).out == ""
    assert not any((rl.root / "storage" / "blobs" / "sha256").iterdir())


def test_history(rl: Env, busybox_image: str) -> None:
    out = rl.run("history", "busybox", check=True).out
    assert "make-test-images" in out
    rows = rl.run("history", "--format", "json", "busybox", check=True).json()
    assert isinstance(rows, list) and rows[0]["size"] > 1_000_000


def test_import_with_changes(rl: Env, tmp_path: Path) -> None:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tf:
        for name, data in (("hello.txt", b"hi\n"), ("etc/os-release", b"ID=test\n")):
            ti = tarfile.TarInfo(name)
            ti.size = len(data)
            tf.addfile(ti, io.BytesIO(data))
    src = tmp_path / "rootfs.tar.gz"
    src.write_bytes(buf.getvalue())
    r = rl.run(
        "import", "--change", "CMD=/bin/true", "-c", 'ENTRYPOINT ["/x"]', "-c", "ENV A=1",
        "-m", "imported", str(src), "myrootfs",
    )  # fmt: skip
    assert r.rc == 0, r.err
    assert r.out.startswith("sha256:")
    info = rl.run("image", "inspect", "myrootfs", check=True).json()[0]  # type: ignore[index]
    assert info["RepoTags"] == ["localhost/myrootfs:latest"]
    assert info["Config"]["Cmd"] == ["/bin/sh", "-c", "/bin/true"]
    assert info["Config"]["Entrypoint"] == ["/x"]
    assert "A=1" in info["Config"]["Env"]
    r = rl.run("import", "--change", "FROB=1", str(src))
    assert r.rc == 125 and "unsupported instruction" in r.err
    rl.run("unshare", "rm", "-rf", "--one-file-system", str(rl.root))


def test_prune_removes_dangling_only(rl: Env, busybox_image: str, tmp_path: Path) -> None:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tf:
        ti = tarfile.TarInfo("f")
        tf.addfile(ti, io.BytesIO(b""))
    src = tmp_path / "r.tar"
    src.write_bytes(buf.getvalue())
    dangling = rl.run("import", str(src), check=True).out.strip().removeprefix("sha256:")
    assert dangling in _ids(rl)
    out = rl.run("image", "prune", "-f", check=True).out
    assert dangling in out
    assert _ids(rl) and dangling not in _ids(rl)
    assert rl.run("image", "check", check=True).out == ""


def test_load_garbage_is_one_clear_line(rl: Env, tmp_path: Path) -> None:
    bad = tmp_path / "bad.tar"
    bad.write_bytes(b"nope" * 1000)
    r = rl.run("load", "-i", str(bad))
    assert r.rc == 125
    assert r.err.count("\n") == 1 and "Error:" in r.err
    r = rl.run("load", "-i", str(tmp_path / "missing.tar"))
    assert r.rc == 125 and "no such file" in r.err
    rl.run("unshare", "rm", "-rf", "--one-file-system", str(rl.root))


def test_rmi_refuses_an_image_in_use_unless_forced(rl: Env, busybox_image: str) -> None:
    rl.run("create", "--name", "user1", busybox_image, "true", check=True)
    r = rl.run("rmi", "busybox")
    assert r.rc == 125 and "in use" in r.err and "user1" in r.err
    assert rl.run("image", "prune", "-a", check=True).out == ""  # in use: kept
    r = rl.run("rmi", "-f", "busybox", check=True)
    assert "Deleted:" in r.out
    # The container keeps its layers even though the image is gone.
    assert rl.run("image", "check", check=True).out == ""
    rl.run("rm", "-f", "user1", check=True)


def test_compressed_archive_from_stdin_and_filters(
    rl: Env, busybox_image: str, tmp_path: Path
) -> None:
    import gzip
    import subprocess

    import zstandard

    saved = tmp_path / "bb.tar"
    rl.run("save", "-o", str(saved), busybox_image, check=True)
    iid = _ids(rl)[0]
    rl.run("rmi", busybox_image, check=True)
    for blob in (gzip.compress(saved.read_bytes()), zstandard.compress(saved.read_bytes())):
        p = subprocess.run(
            ["rootless", "load"], input=blob, capture_output=True, env=rl.env(), timeout=120
        )
        assert p.returncode == 0, p.stderr
        assert _ids(rl) == [iid]
        rl.run("rmi", busybox_image, check=True)
    rl.run("load", "-q", "-i", str(saved), check=True)
    rl.run("tag", busybox_image, "localhost/other:1", check=True)
    out = rl.run("images", "other", check=True).out
    assert "localhost/other" in out and "docker.io/library/busybox" not in out
    assert rl.run("image", "inspect", "other:1", check=True).json()[0]["Id"] == iid  # type: ignore[index]


def test_concurrent_loads(rl: Env, busybox_image: str, tmp_path: Path) -> None:
    import subprocess

    saved = tmp_path / "bb.tar"
    rl.run("save", "--format", "oci-archive", "-o", str(saved), busybox_image, check=True)
    rl.run("rmi", busybox_image, check=True)
    procs = [
        subprocess.Popen(
            ["rootless", "load", "-q", "-i", str(saved)], env=rl.env(), stderr=subprocess.PIPE
        )
        for _ in range(3)
    ]
    for p in procs:
        _, err = p.communicate(timeout=120)
        assert p.returncode == 0, err
    assert len(_ids(rl)) == 1
    assert rl.run("image", "check", check=True).out == ""


COMMIT_HELPER = r"""
import json, os, tempfile
from rootless.paths import resolve
from rootless.engine import images as svc
from rootless.images.layertar import write_changes

paths = resolve()
store = svc.store(paths)
img = store.get("busybox")
drv = store.driver
drv.create_container("c-commit", img.top_layer)
root = drv.mount("c-commit")
with open(os.path.join(root, "hello"), "w") as f:
    f.write("committed\n")
os.unlink(os.path.join(root, "etc/hostname"))
with tempfile.TemporaryFile() as tar:
    write_changes(drv.changes("c-commit"), tar)
    tar.seek(0)
    new = svc.commit_layer(paths, "busybox", tar, config={"Cmd": ["cat", "/hello"]},
                           name="committed", created_by="rootless commit c-commit")
drv.unmount("c-commit")
drv.remove_container("c-commit")
top = drv.layer_dir(new.top_layer)
print(json.dumps({"layers": new.layers, "base": img.layers, "names": new.names,
                  "hello": open(top / "hello").read(),
                  "whiteout": os.stat(top / "etc/hostname", follow_symlinks=False).st_rdev == 0}))
"""


def test_commit_a_container_layer(rl: Env, busybox_image: str) -> None:
    import sys

    r = rl.run("unshare", sys.executable, "-c", COMMIT_HELPER)
    assert r.rc == 0, r.err
    res = json.loads(r.out)
    assert res["layers"][:1] == res["base"] and len(res["layers"]) == 2
    assert res["names"] == ["localhost/committed:latest"]
    assert res["hello"] == "committed\n" and res["whiteout"]
    info = rl.run("image", "inspect", "committed", check=True).json()[0]  # type: ignore[index]
    assert info["Config"]["Cmd"] == ["cat", "/hello"]
    assert len(info["RootFS"]["Layers"]) == 2
    assert "rootless commit c-commit" in rl.run("history", "committed", check=True).out
    assert rl.run("image", "check", check=True).out == ""
