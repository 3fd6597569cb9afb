"""Resolve a path inside a directory tree as if that tree were `/`.

The build context and every stage's rootfs are such trees: a symlink in them is followed
the way the container would see it (`/x` and `..` stay at the tree's root), so a
Dockerfile or a context can never make the builder read or write outside them. The build
owns these trees while it resolves (no container runs), so resolving then acting is safe.
"""

from __future__ import annotations

import os
import posixpath
import stat

from rootless.build.errors import DockerfileError

MAX_LINKS = 255


class PathEscape(DockerfileError):
    """A path could not be resolved inside its root (symlink loop)."""


def resolve_in_root(root: str, path: str, *, follow_last: bool = True) -> str:
    """The host path of `path` seen from inside `root`; the result is always under root.

    Missing components are allowed (the rest is appended literally); symlinks met on the
    way, and the last component too unless follow_last=False, are followed inside root.
    """
    root = os.path.abspath(root)
    todo = [p for p in path.split("/") if p not in ("", ".")]
    todo.reverse()
    done: list[str] = []
    links = 0
    while todo:
        part = todo.pop()
        if part == "..":
            if done:
                done.pop()
            continue
        candidate = os.path.join(root, *done, part)
        if not todo and not follow_last:
            done.append(part)
            break
        try:
            st = os.lstat(candidate)
        except (FileNotFoundError, NotADirectoryError):
            done.append(part)
            continue
        if stat.S_ISLNK(st.st_mode):
            links += 1
            if links > MAX_LINKS:
                raise PathEscape(f"too many levels of symbolic links resolving {path}")
            target = os.readlink(candidate)
            if target.startswith("/"):
                done = []
            parts = [p for p in target.split("/") if p not in ("", ".")]
            todo.extend(reversed(parts))
            continue
        done.append(part)
    return os.path.join(root, *done) if done else root


def rel_in_root(root: str, host_path: str) -> str:
    """The container-side absolute path of a host path under root."""
    rel = os.path.relpath(host_path, os.path.abspath(root))
    return "/" if rel == "." else "/" + rel


def clean_container_path(path: str, workdir: str = "/") -> str:
    """Absolute, normalized container path; relative ones are taken from `workdir`."""
    joined = path if path.startswith("/") else posixpath.join(workdir or "/", path)
    out = posixpath.normpath(joined)
    return "/" if out == "//" else out
