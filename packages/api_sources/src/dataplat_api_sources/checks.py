"""Checks for the loaded tables: the core's key/row/freshness checks, and a row count per partition window (a
partitioned check, so a step of its own per resource: Dagster's multi-asset checks take no partitions)."""

from collections.abc import Sequence
from datetime import timedelta

import dagster as dg
from dataplat_core.checks import (
    TableCheck,
    freshness_check,
    min_rows_check,
    not_null_check,
    primary_key_check,
)
from dataplat_core.warehouse import fetch_one, quote_identifier, quote_table

from dataplat_api_sources.partitions import partition_window


def _timestamp_literal(value) -> str:
    # Rendered from a datetime we computed (never from input), so inlining is safe; `cast(... as timestamptz)`
    # reads the same on DuckDB and Snowflake, whose drivers disagree on parameter placeholders.
    return f"cast('{value.isoformat(sep=' ')}' as timestamptz)"


def partition_row_count_check(
    asset: dg.AssetKey, table: str, column: str, partitions_def: dg.PartitionsDefinition, min_rows: int
) -> dg.AssetChecksDefinition:
    """Rows of `table` whose `column` lies in the checked partition's window (or backfill range)."""
    col = quote_identifier(column)

    @dg.asset_check(asset=asset, name="partition_row_count", partitions_def=partitions_def,
                    required_resource_keys={"warehouse"},
                    description=f"{table} has at least {min_rows} row(s) with {column} in the partition's window.")  # fmt: skip
    def _check(context: dg.AssetCheckExecutionContext) -> dg.AssetCheckResult:
        window = partition_window(context)
        if window is None:  # launched without a partition: nothing to compare
            return dg.AssetCheckResult(passed=True, metadata={"window": "none"})
        sql = (
            f"select count(*) from {quote_table(table)} "
            f"where {col} >= {_timestamp_literal(window.start)} and {col} < {_timestamp_literal(window.end)}"
        )
        (rows,) = fetch_one(context.resources.warehouse, sql)
        return dg.AssetCheckResult(
            passed=int(rows) >= min_rows,
            severity=dg.AssetCheckSeverity.WARN,
            metadata={"rows": int(rows), "window": f"[{window.start.isoformat()}, {window.end.isoformat()})"},
        )

    return _check


def resource_checks(
    asset: dg.AssetKey,
    table: str,
    *,
    primary_key: Sequence[str],
    cursor: str | None,
    freshness: timedelta | None,
) -> list[TableCheck]:
    """The core's checks of one resource's table (run together in the component's checks step). Freshness
    reads the endpoint's time column (its cursor), also for a resource loaded whole (a replaced snapshot)."""
    checks = [min_rows_check(asset, table, 1)]
    if primary_key:
        checks += [primary_key_check(asset, table, primary_key), not_null_check(asset, table, primary_key)]
    if cursor and freshness is not None:
        checks.append(freshness_check(asset, table, cursor, freshness))
    return checks
