"""YAML 1.2 reading (with compose's `!reset`/`!override` tags) and block-style writing.

YAML 1.2 matters: under 1.1 `22:22` is the integer 1342 and `no` is false, both wrong
for ports and environment values.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from typing import Any

from rootless.compose.errors import ComposeError


class Reset:
    """`!reset`: drop the key from what earlier files said (and from this one)."""

    def __repr__(self) -> str:
        return "!reset"


RESET = Reset()


@dataclass
class Override:
    """`!override VALUE`: replace what earlier files said instead of merging into it."""

    value: Any


def _make_loader() -> Any:
    from ruamel.yaml import YAML
    from ruamel.yaml.constructor import SafeConstructor

    yaml = YAML(typ="safe", pure=True)
    yaml.allow_duplicate_keys = False

    def reset(constructor: SafeConstructor, node: Any) -> Reset:
        return RESET

    def override(constructor: SafeConstructor, node: Any) -> Override:
        from ruamel.yaml.nodes import MappingNode, SequenceNode

        if isinstance(node, MappingNode):
            return Override(constructor.construct_mapping(node, deep=True))
        if isinstance(node, SequenceNode):
            return Override(constructor.construct_sequence(node, deep=True))
        return Override(constructor.construct_scalar(node))

    yaml.constructor.add_constructor("!reset", reset)
    yaml.constructor.add_constructor("!override", override)
    return yaml


_LOADER: Any = None


def parse(text: str, source: str) -> Any:
    """Parse one YAML document; syntax errors name the file, line and column."""
    global _LOADER
    if _LOADER is None:
        _LOADER = _make_loader()
    from ruamel.yaml.error import MarkedYAMLError, YAMLError

    try:
        return _plain(_LOADER.load(text))
    except MarkedYAMLError as e:
        mark = e.problem_mark
        where = f"line {mark.line + 1} column {mark.column + 1}: " if mark else ""
        problem = (e.problem or e.context or "invalid YAML").strip()
        raise ComposeError(f"{source}: {where}{problem}") from None
    except YAMLError as e:
        raise ComposeError(f"{source}: invalid YAML: {str(e).splitlines()[0]}") from None


def _plain(value: Any) -> Any:
    """Turn ruamel's containers and timestamps into plain dict/list/str."""
    import datetime

    if isinstance(value, dict):
        return {str(k) if not isinstance(k, str) else k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, Override):
        return Override(_plain(value.value))
    if isinstance(value, datetime.date | datetime.datetime):
        return value.isoformat()
    return value


def dump(value: Any) -> str:
    """Block-style YAML, keys in the model's order, strings quoted only when needed."""
    from ruamel.yaml import YAML

    yaml = YAML(typ="safe", pure=True)
    yaml.default_flow_style = False
    yaml.sort_base_mapping_type_on_output = False  # type: ignore[assignment]
    yaml.width = 4096
    yaml.indent(mapping=2, sequence=4, offset=2)
    yaml.representer.add_representer(str, _represent_str)
    buf = io.StringIO()
    yaml.dump(value, buf)
    return buf.getvalue()


def _represent_str(representer: Any, value: str) -> Any:
    # Quote strings a YAML 1.1 reader would take for something else (`22:22`, `no`,
    # `0755`), so the output means the same to docker compose, PyYAML and us.
    import yaml as pyyaml

    tag = "tag:yaml.org,2002:str"
    implicit = pyyaml.resolver.Resolver().resolve(pyyaml.ScalarNode, value, (True, False))
    style = '"' if implicit != tag or value == "" else None
    if "\n" in value and style is None:
        style = "|"
    return representer.represent_scalar(tag, value, style=style)
