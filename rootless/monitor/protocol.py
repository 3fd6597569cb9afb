"""Wire formats shared by the monitor and its clients (the engine imports this too).

Attach socket: AF_UNIX SOCK_SEQPACKET at <container dir>/attach. Each message is one
type byte followed by the payload.
"""

from __future__ import annotations

STDIN = 0  # client -> monitor: bytes for the container's stdin
STDOUT = 1  # monitor -> client
STDERR = 2  # monitor -> client
RESIZE = 3  # client -> monitor: b"ROWS COLS"
CLOSE_STDIN = 4  # client -> monitor: EOF on stdin
EXIT = 5  # monitor -> client: b"CODE"
CLEANED = 6  # client -> monitor: the client tore the container down itself
RUNTIME_DELETED = 7  # monitor -> client: after EXIT, the runtime's state is gone

MAX_MSG = 32 * 1024

ARGS_FILE = "monitor-args.marshal"  # marshal: no json import in the monitor
STATUS_FILE = "monitor.json"
STOP_FILE = "stop-requested"  # present: a user stopped it, never restart
ATTACH_SOCKET = "attach"
