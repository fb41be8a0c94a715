"""Pipeline specs: validation messages, normalization and versions."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from processors.specfiles import SpecError, load_specs, parse_spec

BASE = {
    "name": "clean",
    "owner": "data-team",
    "input": {"repo": "raw", "glob": "**/*.csv"},
    "transform": {"command": ["python3", "clean.py"]},
    "output": "clean",
}


def with_changes(**changes) -> dict:
    document = {**BASE, **changes}
    return {key: value for key, value in document.items() if value is not None}


def problems_of(document: dict) -> str:
    with pytest.raises(SpecError) as caught:
        parse_spec(document, where="spec.yaml")
    return str(caught.value)


def test_defaults_are_filled_in():
    spec = parse_spec(BASE, where="spec.yaml")

    normalized = spec.normalized()

    assert normalized["executor"] == "local"
    assert normalized["retries"] == {"count": 0, "backoff_s": 5.0, "backoff_factor": 2.0, "max_backoff_s": 300.0}
    assert normalized["timeout"] == 3600.0
    assert normalized["input"] == {"repo": "raw", "glob": "**/*.csv"}


def test_version_ignores_key_order_defaults_and_description():
    reordered = dict(reversed(list(BASE.items())))
    explicit = with_changes(executor="local", retries={"count": 0}, timeout="1h", clearances=[])
    described = with_changes(description="Upper-cases every CSV file", owner="another-team")

    versions = {parse_spec(doc, where="x").version for doc in (BASE, reordered, explicit, described)}

    assert len(versions) == 1


@pytest.mark.parametrize(
    "change",
    [
        {"output": "clean2"},
        {"input": {"repo": "raw", "glob": "*.csv"}},
        {"transform": {"command": ["python3", "clean.py"], "args": ["--fast"]}},
        {"clearances": ["pii"]},
        {"retries": 2},
        {"timeout": 60},
    ],
)
def test_version_changes_with_what_runs(change):
    assert parse_spec(with_changes(**change), where="x").version != parse_spec(BASE, where="x").version


def test_retries_and_timeout_shorthands():
    spec = parse_spec(with_changes(retries=3, timeout="10m"), where="x")

    assert spec.retries.count == 3
    assert spec.retries.max_attempts == 4
    assert spec.timeout == 600.0


def test_clearances_sorted_without_repeats():
    spec = parse_spec(with_changes(clearances=["pii", "health", "pii"]), where="x")

    assert spec.clearances == ["health", "pii"]


@pytest.mark.parametrize(
    ("document", "field", "fragment"),
    [
        (with_changes(name="Clean_Data"), "name", "DNS-1123 label"),
        (with_changes(name="a" * 64), "name", "at most 63"),
        (with_changes(name="ends-with-"), "name", "DNS-1123 label"),
        (with_changes(colour="red"), "colour", "unknown field"),
        (with_changes(transform={"command": ["x"], "entrypoint": "y"}), "transform.entrypoint", "unknown field"),
        (with_changes(output=None), "output", "required field is missing"),
        (with_changes(input={"repo": "raw", "glob": "data/[ab.csv"}), "input.glob", "no closing `]`"),
        (with_changes(input={"repo": "raw", "glob": "/abs/*.csv"}), "input.glob", "must not start with `/`"),
        (with_changes(input={"repo": "raw", "glob": "a/**b"}), "input.glob", "whole path segment"),
        (with_changes(input={"union": [{"repo": "a", "glob": "{x,y"}, {"repo": "b"}]}), "input.union.0.glob", "no closing `}`"),
        (with_changes(input={"repo": "raw", "cross": [{"repo": "a"}, {"repo": "b"}]}), "input", "exactly one of"),
        (with_changes(input={"cross": [{"repo": "a"}, {"repo": "a", "glob": "*.csv"}]}), "input", "once in `cross`"),
        (with_changes(input={"cross": [{"repo": "a"}]}), "input.cross", "at least 2"),
        (with_changes(output="raw"), "(spec)", "also an input"),
        (with_changes(executor="kubernetes"), "(spec)", "transform.image"),
        (with_changes(executor="docker"), "executor", "'local' or 'kubernetes'"),
        (with_changes(transform={"command": []}), "transform.command", "at least 1"),
        (with_changes(transform={"command": ["x"], "env": {"CUSTODY_JOB_ID": "1"}}), "transform.env", "set by the runner"),
        (with_changes(timeout="ten minutes"), "timeout", "90s, 10m or 2h"),
        (with_changes(timeout=0), "timeout", "greater than 0"),
        (with_changes(retries={"count": -1}), "retries.count", "greater than or equal to 0"),
        (with_changes(clearances=["PII"]), "clearances.0", "pattern"),
    ],
)
def test_invalid_spec_names_field(document, field, fragment):
    message = problems_of(document)

    assert f"field '{field}'" in message
    assert fragment in message
    assert message.startswith("spec.yaml: ")


def test_errors_name_the_file(tmp_path: Path):
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(with_changes(name="Bad")))

    with pytest.raises(SpecError) as caught:
        load_specs(path)

    assert str(path) in str(caught.value)
    assert "field 'name'" in str(caught.value)


def test_yaml_syntax_error_names_line(tmp_path: Path):
    path = tmp_path / "broken.yaml"
    path.write_text("name: clean\ninput: {repo: raw\n")

    with pytest.raises(SpecError) as caught:
        load_specs(path)

    assert f"{path}: line" in str(caught.value)
    assert "not valid YAML" in str(caught.value)


def test_directory_loads_whole_or_nothing(tmp_path: Path):
    (tmp_path / "a.yaml").write_text(yaml.safe_dump(BASE))
    (tmp_path / "b.yml").write_text(yaml.safe_dump(with_changes(name="model", output="")))

    with pytest.raises(SpecError) as caught:
        load_specs(tmp_path)

    assert "b.yml" in str(caught.value)
    assert "a.yaml" not in str(caught.value)


def test_duplicate_names_rejected(tmp_path: Path):
    (tmp_path / "a.yaml").write_text(yaml.safe_dump(BASE))
    (tmp_path / "b.yaml").write_text(yaml.safe_dump(BASE))

    with pytest.raises(SpecError) as caught:
        load_specs(tmp_path)

    assert "defined more than once" in str(caught.value)


def test_multiple_documents_in_one_file(tmp_path: Path):
    path = tmp_path / "both.yaml"
    path.write_text(yaml.safe_dump_all([BASE, with_changes(name="model", input={"repo": "clean"}, output="model")]))

    names = [item.spec.name for item in load_specs(path)]

    assert names == ["clean", "model"]


def test_local_scripts_become_absolute(tmp_path: Path):
    (tmp_path / "clean.py").write_text("print('x')\n")
    path = tmp_path / "clean.yaml"
    path.write_text(yaml.safe_dump(with_changes(transform={"command": ["python3", "clean.py"], "args": ["--in", "clean.py", "notafile"]})))

    transform = load_specs(path)[0].spec.transform

    assert transform.command == ["python3", str(tmp_path / "clean.py")]
    assert transform.args == ["--in", str(tmp_path / "clean.py"), "notafile"]


def test_cross_and_union_members():
    cross = parse_spec(with_changes(input={"cross": [{"repo": "a", "glob": "*.csv"}, {"repo": "b"}]}), where="x")
    union = parse_spec(with_changes(input={"union": [{"repo": "a"}, {"repo": "a", "glob": "*.txt"}]}), where="x")

    assert cross.input.kind == "cross"
    assert [m.glob for m in cross.input.members] == ["*.csv", "**"]
    assert union.input.repos == ["a"]
    assert union.normalized()["input"] == {"union": [{"repo": "a", "glob": "**"}, {"repo": "a", "glob": "*.txt"}]}
