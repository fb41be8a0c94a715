"""`custody pipeline`: apply, list, show, delete and re-run pipeline specs."""

from __future__ import annotations

import getpass
import os
from pathlib import Path
from typing import Annotated

import typer
import yaml
from rich.table import Table

from custody.cli.common import console, error_console, reported_errors
from custody.events.models import Agent
from custody.settings import load_settings

app = typer.Typer(help="Manage pipeline specs: the registry that the processors worker triggers from.", no_args_is_help=True)

AsOption = Annotated[
    str,
    typer.Option("--as", help="Person recorded as the author of the change (default: CUSTODY_USER, then the login name)."),
]


def _agent(name: str) -> Agent:
    return Agent(kind="person", name=name or os.environ.get("CUSTODY_USER") or getpass.getuser())


@app.command()
def apply(
    file: Annotated[Path, typer.Option("-f", "--file", help="A spec file, or a directory whose .yaml/.yml files are all applied.")],
    as_person: AsOption = "",
) -> None:
    """Validate specs and publish those that changed; an invalid file publishes nothing.

    A new version runs once on the current heads of its inputs; a spec equal to
    the registered one is reported unchanged and starts nothing.
    """
    from processors.registry import PipelineRegistry
    from processors.specfiles import load_specs

    with reported_errors():
        loaded = load_specs(file)
        outcomes = PipelineRegistry(load_settings()).apply([item.spec for item in loaded], registered_by=_agent(as_person))
    for outcome in outcomes:
        colour = {"created": "green", "updated": "yellow", "unchanged": "dim"}[outcome.status]
        console.print(f"[{colour}]{outcome.status}[/] {outcome.name} version {outcome.version[:12]}")


@app.command("list")
def list_pipelines() -> None:
    """Show every registered pipeline with its version, inputs, output and executor."""
    from processors.registry import PipelineRegistry

    with reported_errors():
        entries = PipelineRegistry(load_settings()).snapshot()

    table = Table(title="Pipelines")
    for column in ("name", "version", "inputs", "output", "executor", "clearances", "owner"):
        table.add_column(column)
    for name, entry in sorted(entries.items()):
        registration = entry.registration
        table.add_row(
            name, registration.version[:12], ", ".join(registration.input_repos), registration.output_repo,
            registration.executor, ", ".join(registration.clearances) or "-", registration.owner,
        )
    console.print(table)


@app.command()
def show(name: Annotated[str, typer.Argument(help="Pipeline name.")]) -> None:
    """Print the registered normalized spec of one pipeline as YAML, with its version."""
    from processors.registry import PipelineRegistry

    with reported_errors():
        entry = PipelineRegistry(load_settings()).get(name)
    registration = entry.registration
    console.print(f"# version {registration.version}", highlight=False)
    console.print(f"# registered by {registration.registered_by.agent_id}", highlight=False)
    console.print(yaml.safe_dump(registration.spec, sort_keys=False), highlight=False, markup=False)


@app.command()
def delete(name: Annotated[str, typer.Argument(help="Pipeline name.")], as_person: AsOption = "") -> None:
    """Remove a pipeline so it no longer triggers; its past versions stay in the history topic."""
    from processors.registry import PipelineRegistry

    with reported_errors():
        PipelineRegistry(load_settings()).delete(name, removed_by=_agent(as_person))
    console.print(f"deleted {name}")


@app.command()
def rerun(
    name: Annotated[str, typer.Argument(help="Pipeline name.")],
    reason: Annotated[str, typer.Option("--reason", help="Why the re-run is needed; kept in the lineage record.")],
    commit: Annotated[
        str | None, typer.Option("--commit", help="Full id of an input commit to run on (default: the current heads of the inputs).")
    ] = None,
    wait: Annotated[float, typer.Option("--wait", help="Seconds to wait for the worker's decision; 0 returns at once.")] = 30.0,
    as_person: AsOption = "",
) -> None:
    """Start a deliberate re-run with a new job id, recording who asked and why."""
    from processors.reruns import request_rerun
    from processors.settings import load_processor_settings

    with reported_errors():
        result = request_rerun(
            load_settings(), load_processor_settings(), name, reason=reason, requested_by=_agent(as_person), commit_id=commit, wait_s=wait,
        )
    console.print(f"re-run request {result.request_id} sent for {name}")
    if result.decision is not None:
        decision = result.decision
        job = f" job {decision.job_id}" if decision.job_id else ""
        console.print(f"decision: {decision.outcome}{job}: {decision.reason}", highlight=False)
    elif wait > 0:
        error_console.print(f"no decision within {wait:g}s; check that `custody processors run` is running with the same settings")
        raise typer.Exit(code=1)
