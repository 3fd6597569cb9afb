"""`fuse-overlay`: a mount program with fuse-overlayfs' command line.

    fuse-overlay [-f] -o lowerdir=A:B,upperdir=U,workdir=W[,uidmapping=..] MOUNTPOINT

Without -f it returns once the mount is in place and keeps serving in the background;
SIGTERM (or fusermount3 -u / umount) unmounts and ends it.
"""

from __future__ import annotations

import sys


def main(argv: list[str] | None = None) -> int:
    from fuse_overlay.options import OptionError, parse_args

    args = sys.argv[1:] if argv is None else argv
    try:
        opts = parse_args(args)
    except OptionError as e:
        print(f"fuse-overlay: {e}", file=sys.stderr)
        return 1
    try:
        from fuse_overlay.mount import serve
    except OSError as e:  # libfuse missing
        print(
            f"fuse-overlay: cannot load libfuse3: {e} (install the fuse3 package)", file=sys.stderr
        )
        return 1
    try:
        serve(opts)
    except OSError as e:
        print(f"fuse-overlay: {opts.mountpoint}: {e.strerror or e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
