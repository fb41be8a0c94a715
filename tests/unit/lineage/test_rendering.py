"""Rendering audit documents, reports and pictures."""

from __future__ import annotations

import pytest

from lineage.audit.cypher import parse_parameters
from lineage.audit.drawing import build_drawing, graphviz_source, mermaid, render_graphviz
from lineage.audit.rendering import Document, Table, render_markdown, short_time, text
from lineage.audit.reports import report_html, report_markdown
from lineage.audit.tracing import Provenance
from lineage.exceptions import QueryRejected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2026-03-02T09:06:00.000000000+00:00", "2026-03-02 09:06:00Z"),
        ("2026-03-02T10:06:00.123456789+01:00", "2026-03-02 09:06:00Z"),
        (None, "-"),
        ("not a time", "not a time"),
    ],
)
def test_short_time_formats_utc(value, expected):
    assert short_time(value) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [(None, "-"), ([], "-"), (["a", "b"], "a\nb"), ({"b": 2, "a": 1}, "a=1, b=2"), (60.0, "60"), (0, "0")],
)
def test_text_cells(value, expected):
    assert text(value) == expected


def test_markdown_escapes_pipes_newlines_and_tags():
    document = Document("T", ["one"], [Table("S", ["a", "b"], [["x|y", "line1\nline2<script>"]])])

    rendered = render_markdown(document)

    assert "| x\\|y | line1<br>line2&lt;script&gt; |" in rendered


def provenance() -> Provenance:
    result = Provenance("upstream", {"kind": "commit", "text": "c2"}, 25)
    result.commits = {
        "c1": {"id": "c1", "repo": "raw", "origin": "upload", "authors": ["person:alice"], "files": [{"path": 'we"ird\\name.csv', "sha256": "a" * 64}], "generated_by": [], "file_count": 1},
        "c2": {"id": "c2", "repo": "clean", "origin": "job", "authors": ["service_account:etl"], "files": [], "generated_by": ["j1"], "file_count": 0},
    }
    result.jobs = {"j1": {"id": "j1", "plan": "clean@v1", "status": "succeeded", "exit_code": 0, "input_commits": ["c1"], "agents": [{"id": "service_account:etl", "role": "service_account"}]}}
    result.agents = {"service_account:etl": {"id": "service_account:etl", "acting_for": ["person:bob"]}}
    return result


def test_drawing_links_prov_relations():
    drawing = build_drawing(provenance())

    labels = {label for _, _, label in drawing.edges}
    assert {"used", "wasGeneratedBy", "wasAttributedTo", "wasAssociatedWith", "hadPlan", "hadMember", "actedOnBehalfOf"} <= labels


def test_mermaid_quotes_labels():
    text_out = mermaid(build_drawing(provenance()))

    assert text_out.startswith("flowchart BT\n")
    assert "we#quot;ird" in text_out
    assert "-->|used|" in text_out


def test_graphviz_renders_svg_with_escaped_labels():
    drawing = build_drawing(provenance())

    source = graphviz_source(drawing)
    svg = render_graphviz(drawing, "svg").decode()

    assert 'we\\"ird\\\\name.csv' in source
    assert "<svg" in svg
    assert "clean@v1" in svg


def test_parse_parameters_decodes_json_values():
    assert parse_parameters(["n=3", "ids=[1,2]", "name=alice", "empty="]) == {"n": 3, "ids": [1, 2], "name": "alice", "empty": ""}
    with pytest.raises(QueryRejected, match="NAME=VALUE"):
        parse_parameters(["no-equals"])


def report() -> dict:
    entry = {
        "job_id": "j<1>", "pipeline_version": "clean@v1", "pipeline_owners": ["person:bob"], "status": "failed", "exit_code": 1,
        "reason": "<script>alert(1)</script>", "scheduled_at": None, "started_at": None, "finished_at": None, "duration_s": 1.5,
        "code": {"image": None, "image_digest": None, "code_hash": "c" * 64, "command": ["run"], "args": [], "parameters": {"a": "1"}},
        "decision": {"outcome": "started", "reason": "new | commit", "decided_at": None, "causation_id": None},
        "agents": [{"id": "service_account:etl", "role": "service_account", "acting_for": ["person:bob"]}],
        "inputs": [{"commit_id": "a" * 64, "repo": "raw", "committed_at": None, "authors": ["person:alice"], "files": [{"uri": "s3://b/x|y.csv", "sha256": "d" * 64}]}],
        "outputs": [],
    }
    summary = {"jobs": 1, "by_status": {"failed": 1}, "repos_read": ["raw"], "repos_written": [], "agents": ["service_account:etl"]}
    return {"title": "Custody compliance report", "namespace": "", "since": "2026-03-01", "until": "2026-04-01", "repo": None, "summary": summary, "jobs": [entry]}


def test_report_html_escapes_event_values():
    page = report_html(report())

    assert "<script>alert" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "<code>j&lt;1&gt;</code>" in page


def test_report_markdown_lists_inputs_with_sha256():
    text_out = report_markdown(report())

    assert "## Job j<1>" in text_out
    assert "s3://b/x\\|y.csv" in text_out
    assert "d" * 64 in text_out
    assert "service_account:etl (service account, for person:bob)" in text_out
