"""Shared pieces of the command line: console, logging set-up and error reporting."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager

import typer
from rich.console import Console
from rich.logging import RichHandler

from custody.errors import CustodyError

console = Console()
error_console = Console(stderr=True)


def configure_logging(level: str) -> None:
    """Send log records to stderr through rich; called once by the entry point."""
    logging.basicConfig(
        level=level.upper(),
        format="%(message)s",
        datefmt="%H:%M:%S",
        handlers=[RichHandler(console=error_console, show_path=False, rich_tracebacks=False)],
        force=True,
    )


@contextmanager
def reported_errors() -> Iterator[None]:
    """Turn Custody errors into one red message and exit code 1, without a traceback."""
    try:
        yield
    except CustodyError as exc:
        error_console.print(f"[bold red]error:[/] {exc}", markup=True, highlight=False)
        raise typer.Exit(code=1) from None
