"""An HTTP client for one registry endpoint (distribution spec v2) with its auth flow.

Auth: anonymous first; on 401 follow the WWW-Authenticate challenge: Bearer (fetch a
token from realm with service + scope, with basic credentials when we have them, as
Docker Hub does; tokens cached per scope and refreshed on expiry) or Basic.
TLS: verified against the system CAs plus per-registry CA dirs (certs.d); registries
marked insecure may use plain HTTP or unverified TLS.
"""

from __future__ import annotations

import re
import ssl
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from rootless.registry import credentials
from rootless.registry.errors import AuthRequired, ManifestUnknown, RegistryError, Unreachable

MEDIA_OCI_INDEX = "application/vnd.oci.image.index.v1+json"
MEDIA_OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
MEDIA_DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
MEDIA_DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
MANIFEST_ACCEPT = ", ".join(
    [MEDIA_OCI_INDEX, MEDIA_DOCKER_LIST, MEDIA_OCI_MANIFEST, MEDIA_DOCKER_MANIFEST]
)
INDEX_TYPES = (MEDIA_OCI_INDEX, MEDIA_DOCKER_LIST)

_CHALLENGE_PARAM = re.compile(r'(\w+)="([^"]*)"')


def api_host(host: str) -> str:
    return "registry-1.docker.io" if host == "docker.io" else host


def cert_dirs(host: str) -> list[Path]:
    home = Path.home()
    return [
        home / ".config" / "containers" / "certs.d" / host,
        Path("/etc/containers/certs.d") / host,
        home / ".docker" / "certs.d" / host,
        Path("/etc/docker/certs.d") / host,
    ]


def ssl_context(host: str, verify: bool = True) -> ssl.SSLContext:
    if not verify:
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        return ctx
    ctx = ssl.create_default_context()
    for d in cert_dirs(host):
        if not d.is_dir():
            continue
        for ca in sorted(d.glob("*.crt")):
            ctx.load_verify_locations(cafile=str(ca))
        for cert in sorted(d.glob("*.cert")):
            key = cert.with_suffix(".key")
            if key.exists():
                ctx.load_cert_chain(str(cert), str(key))
    return ctx


def parse_challenge(header: str) -> tuple[str, dict[str, str]]:
    scheme, _, rest = header.strip().partition(" ")
    return scheme.lower(), dict(_CHALLENGE_PARAM.findall(rest))


@dataclass
class _Token:
    value: str
    expires: float


class RegistryClient:
    def __init__(self, host: str, *, insecure: bool = False, timeout: float = 60.0) -> None:
        self.host = host
        self.api = api_host(host)
        self.insecure = insecure
        self.scheme = "https"
        self._timeout = timeout
        self._http = self._client(verify=True)
        self._creds = credentials.get(host)
        self._tokens: dict[str, _Token] = {}
        self._basic = False
        self._probed = False

    def _client(self, verify: bool) -> httpx.Client:
        return httpx.Client(
            verify=ssl_context(self.api, verify and not self.insecure),
            timeout=httpx.Timeout(self._timeout, connect=15.0),
            follow_redirects=True,
            headers={"User-Agent": "rootless/0.1"},
        )

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> RegistryClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def with_credentials(self, creds: credentials.Credentials | None) -> RegistryClient:
        self._creds = creds
        self._tokens.clear()
        return self

    # ---- transport ----
    def url(self, path: str) -> str:
        return f"{self.scheme}://{self.api}{path}"

    def _probe(self) -> None:
        """Find the scheme: https, or for an insecure registry plain http as fallback."""
        if self._probed:
            return
        try:
            self._http.get(self.url("/v2/"))
        except (httpx.ConnectError, httpx.ReadError, ssl.SSLError) as e:
            if self.insecure:
                self.scheme = "http"
                try:
                    self._http.get(self.url("/v2/"))
                except httpx.HTTPError as e2:
                    raise self._unreachable(e2) from None
            else:
                raise self._unreachable(e) from None
        except httpx.HTTPError as e:
            raise self._unreachable(e) from None
        self._probed = True

    def _unreachable(self, e: Exception) -> RegistryError:
        text = str(e)
        if "CERTIFICATE_VERIFY_FAILED" in text or "certificate verify failed" in text:
            return RegistryError(
                f"TLS certificate of {self.host} is not trusted: {text}",
                hint=f"put its CA in ~/.config/containers/certs.d/{self.host}/ca.crt, or mark "
                "it insecure = true in registries.conf",
            )
        if (
            "Name or service not known" in text
            or "nodename nor servname" in text
            or ("Temporary failure in name resolution" in text)
        ):
            return Unreachable(f"unknown registry host {self.host}: {text}")
        return Unreachable(f"cannot reach registry {self.host}: {text or type(e).__name__}")

    def _auth_header(self, scope: str) -> dict[str, str]:
        tok = self._tokens.get(scope)
        if tok and tok.expires > time.time():
            return {"Authorization": f"Bearer {tok.value}"}
        if self._basic and self._creds:
            return {"Authorization": _basic(self._creds)}
        return {}

    def _fetch_token(self, params: dict[str, str], scope: str) -> None:
        realm = params.get("realm")
        if not realm:
            raise RegistryError(f"{self.host}: bearer challenge without a realm")
        query = {"service": params.get("service", "")}
        if scope:
            query["scope"] = scope
        headers = {"Authorization": _basic(self._creds)} if self._creds else {}
        try:
            r = self._http.get(realm, params=query, headers=headers)
        except httpx.HTTPError as e:
            raise Unreachable(f"cannot reach the token server {realm}: {e}") from None
        if r.status_code in (401, 403):
            raise AuthRequired(
                f"{self.host}: the token server refused the credentials",
                hint=f"rootless login {self.host}",
            )
        if r.status_code != 200:
            raise RegistryError(f"{self.host}: token server answered {r.status_code}")
        body = r.json()
        value = body.get("token") or body.get("access_token")
        if not value:
            raise RegistryError(f"{self.host}: token server answer has no token")
        ttl = int(body.get("expires_in") or 60)
        self._tokens[scope] = _Token(value, time.time() + max(ttl - 10, 5))

    def request(
        self, method: str, path: str, *, scope: str = "", stream: bool = False, **kw: Any
    ) -> httpx.Response:
        """Send a request, doing the auth dance on 401; raise on transport errors."""
        self._probe()
        url = path if path.startswith("http") else self.url(path)
        for attempt in range(2):
            headers = {**kw.pop("headers", {}), **self._auth_header(scope)}
            try:
                req = self._http.build_request(method, url, headers=headers, **kw)
                resp = self._http.send(req, stream=stream)
            except httpx.HTTPError as e:
                raise self._unreachable(e) from None
            if resp.status_code != 401 or attempt == 1:
                kw["headers"] = headers
                return resp
            kw["headers"] = {k: v for k, v in headers.items() if k != "Authorization"}
            resp.close()
            scheme, params = parse_challenge(resp.headers.get("www-authenticate", ""))
            if scheme == "bearer":
                self._fetch_token(params, scope or params.get("scope", ""))
            elif scheme == "basic":
                if not self._creds:
                    raise AuthRequired(
                        f"{self.host} requires a login", hint=f"rootless login {self.host}"
                    )
                self._basic = True
            else:
                raise AuthRequired(f"{self.host}: unsupported auth scheme {scheme!r}")
        raise AssertionError("unreachable")

    @staticmethod
    def check(resp: httpx.Response, what: str, host: str) -> httpx.Response:
        code = resp.status_code
        if code < 300:
            return resp
        if code == 401:
            raise AuthRequired(f"{host}: unauthorized for {what}", hint=f"rootless login {host}")
        if code == 403:
            raise AuthRequired(
                f"{host}: access to {what} denied",
                hint=f"check your permissions; rootless login {host}",
            )
        if code == 404:
            raise ManifestUnknown(f"{what} not found on {host}")
        if code == 429:
            retry = resp.headers.get("retry-after", "later")
            raise RegistryError(f"{host}: rate limited (HTTP 429); retry after {retry} s")
        detail = ""
        try:
            errs = resp.json().get("errors") or []
            detail = "; ".join(f"{e.get('code')}: {e.get('message')}" for e in errs)
        except (ValueError, AttributeError):
            resp.read()
            detail = resp.text[:200] if not resp.is_stream_consumed else ""
        raise RegistryError(f"{host}: {what}: HTTP {code} {detail}".strip())

    # ---- API ----
    def ping(self) -> None:
        r = self.request("GET", "/v2/", scope="")
        if r.status_code == 401:
            raise AuthRequired(f"{self.host}: login failed: unauthorized")
        self.check(r, "/v2/", self.host)

    def get_manifest(self, repo: str, ref: str) -> tuple[bytes, str]:
        r = self.request(
            "GET",
            f"/v2/{repo}/manifests/{ref}",
            scope=f"repository:{repo}:pull",
            headers={"Accept": MANIFEST_ACCEPT},
        )
        self.check(r, f"manifest {repo}:{ref}", self.host)
        mt = r.headers.get("content-type", "").split(";")[0].strip()
        return r.content, mt

    @contextmanager
    def blob_stream(self, repo: str, digest: str) -> Iterator[httpx.Response]:
        r = self.request(
            "GET", f"/v2/{repo}/blobs/{digest}", scope=f"repository:{repo}:pull", stream=True
        )
        try:
            if r.status_code >= 300:
                r.read()
            self.check(r, f"blob {digest}", self.host)
            yield r
        finally:
            r.close()

    def blob_exists(self, repo: str, digest: str) -> bool:
        r = self.request("HEAD", f"/v2/{repo}/blobs/{digest}", scope=f"repository:{repo}:pull,push")
        return r.status_code == 200


def _basic(creds: credentials.Credentials) -> str:
    import base64

    raw = base64.b64encode(f"{creds.username}:{creds.password}".encode()).decode()
    return f"Basic {raw}"
