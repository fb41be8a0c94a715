"""`custody repo`: create, list and show repos."""

from __future__ import annotations

import getpass
from typing import Annotated, Literal

import typer
from botocore.exceptions import ClientError
from pydantic import ValidationError
from rich.table import Table

from custody.cli.common import console, reported_errors
from custody.errors import ConfigurationError, ValidationFailed
from custody.events.codec import describe_errors
from custody.events.models import Agent, Grouping, RepoRegistered
from custody.repos import RepoRegistry, RepoStore
from custody.repos.s3errors import error_code, s3_errors
from custody.s3 import make_s3_client
from custody.settings import Settings, load_settings

app = typer.Typer(help="Create and show repos: named data locations (a bucket and a prefix) with labels.", no_args_is_help=True)


def parse_agent(text: str) -> Agent:
    """Return the agent named by `kind:name` or `name` (a person); an empty text means the current user."""
    kind, _, name = text.rpartition(":") if ":" in text else ("person", "", text)
    name = name or getpass.getuser()
    if kind not in ("person", "service_account"):
        raise ValidationFailed(f"agent {text!r}: kind must be 'person' or 'service_account', as in person:alice")
    try:
        return Agent(kind=kind, name=name)  # type: ignore[arg-type]
    except ValidationError as exc:
        raise ValidationFailed(describe_errors(exc, f"agent {text!r}")) from None


def normalize_prefix(prefix: str) -> str:
    """Return the prefix without a leading `/` and with a trailing one, or empty for the whole bucket."""
    prefix = prefix.lstrip("/")
    return prefix if not prefix or prefix.endswith("/") else prefix + "/"


@app.command("create")
def create(
    name: Annotated[str, typer.Argument(help="Repo name: letters, digits, '.', '_' and '-', up to 128 characters.")],
    bucket: Annotated[str, typer.Option("--bucket", help="Bucket that contains the repo's objects.")],
    prefix: Annotated[str, typer.Option("--prefix", help="Key prefix inside the bucket (a '/' is appended); empty for the whole bucket.")] = "",
    label: Annotated[list[str] | None, typer.Option("--label", help="Data label such as pii or health; repeat for several.")] = None,
    grouping: Annotated[
        str, typer.Option("--grouping", help="How notifications become commits: per-object, marker or quiet-window.")
    ] = "per-object",
    marker: Annotated[str, typer.Option("--marker", help="Marker object name for --grouping marker.")] = "_SUCCESS",
    quiet_window_s: Annotated[float, typer.Option("--quiet-window-s", help="Seconds without new objects for --grouping quiet-window.")] = 30.0,
    registered_by: Annotated[str, typer.Option("--registered-by", help="Agent as kind:name (default: person:<current user>).")] = "",
    create_bucket: Annotated[bool, typer.Option("--create-bucket", help="Create the bucket, with versioning on, if it does not exist.")] = False,
    replace: Annotated[bool, typer.Option("--replace", help="Allow changing the bucket or prefix of an existing repo.")] = False,
) -> None:
    """Register a repo on the repos topic; labels and grouping of an existing repo may change freely."""
    with reported_errors():
        settings = load_settings()
        repo = _repo_from_options(name, bucket, normalize_prefix(prefix), label or [], grouping, marker, quiet_window_s, registered_by)
        _check_bucket(settings, bucket, create=create_bucket)
        registry = RepoRegistry(settings)
        existing = registry.snapshot().get(name)
        if existing is not None and (existing.bucket, existing.prefix) != (repo.bucket, repo.prefix) and not replace:
            raise ValidationFailed(
                f"repo {name!r} exists at s3://{existing.bucket}/{existing.prefix}; pass --replace to move it "
                f"to s3://{repo.bucket}/{repo.prefix}, which leaves its earlier commits where they are"
            )
        registry.create(repo)
    verb = "updated" if existing is not None else "created"
    console.print(f"{verb} repo [bold]{name}[/] at s3://{bucket}/{repo.prefix} labels={','.join(repo.labels) or '-'} grouping={grouping}")


@app.command("list")
def list_repos() -> None:
    """Show every registered repo."""
    with reported_errors():
        repos = RepoRegistry(load_settings()).list()

    table = Table(title="Custody repos")
    for column in ("repo", "bucket", "prefix", "labels", "grouping", "registered by"):
        table.add_column(column)
    for repo in repos:
        table.add_row(repo.name, repo.bucket, repo.prefix or "-", ",".join(repo.labels) or "-", _grouping_text(repo.grouping), repo.registered_by.agent_id)
    console.print(table)


@app.command("show")
def show(name: Annotated[str, typer.Argument(help="Repo name.")]) -> None:
    """Show one repo and its head commit."""
    with reported_errors():
        settings = load_settings()
        repo = RepoRegistry(settings).get(name)
        head = RepoStore(make_s3_client(settings.s3), repo).read_head()

    console.print(f"repo           {repo.name}")
    console.print(f"location       s3://{repo.bucket}/{repo.prefix}")
    console.print(f"labels         {', '.join(repo.labels) or '-'}")
    console.print(f"grouping       {_grouping_text(repo.grouping)}")
    console.print(f"registered by  {repo.registered_by.agent_id}")
    if head is None:
        console.print("head           no commit yet")
    else:
        console.print(f"head           {head.commit_id} ({head.state}, claimed {head.claimed_at:%Y-%m-%d %H:%M:%S %Z})")


def _repo_from_options(
    name: str, bucket: str, prefix: str, labels: list[str], grouping: str, marker: str, quiet_window_s: float, registered_by: str
) -> RepoRegistered:
    if grouping not in ("per-object", "marker", "quiet-window"):
        raise ValidationFailed(f"--grouping {grouping!r} is invalid; use per-object, marker or quiet-window")
    strategy: Literal["per-object", "marker", "quiet-window"] = grouping  # type: ignore[assignment]
    try:
        return RepoRegistered(
            name=name,
            bucket=bucket,
            prefix=prefix,
            labels=labels,
            grouping=Grouping(strategy=strategy, marker=marker, quiet_window_s=quiet_window_s),
            registered_by=parse_agent(registered_by),
        )
    except ValidationError as exc:
        raise ValidationFailed(describe_errors(exc, f"repo {name!r}")) from None


def _check_bucket(settings: Settings, bucket: str, *, create: bool) -> None:
    client = make_s3_client(settings.s3)
    try:
        client.head_bucket(Bucket=bucket)
        return
    except ClientError as exc:
        if error_code(exc) not in ("404", "NoSuchBucket", "NotFound") or not create:
            if error_code(exc) in ("404", "NoSuchBucket", "NotFound"):
                raise ConfigurationError(f"bucket {bucket!r} does not exist at {settings.s3.endpoint_url}; create it or pass --create-bucket") from exc
            raise ConfigurationError(f"bucket {bucket!r} cannot be read ({error_code(exc)}); check the S3 credentials") from exc

    with s3_errors(f"CreateBucket {bucket}"):
        client.create_bucket(Bucket=bucket)
        client.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    console.print(f"created bucket {bucket} with versioning on")


def _grouping_text(grouping: Grouping) -> str:
    if grouping.strategy == "marker":
        return f"marker ({grouping.marker})"
    if grouping.strategy == "quiet-window":
        return f"quiet-window ({grouping.quiet_window_s:g}s)"
    return grouping.strategy
