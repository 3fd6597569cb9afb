"""Push an image: blobs (skipping what the registry has, mounting across repositories
when possible, monolithic or chunked uploads), then the manifest under the tag."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from rootless.images.store import ImageStore
from rootless.registry import client as rc
from rootless.registry.errors import RegistryError, UnsupportedMediaType

CHUNK = 16 << 20
DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
DOCKER_LAYER = "application/vnd.docker.image.rootfs.diff.tar.gzip"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER_GZIP = "application/vnd.oci.image.layer.v1.tar+gzip"


@dataclass
class PushOptions:
    format: str | None = None  # "oci" | "v2s2" | None (as stored)
    chunked: bool = False
    mount_from: list[str] | None = None  # other repositories on the same registry
    progress: Callable[[str, int, int | None], None] | None = None


def convert_manifest(manifest: dict[str, Any], fmt: str | None) -> dict[str, Any]:
    if fmt is None:
        return manifest
    m = json.loads(json.dumps(manifest))
    if fmt == "v2s2":
        m["mediaType"] = rc.MEDIA_DOCKER_MANIFEST
        m["config"]["mediaType"] = DOCKER_CONFIG
        for lay in m["layers"]:
            if not lay["mediaType"].endswith("gzip"):
                raise UnsupportedMediaType(
                    f"layer {lay['digest'][:19]} is {lay['mediaType']}; Docker v2s2 "
                    "manifests allow only gzip layers (push with --format oci)"
                )
            lay["mediaType"] = DOCKER_LAYER
    elif fmt == "oci":
        m["mediaType"] = rc.MEDIA_OCI_MANIFEST
        m["config"]["mediaType"] = OCI_CONFIG
        for lay in m["layers"]:
            if lay["mediaType"] == DOCKER_LAYER:
                lay["mediaType"] = OCI_LAYER_GZIP
    else:
        raise UnsupportedMediaType(f"unknown manifest format {fmt!r}: use oci or v2s2")
    return m


def _upload(
    client: rc.RegistryClient, store: ImageStore, repo: str, digest: str, opts: PushOptions
) -> str:
    """Make `digest` exist in `repo`; returns how: exists, mounted, uploaded."""
    scope = f"repository:{repo}:pull,push"
    if client.blob_exists(repo, digest):
        return "exists"
    for src in opts.mount_from or []:
        if src == repo:
            continue
        r = client.request(
            "POST", f"/v2/{repo}/blobs/uploads/", params={"mount": digest, "from": src}, scope=scope
        )
        if r.status_code == 201:
            return "mounted"
        if r.status_code == 202:  # not mountable: the registry opened an upload instead
            location = r.headers["location"]
            return _send(client, store, repo, digest, location, opts)
    r = client.request("POST", f"/v2/{repo}/blobs/uploads/", scope=scope)
    rc.RegistryClient.check(r, f"upload to {repo}", client.host)
    return _send(client, store, repo, digest, r.headers["location"], opts)


def _abs(client: rc.RegistryClient, location: str) -> str:
    return location if location.startswith("http") else client.url(location)


def _with_digest(location: str, digest: str) -> str:
    return location + ("&" if "?" in location else "?") + f"digest={digest}"


def _send(
    client: rc.RegistryClient,
    store: ImageStore,
    repo: str,
    digest: str,
    location: str,
    opts: PushOptions,
) -> str:
    scope = f"repository:{repo}:pull,push"
    path = store.blob_path(digest)
    size = path.stat().st_size
    location = _abs(client, location)
    if not opts.chunked:
        with open(path, "rb") as f:
            data = f.read()
        r = client.request(
            "PUT",
            _with_digest(location, digest),
            scope=scope,
            content=data,
            headers={"Content-Type": "application/octet-stream"},
        )
        rc.RegistryClient.check(r, f"blob {digest[:19]} upload", client.host)
        return "uploaded"
    offset = 0
    with open(path, "rb") as f:
        while offset < size or size == 0:
            chunk = f.read(CHUNK)
            end = offset + len(chunk) - 1
            r = client.request(
                "PATCH",
                location,
                scope=scope,
                content=chunk,
                headers={
                    "Content-Type": "application/octet-stream",
                    "Content-Range": f"{offset}-{end}",
                    "Content-Length": str(len(chunk)),
                },
            )
            rc.RegistryClient.check(r, f"blob {digest[:19]} chunk", client.host)
            location = _abs(client, r.headers.get("location", location))
            offset += len(chunk)
            if opts.progress:
                opts.progress(digest, offset, size)
            if size == 0:
                break
    r = client.request(
        "PUT", _with_digest(location, digest), scope=scope, headers={"Content-Length": "0"}
    )
    rc.RegistryClient.check(r, f"blob {digest[:19]} upload", client.host)
    return "uploaded"


def push(
    client: rc.RegistryClient,
    store: ImageStore,
    image_digest: str,
    repo: str,
    tag: str,
    opts: PushOptions,
) -> tuple[str, dict[str, str]]:
    """Push the image whose manifest is `image_digest`; returns (pushed manifest digest,
    {blob digest: how})."""
    manifest = store.read_json_blob(image_digest)
    if manifest.get("mediaType") in rc.INDEX_TYPES:
        raise UnsupportedMediaType("pushing manifest lists is not supported")
    manifest = convert_manifest(manifest, opts.format)
    how: dict[str, str] = {}
    for desc in [manifest["config"], *manifest.get("layers", [])]:
        how[desc["digest"]] = _upload(client, store, repo, desc["digest"], opts)
    if opts.format is None:
        body = store.read_blob(image_digest)
    else:
        body = json.dumps(manifest, separators=(",", ":")).encode()
    mt = manifest.get("mediaType") or rc.MEDIA_OCI_MANIFEST
    r = client.request(
        "PUT",
        f"/v2/{repo}/manifests/{tag}",
        content=body,
        headers={"Content-Type": mt},
        scope=f"repository:{repo}:pull,push",
    )
    rc.RegistryClient.check(r, f"manifest {repo}:{tag}", client.host)
    digest = "sha256:" + hashlib.sha256(body).hexdigest()
    sent = r.headers.get("docker-content-digest")
    if sent and sent != digest:
        raise RegistryError(f"{client.host} stored the manifest as {sent}, expected {digest}")
    return digest, how
