"""`custody dev`: the local stack of real Kafka, Neo4j and S3 servers."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from custody.cli.common import console, reported_errors
from custody.devstack import stack
from custody.devstack.config import StackSettings

app = typer.Typer(help="Run a local stack of real Kafka, Neo4j and S3 servers on 127.0.0.1, without Docker.", no_args_is_help=True)

ServiceNames = Annotated[
    list[str] | None,
    typer.Argument(
        help=(
            "Services to act on: kafka, neo4j, s3, or the Kubernetes control plane as the group `kube` "
            "(etcd, kube-apiserver, kube-controller-manager, kube-scheduler, kwok). Default: kafka, neo4j "
            "and s3, plus kube when CUSTODY_STACK_KUBE=1; `down` stops everything that runs."
        ),
        show_default=False,
    ),
]


@app.command()
def up(services: ServiceNames = None) -> None:
    """Fetch, cache and start the services, then wait until each is healthy.

    Starting a running service does nothing. The first start downloads Kafka and
    Neo4j from Maven Central and builds the S3 server from the Go module proxy
    into ~/.cache/custody (CUSTODY_STACK_CACHE_DIR). The first `custody dev up kube`
    builds the Kubernetes control plane there too (about 5 minutes on 2 cores).
    """
    with reported_errors():
        timings = stack.up(StackSettings(), services)
    for name, seconds in timings.items():
        console.print(f"[green]ready[/] {name} in {seconds:.1f}s")
    _print_status()


@app.command()
def down(services: ServiceNames = None) -> None:
    """Stop the services (SIGTERM, then SIGKILL after 30 s); their data is kept."""
    with reported_errors():
        stopped = stack.down(StackSettings(), services)
    console.print(f"stopped: {', '.join(stopped) if stopped else 'nothing was running'}")


@app.command()
def status() -> None:
    """Show each service's version, endpoint, pid, health and log file; exit 1 if any is down."""
    healthy = _print_status()
    if not healthy:
        raise typer.Exit(code=1)


def _print_status() -> bool:
    with reported_errors():
        rows = stack.status(StackSettings())

    table = Table(title="Custody local stack")
    for column in ("service", "version", "endpoint", "pid", "state", "log"):
        table.add_column(column)
    for row in rows:
        if row.healthy:
            state = "[green]healthy[/]"
        elif row.pid:
            state = "[yellow]starting or unhealthy[/]"
        else:
            state = "[red]stopped[/]"
        table.add_row(row.name, row.version, row.endpoint, str(row.pid or "-"), state, row.log_file)
    console.print(table)
    if any(row.name == "kube-apiserver" for row in rows):
        from custody.devstack.kube import kubeconfig_path

        console.print(f"kubeconfig: {kubeconfig_path(StackSettings())}")
    return all(row.healthy for row in rows)
