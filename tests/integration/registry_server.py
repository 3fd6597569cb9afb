"""A real registry for tests: Debian's docker-registry (distribution 2.8) on 127.0.0.1,
optionally with TLS (a test CA made with openssl), htpasswd basic auth, or bearer
tokens from a small token server started here (Docker Hub's flow)."""

from __future__ import annotations

import base64
import json
import socket
import ssl
import subprocess
import threading
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlparse

USER, PASSWORD = "alice", "s3cret-pass"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def self_signed(d: Path, name: str, subject: str) -> None:
    """NAME.key and a self-signed NAME.crt in `d` (openssl CLI)."""
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                    "-keyout", f"{name}.key", "-out", f"{name}.crt", "-subj", subject],
                   check=True, capture_output=True, cwd=d)  # fmt: skip


def make_ca(d: Path) -> tuple[Path, Path, Path]:
    """(ca.crt, server.crt, server.key) for 127.0.0.1, made with the openssl CLI."""
    d.mkdir(parents=True, exist_ok=True)
    run = lambda *a: subprocess.run(a, check=True, capture_output=True, cwd=d)  # noqa: E731
    self_signed(d, "ca", "/CN=rootless test CA")
    run(
        "openssl",
        "req",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        "server.key",
        "-out",
        "server.csr",
        "-subj",
        "/CN=127.0.0.1",
    )
    (d / "san.ext").write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\n")
    run(
        "openssl",
        "x509",
        "-req",
        "-in",
        "server.csr",
        "-CA",
        "ca.crt",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-out",
        "server.crt",
        "-days",
        "2",
        "-extfile",
        "san.ext",
    )
    (d / "ca").mkdir(exist_ok=True)  # a dir with the CA alone, for --cert-dir options
    (d / "ca" / "ca.crt").write_bytes((d / "ca.crt").read_bytes())
    return d / "ca" / "ca.crt", d / "server.crt", d / "server.key"


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


@dataclass
class TokenServer:
    """Issues RS256 JWTs the registry trusts (x5c chain to its rootcertbundle)."""

    workdir: Path
    service: str = "rootless-test-registry"
    issuer: str = "rootless-test-issuer"
    port: int = 0
    requests: list[dict[str, str]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        self_signed(self.workdir, "token", "/CN=token signer")
        der = subprocess.run(
            ["openssl", "x509", "-in", "token.crt", "-outform", "DER"],
            check=True,
            capture_output=True,
            cwd=self.workdir,
        ).stdout
        self.x5c = base64.b64encode(der).decode()
        self.cert = self.workdir / "token.crt"

    def sign(self, claims: dict[str, object]) -> str:
        header = {"alg": "RS256", "typ": "JWT", "x5c": [self.x5c]}
        signing_input = (
            f"{b64url(json.dumps(header).encode())}.{b64url(json.dumps(claims).encode())}"
        )
        sig = subprocess.run(
            ["openssl", "dgst", "-sha256", "-sign", "token.key"],
            input=signing_input.encode(),
            check=True,
            capture_output=True,
            cwd=self.workdir,
        ).stdout
        return f"{signing_input}.{b64url(sig)}"

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                q = {k: v[0] for k, v in parse_qs(urlparse(self.path).query).items()}
                auth = self.headers.get("Authorization", "")
                user = ""
                if auth.startswith("Basic "):
                    u, _, p = base64.b64decode(auth[6:]).decode().partition(":")
                    if (u, p) != (USER, PASSWORD):
                        self.send_response(401)
                        self.end_headers()
                        return
                    user = u
                server.requests.append({**q, "user": user})
                access = []
                for scope in q.get("scope", "").split(" "):
                    if not scope:
                        continue
                    kind, name, actions = scope.split(":")
                    granted = [a for a in actions.split(",") if a == "pull" or user]
                    access.append({"type": kind, "name": name, "actions": granted})
                now = int(time.time())
                token = server.sign(
                    {
                        "iss": server.issuer,
                        "sub": user,
                        "aud": server.service,
                        "exp": now + 300,
                        "nbf": now - 10,
                        "iat": now,
                        "jti": f"{now}-{len(server.requests)}",
                        "access": access,
                    }
                )
                body = json.dumps({"token": token, "expires_in": 300}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        return Handler

    @contextmanager
    def running(self) -> Iterator[TokenServer]:
        httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.port = httpd.server_address[1]
        t = threading.Thread(target=httpd.serve_forever, daemon=True)
        t.start()
        try:
            yield self
        finally:
            httpd.shutdown()
            httpd.server_close()

    @property
    def realm(self) -> str:
        return f"http://127.0.0.1:{self.port}/token"


@dataclass
class Registry:
    host: str  # 127.0.0.1:PORT
    storage: Path
    tls_ca: Path | None = None

    @property
    def scheme(self) -> str:
        return "https" if self.tls_ca else "http"

    def blob_data(self, digest: str) -> Path:
        hexd = digest.removeprefix("sha256:")
        return self.storage / "docker/registry/v2/blobs/sha256" / hexd[:2] / hexd / "data"


@contextmanager
def run_registry(
    workdir: Path, *, tls: bool = False, htpasswd: bool = False, token: TokenServer | None = None
) -> Iterator[Registry]:
    workdir.mkdir(parents=True, exist_ok=True)
    port = free_port()
    storage = workdir / "storage"
    cfg: dict[str, object] = {
        "version": 0.1,
        "log": {"level": "error", "accesslog": {"disabled": True}},
        "storage": {"filesystem": {"rootdirectory": str(storage)}, "delete": {"enabled": True}},
        "http": {"addr": f"127.0.0.1:{port}"},
    }
    ca = None
    if tls:
        ca, crt, key = make_ca(workdir / "tls")
        cfg["http"] = {
            "addr": f"127.0.0.1:{port}",
            "tls": {"certificate": str(crt), "key": str(key)},
        }
    if htpasswd:
        out = subprocess.run(
            ["htpasswd", "-Bbn", USER, PASSWORD], check=True, capture_output=True, text=True
        ).stdout
        (workdir / "htpasswd").write_text(out)
        cfg["auth"] = {"htpasswd": {"realm": "basic-realm", "path": str(workdir / "htpasswd")}}
    if token:
        cfg["auth"] = {
            "token": {
                "realm": token.realm,
                "service": token.service,
                "issuer": token.issuer,
                "rootcertbundle": str(token.cert),
            }
        }
    (workdir / "config.yml").write_text(json.dumps(cfg))  # JSON is YAML
    log = open(workdir / "registry.log", "wb")  # noqa: SIM115
    proc = subprocess.Popen(
        ["docker-registry", "serve", str(workdir / "config.yml")],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        ctx = ssl.create_default_context(cafile=str(ca)) if ca else None
        url = f"{'https' if tls else 'http'}://127.0.0.1:{port}/v2/"
        deadline = time.monotonic() + 20
        while True:
            try:
                urllib.request.urlopen(url, timeout=2, context=ctx)
                break
            except urllib.error.HTTPError:
                break  # 401: up, and asking for auth
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(
                        "docker-registry did not start: "
                        + (workdir / "registry.log").read_text()[-2000:]
                    ) from None
                time.sleep(0.1)
        yield Registry(f"127.0.0.1:{port}", storage, ca)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


def skopeo_copy(src: str, dest: str, *extra: str) -> None:
    subprocess.run(
        ["skopeo", "copy", "--quiet", *extra, src, dest],
        check=True,
        capture_output=True,
        timeout=300,
    )


def skopeo_inspect(ref: str, *extra: str) -> dict[str, object]:
    out = subprocess.run(
        ["skopeo", "inspect", *extra, ref], check=True, capture_output=True, text=True, timeout=120
    ).stdout
    result: dict[str, object] = json.loads(out)
    return result
