"""`custody schema`: JSON Schemas of the event contracts."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from custody.cli.common import console
from custody.events.schemas import export_schemas

app = typer.Typer(help="Export the JSON Schemas of Custody's event types.", no_args_is_help=True)


@app.command("export")
def export(
    directory: Annotated[Path, typer.Argument(help="Directory to write `<type>.schema.json` files into; created if missing.")],
) -> None:
    """Write one JSON Schema (draft 2020-12) per event type."""
    for path in export_schemas(directory):
        console.print(f"wrote {path}")
