"""Docker-format seccomp profiles rendered per container (caps, host architecture)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from rootless.engine import bundle as B
from rootless.engine.runspec import RunSpec
from rootless.engine.seccomp_profile import render

PROFILE: dict[str, Any] = {
    "defaultAction": "SCMP_ACT_ERRNO",
    "defaultErrnoRet": 1,
    "archMap": [
        {"architecture": "SCMP_ARCH_X86_64", "subArchitectures": ["SCMP_ARCH_X86"]},
        {"architecture": "SCMP_ARCH_AARCH64", "subArchitectures": ["SCMP_ARCH_ARM"]},
    ],
    "syscalls": [
        {"names": ["read"], "action": "SCMP_ACT_ALLOW"},
        {"names": ["mount"], "action": "SCMP_ACT_ALLOW", "includes": {"caps": ["CAP_SYS_ADMIN"]}},
        {"names": ["arch_prctl"], "action": "SCMP_ACT_ALLOW", "includes": {"arches": ["amd64"]}},
        {
            "names": ["arm_fadvise64_64"],
            "action": "SCMP_ACT_ALLOW",
            "includes": {"arches": ["arm64"]},
        },
        {"names": ["clone"], "action": "SCMP_ACT_ALLOW", "excludes": {"caps": ["CAP_SYS_ADMIN"]}},
        {"names": ["s390_only"], "action": "SCMP_ACT_ALLOW", "excludes": {"arches": ["x86_64"]}},
    ],
}


def names(prof: dict[str, Any]) -> list[str]:
    return [n for rule in prof["syscalls"] for n in rule["names"]]


def test_rules_follow_capabilities_and_architecture() -> None:
    plain = render(PROFILE, ["CAP_CHOWN"], "x86_64")
    assert plain["architectures"] == ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86"]
    assert names(plain) == ["read", "arch_prctl", "clone"]
    assert all("includes" not in r and "excludes" not in r for r in plain["syscalls"])
    admin = render(PROFILE, ["CAP_CHOWN", "CAP_SYS_ADMIN"], "x86_64")
    assert names(admin) == ["read", "mount", "arch_prctl"]
    arm = render(PROFILE, [], "aarch64")
    assert arm["architectures"] == ["SCMP_ARCH_AARCH64", "SCMP_ARCH_ARM"]
    assert names(arm) == ["read", "arm_fadvise64_64", "clone", "s390_only"]
    assert plain["defaultAction"] == "SCMP_ACT_ERRNO" and plain["defaultErrnoRet"] == 1
    assert "archMap" not in plain and len(PROFILE["syscalls"]) == 6  # input untouched


def test_oci_format_profile_passes_through() -> None:
    oci = {"defaultAction": "SCMP_ACT_ALLOW", "architectures": ["SCMP_ARCH_X86_64"], "syscalls": []}
    assert render(oci, [], "x86_64") == oci


def test_default_profile_in_the_bundle(tmp_path: Path) -> None:
    rootfs = tmp_path / "rootfs"
    (rootfs / "etc").mkdir(parents=True)
    ctx = B.BundleContext(container_id="c" * 64, rootfs=str(rootfs), image_config={"Cmd": ["sh"]})

    def seccomp(spec: RunSpec) -> dict[str, Any]:
        return B.make_config(spec, ctx)["linux"]["seccomp"]

    default = seccomp(RunSpec(image="x"))
    # Docker's semantics: unshare/mount/setns only with CAP_SYS_ADMIN, native arch only.
    assert not {"unshare", "mount", "setns"} & set(names(default))
    assert "SCMP_ARCH_AARCH64" not in default["architectures"]
    assert {"read", "clone", "execve"} <= set(names(default))
    admin = seccomp(RunSpec(image="x", cap_add=["SYS_ADMIN"]))
    assert {"unshare", "mount", "setns"} <= set(names(admin))
    json.dumps(default)  # the bundle writes it as JSON
