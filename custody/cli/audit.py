"""`custody audit`: query which data was processed, how, by which agents, and what it produced."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from enum import Enum
from pathlib import Path
from typing import Annotated, Any

import typer

from custody.cli.common import console, reported_errors
from custody.settings import load_settings

app = typer.Typer(
    help="Query the provenance graph: trace, impact, who, job, cypher and compliance reports.",
    no_args_is_help=True,
)


class Format(str, Enum):
    table = "table"
    json = "json"
    markdown = "markdown"


class ReportFormat(str, Enum):
    markdown = "markdown"
    html = "html"
    json = "json"


FormatOption = Annotated[Format, typer.Option("--format", "-f", help="Output format: table (terminal), json or markdown.")]
NamespaceOption = Annotated[
    str | None,
    typer.Option("--namespace", help="Graph namespace to read (default: CUSTODY_LINEAGE_NAMESPACE, empty).", show_default=False),
]
DepthOption = Annotated[
    int | None,
    typer.Option("--max-depth", min=1, max=200, help="Job stages to follow (default: CUSTODY_LINEAGE_MAX_DEPTH or 25).", show_default=False),
]
GraphOption = Annotated[
    Path | None,
    typer.Option(
        "--graph",
        help="Also draw the provenance graph to this file: .svg, .png or .pdf (Graphviz), .dot, or .mmd (Mermaid).",
        show_default=False,
        dir_okay=False,
        writable=True,
    ),
]


@contextmanager
def _graph_connection(namespace: str | None) -> Iterator[tuple[Any, Any]]:
    """Yield a connector (no schema hooks, audit only reads) and the lineage settings."""
    from custody.graphdb import Neo4jConnector
    from lineage.settings import load_lineage_settings

    settings = load_settings()
    lineage = load_lineage_settings(**({"namespace": namespace} if namespace is not None else {}))
    connector = Neo4jConnector(settings.neo4j)
    try:
        # Checks the endpoint and account once, so an unreachable server fails at
        # once instead of after the driver's transaction retries.
        connector.connect()
        yield connector, lineage
    finally:
        connector.close()


def _emit(document: Any, data: Any, output_format: Format) -> None:
    from lineage.audit.rendering import emit

    emit(document, data, output_format.value, console)


def _provenance_command(query: Callable[..., Any], target: str, namespace: str | None, max_depth: int | None, output_format: Format, graph: Path | None) -> None:
    from lineage.audit.documents import provenance_document
    from lineage.audit.drawing import picture_format, write_picture
    from lineage.audit.targets import parse_target

    with reported_errors(), _graph_connection(namespace) as (connector, lineage):
        if graph is not None:
            picture_format(graph)
        result = query(connector, lineage.namespace, parse_target(target), max_depth=max_depth or lineage.max_depth)
        if graph is not None:
            drawn = write_picture(result, graph)
    _emit(provenance_document(result), result.to_dict(), output_format)
    if graph is not None:
        typer.echo(f"wrote {drawn} picture {graph}", err=True)


TargetArgument = Annotated[
    str, typer.Argument(help="s3://BUCKET/KEY[?sha256=HEX] of a file, a commit id (or commit:ID), or a job id (or job:ID).")
]


@app.command()
def trace(
    target: TargetArgument,
    output_format: FormatOption = Format.table,
    max_depth: DepthOption = None,
    graph: GraphOption = None,
    namespace: NamespaceOption = None,
) -> None:
    """Show where TARGET came from: its data, the processing, the agents, the times and the uploads behind it.

    Lists the input files with sha256, commits and repos, and the pipeline versions with image digest
    or code hash, command, parameters, exit status and duration. It also lists authors, pipeline
    owners and service accounts with the people they acted for, and the upload behind each run.

    For a file, the trace starts at the commit that introduced its latest version (or the version given by ?sha256=).
    """
    from lineage.audit.tracing import trace as trace_query

    _provenance_command(trace_query, target, namespace, max_depth, output_format, graph)


@app.command()
def impact(
    target: TargetArgument,
    output_format: FormatOption = Format.table,
    max_depth: DepthOption = None,
    graph: GraphOption = None,
    namespace: NamespaceOption = None,
) -> None:
    """Show everything generated downstream of TARGET, and every job that read it, for erasure requests and incidents.

    For a file, every commit that contains any version of it is a starting point (or only the version given by ?sha256=).
    """
    from lineage.audit.tracing import impact as impact_query

    _provenance_command(impact_query, target, namespace, max_depth, output_format, graph)


@app.command()
def who(
    scope: Annotated[str, typer.Argument(help="REPO, REPO/PATH of a file, or REPO/FOLDER/ (trailing slash) for every path under it.")],
    output_format: FormatOption = Format.table,
    namespace: NamespaceOption = None,
) -> None:
    """List every agent that wrote the data, read it through a job, processed it as pipeline owner, or removed it, with times."""
    from lineage.audit.involvement import involvement_document
    from lineage.audit.involvement import who as who_query

    with reported_errors(), _graph_connection(namespace) as (connector, lineage):
        result = who_query(connector, lineage.namespace, scope)
    _emit(involvement_document(result), result.to_dict(), output_format)


@app.command()
def job(
    job_id: Annotated[str, typer.Argument(help="The job id, as shown by `custody audit trace` or `report`.")],
    output_format: FormatOption = Format.table,
    max_depth: DepthOption = None,
    namespace: NamespaceOption = None,
) -> None:
    """Show the full record of one job: trigger decision, attempts, inputs, outputs, code, plan, agents and the uploads behind it."""
    from lineage.audit.jobrecord import job_document, job_record

    with reported_errors(), _graph_connection(namespace) as (connector, lineage):
        result = job_record(connector, lineage.namespace, job_id.removeprefix("job:"), max_depth=max_depth or lineage.max_depth)
    _emit(job_document(result), result.to_dict(), output_format)


@app.command()
def cypher(
    query: Annotated[str, typer.Argument(help="A Cypher query; `$ns` is the graph namespace unless --param sets it.")],
    param: Annotated[list[str] | None, typer.Option("--param", "-p", help="Query parameter NAME=VALUE; a JSON value (number, list) is decoded. Repeatable.")] = None,
    output_format: FormatOption = Format.table,
    namespace: NamespaceOption = None,
) -> None:
    """Run raw Cypher against the lineage graph in a read-only transaction; CREATE, MERGE, SET and DELETE are rejected."""
    from lineage.audit.cypher import cypher_document, parse_parameters, run_cypher

    with reported_errors(), _graph_connection(namespace) as (connector, lineage):
        parameters = {"ns": lineage.namespace, **parse_parameters(param or [])}
        result = run_cypher(connector, query, parameters, timeout_s=lineage.query_timeout_s)
    _emit(cypher_document(result, query), result.to_dict(), output_format)


@app.command()
def report(
    since: Annotated[str, typer.Option("--since", help="Start of the window, ISO 8601 (included); UTC when no zone is given.")],
    until: Annotated[str, typer.Option("--until", help="End of the window, ISO 8601 (excluded); UTC when no zone is given.")],
    repo: Annotated[str | None, typer.Option("--repo", help="Only jobs that read or wrote this repo.", show_default=False)] = None,
    output_format: Annotated[ReportFormat, typer.Option("--format", "-f", help="markdown, html or json.")] = ReportFormat.markdown,
    output: Annotated[Path | None, typer.Option("--output", "-o", help="File to write; standard output when omitted.", dir_okay=False, show_default=False)] = None,
    namespace: NamespaceOption = None,
) -> None:
    """Write a compliance report of every job scheduled, started or finished in the window: inputs, outputs, agents and outcome."""
    from lineage.audit.reports import build_report, parse_time, report_html, report_json, report_markdown

    renderers = {ReportFormat.markdown: report_markdown, ReportFormat.html: report_html, ReportFormat.json: report_json}
    with reported_errors(), _graph_connection(namespace) as (connector, lineage):
        window = (parse_time(since, "--since"), parse_time(until, "--until"))
        result = build_report(connector, lineage.namespace, since=window[0], until=window[1], repo=repo)
    rendered = renderers[output_format](result)
    if output is None:
        console.file.write(rendered)
    else:
        output.write_text(rendered, encoding="utf-8")
        typer.echo(f"wrote {output_format.value} report with {result['summary']['jobs']} job(s) to {output}", err=True)
