from __future__ import annotations

import json
from typing import Any

import click

from rootless.cli.main import paths_from


def _print_tree(d: dict[str, Any], indent: int = 0) -> None:
    pad = "  " * indent
    for key, val in d.items():
        if isinstance(val, dict):
            click.echo(f"{pad}{key}:")
            _print_tree(val, indent + 1)
        elif isinstance(val, list):
            if not val:
                click.echo(f"{pad}{key}: []")
            for item in val:
                if isinstance(item, dict):
                    click.echo(f"{pad}{key}: " + ", ".join(f"{k}={v}" for k, v in item.items()))
                else:
                    click.echo(f"{pad}{key}: {item}")
        else:
            click.echo(f"{pad}{key}: {val}")


@click.command(help="Show the host's facts relevant to rootless containers.")
@click.option("--format", "-f", "fmt", default=None, help="json, or a Go-like template.")
@click.pass_context
def info(ctx: click.Context, fmt: str | None) -> None:
    from rootless.engine.info import gather, problems

    report = gather(paths_from(ctx))
    if fmt == "json" or fmt == "{{json .}}":
        click.echo(json.dumps(report, indent=2))
        return
    _print_tree(report)
    issues = problems(report)
    if issues:
        click.echo("\nWhat will not work, and how to fix it:")
        for section, reason, fix in issues:
            click.echo(f"  - {section}: {reason}")
            if fix:
                click.echo(f"    fix: {fix}")
