"""A tree COPY/ADD read from: the build context (with .dockerignore) or a stage's rootfs.

Sources are resolved inside the tree (rootless.build.rootpath), globs expand one path
element at a time, and walking never follows a symlink: links are copied as links. What
.dockerignore hides does not exist for the build, not even for a glob.
"""

from __future__ import annotations

import hashlib
import os
import posixpath
import re
import stat
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from rootless.build.errors import DockerfileError
from rootless.build.ignore import IgnoreMatcher, _translate
from rootless.build.rootpath import rel_in_root, resolve_in_root

_MAGIC = re.compile(r"[*?\[]")


class SourceNotFound(DockerfileError):
    """A COPY/ADD source matched nothing."""


@dataclass(frozen=True)
class Source:
    """One matched source: `rel` is its path in the tree, `host` where it really is."""

    rel: str
    host: str
    is_dir: bool

    @property
    def name(self) -> str:
        return posixpath.basename(self.rel.rstrip("/")) or "/"


@dataclass(frozen=True)
class Entry:
    """A file below a source directory: `sub` is relative to that directory."""

    sub: str
    host: str
    st: os.stat_result


class SourceTree:
    def __init__(self, root: str | Path, ignore: IgnoreMatcher | None = None) -> None:
        self.root = os.path.abspath(root)
        self.ignore = ignore or IgnoreMatcher([])

    @classmethod
    def context(cls, root: str | Path) -> SourceTree:
        return cls(root, IgnoreMatcher.for_context(Path(root)))

    def _hidden(self, rel: str) -> bool:
        return bool(self.ignore) and self.ignore.excluded(rel)

    def _glob(self, pattern: str) -> list[str]:
        parts = [p for p in pattern.split("/") if p not in ("", ".")]
        found = [""]
        for part in parts:
            nxt: list[str] = []
            for base in found:
                if part == "..":
                    nxt.append(posixpath.dirname(base))
                    continue
                if not _MAGIC.search(part):
                    nxt.append(posixpath.join(base, part) if base else part)
                    continue
                rx = re.compile(r"\A" + _translate(part) + r"\Z", re.DOTALL)
                host = resolve_in_root(self.root, base)
                try:
                    names = sorted(os.listdir(host))
                except (FileNotFoundError, NotADirectoryError):
                    continue
                for n in names:
                    rel = posixpath.join(base, n) if base else n
                    if rx.match(n) and not self._hidden(rel):
                        nxt.append(rel)
            found = nxt
        return found

    def match(self, pattern: str) -> list[Source]:
        """The sources a COPY/ADD argument names (a path or a glob), in sorted order."""
        clean = posixpath.normpath("/" + pattern).lstrip("/")
        rels = self._glob(clean) if _MAGIC.search(clean) else [clean]
        out = []
        for rel in rels:
            if rel and self._hidden(rel):
                continue
            host = resolve_in_root(self.root, rel)
            try:
                st = os.stat(host, follow_symlinks=False)
            except (FileNotFoundError, NotADirectoryError):
                continue
            out.append(Source(rel or ".", host, stat.S_ISDIR(st.st_mode)))
        if not out:
            raise SourceNotFound(
                f"{pattern}: no such file or directory in the build context"
                + (" (or excluded by .dockerignore)" if self.ignore else "")
            )
        return out

    def walk(self, src: Source) -> Iterator[Entry]:
        """Everything below a directory source, parents first, without following links."""
        base_rel = rel_in_root(self.root, src.host).lstrip("/")
        stack = [""]
        while stack:
            sub = stack.pop()
            d = os.path.join(src.host, sub) if sub else src.host
            try:
                with os.scandir(d) as it:
                    entries = sorted(it, key=lambda e: e.name, reverse=True)
            except (FileNotFoundError, NotADirectoryError):
                continue
            for e in entries:
                child = f"{sub}/{e.name}" if sub else e.name
                rel = f"{base_rel}/{child}" if base_rel else child
                st = e.stat(follow_symlinks=False)
                is_dir = stat.S_ISDIR(st.st_mode)
                if self._hidden(rel):
                    if is_dir and self.ignore.may_contain_included(rel):
                        stack.append(child)  # a `!` pattern may bring files back
                    continue
                yield Entry(child, e.path, st)
                if is_dir:
                    stack.append(child)

    def checksum(self, sources: list[Source]) -> str:
        """Content checksum for the layer cache: names, types, modes, contents, link
        targets. Like Docker's, it ignores mtimes and owners."""
        h = hashlib.sha256()
        for src in sources:
            st = os.stat(src.host, follow_symlinks=False)
            _feed(h, src.rel, src.host, st)
            if src.is_dir:
                for e in sorted(self.walk(src), key=lambda x: x.sub):
                    _feed(h, f"{src.rel}/{e.sub}", e.host, e.st)
        return "sha256:" + h.hexdigest()


def _feed(h: hashlib._Hash, rel: str, host: str, st: os.stat_result) -> None:
    h.update(f"{rel}\0{stat.S_IFMT(st.st_mode):o}\0{stat.S_IMODE(st.st_mode):o}\0".encode())
    if stat.S_ISREG(st.st_mode):
        with open(host, "rb") as f:
            h.update(hashlib.file_digest(f, "sha256").digest())
    elif stat.S_ISLNK(st.st_mode):
        h.update(os.fsencode(os.readlink(host)))
    h.update(b"\n")
