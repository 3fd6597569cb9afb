"""Write the offline test images as OCI image layouts (used by make-test-images.sh).

    build.py busybox OUT              /bin/busybox + applet links + /etc files + /www
    build.py debian OUT ROOTFS.tar    a rootfs tar (mmdebstrap's) re-written deterministically

Layers are gzip tars with sorted entries and a zero gzip mtime, so the same inputs give
the same digests. The layout is written to OUT.tmp and renamed into place.
"""

from __future__ import annotations

import copy
import gzip
import hashlib
import io
import json
import os
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

EPOCH = 1700000000  # fixed mtime for files we make up (busybox image)

PASSWD = """root:x:0:0:root:/root:/bin/sh
daemon:x:1:1:daemon:/usr/sbin:/bin/false
bin:x:2:2:bin:/bin:/bin/false
www-data:x:33:33:www-data:/www:/bin/false
user:x:1000:1000:user:/home/user:/bin/sh
nobody:x:65534:65534:nobody:/nonexistent:/bin/false
"""
GROUP = """root:x:0:
daemon:x:1:
bin:x:2:
tty:x:5:
www-data:x:33:
user:x:1000:
nogroup:x:65534:
"""
INDEX_HTML = "<html><body><h1>hello from rootless busybox</h1></body></html>\n"


def _info(name: str, kind: bytes, mode: int, **kw: object) -> tarfile.TarInfo:
    ti = tarfile.TarInfo(name)
    ti.type = kind
    ti.mode = mode
    ti.mtime = EPOCH
    ti.uid = ti.gid = 0
    ti.uname = ti.gname = "root"
    for k, v in kw.items():
        setattr(ti, k, v)
    return ti


def busybox_layer(out: io.BufferedIOBase) -> None:
    binary = Path("/bin/busybox").read_bytes()
    applets = subprocess.run(
        ["/bin/busybox", "--list-full"], capture_output=True, text=True, check=True
    ).stdout.split()
    entries: dict[str, tuple[tarfile.TarInfo, bytes | None]] = {}

    def add_dir(path: str, mode: int = 0o755) -> None:
        parts = path.split("/")
        for i in range(1, len(parts) + 1):
            p = "/".join(parts[:i])
            if p not in entries:
                entries[p] = (_info(p, tarfile.DIRTYPE, mode if i == len(parts) else 0o755), None)

    def add_file(path: str, data: bytes, mode: int = 0o644) -> None:
        add_dir(path.rsplit("/", 1)[0])
        entries[path] = (_info(path, tarfile.REGTYPE, mode, size=len(data)), data)

    for d in ("bin", "sbin", "usr/bin", "usr/sbin", "etc", "root", "home/user", "var/log", "www"):
        add_dir(d, 0o700 if d == "root" else 0o755)
    add_dir("tmp", 0o1777)
    add_file("bin/busybox", binary, 0o755)
    for a in applets:
        if a == "bin/busybox":
            continue
        add_dir(a.rsplit("/", 1)[0])
        entries[a] = (_info(a, tarfile.SYMTYPE, 0o777, linkname="/bin/busybox"), None)
    add_file("etc/passwd", PASSWD.encode())
    add_file("etc/group", GROUP.encode())
    add_file("etc/hostname", b"busybox\n")
    add_file("www/index.html", INDEX_HTML.encode())
    home = entries["home/user"][0]
    home.uid = home.gid = 1000
    with tarfile.open(fileobj=out, mode="w|", format=tarfile.PAX_FORMAT) as tf:
        for name in sorted(entries):
            ti, data = entries[name]
            tf.addfile(ti, io.BytesIO(data) if data is not None else None)


def _copy(m: tarfile.TarInfo, **kw: object) -> tarfile.TarInfo:
    ti = copy.copy(m)
    ti.pax_headers = dict(m.pax_headers)
    for k, v in kw.items():
        setattr(ti, k, v)
    return ti


def rewrite_sorted(src: Path, out: io.BufferedIOBase) -> None:
    """Copy a tar with its entries sorted by name; hard links keep pointing at an entry
    written before them."""
    with tarfile.open(src) as tin:
        members = tin.getmembers()
        by_name: dict[str, tarfile.TarInfo] = {}
        for m in members:
            m.name = m.name.lstrip("./") if m.name not in (".", "./") else "."
            if m.islnk():
                m.linkname = m.linkname.lstrip("./")
            by_name[m.name] = m
        by_name.pop(".", None)
        # Group hard links with their target; the first name in sorted order carries data.
        groups: dict[str, list[str]] = {}
        for m in by_name.values():
            if m.islnk():
                groups.setdefault(m.linkname, [m.linkname]).append(m.name)
        carrier: dict[str, str] = {}  # name -> the name holding the data
        for names in groups.values():
            first = sorted(names)[0]
            for n in names:
                carrier[n] = first
        with tarfile.open(fileobj=out, mode="w|", format=tarfile.PAX_FORMAT) as tout:
            for name in sorted(by_name):
                m = by_name[name]
                if name in carrier:
                    first = carrier[name]
                    data_member = by_name[m.linkname] if m.islnk() else m
                    if name == first:
                        ti = _copy(data_member, name=name, linkname="", type=tarfile.REGTYPE)
                        tout.addfile(ti, tin.extractfile(data_member))
                    else:
                        ti = _copy(
                            data_member, name=name, linkname=first, type=tarfile.LNKTYPE, size=0
                        )
                        tout.addfile(ti)
                elif m.isreg():
                    tout.addfile(m, tin.extractfile(m))
                else:
                    tout.addfile(m)


class Layout:
    def __init__(self, root: Path) -> None:
        self.root = root
        (root / "blobs" / "sha256").mkdir(parents=True)

    def blob(self, data: bytes) -> dict[str, object]:
        digest = hashlib.sha256(data).hexdigest()
        (self.root / "blobs" / "sha256" / digest).write_bytes(data)
        return {"digest": f"sha256:{digest}", "size": len(data)}

    def layer_from(self, write_tar: object) -> tuple[dict[str, object], str]:
        """Write a gzip layer; returns (descriptor, diff_id)."""
        tmp = self.root / "layer.tmp"
        diff = hashlib.sha256()
        comp = hashlib.sha256()
        size = 0

        class Tee(io.RawIOBase):
            def writable(self) -> bool:
                return True

            def write(self, b: bytes) -> int:  # type: ignore[override]
                nonlocal size
                comp.update(b)
                size += len(b)
                raw.write(b)
                return len(b)

        class DiffTee(io.RawIOBase):
            def writable(self) -> bool:
                return True

            def write(self, b: bytes) -> int:  # type: ignore[override]
                diff.update(b)
                gz.write(b)
                return len(b)

        with open(tmp, "wb") as raw:
            gz = gzip.GzipFile(filename="", mode="wb", fileobj=Tee(), mtime=0, compresslevel=6)
            write_tar(DiffTee())  # type: ignore[operator]
            gz.close()
        hexd = comp.hexdigest()
        os.rename(tmp, self.root / "blobs" / "sha256" / hexd)
        desc = {
            "mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
            "digest": f"sha256:{hexd}",
            "size": size,
        }
        return desc, f"sha256:{diff.hexdigest()}"

    def finish(
        self,
        layers: list[tuple[dict[str, object], str]],
        config: dict[str, object],
        created: str,
        name: str,
        tag: str,
    ) -> None:
        image = {
            "created": created,
            "architecture": "amd64",
            "os": "linux",
            "config": config,
            "rootfs": {"type": "layers", "diff_ids": [d for _, d in layers]},
            "history": [{"created": created, "created_by": "scripts/make-test-images.sh"}],
        }
        cfg = self.blob(json.dumps(image, sort_keys=True, separators=(",", ":")).encode())
        manifest = {
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {"mediaType": "application/vnd.oci.image.config.v1+json", **cfg},
            "layers": [desc for desc, _ in layers],
        }
        man = self.blob(json.dumps(manifest, sort_keys=True, separators=(",", ":")).encode())
        index = {
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.index.v1+json",
            "manifests": [
                {
                    "mediaType": "application/vnd.oci.image.manifest.v1+json",
                    **man,
                    "annotations": {
                        "org.opencontainers.image.ref.name": tag,
                        "io.containerd.image.name": f"{name}:{tag}",
                    },
                    "platform": {"architecture": "amd64", "os": "linux"},
                }
            ],
        }
        (self.root / "index.json").write_text(json.dumps(index, indent=2) + "\n")
        (self.root / "oci-layout").write_text('{"imageLayoutVersion":"1.0.0"}\n')


def main() -> None:
    kind, out = sys.argv[1], Path(sys.argv[2])
    tmp = out.with_name(out.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    layout = Layout(tmp)
    created = "2023-11-14T22:13:20Z"
    if kind == "busybox":
        layer = layout.layer_from(busybox_layer)
        config = {
            "Cmd": ["sh"],
            "Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
        }
        layout.finish([layer], config, created, "docker.io/library/busybox", "latest")
    elif kind == "debian":
        src = Path(sys.argv[3])
        layer = layout.layer_from(lambda f: rewrite_sorted(src, f))
        config = {
            "Cmd": ["bash"],
            "Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
        }
        layout.finish([layer], config, created, "docker.io/library/debian", "bookworm")
    else:
        raise SystemExit(f"unknown image kind {kind!r}")
    shutil.rmtree(out, ignore_errors=True)
    os.rename(tmp, out)


if __name__ == "__main__":
    main()
