"""registries.conf (v2 TOML) as containers-registries.conf(5) defines it.

Looked up in order: $ROOTLESS_REGISTRIES_CONF, the engine's config dir, then
~/.config/containers/registries.conf, then /etc/containers/registries.conf (each with
its registries.conf.d drop-ins). The first file found wins.
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from rootless.errors import UsageError
from rootless.registry.errors import Blocked

DOCKER_HUB = "docker.io"


@dataclass
class Endpoint:
    location: str  # host[:port][/path]
    insecure: bool = False

    @property
    def host(self) -> str:
        return self.location.split("/", 1)[0]

    @property
    def path_prefix(self) -> str:
        parts = self.location.split("/", 1)
        return parts[1] if len(parts) > 1 else ""


@dataclass
class RegistryEntry:
    prefix: str
    location: str
    insecure: bool = False
    blocked: bool = False
    mirrors: list[Endpoint] = field(default_factory=list)


@dataclass
class RegistriesConf:
    search: list[str] = field(default_factory=lambda: [DOCKER_HUB])
    aliases: dict[str, str] = field(default_factory=dict)
    registries: list[RegistryEntry] = field(default_factory=list)
    source: str | None = None

    def entry_for(self, name: str) -> RegistryEntry | None:
        """The [[registry]] whose prefix matches `name` (host/repo) longest."""
        best: RegistryEntry | None = None
        for r in self.registries:
            p = r.prefix
            if p.startswith("*."):
                host = name.split("/", 1)[0]
                if not host.endswith(p[1:]):
                    continue
            elif not (name == p or name.startswith(p.rstrip("/") + "/")):
                continue
            if best is None or len(p) > len(best.prefix):
                best = r
        return best

    def endpoints(self, name: str) -> list[tuple[Endpoint, str]]:
        """Where to fetch `name` (host/repo) from: mirrors first, then the registry.
        Each with the repository path to use there."""
        host, _, repo = name.partition("/")
        entry = self.entry_for(name)
        if entry is None:
            return [(Endpoint(host, insecure=False), repo)]
        if entry.blocked:
            raise Blocked(f"registry {entry.prefix} is blocked in {self.source}")
        rest = name[len(entry.prefix) :].lstrip("/") if not entry.prefix.startswith("*.") else repo
        out: list[tuple[Endpoint, str]] = []
        for m in [*entry.mirrors, Endpoint(entry.location, entry.insecure)]:
            if entry.prefix.startswith("*."):
                out.append((Endpoint(m.location, m.insecure), repo))
                continue
            path = "/".join(x for x in (m.path_prefix, rest) if x)
            out.append((Endpoint(m.host, m.insecure), path))
        return out

    def is_insecure(self, host: str) -> bool:
        for r in self.registries:
            hosts = (r.location.split("/", 1)[0], r.prefix.split("/", 1)[0])
            if host in hosts and r.insecure:
                return True
            for m in r.mirrors:
                if m.host == host and m.insecure:
                    return True
        return False


def _candidates(config_dir: Path | None) -> list[Path]:
    env = os.environ.get("ROOTLESS_REGISTRIES_CONF") or os.environ.get("CONTAINERS_REGISTRIES_CONF")
    if env:
        return [Path(env)]
    home = Path(os.environ.get("XDG_CONFIG_HOME", Path.home() / ".config"))
    out = []
    if config_dir:
        out.append(config_dir / "registries.conf")
    out += [home / "containers" / "registries.conf", Path("/etc/containers/registries.conf")]
    return out


def _merge(conf: RegistriesConf, data: dict[str, object], source: Path) -> None:
    def fail(msg: str) -> UsageError:
        return UsageError(f"{source}: {msg}")

    if "unqualified-search-registries" in data:
        search = data["unqualified-search-registries"]
        if not isinstance(search, list) or not all(isinstance(s, str) for s in search):
            raise fail("unqualified-search-registries must be a list of strings")
        conf.search = list(search)
    aliases = data.get("aliases", {})
    if not isinstance(aliases, dict):
        raise fail('[aliases] must be a table of name = "registry/repo"')
    conf.aliases.update({str(k): str(v) for k, v in aliases.items()})
    regs = data.get("registry", [])
    if not isinstance(regs, list):
        raise fail("[[registry]] must be an array of tables")
    for i, r in enumerate(regs):
        if not isinstance(r, dict):
            raise fail(f"registry[{i}] must be a table")
        location = str(r.get("location", "") or r.get("prefix", ""))
        prefix = str(r.get("prefix", "") or location)
        if not prefix:
            raise fail(f"registry[{i}] needs a prefix or a location")
        mirrors = []
        for m in r.get("mirror", []) or []:
            if not isinstance(m, dict) or not m.get("location"):
                raise fail(f"registry[{i}].mirror entries need a location")
            mirrors.append(Endpoint(str(m["location"]), bool(m.get("insecure", False))))
        conf.registries = [e for e in conf.registries if e.prefix != prefix]
        conf.registries.append(
            RegistryEntry(
                prefix,
                location,
                bool(r.get("insecure", False)),
                bool(r.get("blocked", False)),
                mirrors,
            )
        )


def load(config_dir: Path | None = None) -> RegistriesConf:
    conf = RegistriesConf()
    for path in _candidates(config_dir):
        if not path.is_file():
            continue
        files = [path]
        dropins = path.with_suffix(".conf.d")
        if dropins.is_dir():
            files += sorted(dropins.glob("*.conf"))
        for f in files:
            try:
                data = tomllib.loads(f.read_text())
            except (tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
                raise UsageError(f"{f}: invalid TOML: {e}") from None
            except OSError as e:
                raise UsageError(f"{f}: {e.strerror}") from None
            _merge(conf, data, f)
        conf.source = str(path)
        break
    return conf
