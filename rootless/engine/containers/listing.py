"""ps filters and Go-template-like --format rendering ({{.Names}}, {{json .}}, table)."""

from __future__ import annotations

import json
import re
from typing import Any

from rootless.errors import UsageError

FILTER_KEYS = ("id", "name", "label", "status", "ancestor", "exited")
_FIELD = re.compile(r"\{\{\s*(json\s+)?\.([A-Za-z]*)\s*\}\}")
_LABEL = re.compile(r'\{\{\s*index\s+\.Labels\s+"([^"]+)"\s*\}\}')


def parse_filters(items: list[str]) -> dict[str, list[str]]:
    from rootless.engine.filters import parse_filters as parse

    return parse(items, FILTER_KEYS)


def matches(row: dict[str, Any], filters: dict[str, list[str]]) -> bool:
    for key, vals in filters.items():
        if key == "id" and not any(row["Id"].startswith(v) for v in vals):
            return False
        if key == "name" and not any(re.search(v, row["Names"]) for v in vals):
            return False
        if key == "status" and row["State"] not in vals:
            return False
        if key == "ancestor" and not any(v in (row["Image"], row["ImageID"]) for v in vals):
            return False
        if key == "exited" and not (row["State"] == "exited" and str(row["ExitCode"]) in vals):
            return False
        if key == "label":
            for v in vals:
                k, sep, want = v.partition("=")
                if k not in row["LabelsMap"] or (sep and row["LabelsMap"][k] != want):
                    return False
    return True


def render(template: str, row: dict[str, Any]) -> str:
    if template.strip() in ("{{json .}}", "{{ json . }}"):
        return json.dumps(row)
    text = template.replace("\\t", "\t").replace("\\n", "\n")
    text = _LABEL.sub(lambda m: str(row.get("LabelsMap", {}).get(m.group(1), "")), text)

    def field(m: re.Match[str]) -> str:
        if not m.group(2):
            return json.dumps(row)
        if m.group(2) not in row:
            raise UsageError(f"template: unknown field .{m.group(2)}")
        val = row[m.group(2)]
        return json.dumps(val) if m.group(1) else str(val)

    return _FIELD.sub(field, text)


def header_for(template: str) -> str:
    """`table {{.ID}}\\t{{.Names}}` -> the header line Docker prints."""
    names = {
        "ID": "CONTAINER ID", "Names": "NAMES", "Image": "IMAGE", "Command": "COMMAND",
        "RunningFor": "CREATED", "CreatedAt": "CREATED AT", "Status": "STATUS", "Ports": "PORTS",
        "State": "STATE", "Labels": "LABELS", "Mounts": "MOUNTS", "Networks": "NETWORKS",
    }  # fmt: skip
    text = template.replace("\\t", "\t")
    return _FIELD.sub(lambda m: names.get(m.group(2), m.group(2).upper()), text)
