"""Incremental streams with nothing newer in the source are not passed to Sling (`skip_unchanged_streams`), on
the real parts: the sandbox's PostgreSQL, the real Sling binary, a DuckDB warehouse in tmp_path. Which streams
Sling ran is read from Sling's own output (dagster-sling logs it line by line: `running stream shop.orders`)."""

import re
import textwrap

import dagster as dg
import duckdb
from dataplat_core.observability import COLUMN_SCHEMA, ROW_COUNT, ROWS_LOADED, ROWS_READ, SOURCE_NEWEST_AT
from dataplat_snowflake_ingestion.sling_workarounds.unchanged_streams import SKIPPED_UNCHANGED
from replication_support import REPLICATION, component_defs, epoch

# The deployment's replication: every stream incremental on updated_at.
ALL_INCREMENTAL = textwrap.dedent(
    """
    source: SOURCE_PG
    target: WAREHOUSE
    defaults:
      mode: incremental
      update_key: updated_at
      object: raw_shop.{stream_table}
    streams:
      shop.customers:
        primary_key: [customer_id]
      shop.products:
        primary_key: [product_id]
      shop.orders:
        primary_key: [order_id]
      shop.order_items:
        primary_key: [order_id, line_no]
    """
)
ALL = ("customers", "products", "orders", "order_items")
KEYS = {"customers": "customer_id", "products": "product_id", "orders": "order_id",
        "order_items": "order_id, line_no"}  # fmt: skip


# Sling names each stream it runs (`running stream shop.orders`), or the only one in its banner
# (`Sling Replication | SOURCE_PG -> WAREHOUSE | shop.orders`).
_SLING_STREAM = re.compile(r"running stream (shop\.\w+)$|^Sling Replication \|.*\| (shop\.\w+)$")


def _sling_streams(line: str) -> list[str]:
    found = _SLING_STREAM.search(line.strip())
    return [found.group(1) or found.group(2)] if found else []


class Run:
    """One run's outcome: materialization metadata by table, the streams Sling ran, the step's log lines."""

    def __init__(self, defs: dg.Definitions, **execute) -> None:
        with dg.instance_for_test() as instance:
            self.result = defs.resolve_implicit_global_asset_job_def().execute_in_process(
                instance=instance, raise_on_error=False, **execute
            )
            self.logs = [entry.user_message for entry in instance.all_logs(self.result.run_id)]
        self.metadata = {
            e.asset_key.path[-1]: e.materialization.metadata
            for e in self.result.get_asset_materialization_events()
        }
        self.sling_streams = {stream for line in self.logs for stream in _sling_streams(line)}
        self.sling_started = any("Sling Replication" in line for line in self.logs)

    def skipped(self) -> set[str]:
        return {t for t, m in self.metadata.items() if SKIPPED_UNCHANGED in m and m[SKIPPED_UNCHANGED].value}

    def lines(self, text: str) -> list[str]:
        return [line for line in self.logs if text in line]


def _source(pg, table: str, columns: str = "*") -> list[tuple]:
    with pg.connect() as conn:
        return sorted(conn.execute(f"select {columns} from shop.{table}").fetchall())


def _warehouse(path: str, table: str, columns: str = "*") -> list[tuple]:
    with duckdb.connect(path, read_only=True) as wh:
        return sorted(wh.execute(f"select {columns} from raw_shop.{table}").fetchall())


def _counts(platform_env, pg, tables=ALL) -> tuple[dict, dict]:
    with pg.connect() as conn:
        source = {t: conn.execute(f"select count(*) from shop.{t}").fetchone()[0] for t in tables}
    with duckdb.connect(platform_env["WAREHOUSE_DUCKDB_PATH"], read_only=True) as wh:
        target = {t: wh.execute(f"select count(*) from raw_shop.{t}").fetchone()[0] for t in tables}
    return source, target


def _duplicates(path: str) -> dict[str, int]:
    with duckdb.connect(path, read_only=True) as wh:
        return {
            t: wh.execute(
                f"select count(*) from (select {k} from raw_shop.{t} group by all having count(*) > 1)"
            ).fetchone()[0]
            for t, k in KEYS.items()
        }


def test_a_run_without_source_changes_starts_no_sling_and_reports_every_stream_unchanged(
    platform_env, sandbox_postgres
):
    with component_defs(ALL_INCREMENTAL) as defs:
        first = Run(defs)
        assert first.result.success and first.sling_started  # the detector sees Sling when it runs
        assert first.sling_streams == {f"shop.{t}" for t in ALL}
        assert first.skipped() == set()
        assert len(first.lines("target table missing")) == len(ALL)  # why each stream ran through Sling

        second = Run(defs)
    assert second.result.success
    assert not second.sling_started and second.sling_streams == set()  # no Sling process at all
    assert second.lines("every selected stream (4) is unchanged: Sling not started")
    assert second.skipped() == set(ALL)
    assert len(second.lines("skipped, unchanged")) == len(ALL)  # one line per stream
    source, target = _counts(platform_env, sandbox_postgres)
    assert source == target
    with sandbox_postgres.connect() as conn:
        for table in ALL:
            (newest,) = conn.execute(f"select max(updated_at) from shop.{table}").fetchone()
            metadata = second.metadata[table]
            assert metadata[ROWS_READ].value == metadata[ROWS_LOADED].value == 0, table
            assert metadata[SOURCE_NEWEST_AT].value == epoch(newest), table
            # Dagster's row count is the table's, also when Sling moved nothing (it showed 0 for a full table)
            assert metadata[ROW_COUNT].value == first.metadata[table][ROW_COUNT].value == target[table]
            assert metadata[COLUMN_SCHEMA] == first.metadata[table][COLUMN_SCHEMA]  # no schema change seen
    evaluations = second.result.get_asset_check_evaluations()
    assert evaluations and all(e.passed for e in evaluations)


def test_changing_only_orders_runs_sling_for_orders_alone(platform_env, sandbox_postgres):
    path = platform_env["WAREHOUSE_DUCKDB_PATH"]
    with component_defs(ALL_INCREMENTAL) as defs:  # as the deployment
        assert Run(defs).result.success
        with sandbox_postgres.connect() as conn:
            (changed,) = conn.execute(
                "update shop.orders set status = 'refunded',"
                " updated_at = (select max(updated_at) from shop.orders) + interval '1 second'"
                " where order_id = (select min(order_id) from shop.orders where status <> 'refunded')"
                " returning order_id"
            ).fetchone()
        # A run config (here the console logger's level) takes dagster-sling's other path for choosing the
        # streams: the replication passed to replicate() instead of the selected assets.
        second = Run(defs, run_config={"loggers": {"console": {"config": {"log_level": "INFO"}}}})
    assert second.result.success
    assert second.sling_streams == {"shop.orders"}
    assert second.skipped() == {"customers", "products", "order_items"}
    assert second.metadata["orders"]["stream_name"].value == "shop.orders"
    assert second.metadata["orders"][ROWS_LOADED].value == 1
    assert second.lines("Sling runs 1 of 4 streams: shop.orders")
    columns = "order_id, customer_id, status, total_amount, updated_at"
    assert _warehouse(path, "orders", columns) == _source(sandbox_postgres, "orders", columns)
    assert dict(_warehouse(path, "orders", "order_id, status"))[changed] == "refunded"
    source, target = _counts(platform_env, sandbox_postgres)
    assert source == target
    assert {t: m[ROWS_LOADED].value for t, m in second.metadata.items()} == {
        t: int(t == "orders") for t in ALL
    }
    assert {t: m[ROW_COUNT].value for t, m in second.metadata.items()} == target  # the tables' rows
    assert _duplicates(path) == {t: 0 for t in ALL}


def test_a_dropped_warehouse_table_is_reloaded(platform_env, sandbox_postgres):
    path = platform_env["WAREHOUSE_DUCKDB_PATH"]
    with component_defs(ALL_INCREMENTAL) as defs:
        assert Run(defs).result.success
        with duckdb.connect(path) as wh:
            wh.execute("drop table raw_shop.products")
        second = Run(defs)
    assert second.result.success
    assert second.sling_streams == {"shop.products"}
    assert second.lines(
        "stream raw_shop.products: runs through Sling (target table missing (or without updated_at): Sling loads it)"
    )
    assert second.skipped() == {"customers", "orders", "order_items"}
    assert _warehouse(path, "products") == _source(sandbox_postgres, "products")
    source, target = _counts(platform_env, sandbox_postgres)
    assert source == target


def test_full_refresh_streams_still_run_through_sling(platform_env, sandbox_postgres):
    """The test module's replication: customers full-refresh, orders and order_items incremental."""
    with component_defs(REPLICATION) as defs:
        assert Run(defs).result.success
        second = Run(defs)
    assert second.result.success
    assert second.sling_streams == {"shop.customers"}
    assert second.lines("stream raw_shop.customers: runs through Sling (mode full-refresh)")
    assert second.skipped() == {"orders", "order_items"}
    source, target = _counts(platform_env, sandbox_postgres, ("customers", "orders", "order_items"))
    assert source == target


def test_a_row_changed_at_the_warehouse_newest_timestamp_is_skipped_as_sling_would(
    platform_env, sandbox_postgres
):
    """Sling 1.4.11 reads `updated_at > <the warehouse's newest>`: a row changed without moving its updated_at
    past that value is not loaded by Sling either. Skipping agrees with running Sling; once the row's
    updated_at moves, the next run loads it. (Were Sling to read `>=`, the second run below would load the row
    and this test would fail: the skip rule would then have to become `source newest < warehouse newest`.)"""
    path = platform_env["WAREHOUSE_DUCKDB_PATH"]
    with component_defs(ALL_INCREMENTAL) as defs:
        assert Run(defs).result.success
        with sandbox_postgres.connect() as conn:
            order_id, before = conn.execute(
                "select order_id, status from shop.orders order by updated_at desc, order_id limit 1"
            ).fetchone()
            after = "paid" if before != "paid" else "shipped"
            conn.execute("update shop.orders set status = %s where order_id = %s", (after, order_id))
        skipped = Run(defs)
        assert skipped.result.success and skipped.skipped() == set(ALL)
        assert dict(_warehouse(path, "orders", "order_id, status"))[order_id] == before

    with component_defs(ALL_INCREMENTAL, attributes={"skip_unchanged_streams": False}) as defs:
        through_sling = Run(defs)
    assert through_sling.result.success
    assert through_sling.sling_streams == {f"shop.{t}" for t in ALL} and through_sling.skipped() == set()
    assert through_sling.metadata["orders"][ROWS_LOADED].value == 0  # Sling read no row either
    assert dict(_warehouse(path, "orders", "order_id, status"))[order_id] == before

    with sandbox_postgres.connect() as conn:
        conn.execute(
            "update shop.orders set updated_at = updated_at + interval '1 second' where order_id = %s",
            (order_id,),
        )
    with component_defs(ALL_INCREMENTAL) as defs:
        moved = Run(defs)
    assert moved.result.success and moved.sling_streams == {"shop.orders"}
    assert dict(_warehouse(path, "orders", "order_id, status"))[order_id] == after
