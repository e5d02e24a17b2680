"""Check builders every component uses for its tables: key uniqueness, not-null keys, row counts, freshness.

Each builder returns plain `dg.AssetChecksDefinition`s that query the `warehouse` resource with portable SQL
(DuckDB and Snowflake), with table and column names validated and quoted.
"""

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import dagster as dg

from dataplat_core.warehouse import fetch_one, quote_identifier, quote_table


def _key(asset: dg.AssetKey | str | Sequence[str]) -> dg.AssetKey:
    return asset if isinstance(asset, dg.AssetKey) else dg.AssetKey.from_coercible(asset)


def _no_offending_rows_check(
    asset: dg.AssetKey | str, name: str, description: str, count_sql: str, metadata_key: str
) -> dg.AssetChecksDefinition:
    """A blocking check that passes when `count_sql` counts zero offending rows (or keys)."""

    @dg.asset_check(
        asset=_key(asset),
        name=name,
        required_resource_keys={"warehouse"},
        description=description,
        blocking=True,
    )
    def _check(context: dg.AssetCheckExecutionContext) -> dg.AssetCheckResult:
        (offending,) = fetch_one(context.resources.warehouse, count_sql)
        return dg.AssetCheckResult(passed=offending == 0, metadata={metadata_key: int(offending)})

    return _check


def primary_key_check(
    asset: dg.AssetKey | str, table: str, columns: Sequence[str]
) -> dg.AssetChecksDefinition:
    cols = ", ".join(quote_identifier(c) for c in columns)
    sql = f"select count(*) from (select {cols} from {quote_table(table)} group by {cols} having count(*) > 1) d"
    description = f"No two rows of {table} share ({', '.join(columns)})."
    return _no_offending_rows_check(asset, "primary_key_unique", description, sql, "duplicate_keys")


def not_null_check(asset: dg.AssetKey | str, table: str, columns: Sequence[str]) -> dg.AssetChecksDefinition:
    condition = " or ".join(f"{quote_identifier(c)} is null" for c in columns)
    sql = f"select count(*) from {quote_table(table)} where {condition}"
    return _no_offending_rows_check(
        asset, "keys_not_null", f"No null in {', '.join(columns)}.", sql, "null_keys"
    )


def min_rows_check(asset: dg.AssetKey | str, table: str, min_rows: int = 1) -> dg.AssetChecksDefinition:
    sql = f"select count(*) from {quote_table(table)}"

    @dg.asset_check(
        asset=_key(asset),
        name="row_count",
        required_resource_keys={"warehouse"},
        description=f"{table} holds at least {min_rows} row(s).",
    )
    def _check(context: dg.AssetCheckExecutionContext) -> dg.AssetCheckResult:
        (rows,) = fetch_one(context.resources.warehouse, sql)
        return dg.AssetCheckResult(
            passed=rows >= min_rows, metadata={"rows": int(rows), "min_rows": min_rows}
        )

    return _check


def source_row_count_check(
    asset: dg.AssetKey | str, table: str, source_table: str, tolerance: float = 0.01
) -> dg.AssetChecksDefinition:
    """The warehouse table holds as many rows as the source table, within `tolerance` (a fraction of the
    source's count: a live source keeps changing between the load and the check)."""
    warehouse_sql = f"select count(*) from {quote_table(table)}"
    quote_table(source_table)  # reject a bad name when the code location loads

    @dg.asset_check(
        asset=_key(asset),
        name="row_count_matches_source",
        required_resource_keys={"warehouse", "source_postgres"},
        description=f"Rows in {table} equal rows in the source's {source_table}, within {tolerance:.1%}.",
    )
    def _check(context: dg.AssetCheckExecutionContext) -> dg.AssetCheckResult:
        (loaded,) = fetch_one(context.resources.warehouse, warehouse_sql)
        source = context.resources.source_postgres.row_count(source_table)
        difference = abs(int(loaded) - source)
        return dg.AssetCheckResult(
            passed=difference <= tolerance * source,
            metadata={"warehouse_rows": int(loaded), "source_rows": source, "difference": difference,
                      "tolerance": tolerance},
        )  # fmt: skip

    return _check


def freshness_check(
    asset: dg.AssetKey | str, table: str, column: str, max_age: timedelta, *, now: datetime | None = None
) -> dg.AssetChecksDefinition:
    """The newest value of `column` is at most `max_age` old: the data is fresh, not just the run."""
    sql = f"select max({quote_identifier(column)}) from {quote_table(table)}"

    @dg.asset_check(
        asset=_key(asset),
        name="freshness",
        required_resource_keys={"warehouse"},
        description=f"max({column}) of {table} is at most {max_age} old.",
    )
    def _check(context: dg.AssetCheckExecutionContext) -> dg.AssetCheckResult:
        (newest,) = fetch_one(context.resources.warehouse, sql)
        if newest is None:
            return dg.AssetCheckResult(passed=False, metadata={"newest": "no rows"})
        if isinstance(newest, datetime) and newest.tzinfo is None:
            newest = newest.replace(tzinfo=UTC)
        reference = now or datetime.now(UTC)
        age = reference - newest if isinstance(newest, datetime) else None
        return dg.AssetCheckResult(
            passed=age is not None and age <= max_age,
            severity=dg.AssetCheckSeverity.WARN,
            metadata={
                "newest": str(newest),
                "age_hours": round(age.total_seconds() / 3600, 2) if age else -1,
            },
        )

    return _check


def table_checks(
    asset: dg.AssetKey | str,
    table: str,
    *,
    primary_key: Sequence[str],
    min_rows: int = 1,
    freshness_column: str | None = None,
    max_age: timedelta = timedelta(days=1),
) -> list[dg.AssetChecksDefinition]:
    """The standard set for one table."""
    checks = [
        primary_key_check(asset, table, primary_key),
        not_null_check(asset, table, primary_key),
        min_rows_check(asset, table, min_rows),
    ]
    if freshness_column:
        checks.append(freshness_check(asset, table, freshness_column, max_age))
    return checks
