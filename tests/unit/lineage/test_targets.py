"""Parsing the TARGET of `custody audit trace` and `impact`, and the scope of `who`."""

from __future__ import annotations

import pytest

from lineage.audit.involvement import parse_scope
from lineage.audit.targets import Target, parse_target
from lineage.exceptions import TargetNotFound

SHA = "6a759271c7694c5946803879e3014f62ca9e0c0c0673906c67144b7bb33945e4"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("s3://acme-raw/incoming/patients.csv", Target("file", "s3://acme-raw/incoming/patients.csv")),
        (f"s3://acme-raw/a.csv?sha256={SHA}", Target("file", "s3://acme-raw/a.csv", SHA)),
        (f"s3://acme-raw/a.csv@sha256:{SHA}", Target("file", "s3://acme-raw/a.csv", SHA)),
        ("s3://acme-raw/2024 Q1/a+b.csv", Target("file", "s3://acme-raw/2024 Q1/a+b.csv")),
        (f"commit:{SHA}", Target("commit", SHA)),
        ("commit:6a759271", Target("commit", "6a759271")),
        ("job:job-123", Target("job", "job-123")),
        ("job-123", Target("auto", "job-123")),
        (f"  {SHA}  ", Target("auto", SHA)),
    ],
)
def test_parse_target_forms(text, expected):
    assert parse_target(text) == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "empty target"),
        ("s3://acme-raw", "invalid S3 URI"),
        ("s3:///key", "invalid S3 URI"),
        ("s3://acme-raw/a.csv?sha256=xyz", "invalid sha256 'xyz'"),
        ("commit:", "names no id"),
    ],
)
def test_parse_target_rejects_malformed(text, message):
    with pytest.raises(TargetNotFound, match=message):
        parse_target(text)


@pytest.mark.parametrize(
    ("scope", "expected"),
    [
        ("raw", ("raw", "")),
        ("raw/patients.csv", ("raw", "patients.csv")),
        ("Train_Model.V2/out/", ("Train_Model.V2", "out/")),
    ],
)
def test_parse_scope_splits_repo_and_path(scope, expected):
    assert parse_scope(scope) == expected


def test_parse_scope_names_invalid_repo():
    with pytest.raises(TargetNotFound, match="invalid repo name '-bad'"):
        parse_scope("-bad/x")
