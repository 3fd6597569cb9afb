"""The container log in Docker's json-file format, with size-capped rotation."""

from __future__ import annotations

import os
import time

from rootless.monitor.jsonlite import dumps


def rfc3339_now() -> str:
    t = time.time()
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t)) + f".{int(t % 1 * 1e9):09d}Z"


class JsonLog:
    def __init__(self, path: str, max_size: int, keep: int = 1) -> None:
        self.path = path
        self.max_size = max_size
        self.keep = keep
        self.fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o600)
        self.size = os.fstat(self.fd).st_size

    def write(self, stream: str, data: bytes) -> None:
        if not data:
            return
        stamp = rfc3339_now()
        out = []
        for line in data.splitlines(keepends=True):
            text = line.decode("utf-8", "surrogateescape")
            out.append(dumps({"log": text, "stream": stream, "time": stamp}) + "\n")
        blob = "".join(out).encode("utf-8")
        if self.max_size and self.size + len(blob) > self.max_size and self.size > 0:
            self._rotate()
        os.write(self.fd, blob)
        self.size += len(blob)

    def _rotate(self) -> None:
        os.close(self.fd)
        for i in range(self.keep, 0, -1):
            src = self.path if i == 1 else f"{self.path}.{i - 1}"
            try:
                os.replace(src, f"{self.path}.{i}")
            except FileNotFoundError:
                pass
        self.fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o600)
        self.size = 0

    def close(self) -> None:
        os.close(self.fd)
