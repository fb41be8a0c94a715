"""`custody alerts`: run the alert service, or dry-run rules against an event file."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from custody.cli.common import console, reported_errors
from custody.events import decode
from custody.settings import load_settings
from custody.shutdown import StopSignal

app = typer.Typer(help="Alert rules, built-in detectors and delivery sinks.", no_args_is_help=True)

RulesPath = Annotated[Path, typer.Argument(help="YAML rules file (sinks, rules, detectors).", exists=True, dir_okay=False)]


@app.command()
def run(
    rules: RulesPath,
    handlers: Annotated[list[str] | None, typer.Option("--handlers", help="Python module with @subscriber handlers; repeatable.")] = None,
    group_id: Annotated[str | None, typer.Option(help="Kafka consumer group (default: custody-alerts after CUSTODY_TOPIC_PREFIX).", show_default=False)] = None,
    from_beginning: Annotated[bool, typer.Option(help="Read topics from the start when the group has no offsets (default: only new events).")] = False,
) -> None:
    """Consume Custody's topics and deliver alerts until SIGTERM or Ctrl-C."""
    from processors.alerts.rules import load_rules
    from processors.alerts.service import AlertService
    from processors.alerts.subscribers import load_handler_modules

    with reported_errors():
        rules_file = load_rules(rules)
        load_handler_modules(handlers or [])
        service = AlertService(load_settings(), rules_file, group_id=group_id, from_beginning=from_beginning)
        counters = service.run(StopSignal("alerts").install())
    console.print(f"stopped after {counters.events} events, {counters.alerts} alerts, {counters.dead_lettered} dead-lettered")


@app.command("test")
def test_rules(
    rules: RulesPath,
    event: Annotated[Path, typer.Option("--event", help="JSON file with one Custody event (CloudEvents envelope).", exists=True, dir_okay=False)],
) -> None:
    """Show which rules and detectors match the event and what each sink would receive; nothing is sent."""
    from processors.alerts.detectors import Detectors
    from processors.alerts.engine import AlertEngine
    from processors.alerts.rules import load_rules
    from processors.alerts.sinks import preview

    with reported_errors():
        rules_file = load_rules(rules)
        parsed = decode(event.read_bytes())

    document = parsed.model_dump(mode="json")
    pending = AlertEngine(rules_file).evaluate(document) + Detectors(rules_file).observe(document)
    if not pending:
        console.print(f"no rule or detector matches {parsed.type} id={parsed.id}")
        return

    for candidate in pending:
        alert = candidate.alert
        console.print(f"[bold]{alert.rule}[/] ({alert.severity}): {alert.summary}", highlight=False)
        for sink in candidate.sinks:
            console.print(f"  sink {sink}:")
            console.print_json(json.dumps(preview(rules_file.sinks[sink], alert)))
