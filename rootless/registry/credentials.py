"""Registry credentials: containers-auth.json(5), also read from Docker's config.json.

Written to $REGISTRY_AUTH_FILE or $XDG_RUNTIME_DIR/containers/auth.json, mode 0600,
atomically. Never printed or logged.
"""

from __future__ import annotations

import base64
import json
import os
from dataclasses import dataclass
from pathlib import Path

from rootless.errors import UsageError
from rootless.fsutil import atomic_write


@dataclass(frozen=True)
class Credentials:
    username: str
    password: str

    def __repr__(self) -> str:  # never leak a password into logs or tracebacks
        return f"Credentials(username={self.username!r}, password=<hidden>)"


def auth_file() -> Path:
    env = os.environ.get("REGISTRY_AUTH_FILE")
    if env:
        return Path(env)
    run = os.environ.get("XDG_RUNTIME_DIR") or f"/tmp/rootless-runtime-{os.getuid()}"
    return Path(run) / "containers" / "auth.json"


def _read_files() -> list[Path]:
    home = Path.home()
    cfg = Path(os.environ.get("XDG_CONFIG_HOME", home / ".config"))
    docker = Path(os.environ.get("DOCKER_CONFIG", home / ".docker")) / "config.json"
    return [auth_file(), cfg / "containers" / "auth.json", docker]


def _key(host: str) -> str:
    return "docker.io" if host in ("registry-1.docker.io", "index.docker.io") else host


def _lookup(data: dict[str, object], host: str) -> Credentials | None:
    auths = data.get("auths")
    if not isinstance(auths, dict):
        return None
    for k, v in auths.items():
        name = str(k).removeprefix("https://").removeprefix("http://").split("/", 1)[0]
        if name in ("index.docker.io", "registry-1.docker.io"):
            name = "docker.io"
        if name != _key(host) or not isinstance(v, dict):
            continue
        raw = v.get("auth")
        if isinstance(raw, str) and raw:
            try:
                user, _, pw = base64.b64decode(raw).decode().partition(":")
            except (ValueError, UnicodeDecodeError):
                continue
            return Credentials(user, pw)
    return None


def get(host: str) -> Credentials | None:
    for path in _read_files():
        try:
            data = json.loads(path.read_text())
        except (OSError, ValueError):
            continue
        if isinstance(data, dict):
            creds = _lookup(data, host)
            if creds:
                return creds
    return None


def _load_own() -> dict[str, object]:
    path = auth_file()
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        return {"auths": {}}
    except (OSError, ValueError) as e:
        raise UsageError(f"{path}: unreadable credentials file: {e}") from None
    if not isinstance(data, dict):
        raise UsageError(f"{path}: not a JSON object")
    data.setdefault("auths", {})
    return data


def store(host: str, creds: Credentials) -> Path:
    path = auth_file()
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    data = _load_own()
    auths = data["auths"]
    assert isinstance(auths, dict)
    token = base64.b64encode(f"{creds.username}:{creds.password}".encode()).decode()
    auths[_key(host)] = {"auth": token}
    atomic_write(path, json.dumps(data, indent=2).encode() + b"\n", mode=0o600)
    return path


def remove(host: str) -> bool:
    path = auth_file()
    data = _load_own()
    auths = data["auths"]
    assert isinstance(auths, dict)
    if _key(host) not in auths:
        return False
    del auths[_key(host)]
    atomic_write(path, json.dumps(data, indent=2).encode() + b"\n", mode=0o600)
    return True
