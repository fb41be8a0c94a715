"""`custody commit`: upload files and directories to a repo as one commit."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from custody.cli.common import console, reported_errors
from custody.cli.repo import parse_agent
from custody.events.models import UploadOrigin
from custody.repos import commit_files
from custody.settings import load_settings


def commit(
    repo: Annotated[str, typer.Argument(help="Name of a registered repo (see `custody repo list`).")],
    paths: Annotated[list[Path], typer.Argument(help="Files and directories; a directory's files keep their paths relative to it.")],
    message: Annotated[str, typer.Option("--message", "-m", help="Commit message.")] = "",
    author: Annotated[str, typer.Option("--author", help="Agent as kind:name, e.g. person:alice (default: person:<current user>).")] = "",
    progress: Annotated[bool, typer.Option("--progress/--no-progress", help="Show hashing and upload progress on stderr.")] = True,
) -> None:
    """Upload files to a repo and record them as one commit with a DataCommitted event.

    Large files are uploaded in parts; every file's SHA-256 is computed by
    reading it in blocks and checked by the S3 server. Paths are used as they
    are on disk and never decoded. Committing content identical to the repo's
    head commit uploads nothing and reports a no-op.
    """
    with reported_errors():
        settings = load_settings()
        result = commit_files(
            settings, repo, paths, author=parse_agent(author), message=message, origin=UploadOrigin(via="cli"), progress=progress
        )

    if result.no_op:
        console.print(f"nothing to commit: the content equals the head commit {result.commit_id} of repo {repo}")
        return
    assert result.event is not None
    files = result.event.data.files
    size_mb = sum(f.size for f in files) / 1e6
    console.print(f"committed {result.commit_id} to repo {repo}: {len(files)} file(s), {size_mb:.1f} MB")
