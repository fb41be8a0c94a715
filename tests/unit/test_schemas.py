"""JSON Schema export of the event types."""

from __future__ import annotations

import json
from datetime import datetime, timezone

import jsonschema
from typer.testing import CliRunner

from custody.cli.main import app
from custody.events import BY_TYPE, encode, make_event
from custody.events import models


def test_export_writes_one_valid_schema_per_type(tmp_path):
    result = CliRunner().invoke(app, ["schema", "export", str(tmp_path / "schemas")])

    assert result.exit_code == 0, result.output
    files = sorted((tmp_path / "schemas").glob("*.schema.json"))
    assert [path.name.removesuffix(".schema.json") for path in files] == sorted(BY_TYPE)
    for path in files:
        schema = json.loads(path.read_text())
        jsonschema.Draft202012Validator.check_schema(schema)
        assert schema["properties"]["type"]["const"] == path.name.removesuffix(".schema.json")


def test_exported_schema_accepts_encoded_event_and_rejects_bad_one(tmp_path):
    CliRunner().invoke(app, ["schema", "export", str(tmp_path)])
    schema = json.loads((tmp_path / "io.custody.job.failed.v1.schema.json").read_text())
    payload = models.JobFailed(
        job_id="job-1",
        attempt=2,
        finished_at=datetime(2026, 5, 1, tzinfo=timezone.utc),
        reason="exit code 3",
        final=True,
    )
    document = json.loads(encode(make_event(payload, source="/custody/processors", subject="job-1")))

    jsonschema.validate(document, schema)

    document["data"]["attempt"] = 0
    errors = list(jsonschema.Draft202012Validator(schema).iter_errors(document))
    assert errors, "attempt=0 must be rejected by the schema"
