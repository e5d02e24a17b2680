"""Pipeline health mart: rows loaded and rejected per source per day, from the loaded tables themselves.

Each source names its table, the column that dates a row's load (e.g. `_file_date` of a file partition,
`updated_at` of an incrementally replicated table: the day the row was last changed is the day an
incremental run picked it up) and optionally a rejects table. The SELECT is generated here in DuckDB's
dialect and transpiled to the warehouse's like every other mart. Sources marked `required: false` whose
table does not exist yet (another code location has not loaded it) are left out and named in the metadata,
so a new source can be declared before its ingestion ships.
"""

import dagster as dg
from dataplat_core.checks import checks_step, table_checks
from dataplat_core.observability import table_metadata
from dataplat_core.warehouse import WAREHOUSE_POOL, quote_identifier, quote_table, table_exists
from pydantic import Field, model_validator

from dataplat_reporting.freshness import MartFreshness
from dataplat_reporting.sql_mart import statements_by_dialect

PRIMARY_KEY = ("source", "day")


class HealthSource(dg.Model, dg.Resolvable):
    table: str = Field(description="`schema.table` holding the loaded rows.")
    date_column: str = Field(description="Dates a row's load: a DATE or TIMESTAMP column.")
    name: str | None = Field(default=None, description="Label in the mart; default: the table name.")
    rejects_table: str | None = Field(
        default=None, description="`schema.table` with one row per rejected row."
    )
    rejects_date_column: str = "partition_date"
    asset_key: str | None = Field(default=None, description="Upstream asset key; default: schema/table.")
    required: bool = Field(
        default=True, description="false: skip (and report) the source while its table is missing."
    )

    @model_validator(mode="after")
    def _valid_names(self) -> "HealthSource":
        for table in filter(None, (self.table, self.rejects_table)):
            quote_table(table)
            if "." not in table:
                raise ValueError(f"table {table!r} must be schema-qualified: schema.table")
        quote_identifier(self.date_column)
        quote_identifier(self.rejects_date_column)
        if "'" in self.label:
            raise ValueError(f"source name must not contain quotes: {self.label!r}")
        return self

    @property
    def label(self) -> str:
        return self.name or self.table

    def dep(self) -> dg.AssetKey:
        # A rejects table is written by the same asset as its table: it has no asset key of its own.
        return (
            dg.AssetKey.from_user_string(self.asset_key)
            if self.asset_key
            else dg.AssetKey(self.table.split("."))
        )


def _counts(label: str, table: str, column: str, loaded: bool) -> str:
    col = quote_identifier(column)
    rows = "count(*)" if loaded else "0"
    rejected = "0" if loaded else "count(*)"
    return (
        f"select '{label}' as source, cast({col} as date) as day, {rows} as rows_loaded, {rejected} as rows_rejected, "
        f"max(cast({col} as timestamp)) as last_row_at from {quote_table(table)} group by 2"
    )


def health_select(sources: list[HealthSource]) -> str:
    """One SELECT over the given (present) sources: a row per source and day."""
    parts = []
    for s in sources:
        parts.append(_counts(s.label, s.table, s.date_column, loaded=True))
        if s.rejects_table:
            parts.append(_counts(s.label, s.rejects_table, s.rejects_date_column, loaded=False))
    union = "\nunion all\n".join(parts)
    return (
        "select source, day, sum(rows_loaded) as rows_loaded, sum(rows_rejected) as rows_rejected,\n"
        "    round(cast(sum(rows_rejected) as double) / nullif(sum(rows_loaded) + sum(rows_rejected), 0), 6)"
        " as reject_rate,\n"
        "    max(last_row_at) as last_row_at\n"
        f"from (\n{union}\n) as counts\ngroup by source, day"
    )


class PipelineHealthComponent(dg.Component, dg.Model, dg.Resolvable):
    """`<schema_name>.<name>`: rows loaded and rejected per source and day (primary key source, day)."""

    sources: list[HealthSource]
    name: str = "pipeline_health"
    schema_name: str = "marts"
    group_name: str = "marts"
    freshness: MartFreshness | None = Field(
        default_factory=lambda: MartFreshness(column="last_row_at"),
        description="Default: policy of 26 h, data check on last_row_at.",
    )
    description: str | None = None

    def build_defs(self, context: dg.ComponentLoadContext) -> dg.Definitions:
        table = f"{self.schema_name}.{self.name}"
        quote_table(table)
        labels = [s.label for s in self.sources]
        if not self.sources or len(set(labels)) != len(labels):
            raise ValueError(f"pipeline health needs sources with unique names: {labels}")
        # Transpile every source now, so a bad declaration fails when the location loads.
        statements_by_dialect(table, health_select(self.sources))
        key = dg.AssetKey([self.schema_name, self.name])
        component = self

        @dg.asset(
            key=key,
            deps=[s.dep() for s in self.sources],
            group_name=self.group_name,
            description=self.description
            or f"Rows loaded and rejected per source and day: {', '.join(labels)}.",
            required_resource_keys={"warehouse"},
            pool=WAREHOUSE_POOL,
            kinds={"sql"},
            freshness_policy=self.freshness.policy() if self.freshness else None,
            metadata={"table": table, "dagster/table_name": table},
        )
        def _health(context: dg.AssetExecutionContext) -> dg.MaterializeResult:
            warehouse = context.resources.warehouse
            present, missing = component.present_sources(warehouse)
            if not present:
                raise dg.Failure(f"no source table of {table} exists yet: {', '.join(missing)}")
            dialect = warehouse.dialect
            warehouse.execute(statements_by_dialect(table, health_select(present))[dialect])
            if missing:
                context.log.warning(f"{table}: sources not loaded yet, left out: {', '.join(missing)}")
            return dg.MaterializeResult(
                metadata={
                    **table_metadata(warehouse, table),
                    "table": table,
                    "dialect": dialect,
                    "sources": ", ".join(s.label for s in present),
                    "missing_sources": ", ".join(missing),
                }
            )

        checks = table_checks(key, table, primary_key=PRIMARY_KEY)
        checks += self.freshness.checks(key, table) if self.freshness else []
        return dg.Definitions(
            assets=[_health], asset_checks=checks_step(f"{key.to_python_identifier()}_checks", checks)
        )

    def present_sources(self, warehouse) -> tuple[list[HealthSource], list[str]]:
        """Sources to count now; an optional source is left out while its table (or rejects table) is missing."""
        present, missing = [], []
        for s in self.sources:
            tables = [t for t in (s.table, s.rejects_table) if t]
            absent = [t for t in tables if not table_exists(warehouse, t)]
            if absent and s.required:
                raise dg.Failure(f"source {s.label}: table(s) {', '.join(absent)} do not exist")
            if absent:
                missing.append(s.label)
            else:
                present.append(s)
        return present, missing
