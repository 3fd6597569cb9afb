"""A message channel between the runtime and the process it forks (SOCK_SEQPACKET:
one JSON object per message, EOF when the other side exits)."""

from __future__ import annotations

import _socket  # the socket module costs an enum import on the start-up path

from rootless.errors import EngineError
from rootless.runtime import jsonlite

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


class Channel:
    def __init__(self, sock: _socket.socket) -> None:
        self.sock = sock

    @classmethod
    def pair(cls) -> tuple[Channel, Channel]:
        a, b = _socket.socketpair(_socket.AF_UNIX, _socket.SOCK_SEQPACKET | _socket.SOCK_CLOEXEC)
        return cls(a), cls(b)

    def send(self, **msg: Any) -> None:
        self.sock.send(jsonlite.dumps(msg).encode())

    def recv(self, what: str = "container init") -> dict[str, Any]:
        data = self.sock.recv(1 << 20)
        if not data:
            raise EngineError(f"{what} exited before it was ready")
        msg: dict[str, Any] = jsonlite.loads(data)
        if "error" in msg:
            raise EngineError(str(msg["error"]))
        return msg

    def close(self) -> None:
        self.sock.close()
