"""COPY/ADD into a rootfs with Docker's semantics, never leaving the rootfs.

Destination rules: a trailing `/` or several sources make the destination a directory;
a directory source copies its contents; a single file goes to `dest` (or into it when
`dest` is an existing directory). Owners are 0:0 unless --chown (or the source is a
stage/image, whose owners are kept); --chmod applies to everything copied. Every
destination path is resolved inside the rootfs, so symlinks in the image stay inside.
"""

from __future__ import annotations

import os
import posixpath
import shutil
import stat
import tarfile
from dataclasses import dataclass
from typing import IO

from rootless.build.context import Source, SourceTree
from rootless.build.errors import DockerfileError
from rootless.build.rootpath import resolve_in_root


@dataclass(frozen=True)
class Ownership:
    """How copied files are owned and moded."""

    uid: int | None = 0  # None: keep the source's owner
    gid: int | None = 0
    chmod: int | None = None


def makedirs(rootfs: str, path: str, own: Ownership | None = None) -> str:
    """mkdir -p inside rootfs; new directories are 0755 root:root except the last one,
    which gets `own`. Returns the host path of `path`."""
    cur = "/"
    host = rootfs
    parts = [p for p in path.split("/") if p]
    for i, part in enumerate(parts):
        cur = posixpath.join(cur, part)
        host = resolve_in_root(rootfs, cur)
        if os.path.isdir(host):
            continue
        if os.path.lexists(host):
            raise DockerfileError(f"cannot create directory {cur}: a file is in the way")
        # The resolved path is symlink-free up to the first missing component, so
        # makedirs creates only directories under the rootfs. We are uid 0 in the user
        # namespace: they are owned 0:0.
        os.makedirs(host, 0o755)
        if i == len(parts) - 1 and own is not None:
            _own(host, own, None, is_dir=True)
    return host


def _own(host: str, own: Ownership, st: os.stat_result | None, *, is_dir: bool) -> None:
    have = os.lstat(host)
    uid = own.uid if own.uid is not None else (st.st_uid if st else have.st_uid)
    gid = own.gid if own.gid is not None else (st.st_gid if st else have.st_gid)
    if (uid, gid) != (have.st_uid, have.st_gid):
        os.chown(host, uid, gid, follow_symlinks=False)
    if own.chmod is not None and not stat.S_ISLNK(have.st_mode):
        os.chmod(host, own.chmod)


def _clear(host: str, want_dir: bool) -> None:
    """Make room for a new entry: replace files/links; keep a directory for a directory."""
    try:
        st = os.lstat(host)
    except FileNotFoundError:
        return
    if stat.S_ISDIR(st.st_mode):
        if want_dir:
            return
        raise DockerfileError(f"cannot overwrite directory {host} with a file")
    os.unlink(host)


def copy_entry(src_host: str, st: os.stat_result, rootfs: str, dest: str, own: Ownership) -> None:
    """Copy one file, link or directory (not its contents) to container path `dest`."""
    host = resolve_in_root(rootfs, dest, follow_last=False)
    mode = stat.S_IMODE(st.st_mode)
    if stat.S_ISDIR(st.st_mode):
        if not os.path.isdir(host):
            _clear(host, want_dir=True)
            os.mkdir(host, 0o700)
            os.chmod(host, mode)
    elif stat.S_ISREG(st.st_mode):
        _clear(host, want_dir=False)
        with open(src_host, "rb") as fin:
            fd = os.open(host, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
            with os.fdopen(fd, "wb") as fout:
                shutil.copyfileobj(fin, fout, 1 << 20)
        os.chmod(host, mode)
    elif stat.S_ISLNK(st.st_mode):
        _clear(host, want_dir=False)
        os.symlink(os.readlink(src_host), host)
    elif stat.S_ISFIFO(st.st_mode):
        _clear(host, want_dir=False)
        os.mkfifo(host, mode)
    else:
        return  # sockets and device nodes are not copied (Docker skips them too)
    _own(host, own, st, is_dir=stat.S_ISDIR(st.st_mode))
    os.utime(host, ns=(st.st_atime_ns, st.st_mtime_ns), follow_symlinks=False)


def copy_sources(
    tree: SourceTree, sources: list[Source], rootfs: str, dest: str, own: Ownership
) -> None:
    """COPY `sources` (already matched in `tree`) to container path `dest` (absolute)."""
    dest_is_dir = dest.endswith("/") or len(sources) > 1
    dest = posixpath.normpath(dest)
    if not dest_is_dir and not sources[0].is_dir:
        host = resolve_in_root(rootfs, dest)
        dest_is_dir = os.path.isdir(host)
    for src in sources:
        if src.is_dir:
            makedirs(rootfs, dest, own)
            for e in tree.walk(src):
                copy_entry(e.host, e.st, rootfs, posixpath.join(dest, e.sub), own)
            continue
        target = posixpath.join(dest, src.name) if dest_is_dir else dest
        makedirs(rootfs, posixpath.dirname(target) if not dest_is_dir else dest,
                 own if dest_is_dir else None)  # fmt: skip
        copy_entry(src.host, os.stat(src.host, follow_symlinks=False), rootfs, target, own)


def write_file(rootfs: str, dest: str, data: bytes, own: Ownership, mode: int = 0o644) -> None:
    """A file from bytes (COPY <<EOF, ADD of a URL)."""
    makedirs(rootfs, posixpath.dirname(dest))
    host = resolve_in_root(rootfs, dest, follow_last=False)
    _clear(host, want_dir=False)
    fd = os.open(host, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    os.chmod(host, mode)
    _own(host, own, None, is_dir=False)


# ---- ADD of a local archive ----


def is_archive(path: str) -> bool:
    """tar, optionally gzip/bzip2/xz compressed (Docker's auto-extraction set)."""
    try:
        with open(path, "rb") as f:
            head = f.read(512)
    except OSError:
        return False
    if head[:2] == b"\x1f\x8b" or head[:3] == b"BZh" or head[:6] == b"\xfd7zXZ\x00":
        return True
    return len(head) == 512 and head[257:262] == b"ustar"


def extract_tar(fileobj: IO[bytes], rootfs: str, dest: str) -> int:
    """Unpack an archive into container dir `dest`, owners and modes as in the archive.
    Every member is resolved inside the rootfs. Returns the member count."""
    makedirs(rootfs, dest)
    n = 0
    with tarfile.open(fileobj=fileobj, mode="r:*") as tf:
        dirs: list[tuple[str, tarfile.TarInfo]] = []
        for m in tf:
            name = posixpath.normpath("/" + m.name).lstrip("/")
            if not name:
                continue
            target = posixpath.join(dest, name)
            makedirs(rootfs, posixpath.dirname(target))
            host = resolve_in_root(rootfs, target, follow_last=False)
            if m.isdir():
                if not os.path.isdir(host):
                    _clear(host, want_dir=True)
                    os.mkdir(host, 0o700)
                dirs.append((host, m))
            elif m.isreg():
                _clear(host, want_dir=False)
                src = tf.extractfile(m)
                assert src is not None
                fd = os.open(host, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
                with os.fdopen(fd, "wb") as out:
                    shutil.copyfileobj(src, out, 1 << 20)
            elif m.issym():
                _clear(host, want_dir=False)
                os.symlink(m.linkname, host)
            elif m.islnk():
                _clear(host, want_dir=False)
                link = posixpath.join(dest, posixpath.normpath("/" + m.linkname).lstrip("/"))
                os.link(resolve_in_root(rootfs, link, follow_last=False), host)
                n += 1
                continue
            elif m.isfifo():
                _clear(host, want_dir=False)
                os.mkfifo(host, 0o600)
            else:
                continue  # device nodes cannot be created here
            if not m.isdir():
                _apply_meta(host, m)
            n += 1
        for host, m in reversed(dirs):  # after their contents, so mtimes stick
            _apply_meta(host, m)
            n += 1
    return n


def _apply_meta(host: str, m: tarfile.TarInfo) -> None:
    os.chown(host, m.uid, m.gid, follow_symlinks=False)
    if not m.issym():
        os.chmod(host, m.mode & 0o7777)
    os.utime(host, (m.mtime, m.mtime), follow_symlinks=False)
