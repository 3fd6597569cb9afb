"""`--name[=value]` flags of one instruction, checked against what it accepts."""

from __future__ import annotations

from enum import Enum

from rootless.build.errors import InstructionError


class Kind(Enum):
    STRING = "string"  # --name=value, once
    BOOL = "bool"  # --name, --name=true|false, once
    LIST = "list"  # --name=value, repeatable


FlagValue = str | bool | list[str]


def parse_flags(keyword: str, raw: list[str], accepted: dict[str, Kind]) -> dict[str, FlagValue]:
    """Values by flag name; unset flags are absent. Errors read like Docker's."""
    values: dict[str, FlagValue] = {}
    for item in raw:
        if not item.startswith("--"):
            raise InstructionError(f"{keyword}: flag should start with --: {item}")
        name, has_value, value = item[2:].partition("=")
        kind = accepted.get(name)
        if kind is None:
            known = ", ".join(f"--{n}" for n in accepted) or "none"
            raise InstructionError(f"unknown flag: --{name} (for {keyword}; accepted: {known})")
        if kind is Kind.LIST:
            if not has_value:
                raise InstructionError(f"missing a value on flag: --{name}")
            existing = values.setdefault(name, [])
            assert isinstance(existing, list)
            existing.append(value)
            continue
        if name in values:
            raise InstructionError(f"duplicate flag specified: --{name}")
        if kind is Kind.BOOL:
            if not has_value:
                values[name] = True
            elif value.lower() in ("true", "false"):
                values[name] = value.lower() == "true"
            else:
                raise InstructionError(f"expecting boolean value for flag --{name}, not: {value}")
        else:
            if not has_value:
                raise InstructionError(f"missing a value on flag: --{name}")
            values[name] = value
    return values


def string_flag(values: dict[str, FlagValue], name: str, default: str = "") -> str:
    v = values.get(name, default)
    return v if isinstance(v, str) else default


def bool_flag(values: dict[str, FlagValue], name: str) -> bool:
    return values.get(name) is True


def list_flag(values: dict[str, FlagValue], name: str) -> list[str]:
    v = values.get(name, [])
    return list(v) if isinstance(v, list) else []
