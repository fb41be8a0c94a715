"""Export one JSON Schema (draft 2020-12) per event type."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from custody.events.catalog import BY_TYPE

SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"


def event_schema(event_type: str) -> dict[str, Any]:
    """Return the JSON Schema of one event type, envelope included."""
    schema = BY_TYPE[event_type].model_json_schema(mode="serialization")
    return {"$schema": SCHEMA_DIALECT, "$id": f"urn:custody:schema:{event_type}", **schema}


def export_schemas(directory: Path) -> list[Path]:
    """Write `<type>.schema.json` for every event type into `directory`; return the paths."""
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for event_type in sorted(BY_TYPE):
        path = directory / f"{event_type}.schema.json"
        path.write_text(json.dumps(event_schema(event_type), indent=2, sort_keys=True) + "\n")
        written.append(path)
    return written
