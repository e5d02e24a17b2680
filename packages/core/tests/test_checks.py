from datetime import UTC, datetime, timedelta

import dagster as dg
import duckdb
import pytest
from dagster_duckdb import DuckDBResource
from dataplat_core.checks import freshness_check, table_checks
from dataplat_core.warehouse import InvalidIdentifier, quote_identifier, quote_table


def _warehouse(tmp_path, rows: list[tuple]) -> DuckDBResource:
    path = tmp_path / "w.duckdb"
    with duckdb.connect(str(path)) as conn:
        conn.execute("create schema raw; create table raw.t (id integer, v varchar, updated_at timestamptz)")
        if rows:
            conn.executemany("insert into raw.t values (?, ?, ?)", rows)
    return DuckDBResource(database=str(path))


@dg.asset(key=["raw", "t"])
def t():
    """Stands for a table loaded elsewhere; the checks read the warehouse, not this value."""


def _evaluate(warehouse, checks) -> dict[str, dg.AssetCheckEvaluation]:
    result = dg.materialize([t, *checks], resources={"warehouse": warehouse}, raise_on_error=False)
    return {e.check_name: e for e in result.get_asset_check_evaluations()}


NOW = datetime(2026, 3, 1, tzinfo=UTC)


def test_clean_table_passes_every_check(tmp_path):
    warehouse = _warehouse(tmp_path, [(1, "a", NOW), (2, "b", NOW)])
    results = _evaluate(warehouse, table_checks(["raw", "t"], "raw.t", primary_key=["id"], min_rows=2))
    assert {name: r.passed for name, r in results.items()} == {
        "primary_key_unique": True,
        "keys_not_null": True,
        "row_count": True,
    }


def test_duplicates_nulls_and_too_few_rows_fail(tmp_path):
    warehouse = _warehouse(tmp_path, [(1, "a", NOW), (1, "b", NOW), (None, "c", NOW)])
    results = _evaluate(warehouse, table_checks(["raw", "t"], "raw.t", primary_key=["id"], min_rows=10))
    assert not results["primary_key_unique"].passed
    assert results["primary_key_unique"].metadata["duplicate_keys"].value == 1
    assert not results["keys_not_null"].passed
    assert results["keys_not_null"].metadata["null_keys"].value == 1
    assert not results["row_count"].passed


def test_freshness_reads_the_data_not_the_run(tmp_path):
    warehouse = _warehouse(tmp_path, [(1, "a", NOW - timedelta(hours=30))])
    stale = freshness_check(["raw", "t"], "raw.t", "updated_at", timedelta(days=1), now=NOW)
    (result,) = _evaluate(warehouse, [stale]).values()
    assert not result.passed
    assert result.severity == dg.AssetCheckSeverity.WARN
    assert result.metadata["age_hours"].value == 30.0


def test_freshness_of_a_recent_table_passes(tmp_path):
    warehouse = _warehouse(tmp_path, [(1, "a", NOW - timedelta(hours=2))])
    fresh = freshness_check(["raw", "t"], "raw.t", "updated_at", timedelta(days=1), now=NOW)
    (result,) = _evaluate(warehouse, [fresh]).values()
    assert result.passed


@pytest.mark.parametrize("name", ['t"; drop table x; --', "a b", "", "1abc", "x.y"])
def test_identifiers_from_config_are_validated(name):
    with pytest.raises(InvalidIdentifier):
        quote_identifier(name)


def test_bad_table_names_fail_when_checks_are_built():
    with pytest.raises(InvalidIdentifier):
        table_checks(["raw", "t"], "raw.t; drop table raw.t", primary_key=["id"])


def test_qualified_names_are_quoted_per_part():
    assert quote_table("raw_shop.orders") == '"raw_shop"."orders"'
