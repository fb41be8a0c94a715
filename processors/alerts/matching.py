"""Field predicates of alert rules, evaluated on an event's JSON document."""

from __future__ import annotations

from typing import Any

_MISSING = object()


def lookup(document: dict[str, Any], dotted_path: str) -> Any:
    """Return the value at `data.pipeline`-style path, or a sentinel when a part is missing."""
    value: Any = document
    for part in dotted_path.split("."):
        if isinstance(value, dict) and part in value:
            value = value[part]
        elif isinstance(value, list) and part.isdigit() and int(part) < len(value):
            value = value[int(part)]
        else:
            return _MISSING
    return value


def matches_predicate(actual: Any, expected: Any) -> bool:
    """Return True when `actual` satisfies one predicate.

    A scalar must be equal; a list means any of its values; `{contains: X}`
    means the actual list contains X; `{exists: bool}` tests presence.
    """
    if isinstance(expected, dict) and "exists" in expected:
        return (actual is not _MISSING and actual is not None) == bool(expected["exists"])
    if actual is _MISSING:
        return False
    if isinstance(expected, dict) and "contains" in expected:
        return isinstance(actual, list) and expected["contains"] in actual
    if isinstance(expected, list):
        return actual in expected
    return actual == expected


def matches(document: dict[str, Any], event_type_pattern: str, where: dict[str, Any]) -> bool:
    """Return True when the event has the type (or the pattern is `*`) and every predicate holds."""
    if event_type_pattern not in ("*", document.get("type")):
        return False
    return all(matches_predicate(lookup(document, path), expected) for path, expected in where.items())


class FormatFields(dict):
    """Format mapping that leaves unknown `{names}` visible instead of raising KeyError."""

    def __missing__(self, key: str) -> str:
        return "{" + key + "}"


def render(template: str, fields: dict[str, Any]) -> str:
    """Fill a summary or dedupe-key template; unknown names stay as written."""
    return template.format_map(FormatFields(fields))
