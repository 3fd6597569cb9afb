"""Killing `rootless load` (20 tries) or `rmi` (8 tries) at random points with SIGKILL
never leaves an image that lists but does not resolve, and the store's consistency check
passes afterwards."""

from __future__ import annotations

import os
import random
import shutil
import signal
import subprocess
import sys
import time

import pytest

from tests.conftest import TEST_IMAGES, Env, need


def _assert_consistent(rl: Env) -> list[str]:
    ids = rl.run("images", "-q", "--no-trunc", check=True).out.split()
    for iid in ids:  # everything listed resolves: manifest, config, layers
        r = rl.run("image", "inspect", iid)
        assert r.rc == 0, f"listed image {iid[:12]} does not resolve: {r.err}"
    r = rl.run("image", "check")
    assert r.rc == 0, f"store inconsistent after a kill:\n{r.out}{r.err}"
    return ids


@pytest.mark.slow
def test_sigkill_during_load_leaves_a_consistent_store(rl: Env) -> None:
    layout = TEST_IMAGES / "busybox"
    need(
        (layout / "index.json").is_file(), f"test image {layout}", "run scripts/make-test-images.sh"
    )
    exe = shutil.which("rootless")
    cmd = [exe, "load", "-q", "-i", str(layout)] if exe else [
        sys.executable, "-m", "rootless", "load", "-q", "-i", str(layout)]  # fmt: skip
    rng = random.Random(4242)
    # Warm up: the pause process exists, so kills land in load work, not in setup.
    rl.run("images", check=True)
    rl.run("unshare", "true", check=True)
    # Kill points are spread over one measured load, so they land in its work however
    # fast or loaded this machine is.
    t0 = time.monotonic()
    subprocess.run(cmd, env=rl.env(), check=True, capture_output=True)
    duration = time.monotonic() - t0
    rl.run("rmi", "-f", *_assert_consistent(rl), check=True)
    killed_mid_way = 0
    try:
        for _ in range(20):
            p = subprocess.Popen(cmd, env=rl.env(), stdout=subprocess.DEVNULL,
                                 stderr=subprocess.DEVNULL)  # fmt: skip
            time.sleep(rng.uniform(0.02, 0.9) * duration)
            if p.poll() is None:
                os.kill(p.pid, signal.SIGKILL)
                killed_mid_way += 1
            p.wait(timeout=60)
            ids = _assert_consistent(rl)
            if ids:  # start the next round from an empty store again
                rl.run("rmi", "-f", *ids, check=True)
        assert killed_mid_way >= 10, "the kills should mostly land during the load"
        # And a load after all that debris works and leaves a clean store.
        rl.run("load", "-q", "-i", str(layout), check=True)
        assert len(_assert_consistent(rl)) == 1
        assert rl.run("image", "check", check=True).out == ""
        # Removal is crash-safe too: the index forgets the image before files go.
        rmi = [*cmd[: cmd.index("load")], "rmi", "busybox"]
        for _ in range(8):
            if not _assert_consistent(rl):
                rl.run("load", "-q", "-i", str(layout), check=True)
            p = subprocess.Popen(rmi, env=rl.env(), stdout=subprocess.DEVNULL,
                                 stderr=subprocess.DEVNULL)  # fmt: skip
            time.sleep(rng.uniform(0.05, 0.6))
            if p.poll() is None:
                os.kill(p.pid, signal.SIGKILL)
            p.wait(timeout=60)
            _assert_consistent(rl)
        rl.run("rmi", "-a", check=True)
        rl.run("image", "prune", "-a", check=True)
        assert _assert_consistent(rl) == []
    finally:
        rl.run("unshare", "rm", "-rf", "--one-file-system", str(rl.root))
