"""`custody producers run`: the long-running services that turn storage activity into commit events."""

from __future__ import annotations

from typing import Annotated, Literal

import typer

from custody.cli.common import reported_errors
from custody.errors import ValidationFailed
from custody.settings import load_settings
from custody.shutdown import StopSignal

app = typer.Typer(help="Run the services that turn storage activity into commit events.", no_args_is_help=True)
run_app = typer.Typer(help="Run one producer service until SIGTERM or SIGINT; unfinished work is picked up on restart.", no_args_is_help=True)
app.add_typer(run_app, name="run")

KeyEncodingOption = Annotated[
    str,
    typer.Option(
        "--key-encoding",
        help="How the sender encodes object keys: url (AWS, MinIO, Ceph) or raw (Versity gateway). Default from settings.",
    ),
]


@run_app.command("s3-events")
def s3_events(
    topic: Annotated[str, typer.Option("--topic", help="Notification topic (default CUSTODY_PRODUCERS_S3_EVENTS_TOPIC or the registry name).")] = "",
    group: Annotated[str, typer.Option("--group", help="Consumer group (default CUSTODY_PRODUCERS_S3_EVENTS_GROUP).")] = "",
    key_encoding: KeyEncodingOption = "",
) -> None:
    """Consume S3 event notifications from Kafka and send commits and removals.

    Offsets move only after the resulting events are acknowledged; records that
    are not notifications go to the dead-letter topic.
    """
    from producers.s3_events import S3EventsService
    from producers.settings import load_producer_settings

    with reported_errors():
        service = S3EventsService(
            load_settings(),
            load_producer_settings(),
            stop=StopSignal("producers-s3-events").install(),
            source_topic=topic or None,
            group_id=group or None,
            key_encoding=_encoding(key_encoding),
        )
        service.run()


@run_app.command("webhook")
def webhook(
    host: Annotated[str, typer.Option("--host", help="Address to listen on (default CUSTODY_PRODUCERS_WEBHOOK_HOST, 127.0.0.1).")] = "",
    port: Annotated[int, typer.Option("--port", help="Port to listen on; -1 means CUSTODY_PRODUCERS_WEBHOOK_PORT (8470).")] = -1,
    key_encoding: KeyEncodingOption = "",
) -> None:
    """Accept S3 event notifications as HTTP POSTs (AWS JSON) and send commits and removals."""
    from producers.settings import load_producer_settings
    from producers.webhook import WebhookService

    with reported_errors():
        service = WebhookService(
            load_settings(),
            load_producer_settings(),
            stop=StopSignal("producers-webhook").install(),
            host=host or None,
            port=None if port < 0 else port,
            key_encoding=_encoding(key_encoding),
        )
        service.run()


@run_app.command("watch")
def watch(
    repo: Annotated[list[str] | None, typer.Option("--repo", help="Repo to watch; repeat for several (default: every repo).")] = None,
    reconcile: Annotated[
        bool, typer.Option("--reconcile/--no-reconcile", help="Run beside notifications: commit only versions older than the grace period and report them as gaps.")
    ] = False,
    interval_s: Annotated[float, typer.Option("--interval-s", help="Seconds between polls (default CUSTODY_PRODUCERS_WATCH_INTERVAL_S).")] = 0.0,
    grace_s: Annotated[float, typer.Option("--grace-s", help="Grace period in seconds (default CUSTODY_PRODUCERS_RECONCILE_GRACE_S).")] = -1.0,
    once: Annotated[bool, typer.Option("--once", help="Poll once and exit.")] = False,
) -> None:
    """Poll bucket listings and commit every object version no commit covers; the first poll backfills."""
    from producers.settings import load_producer_settings
    from producers.watching import BucketWatcher

    with reported_errors():
        watcher = BucketWatcher(
            load_settings(),
            load_producer_settings(),
            stop=StopSignal("producers-watcher").install(),
            reconcile=reconcile,
            repos=repo,
            interval_s=interval_s or None,
            grace_s=None if grace_s < 0 else grace_s,
        )
        if once:
            try:
                watcher.poll_once()
            finally:
                watcher.context.close()
            typer.echo(f"poll finished: {dict(watcher.counters)}")
            return
        watcher.run()


def _encoding(value: str) -> Literal["url", "raw"] | None:
    if not value:
        return None
    if value not in ("url", "raw"):
        raise ValidationFailed(f"--key-encoding {value!r} is invalid; use url or raw")
    return value  # type: ignore[return-value]
