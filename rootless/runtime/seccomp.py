"""linux.seccomp of an OCI config -> a libseccomp filter (pyseccomp), and Docker's default
profile shipped as data (seccomp_default.json) for the engine to put into bundles.
"""

from __future__ import annotations

import errno
import json
import os

from rootless.errors import EngineError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


class SeccompError(EngineError):
    """The bundle's seccomp profile cannot be turned into a filter."""


_OPS = {
    "SCMP_CMP_NE": 1,
    "SCMP_CMP_LT": 2,
    "SCMP_CMP_LE": 3,
    "SCMP_CMP_EQ": 4,
    "SCMP_CMP_GE": 5,
    "SCMP_CMP_GT": 6,
    "SCMP_CMP_MASKED_EQ": 7,
}
_ARCHES = {
    "SCMP_ARCH_X86": "X86",
    "SCMP_ARCH_X86_64": "X86_64",
    "SCMP_ARCH_X32": "X32",
    "SCMP_ARCH_ARM": "ARM",
    "SCMP_ARCH_AARCH64": "AARCH64",
    "SCMP_ARCH_PPC64LE": "PPC64LE",
    "SCMP_ARCH_S390X": "S390X",
    "SCMP_ARCH_RISCV64": "RISCV64",
}
DEFAULT_PROFILE = os.path.join(os.path.dirname(__file__), "seccomp_default.json")


def _action(ps: Any, name: str, errno_ret: int | None) -> int:
    if name == "SCMP_ACT_ALLOW":
        return int(ps.ALLOW)
    if name == "SCMP_ACT_ERRNO":
        return int(ps.ERRNO(errno.EPERM if errno_ret is None else errno_ret))
    if name in ("SCMP_ACT_KILL", "SCMP_ACT_KILL_THREAD"):
        return int(ps.KILL_THREAD)
    if name == "SCMP_ACT_KILL_PROCESS":
        return int(ps.KILL_PROCESS)
    if name == "SCMP_ACT_TRAP":
        return int(ps.TRAP)
    if name == "SCMP_ACT_LOG":
        return int(ps.LOG)
    if name == "SCMP_ACT_TRACE":
        return int(ps.TRACE(errno.EPERM if errno_ret is None else errno_ret))
    raise SeccompError(f"seccomp action {name} is not supported")


def build_filter(profile: dict[str, Any], no_new_privs: bool) -> Any:
    """A pyseccomp SyscallFilter for an OCI linux.seccomp object (not yet loaded)."""
    ps = _pyseccomp()

    default = _action(
        ps, profile.get("defaultAction", "SCMP_ACT_ALLOW"), profile.get("defaultErrnoRet")
    )
    flt = ps.SyscallFilter(default)
    # libseccomp sets no_new_privs on load unless told not to: only when the spec asks.
    flt.set_attr(ps.Attr.CTL_NNP, 1 if no_new_privs else 0)
    for arch in profile.get("architectures") or []:
        name = _ARCHES.get(arch)
        if name is None:
            continue
        try:
            flt.add_arch(getattr(ps.Arch, name))
        except OSError as e:
            if e.errno != errno.EEXIST:
                raise
    for rule in profile.get("syscalls") or []:
        action = _action(ps, rule.get("action", ""), rule.get("errnoRet"))
        if action == default:
            continue  # libseccomp refuses rules equal to the default action
        args = rule.get("args") or []
        for name in rule.get("names") or ([rule["name"]] if rule.get("name") else []):
            _add(ps, flt, action, name, args)
    return flt


def _pyseccomp() -> Any:
    try:
        import pyseccomp
    except ImportError:
        import sys

        if not sys.flags.no_site:
            raise
        # Called from the engine's monitor (`python -S`: no site-packages on the path).
        # Only a new profile gets here; a cached one needs no libseccomp at all.
        import site

        site.main()
        import pyseccomp
    return pyseccomp


def _add(ps: Any, flt: Any, action: int, name: str, args: list[dict[str, Any]]) -> None:
    try:
        nr = ps.resolve_syscall(ps.Arch.NATIVE, name)
    except Exception:
        return
    if nr < 0:
        return  # not a syscall on this architecture: ignored, as runc does
    conds = []
    for a in args:
        op = _OPS.get(a.get("op", ""))
        if op is None:
            raise SeccompError(f"seccomp: unknown operator {a.get('op')!r} for {name}")
        conds.append(ps.Arg(int(a["index"]), op, int(a.get("value", 0)), int(a.get("valueTwo", 0))))
    indexes = [int(a["index"]) for a in args]
    try:
        if len(set(indexes)) == len(indexes):
            flt.add_rule(action, nr, *conds)
        else:
            # libseccomp cannot AND two conditions on one argument: one rule each (OR), as runc.
            for c in conds:
                flt.add_rule(action, nr, c)
    except OSError as e:
        raise SeccompError(f"seccomp: rule for {name}: {e.strerror or e}") from None


def load(profile: dict[str, Any], no_new_privs: bool) -> None:
    build_filter(profile, no_new_privs).load()


def default_profile(capabilities: list[str] | None = None, arch: str = "x86_64") -> dict[str, Any]:
    """Docker's default profile rendered as an OCI linux.seccomp object for a capability set.

    Rules with includes/excludes on caps or arches are kept or dropped accordingly.
    """
    with open(DEFAULT_PROFILE, "rb") as f:
        docker = json.load(f)
    caps = set(capabilities or [])
    out_rules = []
    for rule in docker["syscalls"]:
        inc = rule.get("includes", {})
        exc = rule.get("excludes", {})
        if inc.get("caps") and not set(inc["caps"]) <= caps:
            continue
        if exc.get("caps") and set(exc["caps"]) & caps:
            continue
        if inc.get("arches") and arch not in inc["arches"]:
            continue
        if exc.get("arches") and arch in exc["arches"]:
            continue
        r = {k: v for k, v in rule.items() if k in ("names", "action", "args", "errnoRet")}
        out_rules.append(r)
    arches = []
    for m in docker.get("archMap", []):
        if m["architecture"] == _native_arch_name(arch):
            arches = [m["architecture"], *m.get("subArchitectures", [])]
    return {
        "defaultAction": docker["defaultAction"],
        "defaultErrnoRet": docker.get("defaultErrnoRet", errno.EPERM),
        "architectures": arches,
        "syscalls": out_rules,
    }


def _native_arch_name(arch: str) -> str:
    return {"x86_64": "SCMP_ARCH_X86_64", "aarch64": "SCMP_ARCH_AARCH64"}.get(
        arch, f"SCMP_ARCH_{arch.upper()}"
    )
