"""fuse-overlayfs' command line: `-o lowerdir=A:B,upperdir=U,workdir=W[,...] MOUNTPOINT`.

Options we understand are taken out; generic mount options (allow_other, ro, nodev...)
go to libfuse; options that only tune fuse-overlayfs internals are accepted and ignored
so that programs written for fuse-overlayfs (Podman's mount_program) can call us.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field


class OptionError(ValueError):
    """Bad command line; str() is the one line we print."""


# fuse-overlayfs tuning knobs with no meaning here: accepted, ignored.
IGNORED = frozenset(
    {
        "fast_ino",
        "fsync",
        "noacl",
        "plugins",
        "redirect_dir",
        "index",
        "metacopy",
        "userxattr",
        "volatile",
        "static_nlink",
        "xattr_permissions",
        "threaded",
        "timeout",
        "writeback",
        "debug",
        "squash_to_root",
        "squash_to_uid",
        "squash_to_gid",
        "context",
        "fscontext",
        "rootcontext",
        "defcontext",
        "lazytime",
    }
)
# Passed to libfuse as they are.
FUSE_PASSTHROUGH = frozenset(
    {
        "allow_other",
        "allow_root",
        "default_permissions",
        "ro",
        "rw",
        "nodev",
        "dev",
        "nosuid",
        "suid",
        "noexec",
        "exec",
        "noatime",
        "atime",
        "relatime",
        "dirsync",
        "sync",
        "async",
        "fsname",
        "subtype",
        "max_read",
        "auto_unmount",
    }
)


@dataclass(frozen=True)
class IdRange:
    inside: int  # id seen through the mount (the container's)
    outside: int  # id stored on disk
    size: int


@dataclass(frozen=True)
class IdMap:
    """uidmapping=/gidmapping= of fuse-overlayfs: CONTAINER:HOST:SIZE[:CONTAINER:HOST:SIZE]."""

    ranges: tuple[IdRange, ...] = ()

    @classmethod
    def parse(cls, spec: str, what: str) -> IdMap:
        parts = spec.replace(",", ":").split(":")
        if len(parts) % 3 or not all(p.isdigit() for p in parts):
            raise OptionError(f"{what}={spec}: expected CONTAINER:HOST:SIZE[:...] (numbers)")
        nums = [int(p) for p in parts]
        return cls(tuple(IdRange(*nums[i : i + 3]) for i in range(0, len(nums), 3)))

    def to_inside(self, outside: int) -> int:
        """Id on disk -> id shown; unmapped ids show as the overflow id 65534."""
        if not self.ranges:
            return outside
        for r in self.ranges:
            if r.outside <= outside < r.outside + r.size:
                return r.inside + outside - r.outside
        return 65534

    def to_outside(self, inside: int) -> int:
        if not self.ranges or inside == -1:
            return inside
        for r in self.ranges:
            if r.inside <= inside < r.inside + r.size:
                return r.outside + inside - r.inside
        raise OSError(22, "id not mapped")  # EINVAL, as chown to an unmapped id


@dataclass
class MountOptions:
    lowerdirs: list[str]  # top layer first, as overlayfs' lowerdir=
    upperdir: str | None
    workdir: str | None
    mountpoint: str
    foreground: bool = False
    debug: bool = False
    uidmap: IdMap = field(default_factory=IdMap)
    gidmap: IdMap = field(default_factory=IdMap)
    fuse_options: dict[str, str | bool] = field(default_factory=dict)


USAGE = (
    "usage: fuse-overlay [-f] [-d] -o lowerdir=A[:B...][,upperdir=U,workdir=W]"
    "[,uidmapping=C:H:N][,gidmapping=C:H:N][,allow_other,...] MOUNTPOINT"
)


def parse_args(argv: list[str]) -> MountOptions:
    """Parse fuse-overlayfs' argv (without the program name)."""
    opts: dict[str, str | bool] = {}
    positional: list[str] = []
    foreground = debug = False
    it = iter(argv)
    for arg in it:
        if arg in ("-f", "--foreground"):
            foreground = True
        elif arg in ("-d", "--debug"):
            debug = foreground = True
        elif arg == "-o":
            val = next(it, None)
            if val is None:
                raise OptionError("-o needs an argument")
            _split_options(val, opts)
        elif arg.startswith("-o") and len(arg) > 2:
            _split_options(arg[2:], opts)
        elif arg in ("-h", "--help"):
            raise OptionError(USAGE)
        elif arg.startswith("-") and arg != "-":
            raise OptionError(f"unknown flag {arg}; {USAGE}")
        else:
            positional.append(arg)
    if len(positional) != 1:
        raise OptionError(f"expected exactly one MOUNTPOINT, got {len(positional)}; {USAGE}")
    lower = opts.pop("lowerdir", None)
    if not isinstance(lower, str) or not lower:
        raise OptionError("missing -o lowerdir=DIR[:DIR...]")
    upper = opts.pop("upperdir", None)
    work = opts.pop("workdir", None)
    if (upper is None) != (work is None):
        raise OptionError("upperdir= and workdir= go together")
    uidmap = (
        IdMap.parse(str(opts.pop("uidmapping")), "uidmapping") if "uidmapping" in opts else IdMap()
    )
    gidmap = (
        IdMap.parse(str(opts.pop("gidmapping")), "gidmapping") if "gidmapping" in opts else IdMap()
    )
    fuse_options: dict[str, str | bool] = {}
    for key, value in opts.items():
        if key in IGNORED:
            continue
        if key not in FUSE_PASSTHROUGH:
            raise OptionError(f"unknown option {key!r}; {USAGE}")
        fuse_options[key] = value
    lowerdirs = [_existing_dir(p, "lowerdir") for p in lower.split(":") if p]
    mo = MountOptions(
        lowerdirs=lowerdirs,
        upperdir=_existing_dir(str(upper), "upperdir") if upper is not None else None,
        workdir=_existing_dir(str(work), "workdir") if work is not None else None,
        mountpoint=_existing_dir(positional[0], "mountpoint"),
        foreground=foreground,
        debug=debug,
        uidmap=uidmap,
        gidmap=gidmap,
        fuse_options=fuse_options,
    )
    if mo.upperdir and mo.workdir:
        if os.stat(mo.upperdir).st_dev != os.stat(mo.workdir).st_dev:
            raise OptionError("workdir and upperdir must be on the same filesystem")
        if mo.upperdir == mo.workdir:
            raise OptionError("workdir and upperdir must be different directories")
    return mo


def _split_options(text: str, into: dict[str, str | bool]) -> None:
    for item in text.split(","):
        if not item:
            continue
        key, eq, val = item.partition("=")
        into[key] = val if eq else True


def _existing_dir(path: str, what: str) -> str:
    real = os.path.realpath(path)
    if not os.path.isdir(real):
        raise OptionError(f"{what} {path}: not an existing directory")
    return real
