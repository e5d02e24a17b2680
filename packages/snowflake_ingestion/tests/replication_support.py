"""Helpers for the Sling replication tests: the shop's replication, the component declared as a deployment
declares it, a run of it, and what the source and the warehouse hold."""

import textwrap
from contextlib import contextmanager
from datetime import UTC, datetime

import dagster as dg
import duckdb
from dataplat_core.testing import declared_component
from dataplat_snowflake_ingestion.components import DatabaseReplicationComponent

REPLICATION = textwrap.dedent(
    """
    source: SOURCE_PG
    target: WAREHOUSE
    defaults:
      mode: full-refresh
      object: raw_shop.{stream_table}
    streams:
      shop.customers:
        primary_key: [customer_id]
      shop.orders:
        mode: incremental
        primary_key: [order_id]
        update_key: updated_at
      shop.order_items:
        mode: incremental
        primary_key: [order_id, line_no]
        update_key: updated_at
    """
)
TABLES = ("customers", "orders", "order_items")


@contextmanager
def component_defs(replication: str, attributes: dict | None = None, **spec):
    """The component declared as a deployment would (defs.yaml + replication.yaml), with the platform's
    resources. `spec`: the replication's keys; `attributes`: the component's other keys."""
    declared = {
        "replications": [{"path": "replication.yaml", **spec}],
        # a Sling stall (sling_workarounds/watchdog.py) fails the attempt within a minute and is retried, instead of after
        # the default 10 minutes
        "stall_timeout_seconds": 60,
        # The sandbox's orders are dated in its fixed window, so a data-age check would warn in every test; it
        # has its own test (test_database_replication's freshness test).
        "freshness_max_age_hours": None,
        **(attributes or {}),
    }
    with declared_component(
        DatabaseReplicationComponent, declared, files={"replication.yaml": replication}
    ) as (_, defs):
        yield defs


def run_replication(
    replication: str = REPLICATION, attributes: dict | None = None
) -> dg.ExecuteInProcessResult:
    """One run of every asset of the declared component."""
    with component_defs(replication, attributes) as defs:
        return defs.resolve_implicit_global_asset_job_def().execute_in_process(raise_on_error=False)


def order_statuses(pg, warehouse_path: str, order_ids: list[int]) -> tuple[dict, dict]:
    """Each order's status in the source and in the warehouse: equal when every update arrived, once."""
    with pg.connect() as conn:
        source = dict(
            conn.execute(
                "select order_id, status from shop.orders where order_id = any(%s)", (order_ids,)
            ).fetchall()
        )
    with duckdb.connect(warehouse_path, read_only=True) as wh:
        ids = ",".join(str(int(i)) for i in order_ids)
        loaded = dict(
            wh.execute(f"select order_id, status from raw_shop.orders where order_id in ({ids})").fetchall()
        )
    return source, loaded


def epoch(value: datetime) -> float:
    """Seconds since the epoch of a timestamp, a naive one being UTC (the warehouse's convention)."""
    return value.replace(tzinfo=UTC).timestamp() if value.tzinfo is None else value.timestamp()
