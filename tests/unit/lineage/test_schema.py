"""The lineage schema and settings."""

from __future__ import annotations

import pytest

from custody.errors import ConfigurationError
from lineage import model
from lineage.schema import INDEXES, schema_statements
from lineage.settings import load_lineage_settings
from lineage.statements import STATEMENTS


def test_every_key_label_has_a_uniqueness_constraint():
    statements = schema_statements()

    for label in model.KEY_LABELS:
        assert f"FOR (n:{label}) REQUIRE (n.ns, n.id) IS UNIQUE" in " ".join(statements)
    assert all("IF NOT EXISTS" in statement for statement in statements)


def test_index_names_are_unique_and_lead_with_namespace():
    names = [name for name, _, _ in INDEXES]

    assert len(names) == len(set(names))
    assert all(properties[0] == "ns" for _, _, properties in INDEXES)


def test_every_statement_scopes_to_namespace():
    for statement in STATEMENTS:
        assert "ns: $ns" in statement.cypher, statement.name
        assert statement.cypher.lstrip().startswith("UNWIND $rows AS row"), statement.name


def test_settings_read_environment(monkeypatch):
    monkeypatch.setenv("CUSTODY_LINEAGE_NAMESPACE", "staging")
    monkeypatch.setenv("CUSTODY_LINEAGE_BATCH_SIZE", "50")

    settings = load_lineage_settings()

    assert (settings.namespace, settings.batch_size, settings.group_id) == ("staging", 50, "custody-lineage")


def test_invalid_setting_names_the_variable(monkeypatch):
    monkeypatch.setenv("CUSTODY_LINEAGE_BATCH_SIZE", "0")

    with pytest.raises(ConfigurationError, match="CUSTODY_LINEAGE_BATCH_SIZE"):
        load_lineage_settings()
