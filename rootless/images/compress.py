"""Layer compression: sniff gzip / zstd / plain tar by magic bytes; hashing readers."""

from __future__ import annotations

import hashlib
import io
from collections.abc import Iterator
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


class CorruptStream(EOFError):
    """The compressed stream is damaged or ends early (an EOFError, as gzip raises)."""


_PREFETCH_CHUNK = 1 << 20
_PREFETCH_DEPTH = 8  # chunks in flight: bounds memory to ~8 MiB whatever the ratio


class PrefetchingReader(io.RawIOBase):
    """The uncompressed bytes of `raw`, decompressed and hashed on a helper thread.

    zlib, zstandard and hashlib release the GIL while they work, so decompression and
    the sha256 of the diff id run on the other core while the caller creates files.
    Reads hand out slices of ready chunks; a bounded queue keeps memory flat."""

    def __init__(self, raw: BinaryIO) -> None:
        import queue
        import threading

        self.sha = hashlib.sha256()
        self.size = 0
        self._queue: queue.Queue[bytes | BaseException | None] = queue.Queue(_PREFETCH_DEPTH)
        self._stop = threading.Event()
        self._buf = memoryview(b"")
        self._eof = False
        self._thread = threading.Thread(target=self._produce, args=(raw,), daemon=True)
        self._thread.start()

    def readable(self) -> bool:
        return True

    # ---- producer (helper thread) ----
    def _produce(self, raw: BinaryIO) -> None:
        try:
            for chunk in _decompress_chunks(raw):
                self.sha.update(chunk)
                self.size += len(chunk)
                if not self._put(chunk):
                    return
            self._put(None)
        except BaseException as e:  # handed to the reader, raised there
            self._put(e)

    def _put(self, item: bytes | BaseException | None) -> bool:
        import queue

        while not self._stop.is_set():
            try:
                self._queue.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    # ---- consumer ----
    def _next_chunk(self) -> bool:
        if self._eof:
            return False
        item = self._queue.get()
        if item is None:
            self._eof = True
            return False
        if isinstance(item, BaseException):
            self._eof = True
            raise item
        self._buf = memoryview(item)
        return True

    def read(self, n: int | None = -1) -> bytes:
        if n is None or n < 0:
            parts = [bytes(self._buf)]
            while self._next_chunk():
                parts.append(bytes(self._buf))
            self._buf = memoryview(b"")
            return b"".join(parts)
        if len(self._buf) >= n:
            out = self._buf[:n].tobytes()
            self._buf = self._buf[n:]
            return out
        parts = [self._buf.tobytes()]
        got = len(parts[0])
        self._buf = memoryview(b"")
        while got < n and self._next_chunk():
            take = self._buf[: n - got]
            parts.append(take.tobytes())
            got += len(take)
            self._buf = self._buf[len(take) :]
        return b"".join(parts)

    def readinto(self, b: bytearray | memoryview) -> int:  # type: ignore[override]
        data = self.read(len(b))
        b[: len(data)] = data
        return len(data)

    def drain(self) -> None:
        self._buf = memoryview(b"")
        while self._next_chunk():
            pass

    def digest(self) -> str:
        """The sha256 of everything decompressed; call after drain()."""
        return "sha256:" + self.sha.hexdigest()

    def close(self) -> None:
        self._stop.set()
        self._thread.join()
        super().close()


def _decompress_chunks(raw: BinaryIO) -> Iterator[bytes]:
    head = raw.read(_PREFETCH_CHUNK)
    kind = sniff(head[:4])
    if kind == "gzip":
        yield from _gunzip(head, raw)
    elif kind == "zstd":
        import zstandard

        source: Any = _Prepend(head, raw)
        reader = zstandard.ZstdDecompressor().stream_reader(source, read_across_frames=True)
        while True:
            try:
                chunk = reader.read(_PREFETCH_CHUNK)
            except zstandard.ZstdError as e:
                raise CorruptStream(f"corrupt zstd data: {e}") from e
            if not chunk:
                return
            yield chunk
    else:
        if head:
            yield head
        while chunk := raw.read(_PREFETCH_CHUNK):
            yield chunk


def _gunzip(head: bytes, raw: BinaryIO) -> Iterator[bytes]:
    """gzip members back to back (as `gzip -d` reads them); trailing zeros are padding."""
    import zlib

    d = zlib.decompressobj(16 + zlib.MAX_WBITS)
    data = head
    while True:
        try:
            while data:
                out = d.decompress(data, _PREFETCH_CHUNK)
                if out:
                    yield out
                data = d.unconsumed_tail
                if d.eof:
                    rest = d.unused_data.lstrip(b"\0") + data
                    if not rest:
                        data = b""
                        break
                    d = zlib.decompressobj(16 + zlib.MAX_WBITS)
                    data = rest
        except zlib.error as e:
            raise CorruptStream(f"corrupt gzip data: {e}") from e
        data = raw.read(_PREFETCH_CHUNK)
        if not data:
            if not d.eof:
                raise CorruptStream("compressed layer ended before the end-of-stream marker")
            return
        if d.eof:
            data = data.lstrip(b"\0")
            if data:
                d = zlib.decompressobj(16 + zlib.MAX_WBITS)


class _Prepend(io.RawIOBase):
    """`head` and then the rest of `raw`, as one reader."""

    def __init__(self, head: bytes, raw: BinaryIO) -> None:
        self.head = head
        self.raw = raw

    def readable(self) -> bool:
        return True

    def read(self, n: int | None = -1) -> bytes:
        if self.head:
            size = len(self.head) if n is None or n < 0 else n
            out, self.head = self.head[:size], self.head[size:]
            return out
        return self.raw.read(n if n is not None else -1)

    def readinto(self, b: bytearray | memoryview) -> int:  # type: ignore[override]
        data = self.read(len(b))
        b[: len(data)] = data
        return len(data)
