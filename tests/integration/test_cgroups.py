"""cgroups: the warning path on this hybrid host, and real limits in the cgroup v2 VM."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from rootless.cgroups.detect import detect
from rootless.cgroups.limits import Limits
from rootless.cgroups.policy import LimitsUnavailable, check
from tests.conftest import REPO, need


def test_hybrid_host_reports_why_limits_are_unavailable() -> None:
    info = detect()
    if info.writable and {"memory", "pids"} <= set(info.delegated):
        pytest.fail("this host delegates cgroups: the hybrid-host test expects it does not")
    assert info.reason
    assert info.fix and "Delegate=" in info.fix


def test_warn_policy_warns_once(capfd: pytest.CaptureFixture[str]) -> None:
    assert check(Limits(memory=50 << 20)) is False
    err = capfd.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("WARNING: resource limits ignored")


def test_require_policy_fails() -> None:
    with pytest.raises(LimitsUnavailable) as e:
        check(Limits(pids_limit=10), "require")
    assert e.value.exit_code == 125


@pytest.mark.slow
def test_real_limits_in_cgroup_v2_vm() -> None:
    need(
        os.path.exists("/usr/bin/qemu-system-x86_64"),
        "qemu-system-x86",
        "as root: scripts/setup-host.sh",
    )
    need(
        any(Path("/boot").glob("vmlinuz-*")),
        "a kernel in /boot",
        "as root: apt-get install linux-image-amd64",
    )
    p = subprocess.run(
        [str(REPO / "scripts/vm-test.sh")], capture_output=True, text=True, timeout=1500
    )
    print(p.stdout[-5000:], p.stderr[-3000:])
    assert p.returncode == 0, p.stdout[-3000:] + p.stderr[-2000:]
    assert " passed" in p.stdout and "failed" not in p.stdout
