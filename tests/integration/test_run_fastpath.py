"""The fast `run --rm` path keeps its promises: a volatile overlay only for --rm
containers, the runtime's state deleted every time (the CLI no longer races the monitor's
`runtime delete`), Docker's seccomp semantics, exit codes through the quick exit."""

from __future__ import annotations

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
    left = sorted(p.name for p in oci.iterdir()) if oci.is_dir() else []
    assert left == []
    assert_no_debris(eng)


def test_seccomp_follows_capabilities(eng: Env) -> None:
    # Docker's default profile: new namespaces only with CAP_SYS_ADMIN.
    plain = eng.run("run", "--rm", "busybox", "unshare", "-U", "true")
    assert plain.rc != 0 and "not permitted" in plain.err + plain.out
    admin = eng.run("run", "--rm", "--cap-add", "SYS_ADMIN", "busybox", "unshare", "-U", "true")
    assert admin.rc == 0, admin.err
    assert_no_debris(eng)
