"""Small helpers shared by the CLI command modules."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterable

import click


def for_each(refs: Iterable[str], fn: Callable[[str], object]) -> None:
    """Apply fn to each ref, printing what it returns; one line per failure, and the
    failure's exit code (125 for engine errors) if any failed, as docker/podman do."""
    from rootless.errors import EngineError

    failed: EngineError | None = None
    for ref in refs:
        try:
            out = fn(ref)
            if out is not None:
                click.echo(out)
        except EngineError as e:
            click.echo(f"Error: {e.line()}", err=True)
            failed = e
    if failed is not None:
        sys.exit(failed.exit_code)
