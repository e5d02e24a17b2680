"""SqlMartComponent on the sandbox's real orders, copied into a DuckDB warehouse in tmp_path."""

from decimal import Decimal

import dagster as dg
import duckdb
import pytest
from dataplat_core.binaries import duckdb_connection_config
from dataplat_core.duckdb_warehouse import copy_from_postgres
from dataplat_core.observability import error_chain
from dataplat_core.testing import declared_component
from dataplat_core.warehouse import InvalidIdentifier
from dataplat_reporting.components import SqlMartComponent

DAILY_REVENUE = """
select cast(order_ts as date) as order_date, count(*) as orders, sum(total_amount) as revenue
from raw_shop.orders where status <> 'cancelled' group by 1
"""


@pytest.fixture
def warehouse_with_orders(platform_env, sandbox_postgres):
    """raw_shop.orders in the warehouse, copied from the sandbox's PostgreSQL by DuckDB's postgres scanner."""
    with duckdb.connect(platform_env["WAREHOUSE_DUCKDB_PATH"], config=duckdb_connection_config()) as conn:
        copy_from_postgres(conn, sandbox_postgres.dsn("readonly"), ["orders"])
    return platform_env["WAREHOUSE_DUCKDB_PATH"]


def _mart_defs(attributes: dict):
    with declared_component(SqlMartComponent, attributes, files={"daily_revenue.sql": DAILY_REVENUE}) as (
        _,
        defs,
    ):
        yield defs


@pytest.fixture
def mart_defs(warehouse_with_orders):
    yield from _mart_defs(
        {
            "name": "daily_revenue",
            "sql": "daily_revenue.sql",
            "deps": ["raw_shop/orders"],
            "primary_key": ["order_date"],
        }
    )


def test_mart_matches_the_source_and_its_checks_pass(mart_defs, sandbox_postgres, warehouse_with_orders):
    graph = mart_defs.resolve_asset_graph()
    assert graph.get(dg.AssetKey(["marts", "daily_revenue"])).parent_keys == {
        dg.AssetKey(["raw_shop", "orders"])
    }
    result = mart_defs.resolve_implicit_global_asset_job_def().execute_in_process()
    assert result.success
    evaluations = result.get_asset_check_evaluations()
    assert {e.check_name for e in evaluations} == {"primary_key_unique", "keys_not_null", "row_count"}
    assert all(e.passed for e in evaluations)
    with sandbox_postgres.connect() as pg:
        expected = pg.execute(
            "select order_ts::date, count(*), sum(total_amount) from shop.orders"
            " where status <> 'cancelled' group by 1 order by 1"
        ).fetchall()
    with duckdb.connect(warehouse_with_orders, read_only=True) as wh:
        got = wh.execute("select order_date, orders, revenue from marts.daily_revenue order by 1").fetchall()
    assert [(d, n, Decimal(r)) for d, n, r in got] == [(d, n, Decimal(r)) for d, n, r in expected]
    (mat,) = result.get_asset_materialization_events()
    assert mat.materialization.metadata["dagster/row_count"].value == len(expected)
    # The `sql` metadata is the mart's SELECT as declared (it used to show `create schema if not exists`).
    assert mat.materialization.metadata["sql"].value == f"```sql\n{DAILY_REVENUE.strip()}\n```"


def test_rebuild_replaces_the_table(mart_defs, warehouse_with_orders):
    job = mart_defs.resolve_implicit_global_asset_job_def()
    assert job.execute_in_process().success
    assert job.execute_in_process().success
    with duckdb.connect(warehouse_with_orders, read_only=True) as wh:
        (dupes,) = wh.execute(
            "select count(*) from (select order_date from marts.daily_revenue group by 1 having count(*) > 1)"
        ).fetchone()
    assert dupes == 0


def test_a_hostile_mart_name_is_rejected_when_the_location_loads(platform_env):
    with pytest.raises(Exception) as info:
        list(_mart_defs({"name": "x; drop table raw_shop.orders", "sql": "select 1"}))
    assert any(isinstance(e, InvalidIdentifier) for e in error_chain(info.value))
