"""New images from a layer tar: `rootless import` (rootfs tarball) and container commit.

The layer is stored as given (gzip/zstd/plain, sniffed); the image config is the base
image's (if any) with `config` updates applied, one history entry and the new diff id.
"""

from __future__ import annotations

import json
import shlex
from datetime import UTC, datetime
from typing import IO, Any

from rootless.errors import UsageError
from rootless.images.compress import MEDIA_SUFFIX, MEDIA_TAR, sniff
from rootless.images.load import canonical_json
from rootless.images.store import MEDIA_OCI_CONFIG, MEDIA_OCI_MANIFEST, Image, ImageStore


def now_rfc3339() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def create_image(
    store: ImageStore,
    layer: IO[bytes] | None,
    *,
    base: Image | None = None,
    config: dict[str, Any] | None = None,
    names: list[str] | None = None,
    created_by: str = "",
    comment: str = "",
    author: str = "",
) -> Image:
    """Record a new image = base's layers + `layer` (a tar stream, any compression).
    `config` replaces keys of the OCI config's "config" section (Cmd, Env, ...).
    Names are full name:tag strings (see reference.Reference.tagged)."""
    created = now_rfc3339()
    with store.writing() as idx:
        base_manifest: dict[str, Any] = store.read_json_blob(base.digest) if base else {}
        layer_descs: list[dict[str, Any]] = list(base_manifest.get("layers", []))
        history = list(base.config.get("history", [])) if base else []
        entry: dict[str, Any] = {"created": created, "created_by": created_by}
        if comment:
            entry["comment"] = comment
        if author:
            entry["author"] = author
        if layer is not None:
            digest, size = store.put_blob(layer)
            with store.open_blob(digest) as f:
                kind = sniff(f.read(4))
            layer_descs.append(
                {"mediaType": MEDIA_TAR + MEDIA_SUFFIX[kind], "digest": digest, "size": size}
            )
        else:
            entry["empty_layer"] = True
        history.append(entry)
        chains, diff_ids = store.add_layers(
            idx, [(str(d["digest"]), str(d["mediaType"])) for d in layer_descs]
        )
        inner = dict((base.config.get("config") or {}) if base else {})
        inner.update(config or {})
        image_config: dict[str, Any] = {
            "created": created,
            "architecture": base.config.get("architecture", "amd64") if base else "amd64",
            "os": "linux",
            "config": inner,
            "rootfs": {"type": "layers", "diff_ids": diff_ids},
            "history": history,
        }
        if author:
            image_config["author"] = author
        cfg_bytes = canonical_json(image_config)
        cfg_digest = store.put_bytes(cfg_bytes)
        manifest = {
            "schemaVersion": 2,
            "mediaType": MEDIA_OCI_MANIFEST,
            "config": {"mediaType": MEDIA_OCI_CONFIG, "digest": cfg_digest, "size": len(cfg_bytes)},
            "layers": layer_descs,
        }
        mdigest = store.put_bytes(canonical_json(manifest))
        return store.commit_image(idx, mdigest, names or [], chains)


# ---- --change KEY=VALUE / "KEY VALUE" (Dockerfile instructions allowed in import) ----
_CHANGE_KEYS = {"CMD", "ENTRYPOINT", "ENV", "EXPOSE", "LABEL", "USER", "VOLUME", "WORKDIR",
                "STOPSIGNAL"}  # fmt: skip


def _exec_form(value: str) -> list[str]:
    value = value.strip()
    if value.startswith("["):
        try:
            parsed = json.loads(value)
        except ValueError as e:
            raise UsageError(f"invalid JSON array in --change: {value}") from e
        if not isinstance(parsed, list) or not all(isinstance(x, str) for x in parsed):
            raise UsageError(f"--change expects a JSON array of strings: {value}")
        return parsed
    return ["/bin/sh", "-c", value]


def apply_changes(config: dict[str, Any], changes: list[str]) -> dict[str, Any]:
    """Apply Dockerfile-like --change instructions to an OCI config's "config" section."""
    out = dict(config)
    for change in changes:
        key, sep, value = change.partition("=")
        if not sep or " " in key.strip():
            key, _, value = change.strip().partition(" ")
        key = key.strip().upper()
        if key not in _CHANGE_KEYS:
            raise UsageError(
                f"--change {change!r}: unsupported instruction",
                hint=f"use one of {', '.join(sorted(_CHANGE_KEYS))}",
            )
        value = value.strip()
        if key in ("CMD", "ENTRYPOINT"):
            out["Cmd" if key == "CMD" else "Entrypoint"] = _exec_form(value)
        elif key == "ENV":
            k, eq, v = value.partition("=")
            if not eq:
                k, _, v = value.partition(" ")
            env = [e for e in out.get("Env", []) if not e.startswith(k.strip() + "=")]
            out["Env"] = [*env, f"{k.strip()}={v.strip()}"]
        elif key == "LABEL":
            labels = dict(out.get("Labels") or {})
            for item in shlex.split(value):
                k, _, v = item.partition("=")
                labels[k] = v
            out["Labels"] = labels
        elif key == "EXPOSE":
            ports = dict(out.get("ExposedPorts") or {})
            for p in value.split():
                ports[p if "/" in p else f"{p}/tcp"] = {}
            out["ExposedPorts"] = ports
        elif key == "VOLUME":
            vols = dict(out.get("Volumes") or {})
            for v in _exec_form(value) if value.startswith("[") else value.split():
                vols[v] = {}
            out["Volumes"] = vols
        elif key == "USER":
            out["User"] = value
        elif key == "WORKDIR":
            out["WorkingDir"] = value
        elif key == "STOPSIGNAL":
            out["StopSignal"] = value
    return out
