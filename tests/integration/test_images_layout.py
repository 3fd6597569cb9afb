"""The offline test images and what `rootless save --format oci-dir` writes are valid OCI
image layouts per the image-spec's own JSON schemas, with every digest right."""

from __future__ import annotations

import gzip
import hashlib
import json
import tarfile
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import referencing
from referencing.jsonschema import DRAFT4

from tests.conftest import TEST_IMAGES, Env, need

SCHEMA_FILES = ["config-schema.json", "content-descriptor.json", "defs-descriptor.json",
                "defs.json", "image-index-schema.json", "image-layout-schema.json",
                "image-manifest-schema.json"]  # fmt: skip


def _validators(conformance: Path) -> dict[str, jsonschema.protocols.Validator]:
    d = conformance / "oci-image-spec" / "schema"
    resources = []
    for name in SCHEMA_FILES:
        res = referencing.Resource.from_contents(
            json.loads((d / name).read_text()), default_specification=DRAFT4
        )
        # Relative $refs resolve against the schemas' ids under both of these bases.
        for base in (
            "https://opencontainers.org/schema/image/",
            "https://opencontainers.org/schema/",
        ):
            resources.append((base + name, res))
    registry = referencing.Registry().with_resources(resources)
    out = {}
    for key, name in (("index", "image-index-schema.json"), ("manifest", "image-manifest-schema.json"),
                      ("config", "config-schema.json"), ("layout", "image-layout-schema.json")):  # fmt: skip
        schema = json.loads((d / name).read_text())
        out[key] = jsonschema.Draft4Validator(schema, registry=registry)
    return out


def _blob(layout: Path, digest: str) -> bytes:
    data = (layout / "blobs" / "sha256" / digest.removeprefix("sha256:")).read_bytes()
    assert "sha256:" + hashlib.sha256(data).hexdigest() == digest
    return data


def validate_layout(layout: Path, v: dict[str, Any], check_diff_ids: bool = True) -> None:
    v["layout"].validate(json.loads((layout / "oci-layout").read_text()))
    index = json.loads((layout / "index.json").read_text())
    v["index"].validate(index)
    for desc in index["manifests"]:
        manifest = json.loads(_blob(layout, desc["digest"]))
        assert len(_blob(layout, desc["digest"])) == desc["size"]
        v["manifest"].validate(manifest)
        config = json.loads(_blob(layout, manifest["config"]["digest"]))
        v["config"].validate(config)
        diff_ids = []
        for lay in manifest["layers"]:
            data = _blob(layout, lay["digest"])
            assert len(data) == lay["size"]
            if lay["mediaType"].endswith("+gzip"):
                data = gzip.decompress(data)
            diff_ids.append("sha256:" + hashlib.sha256(data).hexdigest())
        if check_diff_ids:
            assert diff_ids == config["rootfs"]["diff_ids"]


@pytest.mark.parametrize("name", ["busybox", "debian"])
def test_test_images_are_valid_oci_layouts(conformance: Path, name: str) -> None:
    layout = TEST_IMAGES / name
    need(
        (layout / "index.json").is_file(), f"test image {layout}", "run scripts/make-test-images.sh"
    )
    validate_layout(layout, _validators(conformance))
    index = json.loads((layout / "index.json").read_text())
    assert index["manifests"][0]["annotations"]["org.opencontainers.image.ref.name"]


def test_busybox_image_contents() -> None:
    layout = TEST_IMAGES / "busybox"
    index = json.loads((layout / "index.json").read_text())
    manifest = json.loads(_blob(layout, index["manifests"][0]["digest"]))
    config = json.loads(_blob(layout, manifest["config"]["digest"]))
    assert config["config"]["Cmd"] == ["sh"]
    with tarfile.open(layout / "blobs" / "sha256" / manifest["layers"][0]["digest"][7:]) as tf:
        names = tf.getnames()
        assert names == sorted(names)  # deterministic order
        assert {"bin/busybox", "bin/sh", "etc/passwd", "etc/group", "www/index.html"} <= set(names)
        assert tf.getmember("bin/sh").linkname == "/bin/busybox"


def test_saved_oci_dir_is_valid(
    rl: Env, busybox_image: str, conformance: Path, tmp_path: Path
) -> None:
    out = tmp_path / "saved"
    rl.run("save", "--format", "oci-dir", "-o", str(out), busybox_image, check=True)
    validate_layout(out, _validators(conformance))
