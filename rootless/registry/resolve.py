"""From what the user typed to the (registry, repository, reference) to try, in order."""

from __future__ import annotations

from dataclasses import dataclass

from rootless.images import reference
from rootless.registry.config import RegistriesConf


@dataclass(frozen=True)
class Target:
    ref: reference.Reference  # the fully-qualified name we store the image under

    @property
    def manifest_ref(self) -> str:
        return self.ref.digest or self.ref.tag or reference.DEFAULT_TAG


def is_short(text: str) -> bool:
    """True when `text` names no registry (`busybox`, `user/app:1`)."""
    first, sep, _ = text.partition("/")
    if not sep:
        return True
    return not ("." in first or ":" in first or first == "localhost")


def candidates(text: str, conf: RegistriesConf) -> list[Target]:
    """Fully-qualified references to try for `text`: aliases, then search registries."""
    if not is_short(text):
        return [Target(reference.parse(text))]
    base = text.split("@", 1)[0]
    name = base.rsplit(":", 1)[0] if ":" in base.rsplit("/", 1)[-1] else base
    suffix = text[len(name) :]
    if name in conf.aliases:
        return [Target(reference.parse(conf.aliases[name] + suffix))]
    out = []
    for reg in conf.search or [reference.DEFAULT_REGISTRY]:
        out.append(Target(reference.parse(f"{reg}/{name}{suffix}", default_registry=reg)))
    return out
