"""`custody pipeline apply/list/show/delete` against the real registry topics."""

from __future__ import annotations

from tests.integration.processors.conftest import Bed

SPEC = {
    "name": "clean",
    "owner": "data-team",
    "input": {"repo": "raw", "glob": "**/*.csv"},
    "transform": {"command": ["python3", "-c", "pass"]},
    "output": "clean",
}


def registry_records(bed: Bed) -> tuple[list, list]:
    reader = bed.reader("custody.pipelines", "custody.pipelines.history")
    reader.drain(2.0)
    reader.close()
    current = [r for r in reader.raw if r[0].endswith("custody.pipelines")]
    history = [r for r in reader.raw if r[0].endswith("custody.pipelines.history")]
    return current, history


def test_apply_publishes_to_registry_and_history(bed: Bed):
    result = bed.cli("pipeline", "apply", "-f", str(bed.write_spec(SPEC)), "--as", "alice")

    current, history = registry_records(bed)
    assert result.exit_code == 0, result.output
    assert "created clean" in result.output
    assert len(current) == 1
    assert len(history) == 1
    assert current[0][1] == b"clean"
    assert current[0][2] == history[0][2]


def test_unchanged_apply_publishes_nothing(bed: Bed):
    first = bed.cli("pipeline", "apply", "-f", str(bed.write_spec(SPEC)))
    reordered = dict(reversed(list(SPEC.items())))
    second = bed.cli("pipeline", "apply", "-f", str(bed.write_spec(reordered)))

    current, history = registry_records(bed)
    assert first.exit_code == 0, first.output
    assert second.exit_code == 0, second.output
    assert "unchanged clean" in second.output
    assert len(history) == 1
    assert len(current) == 1


def test_new_version_is_an_update(bed: Bed):
    bed.cli("pipeline", "apply", "-f", str(bed.write_spec(SPEC)))
    result = bed.cli("pipeline", "apply", "-f", str(bed.write_spec({**SPEC, "retries": 2})))

    _current, history = registry_records(bed)
    assert "updated clean" in result.output
    assert len(history) == 2


def test_invalid_specs_change_nothing(bed: Bed):
    bad_files = [
        bed.write_spec({**SPEC, "name": "Bad_Name"}),
        bed.write_spec({**SPEC, "colour": "red"}),
        bed.write_spec({key: value for key, value in SPEC.items() if key != "output"}),
        bed.write_spec({**SPEC, "input": {"repo": "raw", "glob": "data/[a.csv"}}),
    ]
    expected_fields = ["field 'name'", "field 'colour'", "field 'output'", "field 'input.glob'"]

    results = [bed.cli("pipeline", "apply", "-f", str(path)) for path in bad_files]

    current, history = registry_records(bed)
    for path, result, field in zip(bad_files, results, expected_fields):
        assert result.exit_code == 1
        assert str(path) in result.output
        assert field in result.output
    assert current == []
    assert history == []


def test_list_show_delete(bed: Bed):
    bed.cli("pipeline", "apply", "-f", str(bed.write_spec(SPEC)))

    listed = bed.cli("pipeline", "list")
    shown = bed.cli("pipeline", "show", "clean")
    deleted = bed.cli("pipeline", "delete", "clean", "--as", "alice")
    missing = bed.cli("pipeline", "show", "clean")
    again = bed.cli("pipeline", "delete", "clean")

    _current, history = registry_records(bed)
    assert "clean" in listed.output
    assert "glob: '**/*.csv'" in shown.output
    assert "# version " in shown.output
    assert deleted.exit_code == 0, deleted.output
    assert missing.exit_code == 1
    assert "not registered" in missing.output
    assert again.exit_code == 1
    assert len(history) == 2
