"""Check builders every component uses for its tables: key uniqueness, not-null keys, row counts, freshness,
and (Dagster's own) column schema changes.

Each builder returns a `TableCheck` (the check's spec and how to evaluate it) that queries the `warehouse`
resource with portable SQL (DuckDB and Snowflake), with table and column names validated and quoted.
`checks_step` turns a component's checks into one Dagster step (a `multi_asset_check`): each step of a run
is a process under the multiprocess executor and a pod under Kubernetes', and costs its own events and
warehouse connection in-process, so a component's tables are checked together rather than one step per
check. A single check can still be run alone (the step can be subset).
"""

import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import dagster as dg

from dataplat_core.warehouse import WarehouseSession, fetch_one, quote_identifier, quote_table


def _key(asset: dg.AssetKey | str | Sequence[str]) -> dg.AssetKey:
    return asset if isinstance(asset, dg.AssetKey) else dg.AssetKey.from_coercible(asset)


@dataclass(frozen=True)
class Outcome:
    passed: bool
    metadata: Mapping[str, Any]
    severity: dg.AssetCheckSeverity = dg.AssetCheckSeverity.ERROR


@dataclass(frozen=True)
class TableCheck:
    """One check of one asset's table: `evaluate(resources)` decides it. Run through `checks_step`."""

    asset: dg.AssetKey
    name: str
    description: str
    evaluate: Callable[[Any], Outcome]
    blocking: bool = False  # a failure keeps the asset's downstream assets in the same run from running
    resource_keys: frozenset[str] = frozenset({"warehouse"})

    @property
    def spec(self) -> dg.AssetCheckSpec:
        return dg.AssetCheckSpec(
            self.name, asset=self.asset, description=self.description, blocking=self.blocking
        )

    @property
    def key(self) -> dg.AssetCheckKey:
        return dg.AssetCheckKey(self.asset, self.name)

    def result(self, resources: Any) -> dg.AssetCheckResult:
        """Evaluate the check with `resources` (they hold `warehouse` and any other of `resource_keys`)."""
        return self._result(self.evaluate(resources))

    def not_evaluated(self, reason: str) -> dg.AssetCheckResult:
        """A failed result for a check that could not run (e.g. its table does not exist yet)."""
        return self._result(Outcome(False, {"not_evaluated": reason}))

    def _result(self, outcome: Outcome) -> dg.AssetCheckResult:
        return dg.AssetCheckResult(
            asset_key=self.asset,
            check_name=self.name,
            passed=outcome.passed,
            severity=outcome.severity,
            metadata=dict(outcome.metadata),
            description=self.description,  # what was checked, next to what was found (metadata)
        )


class _StepResources:
    """The step's resources, with the warehouse replaced by one session (one connection)."""

    def __init__(self, resources: Any, warehouse: WarehouseSession):
        self._resources, self.warehouse = resources, warehouse

    def __getattr__(self, name: str) -> Any:
        return getattr(self._resources, name)


def checks_step(name: str, checks: Sequence[TableCheck]) -> list[dg.AssetChecksDefinition]:
    """All of `checks` as one step named `name` (none when there is no check). The checks are evaluated in
    order; an error in one (e.g. the warehouse is unreachable) fails the step, as it failed its own step."""
    if not checks:
        return []
    keys = [dg.AssetCheckKey(c.asset, c.name) for c in checks]
    if len(set(keys)) != len(keys):
        raise ValueError(f"{name}: the same check twice: {sorted(k.to_user_string() for k in keys)}")

    @dg.multi_asset_check(
        name=name,
        specs=[c.spec for c in checks],
        required_resource_keys=set().union(*(c.resource_keys for c in checks)),
        can_subset=True,
    )
    def _step(context: dg.AssetCheckExecutionContext):
        selected = context.selected_asset_check_keys
        yield from check_results([c for c in checks if c.key in selected], context.resources)

    return [_step]


def check_results(checks: Sequence[TableCheck], resources: Any) -> list[dg.AssetCheckResult]:
    """Evaluate `checks` in order over one warehouse connection (a DuckDB file opened per query costs
    ~15 ms, a Snowflake session far more). An asset that cannot hand its checks a step of their own (one
    that yields no output, as a partitioned load that skips unchanged files: a separate step would be
    skipped) evaluates them with this inside its own step."""
    if not checks:
        return []
    with resources.warehouse.session() as session:
        one = _StepResources(resources, session)
        return [c.result(one) for c in checks]


def _no_offending_rows_check(
    asset: dg.AssetKey | str, name: str, description: str, count_sql: str, metadata_key: str
) -> TableCheck:
    """A blocking check that passes when `count_sql` counts zero offending rows (or keys)."""

    def evaluate(resources) -> Outcome:
        (offending,) = fetch_one(resources.warehouse, count_sql)
        return Outcome(offending == 0, {metadata_key: int(offending)})

    return TableCheck(_key(asset), name, description, evaluate, blocking=True)


def primary_key_check(asset: dg.AssetKey | str, table: str, columns: Sequence[str]) -> TableCheck:
    cols = ", ".join(quote_identifier(c) for c in columns)
    sql = f"select count(*) from (select {cols} from {quote_table(table)} group by {cols} having count(*) > 1) d"
    description = f"No two rows of {table} share ({', '.join(columns)})."
    return _no_offending_rows_check(asset, "primary_key_unique", description, sql, "duplicate_keys")


def not_null_check(asset: dg.AssetKey | str, table: str, columns: Sequence[str]) -> TableCheck:
    condition = " or ".join(f"{quote_identifier(c)} is null" for c in columns)
    sql = f"select count(*) from {quote_table(table)} where {condition}"
    return _no_offending_rows_check(
        asset, "keys_not_null", f"No null in {', '.join(columns)}.", sql, "null_keys"
    )


def min_rows_check(asset: dg.AssetKey | str, table: str, min_rows: int = 1) -> TableCheck:
    sql = f"select count(*) from {quote_table(table)}"

    def evaluate(resources) -> Outcome:
        (rows,) = fetch_one(resources.warehouse, sql)
        return Outcome(rows >= min_rows, {"rows": int(rows), "min_rows": min_rows})

    return TableCheck(_key(asset), "row_count", f"{table} holds at least {min_rows} row(s).", evaluate)


def freshness_check(
    asset: dg.AssetKey | str, table: str, column: str, max_age: timedelta, *, now: datetime | None = None
) -> TableCheck:
    """The newest value of `column` is at most `max_age` old: the data is fresh, not just the run."""
    sql = f"select max({quote_identifier(column)}) from {quote_table(table)}"

    def evaluate(resources) -> Outcome:
        (newest,) = fetch_one(resources.warehouse, sql)
        if newest is None:
            return Outcome(False, {"newest": "no rows"})
        if isinstance(newest, datetime) and newest.tzinfo is None:
            newest = newest.replace(tzinfo=UTC)
        reference = now or datetime.now(UTC)
        age = reference - newest if isinstance(newest, datetime) else None
        return Outcome(
            age is not None and age <= max_age,
            {"newest": str(newest), "age_hours": round(age.total_seconds() / 3600, 2) if age else -1},
            dg.AssetCheckSeverity.WARN,
        )

    return TableCheck(
        _key(asset),
        "freshness",
        f"max({column}) of {table} is at most {max_age.total_seconds() / 3600:g} hours old.",
        evaluate,
    )


def column_schema_change_checks(assets: Sequence[dg.AssetKey]) -> list[dg.AssetChecksDefinition]:
    """Dagster's own `column_schema_change` check (WARN) for each of `assets`, as one step: it compares the
    `dagster/column_schema` of an asset's two newest materializations (`observability.table_metadata`) and
    names the columns added, removed or retyped."""
    if not assets:
        return []
    # Beta in Dagster 1.13: its BetaWarning reached every code location load; only that warning is silenced.
    with warnings.catch_warnings():
        warnings.filterwarnings(
            "ignore", message=r"Function `build_column_schema_change_checks` is currently"
        )
        return list(dg.build_column_schema_change_checks(assets=list(assets)))


def table_checks(
    asset: dg.AssetKey | str,
    table: str,
    *,
    primary_key: Sequence[str],
    min_rows: int = 1,
    freshness_column: str | None = None,
    max_age: timedelta = timedelta(days=1),
) -> list[TableCheck]:
    """The standard set for one table."""
    checks = [
        primary_key_check(asset, table, primary_key),
        not_null_check(asset, table, primary_key),
        min_rows_check(asset, table, min_rows),
    ]
    if freshness_column:
        checks.append(freshness_check(asset, table, freshness_column, max_age))
    return checks
