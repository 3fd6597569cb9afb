"""Validation of a raw compose model against the compose-spec JSON schema (draft 2020-12).

The schema ships inside the package (compose-spec.json, see SCHEMA-NOTICE.md). Errors
become one line: the file, the key path (`services.web.ports[0]`) and what was expected.
"""

from __future__ import annotations

import json
import re
from functools import cache
from importlib import resources
from typing import Any

from rootless.compose.errors import ComposeError, at

_TYPE_NAMES = {
    "object": "a mapping",
    "array": "a list",
    "string": "a string",
    "integer": "an integer",
    "number": "a number",
    "boolean": "a boolean",
    "null": "null",
}


@cache
def _validator() -> Any:
    from jsonschema import Draft202012Validator

    text = resources.files("rootless.compose").joinpath("compose-spec.json").read_text("utf-8")
    return Draft202012Validator(json.loads(text))


def dotted(path: Any) -> str:
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    return type(value).__name__


def _expected_types(schema: Any) -> list[str]:
    t = schema.get("type") if isinstance(schema, dict) else None
    if isinstance(t, str):
        return [_TYPE_NAMES.get(t, t)]
    if isinstance(t, list):
        return [_TYPE_NAMES.get(str(x), str(x)) for x in t]
    return []


def _unknown_keys(error: Any) -> list[str]:
    schema = error.schema
    known = set(schema.get("properties", {}))
    patterns = [re.compile(p) for p in schema.get("patternProperties", {})]
    return [
        str(k)
        for k in error.instance
        if k not in known and not any(p.search(str(k)) for p in patterns)
    ]


def _describe(error: Any) -> tuple[str, str]:
    """(key path, message) for the most useful leaf of a validation error."""
    from jsonschema.exceptions import best_match

    if error.validator in ("oneOf", "anyOf") and error.context:
        # Prefer the alternative whose type matched (the deepest error inside it).
        alternatives = [_expected_types(s) for s in error.validator_value]
        deep = [e for e in error.context if e.validator != "type" or len(e.path) > 0]
        if deep:
            return _describe(best_match(deep))
        names = [n for alt in alternatives for n in alt]
        expected = " or ".join(dict.fromkeys(names)) if names else "a valid value"
        return dotted(error.absolute_path), f"expected {expected}, got {_kind(error.instance)}"
    path = dotted(error.absolute_path)
    if error.validator == "additionalProperties":
        keys = _unknown_keys(error)
        if keys:
            where = f"{path}.{keys[0]}" if path else keys[0]
            return where, "unknown key (not in the compose spec; use an x- prefix for extensions)"
    if error.validator == "type":
        expected = " or ".join(_expected_types(error.schema)) or str(error.validator_value)
        return path, f"expected {expected}, got {_kind(error.instance)}"
    if error.validator == "enum":
        choices = ", ".join(map(str, error.validator_value))
        return path, f"must be one of {choices}, got {error.instance!r}"
    if error.validator == "required":
        return path, f"{error.message.split(' is ')[0]} is required here"
    if error.validator == "uniqueItems":
        return path, "entries must be unique"
    if error.validator == "pattern":
        return path, f"{error.instance!r} does not match {error.validator_value}"
    if error.validator in ("not", "minProperties", "minItems"):
        return path, error.message
    return path, error.message


def validate(model: Any, source: str) -> None:
    """Raise ComposeError naming the first (most relevant) schema violation."""
    from jsonschema.exceptions import best_match

    if not isinstance(model, dict):
        raise ComposeError(f"{source}: top level must be a mapping, got {_kind(model)}")
    error = best_match(_validator().iter_errors(model))
    if error is None:
        return
    path, message = _describe(error)
    raise at(source, path or "(top level)", message)
