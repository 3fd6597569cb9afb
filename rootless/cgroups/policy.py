"""What to do with limit flags when no cgroup v2 subtree is delegated to us.

Default: one warning naming the reason and the fix, and the container runs.
With `--cgroup-limits require` (or `cgroup_limits = "require"` in the engine's
config), it is an error, exit 125.
"""

from __future__ import annotations

import sys
from pathlib import Path

from rootless.cgroups.detect import CgroupInfo, detect
from rootless.cgroups.limits import Limits
from rootless.errors import EngineError, UsageError

POLICIES = ("warn", "require")


class LimitsUnavailable(EngineError):
    pass


def missing_controllers(info: CgroupInfo, limits: Limits) -> set[str]:
    if not info.writable:
        return limits.controllers()
    return limits.controllers() - set(info.delegated)


def check(limits: Limits, policy: str = "warn", info: CgroupInfo | None = None) -> bool:
    """True when the limits can be applied; False (after one warning) when they cannot."""
    if not limits.any():
        return True
    info = info or detect()
    missing = missing_controllers(info, limits)
    if not missing:
        return True
    reason = info.reason or f"controllers not delegated: {', '.join(sorted(missing))}"
    what = ", ".join(sorted(missing))
    if policy == "require":
        raise LimitsUnavailable(
            f"resource limits need cgroup v2 controllers ({what}) that are not available: {reason}",
            hint=info.fix or "delegate a cgroup v2 subtree to this user",
        )
    print(
        f"WARNING: resource limits ignored ({what}): {reason}; fix: {info.fix}",
        file=sys.stderr,
    )
    return False


ENGINE_CONF = "engine.conf"


def resolve(flag: str | None, config_dir: Path) -> str:
    """--cgroup-limits / ROOTLESS_CGROUP_LIMITS, else `cgroup_limits` in $config/engine.conf
    (TOML, top level or under [engine]), else "warn"."""
    if flag:
        return flag
    conf = config_dir / ENGINE_CONF
    if not conf.is_file():
        return "warn"
    import tomllib

    try:
        data = tomllib.loads(conf.read_text())
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
        raise UsageError(f"{conf}: invalid TOML: {e}") from None
    value = data.get("cgroup_limits", (data.get("engine") or {}).get("cgroup_limits", "warn"))
    if value not in POLICIES:
        raise UsageError(f"{conf}: cgroup_limits must be one of {', '.join(POLICIES)}: {value!r}")
    return str(value)
