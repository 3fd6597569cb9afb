"""Boot a small Debian VM under qemu (TCG) with a real, delegated cgroup v2 tree.

The host's cgroups are hybrid v1/v2 with nothing delegated, so limits can only be
tested for real in a VM. The VM's root filesystem is an initramfs: a Debian minbase
(mmdebstrap, cached) plus the project source, the test venv's Python packages and a
few kernel modules. /init delegates /sys/fs/cgroup/job to the test user and runs the
given command there (default: pytest tests/vm). Exit status: the command's.
"""

from __future__ import annotations

import argparse
import glob
import hashlib
import os
import shutil
import subprocess
import sys
import sysconfig
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from cpio import CpioWriter

REPO = Path(__file__).resolve().parents[2]
CACHE = Path(os.environ.get("ROOTLESS_VM_CACHE", Path.home() / ".cache" / "rootless-vm"))
INCLUDE = "python3,uidmap,busybox-static,runc,procps,kmod,iproute2,util-linux,catatonit"
TRIM = (
    "usr/share/doc",
    "usr/share/man",
    "usr/share/locale",
    "usr/share/info",
    "var/cache/apt",
    "var/lib/apt/lists",
    "usr/share/zoneinfo",
)
# Inserted in this order (dependencies first): /init insmods them by their index prefix.
MODULES = (
    "fs/overlayfs/overlay.ko",
    "fs/fuse/fuse.ko",
    "drivers/net/tun.ko",
    "drivers/net/veth.ko",
    "drivers/virtio/virtio_ring.ko",
    "drivers/virtio/virtio.ko",
    "drivers/virtio/virtio_pci_legacy_dev.ko",
    "drivers/virtio/virtio_pci_modern_dev.ko",
    "drivers/virtio/virtio_pci.ko",
    "drivers/block/virtio_blk.ko",
)
TEST_UID = 1001
# The busybox OCI layout (scripts/make-test-images.sh), loaded by tests/vm with `rootless load`.
TEST_IMAGES = Path(
    os.environ.get("ROOTLESS_TEST_IMAGES", Path.home() / ".cache" / "rootless-test-images")
)
DISK_MB = 32  # the virtio disk (/dev/vda) the io.max tests read


def log(msg: str) -> None:
    print(f"vm-test: {msg}", file=sys.stderr, flush=True)


def kernel() -> tuple[Path, str]:
    found = sorted(glob.glob("/boot/vmlinuz-*"))
    if not found:
        sys.exit("vm-test: no kernel in /boot: as root, apt-get install linux-image-amd64")
    k = Path(found[-1])
    return k, k.name.removeprefix("vmlinuz-")


def base_cpio() -> Path:
    """The Debian minbase as an uncompressed newc archive (TCG gunzips slowly)."""
    CACHE.mkdir(parents=True, exist_ok=True)
    key = hashlib.sha256((INCLUDE + "|".join(TRIM) + "v1").encode()).hexdigest()[:12]
    out = CACHE / f"base-{key}.cpio"
    if out.exists():
        return out
    tar = CACHE / f"base-{key}.tar"
    if not tar.exists():
        log("building the VM's Debian minbase with mmdebstrap (once)")
        tmp = CACHE / f"base-{key}.partial.tar"  # mmdebstrap picks the format by suffix
        subprocess.run(
            [
                "mmdebstrap",
                "--quiet",
                "--mode=unshare",
                "--variant=minbase",
                f"--include={INCLUDE}",
                "bookworm",
                str(tmp),
            ],
            check=True,
        )
        tmp.rename(tar)
    tmp = out.with_suffix(".tmp")
    with open(tmp, "wb") as f:
        w = CpioWriter(f)
        w.add_tar(tar, skip=TRIM)
        w.close()
    tmp.rename(out)
    tar.unlink()
    return out


def overlay_cpio(path: Path, cmd: str, kver: str) -> None:
    site = Path(sysconfig.get_paths()["purelib"])
    with open(path, "wb") as f:
        w = CpioWriter(f, pyc_cache=CACHE / "pyc")
        w.add_file("init", (REPO / "scripts/vm/init.sh").read_bytes(), 0o755)
        w.add_file("etc/rootless-vm-cmd", cmd.encode())
        u = "rootless-test"
        w.add_file(
            "etc/passwd",
            (
                "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/sh\n"
                f"{u}:x:{TEST_UID}:{TEST_UID}::/home/{u}:/bin/sh\n"
            ).encode(),
        )
        w.add_file("etc/group", f"root:x:0:\nnogroup:x:65534:\n{u}:x:{TEST_UID}:\n".encode())
        w.add_file("etc/subuid", f"{u}:100000:65536\n".encode())
        w.add_file("etc/subgid", f"{u}:100000:65536\n".encode())
        w.add_dirs(f"home/{u}", TEST_UID, TEST_UID)
        w.add_tree(
            REPO,
            "opt/rootless",
            exclude=(".git", "__pycache__", ".mypy_cache", ".ruff_cache"),
            pyc=True,
        )
        w.add_tree(
            site,
            "opt/pylib",
            exclude=("__pycache__", "mypy", "mypyc", "ruff", "pip", "setuptools"),
            pyc=True,
        )
        moddir = Path(f"/lib/modules/{kver}/kernel")
        w.add_dirs("usr/lib/modules/extra")
        for i, rel in enumerate(MODULES):
            for cand in (moddir / rel, moddir / (rel + ".xz")):
                if cand.exists() and cand.suffix == ".ko":
                    w.add_file(f"usr/lib/modules/extra/{i:02d}-{cand.name}", cand.read_bytes())
        busybox = TEST_IMAGES / "busybox"
        if (busybox / "index.json").is_file():
            w.add_tree(busybox, "opt/images/busybox")
        else:
            log(f"no busybox layout at {busybox}: run scripts/make-test-images.sh first")
        w.close()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--timeout", type=int, default=1500)
    ap.add_argument("--memory", default="2048")
    ap.add_argument("--verbose", action="store_true", help="show the boot console too")
    ap.add_argument("cmd", nargs="*", help="command to run in the VM (default: pytest tests/vm)")
    args = ap.parse_args()
    cmd = " ".join(args.cmd) or "python3 -m pytest -q -p no:cacheprovider tests/vm"
    if not shutil.which("qemu-system-x86_64"):
        sys.exit("vm-test: qemu-system-x86_64 missing: as root, apt-get install qemu-system-x86")
    k, kver = kernel()
    base = base_cpio()
    work = Path(os.environ.get("TMPDIR", "/tmp")) / f"rootless-vm-{os.getpid()}"
    work.mkdir()
    try:
        over = work / "overlay.cpio"
        overlay_cpio(over, cmd, kver)
        initrd = work / "initrd.cpio"
        with open(initrd, "wb") as out:
            for part in (base, over):
                with open(part, "rb") as src:
                    shutil.copyfileobj(src, out, 1 << 20)
        disk = work / "disk.raw"
        with open(disk, "wb") as f:
            f.write(os.urandom(DISK_MB << 20))
        qemu = [
            "qemu-system-x86_64",
            "-accel",
            "tcg",
            "-m",
            args.memory,
            "-smp",
            "2",
            "-nographic",
            "-no-reboot",
            "-kernel",
            str(k),
            "-initrd",
            str(initrd),
            "-drive",
            f"file={disk},if=virtio,format=raw",
            "-append",
            "console=ttyS0 panic=-1 rdinit=/init" + ("" if args.verbose else " quiet"),
        ]
        log(f"booting {k.name} under TCG; running: {cmd}")
        t0 = time.monotonic()
        proc = subprocess.Popen(qemu, stdout=subprocess.PIPE, stdin=subprocess.DEVNULL)
        assert proc.stdout
        code: int | None = None
        started = False
        try:
            for raw in proc.stdout:
                line = raw.decode(errors="replace").rstrip("\r\n")
                if "ROOTLESS-VM-EXIT=" in line:
                    code = int(line.split("ROOTLESS-VM-EXIT=", 1)[1].split()[0])
                elif "ROOTLESS-VM-START" in line:
                    started = True
                    log(f"VM up after {time.monotonic() - t0:.1f}s")
                elif started or args.verbose:
                    print(line, flush=True)
                if time.monotonic() - t0 > args.timeout:
                    log(f"timed out after {args.timeout}s")
                    break
        finally:
            if proc.poll() is None:
                proc.kill()
            proc.wait()
        log(f"VM finished in {time.monotonic() - t0:.1f}s, exit {code}")
        return 1 if code is None else code
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
