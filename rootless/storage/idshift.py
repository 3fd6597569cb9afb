"""ID-shifted copies of a container's root filesystem (for `--userns nomap`).

A nomap container runs in a nested user namespace made only of subordinate ids: its
root is the engine's uid 1, not the engine's uid 0 that owns the image layers. The
kernel cannot give us an ID-shifted view of the layers here: idmapped mounts need a
filesystem that allows them (overlayfs does not: EINVAL) whose superblock our user
namespace owns (the layers' ext4 belongs to the host: EPERM); only a tmpfs of our own
qualifies. So, like containers/storage without idmapped mounts, we make a chown'ed
copy: every owner moved up by `offset`, once per image and offset with the overlay and
fuse drivers (shared by the image's nomap containers), in place per container with vfs.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

# Bits chown(2) clears on regular files, which the shifted copy must keep.
_SET_ID_BITS = stat.S_ISUID | stat.S_ISGID


def shift_tree(root: Path, offset: int) -> None:
    """Move the owner and group of every entry under `root` (itself included) up by
    `offset`, keeping setuid/setgid bits (chown clears them). Never follows symlinks."""
    _shift_one(str(root), offset)
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            _shift_one(os.path.join(dirpath, name), offset)


def _shift_one(path: str, offset: int) -> None:
    st = os.lstat(path)
    os.lchown(path, st.st_uid + offset, st.st_gid + offset)
    if st.st_mode & _SET_ID_BITS and not stat.S_ISLNK(st.st_mode):
        os.chmod(path, stat.S_IMODE(st.st_mode))
