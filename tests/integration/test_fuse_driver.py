"""The `fuse` storage driver, for real: layers, a fuse-overlay daemon per container,
changes(), and no stale mount or daemon after unmount, a daemon crash or a killed CLI.

Each scenario runs as root in a fresh user+mount namespace (as the engine does after
joining its pause process) via `python -m tests.integration.test_fuse_driver NAME`.
"""

from __future__ import annotations

import os
import signal
import stat
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from tests.conftest import need
from tests.integration.test_overlay_semantics_harness import REPO, in_namespace_cmd


def _fuse_mounts() -> list[str]:
    with open("/proc/self/mountinfo") as f:
        return [ln.split()[4] for ln in f if " fuse" in ln.split(" - ")[1][:6]]


def _make_store(home: Path):  # type: ignore[no-untyped-def]
    from rootless.storage.fuse import FuseDriver

    drv = FuseDriver(home)
    base = drv.create_layer("base", None)
    (base / "etc").mkdir()
    (base / "etc" / "hostname").write_text("base\n")
    (base / "old").write_text("old\n")
    (base / "gone").write_text("gone\n")
    (base / "dir").mkdir()
    (base / "dir" / "x").write_text("x\n")
    drv.commit_layer("base")
    top = drv.create_layer("top", "base")
    os.mknod(top / "gone", stat.S_IFCHR, 0)  # whiteout, the overlay format
    (top / "etc").mkdir()
    (top / "etc" / "hostname").write_text("top\n")
    drv.commit_layer("top")
    drv.create_container("c1", "top")
    return drv


def scenario_lifecycle(home: Path) -> None:
    drv = _make_store(home)
    merged = drv.mount("c1")
    assert drv.mount("c1") == merged  # idempotent
    assert (merged / "etc" / "hostname").read_text() == "top\n"
    assert not (merged / "gone").exists()
    assert sorted(os.listdir(merged)) == ["dir", "etc", "old"]
    (merged / "new").write_text("new\n")
    (merged / "old").unlink()
    os.rename(merged / "dir", merged / "dir2")
    (merged / "etc" / "hostname").write_text("changed\n")
    pid = int((drv.container_dir("c1") / "fuse.pid").read_text())
    drv.unmount("c1")
    drv.unmount("c1")  # idempotent
    assert str(merged) not in _fuse_mounts()
    assert (
        not Path(f"/proc/{pid}").exists()
        or b"fuse_overlay" not in Path(f"/proc/{pid}/cmdline").read_bytes()
    )
    changes = {(c.kind, c.path) for c in drv.changes("c1")}
    assert ("add", "new") in changes, changes
    assert ("delete", "old") in changes, changes
    assert ("delete", "dir") in changes, changes
    assert ("add", "dir2") in changes, changes
    assert ("modify", "etc/hostname") in changes, changes
    merged = drv.mount("c1")  # what was written is still there
    assert (merged / "new").read_text() == "new\n"
    assert (merged / "dir2" / "x").read_text() == "x\n"
    drv.remove_container("c1")
    assert str(merged) not in _fuse_mounts()


def scenario_daemon_killed(home: Path) -> None:
    drv = _make_store(home)
    merged = drv.mount("c1")
    pid = int((drv.container_dir("c1") / "fuse.pid").read_text())
    os.kill(pid, signal.SIGKILL)
    os.waitpid(pid, 0)  # the daemon is our child here (no CLI in between)
    try:
        os.listdir(merged)
        raise AssertionError("a mount without its daemon still answered")
    except OSError:
        pass
    merged = drv.mount("c1")  # replaces the dead mount
    assert (merged / "etc" / "hostname").read_text() == "top\n"
    drv.unmount("c1")
    assert str(merged) not in _fuse_mounts()


def scenario_cli_killed(home: Path) -> None:
    _make_store(home)
    # A "CLI" that mounts and is then killed: the container keeps its rootfs...
    code = (
        "import sys, time; from pathlib import Path;"
        "from rootless.storage.fuse import FuseDriver;"
        f"FuseDriver(Path({str(home)!r})).mount('c1'); print('up', flush=True); time.sleep(60)"
    )
    cli = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, cwd=REPO)
    assert cli.stdout is not None
    assert cli.stdout.readline().strip() == b"up"
    cli.kill()
    cli.wait()
    from rootless.storage.fuse import FuseDriver

    drv = FuseDriver(home)
    merged = drv.container_dir("c1") / "merged"
    assert (merged / "etc" / "hostname").read_text() == "top\n"
    # ...and the next command tears it down completely.
    drv.remove_container("c1")
    assert str(merged) not in _fuse_mounts()
    ours = [p for p in os.listdir("/proc") if p.isdigit() and str(home) in _cmdline(p)]
    assert not [p for p in ours if "fuse_overlay" in _cmdline(p)]


def _cmdline(pid: str) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
    except OSError:
        return ""


def scenario_probe(home: Path) -> None:
    from rootless.storage.fuse import FuseDriver

    status = FuseDriver.probe(home)
    assert status.usable, status.reason
    assert not _fuse_mounts()
    assert not [p for p in home.iterdir() if p.name.startswith(".tmp-probe")]


SCENARIOS = {
    "lifecycle": scenario_lifecycle,
    "daemon_killed": scenario_daemon_killed,
    "cli_killed": scenario_cli_killed,
    "probe": scenario_probe,
}


@pytest.mark.parametrize("name", list(SCENARIOS))
def test_fuse_driver(name: str) -> None:
    need(os.access("/dev/fuse", os.R_OK | os.W_OK), "/dev/fuse usable by the test user")
    with tempfile.TemporaryDirectory(prefix="fusedrv-") as tmp:
        home = Path(tmp) / "fuse"
        home.mkdir()
        # The scenario runs and cleans up (remove_tree) inside the namespace, where the
        # files' owners are mapped.
        script = "\n".join(
            [
                "import sys",
                f"sys.path.insert(0, {str(REPO)!r})",
                "from pathlib import Path",
                "from tests.integration.test_fuse_driver import SCENARIOS",
                "from rootless.storage.driver import remove_tree",
                f"home = Path({str(home)!r})",
                "try:",
                f"    SCENARIOS[{name!r}](home)",
                "finally:",
                "    remove_tree(home)",
            ]
        )
        cmd = [*in_namespace_cmd("tests.integration.test_fuse_driver")[:-2], "-c", script]
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=120, cwd=REPO)
        assert p.returncode == 0, p.stderr[-4000:]
