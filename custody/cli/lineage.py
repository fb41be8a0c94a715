"""`custody lineage`: run the lineage consumer, rebuild the graph, dump it."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from custody.cli.common import console, reported_errors
from custody.settings import load_settings

app = typer.Typer(help="Keep the provenance graph in Neo4j up to date with the Kafka topics.", no_args_is_help=True)

NamespaceOption = Annotated[
    str | None,
    typer.Option("--namespace", help="Graph namespace to write or read (default: CUSTODY_LINEAGE_NAMESPACE, empty).", show_default=False),
]


def _lineage_settings(namespace: str | None, **overrides: object):
    from lineage.settings import load_lineage_settings

    if namespace is not None:
        overrides["namespace"] = namespace
    return load_lineage_settings(**overrides)


@app.command()
def run(
    namespace: NamespaceOption = None,
    group_id: Annotated[str | None, typer.Option("--group-id", help="Kafka consumer group (default: CUSTODY_LINEAGE_GROUP_ID, or custody-lineage after CUSTODY_TOPIC_PREFIX).", show_default=False)] = None,
    batch_size: Annotated[int | None, typer.Option("--batch-size", min=1, help="Records per Neo4j transaction, at most (default: CUSTODY_LINEAGE_BATCH_SIZE or 2000).", show_default=False)] = None,
) -> None:
    """Consume the commit, pipeline, decision and job topics and write the lineage graph until SIGTERM or Ctrl-C.

    Offsets are committed only after Neo4j has committed the batch. While Neo4j
    is unreachable the consumer pauses and retries the same batch; records that
    are invalid, or that Neo4j rejects, go to the dead-letter topic.
    """
    from custody.shutdown import StopSignal
    from lineage.service import run_service

    overrides: dict[str, object] = {}
    if group_id is not None:
        overrides["group_id"] = group_id
    if batch_size is not None:
        overrides["batch_size"] = batch_size
    with reported_errors():
        settings = load_settings()
        lineage = _lineage_settings(namespace, **overrides)
        run_service(settings, lineage, stop=StopSignal("lineage").install())


@app.command()
def rebuild(
    namespace: NamespaceOption = None,
    yes: Annotated[bool, typer.Option("--yes", help="Do not ask before deleting the graph.")] = False,
) -> None:
    """Delete the namespace's lineage graph and replay every lineage topic from its first record.

    The running consumer can keep running; it continues from its own committed offsets.
    """
    from custody.shutdown import StopSignal
    from lineage.service import rebuild as rebuild_graph

    with reported_errors():
        settings = load_settings()
        lineage = _lineage_settings(namespace)
    if not yes:
        typer.confirm(f"Delete the lineage graph of namespace {lineage.namespace!r} in {settings.neo4j.uri} and replay the topics?", abort=True)
    with reported_errors():
        result = rebuild_graph(settings, lineage, stop=StopSignal("lineage-rebuild").install())
    console.print(
        f"rebuilt namespace {lineage.namespace!r}: deleted {result.nodes_deleted} node(s), replayed {result.records} record(s), "
        f"wrote {result.events_written} event(s) in {result.seconds:.1f}s"
    )


@app.command()
def dump(
    output: Annotated[Path | None, typer.Argument(help="File to write; standard output when omitted.", show_default=False)] = None,
    namespace: NamespaceOption = None,
) -> None:
    """Write a canonical JSON dump of the graph (sorted nodes and relationships), to compare two graphs with diff."""
    from custody.graphdb import Neo4jConnector
    from lineage.dumping import dump_graph, dump_json

    with reported_errors():
        settings = load_settings()
        lineage = _lineage_settings(namespace)
        connector = Neo4jConnector(settings.neo4j)
        try:
            connector.connect()
            text = dump_json(dump_graph(connector, lineage.namespace))
        finally:
            connector.close()
    if output is None:
        typer.echo(text)
    else:
        output.write_text(text + "\n", encoding="utf-8")
        console.print(f"wrote {output}")
