"""The Sling replication component against the sandbox's real PostgreSQL, the real Sling binary and a
DuckDB warehouse in tmp_path."""

import json
from datetime import UTC, datetime

import dagster as dg
import duckdb
import pytest
from dataplat_core.resources import build_resources
from replication_support import REPLICATION, TABLES, component_defs, order_statuses


@pytest.fixture
def replication_defs(platform_env):
    # dagster-sling's own add-on, as a team may declare it: the platform's table metadata still holds.
    with component_defs(REPLICATION, include_metadata=["row_count"]) as defs:
        yield defs


def _materialize(defs: dg.Definitions) -> dg.ExecuteInProcessResult:
    return defs.resolve_implicit_global_asset_job_def().execute_in_process(raise_on_error=False)


def _counts(platform_env, pg) -> tuple[dict, dict]:
    with pg.connect() as conn:
        source = {t: conn.execute(f"select count(*) from shop.{t}").fetchone()[0] for t in TABLES}
    with duckdb.connect(platform_env["WAREHOUSE_DUCKDB_PATH"], read_only=True) as wh:
        target = {t: wh.execute(f"select count(*) from raw_shop.{t}").fetchone()[0] for t in TABLES}
    return source, target


def test_assets_are_named_after_warehouse_tables_and_carry_checks(replication_defs):
    graph = replication_defs.resolve_asset_graph()
    keys = {k.to_user_string() for k in graph.materializable_asset_keys}
    assert keys == {f"raw_shop/{t}" for t in TABLES}
    check_names = {(c.asset_key.to_user_string(), c.name) for c in graph.asset_check_keys}
    assert ("raw_shop/order_items", "primary_key_unique") in check_names
    assert ("raw_shop/orders", "keys_not_null") in check_names
    assert ("raw_shop/orders", "row_count_matches_source") in check_names


def test_replication_loads_every_row_and_checks_pass(replication_defs, platform_env, sandbox_postgres):
    result = _materialize(replication_defs)
    assert result.success
    source, target = _counts(platform_env, sandbox_postgres)
    assert source == target
    evaluations = result.get_asset_check_evaluations()
    assert evaluations and all(e.passed for e in evaluations)


def test_freshness_of_each_stream_warns_with_the_age_of_its_newest_update_key(platform_env, sandbox_postgres):
    """The `freshness` check reads max(update_key) of the warehouse table: it passes for a table whose newest
    row is within the limit and warns (never errors) with the age for one that is older."""
    with component_defs(REPLICATION, attributes={"freshness_max_age_hours": 24}) as defs:
        result = _materialize(defs)
    assert result.success
    now = datetime.now(UTC)
    evaluations = {
        e.asset_key.path[-1]: e for e in result.get_asset_check_evaluations() if e.check_name == "freshness"
    }
    incremental = ("orders", "order_items")  # the streams with an update_key (customers: full refresh)
    assert sorted(evaluations) == sorted(incremental)
    with sandbox_postgres.connect() as conn:
        for table in incremental:
            (newest,) = conn.execute(f"select max(updated_at) from shop.{table}").fetchone()
            age_hours = (now - newest.replace(tzinfo=newest.tzinfo or UTC)).total_seconds() / 3600
            evaluation = evaluations[table]
            assert evaluation.severity == dg.AssetCheckSeverity.WARN
            assert evaluation.passed is (age_hours <= 24), (table, age_hours)
            assert evaluation.metadata["age_hours"].value == pytest.approx(age_hours, abs=0.5), table
    others = [e for e in result.get_asset_check_evaluations() if e.check_name != "freshness"]
    assert {e.check_name for e in others} >= {"column_schema_change", "row_count_matches_source"}
    assert all(e.passed for e in others)


def test_incremental_rerun_moves_changes_without_duplicates(replication_defs, platform_env, sandbox_postgres):
    assert _materialize(replication_defs).success
    inserted = sandbox_postgres.insert_orders(25)
    updated = sandbox_postgres.update_orders(10)
    assert _materialize(replication_defs).success
    source, target = _counts(platform_env, sandbox_postgres)
    assert source == target
    with duckdb.connect(platform_env["WAREHOUSE_DUCKDB_PATH"], read_only=True) as wh:
        (dupes,) = wh.execute(
            "select count(*) from (select order_id from raw_shop.orders group by 1 having count(*) > 1)"
        ).fetchone()
        assert dupes == 0
        placeholders = ",".join(str(i) for i in inserted)
        (new_rows,) = wh.execute(
            f"select count(*) from raw_shop.orders where order_id in ({placeholders})"
        ).fetchone()
        assert new_rows == len(inserted)
    source, loaded = order_statuses(sandbox_postgres, platform_env["WAREHOUSE_DUCKDB_PATH"], updated)
    assert loaded == source


def test_one_broken_stream_does_not_fail_the_others(platform_env, sandbox_postgres, tmp_path):
    broken = REPLICATION + "  shop.no_such_table:\n    primary_key: [id]\n"
    with component_defs(broken) as defs:
        result = _materialize(defs)
    materialized = {e.asset_key.to_user_string() for e in result.get_asset_materialization_events()}
    assert not result.success
    assert {f"raw_shop/{t}" for t in TABLES} <= materialized
    assert "raw_shop/no_such_table" not in materialized


@pytest.mark.parametrize(
    "statement",
    [
        "insert into shop.products (product_id) values (999999)",
        "update shop.orders set status = 'x'",
        "create table shop.intruder (id int)",
    ],
)
def test_the_replication_source_role_cannot_write(platform_env, sandbox_postgres, statement):
    """Sling reads through the connection the platform builds; that connection's role is read-only."""
    import psycopg

    sling = build_resources()["sling"].process_config_and_initialize()
    source = json.loads(sling.prepare_environment()["SOURCE_PG"])
    assert source["user"] == sandbox_postgres.readonly_user
    conninfo = dict(host=source["host"], port=source["port"], dbname=source["database"], user=source["user"],
                    password=source["password"], sslmode=source["sslmode"])  # fmt: skip
    with psycopg.connect(**conninfo) as conn:
        with pytest.raises(psycopg.Error, match="read-only|permission denied"):
            conn.execute(statement)
