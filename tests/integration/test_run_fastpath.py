"""The fast `run --rm` path keeps its promises: a volatile overlay only for --rm
containers, the runtime's state deleted every time (the CLI no longer races the monitor's
`runtime delete`), Docker's seccomp semantics, exit codes through the quick exit."""

from __future__ import annotations

import sys
from collections.abc import Iterator

import pytest

from tests.conftest import Env
from tests.integration.test_containers_support import assert_no_debris, force_cleanup


@pytest.fixture
def eng(rl: Env, busybox_image: str) -> Iterator[Env]:
    yield rl
    force_cleanup(rl)


def _merged_options(eng: Env, cid: str) -> str:
    """The mount options of the container's rootfs, as the engine's namespace sees it."""
    info = eng.run("unshare", "cat", "/proc/self/mountinfo", check=True).out
    lines = [ln for ln in info.splitlines() if f"/{cid}/merged " in ln]
    assert len(lines) == 1, info
    return lines[0]


def test_only_rm_containers_get_a_volatile_overlay(eng: Env) -> None:
    rm = eng.run("run", "-d", "--rm", "busybox", "sleep", "60", check=True).out.strip()
    keep = eng.run("run", "-d", "busybox", "sleep", "60", check=True).out.strip()
    if "overlay" not in _merged_options(eng, keep):
        pytest.fail("the test engine does not use the overlay driver (run setup-host.sh)")
    assert "volatile" in _merged_options(eng, rm)
    assert "volatile" not in _merged_options(eng, keep)
    eng.run("rm", "-f", rm, keep, check=True)
    assert_no_debris(eng)


def test_run_rm_leaves_no_runtime_state(eng: Env) -> None:
    for code in (0, 3, 0, 5):
        r = eng.run(
            "run", "--rm", "--network", "none", "busybox", "sh", "-c", f"echo x; exit {code}"
        )
        assert (r.rc, r.out) == (code, "x\n"), r.err
    oci = eng.runroot / "oci"
    # '@' entries are the runtime's shared caches (runtime/bpfcache.py), not a container's
    left = sorted(p.name for p in oci.iterdir() if p.name[0] != "@") if oci.is_dir() else []
    assert left == []
    assert_no_debris(eng)


def test_seccomp_follows_capabilities(eng: Env) -> None:
    # Docker's default profile: new namespaces only with CAP_SYS_ADMIN.
    plain = eng.run("run", "--rm", "busybox", "unshare", "-U", "true")
    assert plain.rc != 0 and "not permitted" in plain.err + plain.out
    admin = eng.run("run", "--rm", "--cap-add", "SYS_ADMIN", "busybox", "unshare", "-U", "true")
    assert admin.rc == 0, admin.err
    assert_no_debris(eng)


def _imported(err: str) -> set[str]:
    """Top-level module names from `python -X importtime`'s report."""
    names = set()
    for line in err.splitlines():
        if line.startswith("import time:") and "|" in line:
            names.add(line.rsplit("|", 1)[1].strip().split(".")[0])
    return names


def test_run_takes_the_click_free_path(eng: Env) -> None:
    wrap = [sys.executable, "-X", "importtime"]
    fast = eng.run_wrapped(
        wrap, "run", "--rm", "--network", "none", "busybox", "sh", "-c", "exit 4"
    )
    assert fast.rc == 4, fast.err
    assert "rootless" in _imported(fast.err)
    # Nor what start-up would only pay for (docs/run-startup.md): click, typing, inspect
    # (dataclasses' import of it is deferred), the socket module (the C one suffices).
    assert not {"click", "typing", "inspect", "socket"} & _imported(fast.err)
    # A bad choice is click's to report: the fast path declines and click says why.
    bad = eng.run_wrapped(wrap, "run", "--pull", "sometimes", "busybox", "true")
    assert bad.rc == 125
    assert "click" in _imported(bad.err)
    assert "Error: Invalid value for '--pull'" in bad.err
    assert_no_debris(eng)


# `rootless run`, with the container's monitor pointed at a script that does not exist:
# its interpreter exits before the go, as a monitor killed at that moment would.
_DEAD_MONITOR = """
import sys
import rootless.engine.containers.prestart as prestart
prestart.MONITOR_MAIN = "/nonexistent/rootless-monitor.py"
sys.argv = ["rootless", *sys.argv[2:]]
from rootless.cli.main import main
main()
"""


def test_a_monitor_dead_before_its_go_fails_the_run(eng: Env) -> None:
    """The go then meets a closed pipe: an engine error (125) and the --rm container
    removed, not the silent exit 0 a broken pipe means for `run | head`."""
    r = eng.run_wrapped([sys.executable, "-c", _DEAD_MONITOR], "run", "--rm", "busybox", "true")
    assert r.rc == 125, (r.rc, r.err)
    assert "died while starting it" in r.err
    assert_no_debris(eng)


def test_fast_path_errors_and_outputs_match_the_click_path(eng: Env) -> None:
    r = eng.run("run", "-e", "=x", "busybox", "true")
    assert (r.rc, r.err) == (125, "Error: invalid environment variable '=x' (use -e NAME=VALUE)\n")
    r = eng.run("run", "--rm", "--restart", "always", "busybox", "true")
    assert (r.rc, r.err) == (125, "Error: --rm and --restart cannot be combined\n")
    r = eng.run("run", "--rm", "--pull", "never", "no-such-image-here")
    assert r.rc == 125 and r.err.startswith("Error: ") and r.err.count("\n") == 1, r.err
    # Global options before `run` and the -dit cluster; create prints the id.
    cid = eng.run(
        "--root", str(eng.root), "--log-level", "error", "create", "--name", "fp", "busybox",
        "true", check=True,
    ).out.strip()  # fmt: skip
    assert len(cid) == 64
    started = eng.run("start", "-a", "fp")
    assert started.rc == 0, started.err
    did = eng.run("run", "-dit", "--name", "fp2", "busybox", "sh", check=True).out.strip()
    assert len(did) == 64
    eng.run("rm", "-f", "fp", "fp2", check=True)
    assert_no_debris(eng)
