"""Glob patterns of pipeline inputs, checked when a spec is loaded and matched against decoded keys.

Patterns match paths relative to the repo prefix with `/` as separator: `*`
and `?` stay inside one path segment, `**` spans segments, `[...]` is a
character class and `{a,b}` an alternative. Matching uses wcmatch; the checks
here reject what wcmatch would silently read as literal text, such as an
unclosed `[`.
"""

from __future__ import annotations

from functools import lru_cache

from wcmatch import glob as wcglob

_FLAGS = wcglob.GLOBSTAR | wcglob.BRACE | wcglob.DOTMATCH
MAX_GLOB_CHARS = 1024


class InvalidGlob(ValueError):
    """A glob pattern that cannot be used; the message names the fix."""


def check_glob(pattern: str) -> str:
    """Return the pattern when it is usable; raise InvalidGlob naming the problem."""
    if not pattern:
        raise InvalidGlob("a glob must not be empty; use `**` to match every file")
    if len(pattern) > MAX_GLOB_CHARS:
        raise InvalidGlob(f"a glob has at most {MAX_GLOB_CHARS} characters")
    if pattern.startswith("/"):
        raise InvalidGlob("a glob is relative to the repo prefix, so it must not start with `/`")

    segments = pattern.split("/")
    if "" in segments:
        raise InvalidGlob("a glob must not contain an empty path segment (`//` or a trailing `/`)")
    if ".." in segments or "." in segments:
        raise InvalidGlob("a glob must not contain `.` or `..` segments")
    if any("**" in segment and segment != "**" for segment in segments):
        raise InvalidGlob("`**` must be a whole path segment, as in `data/**/*.csv`")

    _check_brackets(pattern)
    _check_braces(pattern)
    return pattern


def glob_matches(pattern: str, path: str) -> bool:
    """Return True when the repo-relative path matches the pattern."""
    return _compiled(pattern).match(path)


@lru_cache(maxsize=1024)
def _compiled(pattern: str) -> wcglob.WcGlob:
    return wcglob.compile(pattern, flags=_FLAGS)


def _check_brackets(pattern: str) -> None:
    index = 0
    while index < len(pattern):
        char = pattern[index]
        if char == "\\":
            if index + 1 == len(pattern):
                raise InvalidGlob("a glob must not end with a single `\\`")
            index += 2
            continue
        if char == "]":
            raise InvalidGlob(f"`]` at position {index} closes no `[`; escape it as `\\]`")
        if char == "[":
            index = _class_end(pattern, index)
        index += 1


def _class_end(pattern: str, start: int) -> int:
    # A `]` right after `[` or `[!` is a literal member, as in POSIX globs.
    index = start + 1
    if index < len(pattern) and pattern[index] in "!^":
        index += 1
    if index < len(pattern) and pattern[index] == "]":
        index += 1
    while index < len(pattern):
        if pattern[index] == "/":
            break
        if pattern[index] == "]":
            return index
        index += 1
    raise InvalidGlob(f"`[` at position {start} has no closing `]` in its path segment; escape it as `\\[` to match a literal `[`")


def _check_braces(pattern: str) -> None:
    depth = 0
    escaped = False
    for index, char in enumerate(pattern):
        if escaped:
            escaped = False
        elif char == "\\":
            escaped = True
        elif char == "{":
            depth += 1
        elif char == "}":
            depth -= 1
            if depth < 0:
                raise InvalidGlob(f"`}}` at position {index} closes no `{{`")
    if depth:
        raise InvalidGlob("a `{` has no closing `}`")
