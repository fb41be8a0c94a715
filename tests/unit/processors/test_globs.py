"""Input globs: what they match, and which patterns are rejected."""

from __future__ import annotations

import pytest

from processors.globs import InvalidGlob, check_glob, glob_matches


@pytest.mark.parametrize(
    ("pattern", "path", "expected"),
    [
        ("**", "a/b/c.csv", True),
        ("**/*.csv", "x.csv", True),
        ("**/*.csv", "2024 Q1/r\u00e9sum\u00e9+final.csv", True),
        ("*.csv", "sub/x.csv", False),
        ("data/*.csv", "data/a+b.csv", True),
        ("data/a+b.csv", "data/a b.csv", False),
        ("{raw,clean}/*.csv", "clean/x.csv", True),
        ("logs/10:47:*.log", "logs/10:47:07.log", True),
        ("data/[ab].csv", "data/c.csv", False),
        ("**/.hidden", "x/.hidden", True),
        ("\\[x\\]", "[x]", True),
    ],
)
def test_glob_matching(pattern, path, expected):
    assert glob_matches(check_glob(pattern), path) is expected


@pytest.mark.parametrize(
    ("pattern", "fragment"),
    [
        ("", "must not be empty"),
        ("/data/*.csv", "must not start with `/`"),
        ("data//x", "empty path segment"),
        ("data/", "empty path segment"),
        ("../x", "`..` segments"),
        ("a/**.csv", "whole path segment"),
        ("data/[ab.csv", "no closing `]`"),
        ("data/ab].csv", "closes no `[`"),
        ("{a,b/x", "no closing `}`"),
        ("a,b}/x", "closes no `{`"),
        ("x\\", "single `\\`"),
        ("x" * 1025, "at most 1024"),
    ],
)
def test_invalid_globs_rejected(pattern, fragment):
    with pytest.raises(InvalidGlob) as caught:
        check_glob(pattern)

    assert fragment in str(caught.value)
