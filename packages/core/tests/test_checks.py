from datetime import UTC, datetime, timedelta

import dagster as dg
import duckdb
import pytest
from dataplat_core.checks import (
    checks_step,
    column_schema_change_checks,
    freshness_check,
    table_checks,
)
from dataplat_core.duckdb_warehouse import WarehouseDuckDB
from dataplat_core.observability import table_metadata
from dataplat_core.testing import checks_by_name
from dataplat_core.warehouse import InvalidIdentifier, quote_identifier, quote_table


def _warehouse(tmp_path, rows: list[tuple]) -> WarehouseDuckDB:
    path = tmp_path / "w.duckdb"
    with duckdb.connect(str(path)) as conn:
        conn.execute("create schema raw; create table raw.t (id integer, v varchar, updated_at timestamptz)")
        if rows:
            conn.executemany("insert into raw.t values (?, ?, ?)", rows)
    return WarehouseDuckDB(database=str(path))


@dg.asset(key=["raw", "t"])
def t():
    """Stands for a table loaded elsewhere; the checks read the warehouse, not this value."""


def _evaluate(warehouse, checks) -> dict[str, dg.AssetCheckEvaluation]:
    result = dg.materialize(
        [t, *checks_step("t_checks", checks)], resources={"warehouse": warehouse}, raise_on_error=False
    )
    return checks_by_name(result)


NOW = datetime(2026, 3, 1, tzinfo=UTC)


def test_clean_table_passes_every_check(tmp_path):
    warehouse = _warehouse(tmp_path, [(1, "a", NOW), (2, "b", NOW)])
    results = _evaluate(warehouse, table_checks(["raw", "t"], "raw.t", primary_key=["id"], min_rows=2))
    assert {name: r.passed for name, r in results.items()} == {
        "primary_key_unique": True,
        "keys_not_null": True,
        "row_count": True,
    }
    # Each evaluation says what was checked (the demo prints it next to what a failed one found).
    assert results["row_count"].description == "raw.t holds at least 2 row(s)."


def test_a_tables_checks_run_as_one_step_that_can_run_one_check_alone(tmp_path):
    warehouse = _warehouse(tmp_path, [(1, "a", NOW), (2, "b", NOW)])
    step = checks_step("t_checks", table_checks(["raw", "t"], "raw.t", primary_key=["id"]))
    result = dg.materialize([t, *step], resources={"warehouse": warehouse})
    events = result.all_events
    assert {e.step_key for e in events if e.event_type_value == "STEP_START"} == {"raw__t", "t_checks"}
    assert len(result.get_asset_check_evaluations()) == 3
    alone = dg.AssetCheckKey(dg.AssetKey(["raw", "t"]), "row_count")
    job = dg.Definitions(
        asset_checks=step, resources={"warehouse": warehouse}
    ).resolve_implicit_global_asset_job_def()
    run = job.get_subset(asset_check_selection={alone}).execute_in_process()
    assert [e.asset_check_key for e in run.get_asset_check_evaluations()] == [alone]


def test_a_steps_checks_share_one_warehouse_connection(tmp_path, monkeypatch):
    warehouse = _warehouse(tmp_path, [(1, "a", NOW), (2, "b", NOW)])
    opened = []
    original = WarehouseDuckDB.get_connection

    def counting(self):
        opened.append(1)
        return original(self)

    monkeypatch.setattr(WarehouseDuckDB, "get_connection", counting)
    checks = table_checks(["raw", "t"], "raw.t", primary_key=["id"], freshness_column="updated_at")
    results = _evaluate(warehouse, checks)
    assert len(results) == 4 and all(r.passed or r.check_name == "freshness" for r in results.values())
    assert len(opened) == 1


def test_a_failed_blocking_check_keeps_downstream_assets_from_running(tmp_path):
    warehouse = _warehouse(tmp_path, [(1, "a", NOW), (1, "b", NOW)])

    @dg.asset(deps=[t])
    def downstream():
        """Reads raw.t: must not run on duplicated keys."""

    step = checks_step("t_checks", table_checks(["raw", "t"], "raw.t", primary_key=["id"]))
    result = dg.materialize([t, downstream, *step], resources={"warehouse": warehouse}, raise_on_error=False)
    assert not result.success
    materialized = {e.asset_key for e in result.get_asset_materialization_events()}
    assert materialized == {dg.AssetKey(["raw", "t"])}


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


def test_a_column_added_between_two_loads_warns_naming_it(tmp_path):
    """Dagster's column schema change check over the table metadata every load records: an added column
    warns on the load that added it, and the load after it passes again."""
    path = tmp_path / "w.duckdb"
    warehouse = WarehouseDuckDB(database=str(path))
    with duckdb.connect(str(path)) as conn:
        conn.execute("create schema raw; create table raw.t (id integer)")

    @dg.asset(key=["raw", "t"])
    def loaded() -> dg.MaterializeResult:
        return dg.MaterializeResult(metadata=table_metadata(warehouse, "raw.t"))

    checks = column_schema_change_checks([dg.AssetKey(["raw", "t"])])
    with dg.instance_for_test() as instance:

        def load() -> dg.AssetCheckEvaluation:
            result = dg.materialize([loaded, *checks], instance=instance)
            (evaluation,) = result.get_asset_check_evaluations()
            return evaluation

        assert load().passed  # one materialization: nothing to compare
        assert load().passed  # the same columns
        with duckdb.connect(str(path)) as conn:
            conn.execute("alter table raw.t add column note varchar")
        changed = load()
        assert (changed.passed, changed.severity) == (False, dg.AssetCheckSeverity.WARN)
        assert "Added columns: note" in changed.description
        assert load().passed


@pytest.mark.parametrize("name", ['t"; drop table x; --', "a b", "", "1abc", "x.y"])
def test_identifiers_from_config_are_validated(name):
    with pytest.raises(InvalidIdentifier):
        quote_identifier(name)


def test_bad_table_names_fail_when_checks_are_built():
    with pytest.raises(InvalidIdentifier):
        table_checks(["raw", "t"], "raw.t; drop table raw.t", primary_key=["id"])


def test_qualified_names_are_quoted_per_part():
    assert quote_table("raw_shop.orders") == '"raw_shop"."orders"'
