"""Write one walkthrough stand-in image as an OCI layout (used by walkthrough-images.sh).

    layout.py hello-world OUT               busybox layer + a /hello layer
    layout.py NAME OUT ROOTFS.tar           a Debian rootfs (mmdebstrap's), one layer

Reuses scripts/testimages/build.py (deterministic gzip layers); only the image config
(Cmd/Entrypoint/Env/ExposedPorts/...) differs per image, as in Docker Hub's originals.
"""

from __future__ import annotations

import io
import os
import shutil
import sys
import tarfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "testimages"))
import build  # scripts/testimages/build.py

PATH = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
CONFIGS: dict[str, dict[str, object]] = {
    "hello-world": {"Cmd": ["/hello"], "Env": [PATH]},
    "ubuntu": {"Cmd": ["bash"], "Env": [PATH]},
    "httpd": {
        "Cmd": ["httpd-foreground"],
        "Env": [PATH],
        "ExposedPorts": {"80/tcp": {}},
        "StopSignal": "SIGWINCH",
    },
    "postgres": {
        "Entrypoint": ["docker-entrypoint.sh"],
        "Cmd": ["postgres"],
        "Env": [
            "PATH=/usr/lib/postgresql/15/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
            "PGDATA=/var/lib/postgresql/data",
            "LANG=C.UTF-8",
        ],
        "ExposedPorts": {"5432/tcp": {}},
        "StopSignal": "SIGINT",
    },
    "python": {"Cmd": ["python3"], "Env": [PATH, "LANG=C.UTF-8"]},
    "redis": {
        "Cmd": ["redis-server", "--protected-mode", "no"],
        "Env": [PATH],
        "ExposedPorts": {"6379/tcp": {}},
    },
}


def hello_layer(out: io.BufferedIOBase) -> None:
    data = (Path(__file__).resolve().parent / "hello").read_bytes()
    ti = build._info("hello", tarfile.REGTYPE, 0o755, size=len(data))
    with tarfile.open(fileobj=out, mode="w|", format=tarfile.PAX_FORMAT) as tf:
        tf.addfile(ti, io.BytesIO(data))


def main() -> None:
    name, out = sys.argv[1], Path(sys.argv[2])
    if name not in CONFIGS:
        raise SystemExit(f"unknown walkthrough image {name!r}; one of {', '.join(CONFIGS)}")
    tmp = out.with_name(out.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    layout = build.Layout(tmp)
    if name == "hello-world":
        layers = [layout.layer_from(build.busybox_layer), layout.layer_from(hello_layer)]
    else:
        src = Path(sys.argv[3])
        layers = [layout.layer_from(lambda f: build.rewrite_sorted(src, f))]
    created = "2023-11-14T22:13:20Z"
    layout.finish(layers, CONFIGS[name], created, f"docker.io/library/{name}", "latest")
    shutil.rmtree(out, ignore_errors=True)
    os.rename(tmp, out)


if __name__ == "__main__":
    main()
