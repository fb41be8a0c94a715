"""Render audit results as terminal tables, Markdown or JSON.

Every command builds a `Document` (a title, summary lines and tables of text)
for people, beside the full result dictionary for machines. `table` prints the
document with rich, `markdown` writes it as GitHub-flavoured Markdown, and `json`
writes the result dictionary, which contains more than the tables show.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Literal

from rich.console import Console
from rich.table import Table as RichTable

OutputFormat = Literal["table", "json", "markdown"]


@dataclass
class Table:
    """A titled table of text cells."""

    title: str
    columns: list[str]
    rows: list[list[str]] = field(default_factory=list)


@dataclass
class Document:
    """The part of an audit result shown to people: a title, summary lines and tables."""

    title: str
    summary: list[str] = field(default_factory=list)
    tables: list[Table] = field(default_factory=list)


def render_json(data: Any) -> str:
    """Return indented JSON; values JSON does not know are written as text."""
    return json.dumps(data, indent=2, ensure_ascii=False, default=str)


def render_markdown(document: Document) -> str:
    """Return the document as Markdown: a heading, the summary as a list, one table per section."""
    lines = [f"# {_markdown_text(document.title)}", ""]
    lines += [f"- {_markdown_text(line)}" for line in document.summary]
    for table in document.tables:
        lines += ["", f"## {_markdown_text(table.title)}", ""]
        if not table.rows:
            lines.append("(none)")
            continue
        lines.append("| " + " | ".join(_markdown_cell(column) for column in table.columns) + " |")
        lines.append("|" + "|".join(" --- " for _ in table.columns) + "|")
        lines += ["| " + " | ".join(_markdown_cell(cell) for cell in row) + " |" for row in table.rows]
    return "\n".join(lines) + "\n"


def print_document(document: Document, console: Console) -> None:
    """Print the document as rich tables."""
    console.print(f"[bold]{_rich_text(document.title)}[/]")
    for line in document.summary:
        console.print(f"  {_rich_text(line)}")
    for table in document.tables:
        rich_table = RichTable(title=table.title, title_justify="left", show_lines=True)
        for column in table.columns:
            rich_table.add_column(column, overflow="fold")
        for row in table.rows:
            rich_table.add_row(*[_rich_text(cell) for cell in row])
        if not table.rows:
            rich_table.add_row(*(["(none)"] + [""] * (len(table.columns) - 1)))
        console.print(rich_table)


def emit(document: Document, data: Any, output_format: OutputFormat, console: Console) -> None:
    """Write a result in the chosen format to the console."""
    if output_format == "json":
        console.file.write(render_json(data) + "\n")
    elif output_format == "markdown":
        console.file.write(render_markdown(document))
    else:
        print_document(document, console)


# Cell helpers shared by the document builders


def short_id(value: str | None, length: int = 12) -> str:
    """Return the first characters of a long id, as git shows commits."""
    if not value:
        return "-"
    return value if len(value) <= length else value[:length]


def short_time(value: str | None) -> str:
    """Return an ISO timestamp as `YYYY-MM-DD HH:MM:SSZ` (UTC), or `-`."""
    if not value:
        return "-"
    from datetime import datetime, timezone

    try:
        moment = datetime.fromisoformat(_trim_fraction(value))
    except ValueError:
        return value
    if moment.tzinfo is not None:
        moment = moment.astimezone(timezone.utc)
    return moment.strftime("%Y-%m-%d %H:%M:%SZ")


def text(value: Any) -> str:
    """Return a cell for any value: `-` for nothing, lists joined by newlines, maps as `k=v`."""
    if value is None or value == "" or value == []:
        return "-"
    if isinstance(value, list):
        return "\n".join(text(item) for item in value)
    if isinstance(value, dict):
        return ", ".join(f"{key}={item}" for key, item in sorted(value.items())) or "-"
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def _trim_fraction(value: str) -> str:
    """Cut nanoseconds to microseconds, which `datetime.fromisoformat` accepts."""
    if "." not in value:
        return value
    head, _, rest = value.partition(".")
    digits = ""
    for index, char in enumerate(rest):
        if not char.isdigit():
            return f"{head}.{digits[:6]}{rest[index:]}"
        digits += char
    return f"{head}.{digits[:6]}"


def _markdown_cell(value: str) -> str:
    return _markdown_text(value).replace("|", "\\|").replace("\n", "<br>")


def _markdown_text(value: str) -> str:
    return value.replace("<", "&lt;").replace(">", "&gt;")


def _rich_text(value: str) -> str:
    # Cell text comes from events, so markup characters are escaped.
    from rich.markup import escape

    return escape(value)
