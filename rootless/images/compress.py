"""Layer compression: sniff gzip / zstd / plain tar by magic bytes; hashing readers."""

from __future__ import annotations

import hashlib
import io
from typing import Any, BinaryIO, Literal

Compression = Literal["gzip", "zstd", "none"]

GZIP_MAGIC = b"\x1f\x8b"
ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"

MEDIA_TAR = "application/vnd.oci.image.layer.v1.tar"
MEDIA_SUFFIX: dict[Compression, str] = {"gzip": "+gzip", "zstd": "+zstd", "none": ""}


def sniff(head: bytes) -> Compression:
    if head.startswith(GZIP_MAGIC):
        return "gzip"
    if head.startswith(ZSTD_MAGIC):
        return "zstd"
    return "none"


def decompressed(raw: BinaryIO) -> tuple[BinaryIO, Compression]:
    """A reader of the uncompressed bytes of `raw`, whatever its compression."""
    buffered: Any = raw if isinstance(raw, io.BufferedReader) else io.BufferedReader(raw)
    kind = sniff(buffered.peek(4)[:4])
    if kind == "gzip":
        import gzip

        gz: Any = gzip.GzipFile(fileobj=buffered, mode="rb")
        return gz, kind
    if kind == "zstd":
        import zstandard

        reader = zstandard.ZstdDecompressor().stream_reader(buffered, read_across_frames=True)
        return reader, kind
    return buffered, kind


class HashingReader(io.RawIOBase):
    """Pass reads through, hashing (sha256) and counting what went by."""

    def __init__(self, inner: BinaryIO) -> None:
        self.inner = inner
        self.sha = hashlib.sha256()
        self.size = 0

    def readable(self) -> bool:
        return True

    def readinto(self, b: bytearray | memoryview) -> int:  # type: ignore[override]
        data = self.inner.read(len(b))
        n = len(data)
        b[:n] = data
        self.sha.update(data)
        self.size += n
        return n

    def read(self, n: int = -1) -> bytes:
        data = self.inner.read(n) if n is not None and n >= 0 else self.inner.read()
        self.sha.update(data)
        self.size += len(data)
        return data

    def drain(self) -> None:
        while self.read(1 << 20):
            pass

    def digest(self) -> str:
        return "sha256:" + self.sha.hexdigest()
