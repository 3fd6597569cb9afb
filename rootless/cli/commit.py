"""`rootless commit [-m -a -c -p] CONTAINER [IMAGE[:TAG]]`."""

from __future__ import annotations

import click

from rootless.cli.main import paths_from


@click.command(help="Create an image from a container's changes (works while it runs).")
@click.option("-m", "--message", default="", help="Commit message (history comment).")
@click.option("-a", "--author", default="", help='Author, e.g. "Name <mail@example.org>".')
@click.option(
    "-c", "--change", "changes", multiple=True,
    help="Dockerfile instruction to apply: CMD, ENTRYPOINT, ENV, EXPOSE, LABEL, USER, VOLUME, WORKDIR.",
)  # fmt: skip
@click.option(
    "-p", "--pause/--no-pause", default=True, show_default=True,
    help="Pause the container while committing.",
)  # fmt: skip
@click.option("-q", "--quiet", is_flag=True, help="Accepted for compatibility.")
@click.argument("container")
@click.argument("image", required=False)
@click.pass_context
def commit(
    ctx: click.Context,
    message: str,
    author: str,
    changes: tuple[str, ...],
    pause: bool,
    quiet: bool,
    container: str,
    image: str | None,
) -> None:
    from rootless.engine.commit import CommitRequest
    from rootless.engine.commit import commit as do_commit
    from rootless.engine.containers.context import open_ctx

    req = CommitRequest(container, image, message, author, list(changes), pause)
    img = do_commit(open_ctx(paths_from(ctx)), req)
    click.echo(img.id)
