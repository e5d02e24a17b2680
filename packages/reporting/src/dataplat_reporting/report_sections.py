"""What a report shows, declared: headline figures and sections, each reading one table of the warehouse.

A section names its table (the upstream asset), an optional SELECT over it (`$table`), a chart kind and what
its axes are: the column, a title, one unit and a number format (a Python format spec: `,.0f` for thousands
separators, `.1%` for a share). Readers return plain rows, so the renderer never touches a warehouse and tests
can check the numbers apart from the HTML.
"""

import math
import re
import string
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any, Literal

import dagster as dg
from dataplat_core.warehouse import quote_table, table_exists
from pydantic import Field, field_validator, model_validator

from dataplat_reporting.dialect import DIALECTS, DUCKDB, UnsupportedSql, transpile

# Column names a long-format metrics table may use for the metric's name and its value.
_METRIC_NAME_COLUMNS = ("metric", "metric_name", "name")
_TIME_COLUMNS = ("trained_at", "created_at", "evaluated_at", "updated_at", "run_at", "ts")
_ID = re.compile(r"^[a-z][a-z0-9_]*$")


def format_value(value: Any, spec: str) -> str:
    """One cell or tick as the declaration formats it; text and days as they are, a missing value as –."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    if isinstance(value, datetime):
        return value.date().isoformat() if value.time() == datetime.min.time() else value.isoformat(" ")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, (int, float, Decimal)) and not isinstance(value, bool):
        return format(float(value), spec)
    return str(value)


class Axis(dg.Model, dg.Resolvable):
    """A column as a chart axis or a table column: its title, its unit (shown with the title) and format."""

    column: str
    title: str | None = Field(default=None, description="Default: the column name.")
    unit: str | None = Field(default=None, description="One unit per axis, e.g. EUR, share of visits.")
    format: str = Field(default=",.0f", description="Python format spec for numbers, e.g. ,.0f  .1%  ,.2f")

    @field_validator("format")
    @classmethod
    def _spec(cls, spec: str) -> str:
        try:
            format(1234.5, spec)
        except ValueError as exc:
            raise ValueError(f"format {spec!r} is not a number format spec ({exc})") from None
        return spec

    def label(self) -> str:
        title = self.title or self.column
        return f"{title} ({self.unit})" if self.unit else title

    def show(self, value: Any) -> str:
        return format_value(value, self.format)


class MetricsSource(dg.Model, dg.Resolvable):
    """A model's metrics: the newest row(s) of a metrics table (long `metric`/`value`, or one column per
    metric), else the numeric metadata of the training asset's latest materialization."""

    table: str | None = None
    asset_key: str | None = Field(default=None, description="Training asset, e.g. ml/churn_model.")
    names: list[str] = Field(default_factory=list, description="Only these metrics, in this order.")

    @field_validator("table")
    @classmethod
    def _table(cls, value: str | None) -> str | None:
        if value is not None:
            quote_table(value)
        return value

    def read(self, warehouse: Any, instance: dg.DagsterInstance) -> tuple[list[dict[str, Any]], str] | None:
        metrics, source = {}, ""
        if self.table and (metrics := metrics_from_table(warehouse, self.table)):
            source = f"table {self.table}"
        elif self.asset_key:
            key = dg.AssetKey.from_user_string(self.asset_key)
            if metrics := metrics_from_asset(instance, key):
                source = f"latest materialization of {key.to_user_string()}"
        names = self.names or list(metrics)
        rows = [{"metric": n, "value": metrics[n]} for n in names if n in metrics]
        return (rows, source) if rows else None


class Section(dg.Model, dg.Resolvable):
    """One part of the report: a chart or a table over one table (or a model's metrics)."""

    id: str = Field(description="Identifier: the HTML anchor and the chart's `data-chart`.")
    title: str
    note: str | None = None
    chart: Literal["line", "bar", "heatmap", "table"]
    table: str | None = Field(default=None, description="schema.table the section reads (an upstream asset).")
    sql: str | None = Field(default=None, description="A SELECT over `$table`; default: every row of it.")
    metrics: MetricsSource | None = Field(default=None, description="Instead of a table: a model's metrics.")
    x: Axis | None = Field(
        default=None, description="line: time or order; bar: the labels; heatmap: columns."
    )
    y: Axis | None = Field(default=None, description="line and bar: the value; heatmap: the rows.")
    value: Axis | None = Field(default=None, description="heatmap: the cell value.")
    columns: list[Axis] = Field(default_factory=list, description="table: the columns shown, in order.")
    optional: bool = Field(default=False, description="Left out while its table does not exist (yet).")

    @model_validator(mode="after")
    def _complete(self) -> "Section":
        where = f"section {self.id!r}"
        if not _ID.match(self.id):
            raise ValueError(f"{where}: id must be lower-case letters, digits and _")
        if (self.table is None) == (self.metrics is None):
            raise ValueError(f"{where}: declare either `table` or `metrics`")
        if self.table:
            quote_table(self.table)
            if "." not in self.table:
                raise ValueError(f"{where}: table {self.table!r} must be schema-qualified: schema.table")
        if self.metrics and self.sql:
            raise ValueError(f"{where}: `sql` reads a table; a metrics section has none")
        needs = {"line": ("x", "y"), "bar": ("x", "y"), "heatmap": ("x", "y", "value"), "table": ("columns",)}
        missing = [name for name in needs[self.chart] if not getattr(self, name)]
        if missing:
            raise ValueError(f"{where}: a {self.chart} needs {', '.join(missing)}")
        return self

    def statements(self) -> dict[str, str]:
        """The SELECT in every warehouse dialect, checked and transpiled when the location loads."""
        return dialect_statements(self.sql, self.table, f"section {self.id!r}") if self.table else {}

    def axes(self) -> list[Axis]:
        return [a for a in (self.x, self.y, self.value, *self.columns) if a is not None]


class Kpi(dg.Model, dg.Resolvable):
    """A headline figure: the one value of a SELECT over `$table`."""

    label: str
    table: str
    sql: str = Field(description="A SELECT returning one value, e.g. select sum(amount) from $table")
    unit: str | None = None
    format: str = ",.0f"

    @field_validator("table")
    @classmethod
    def _table(cls, value: str) -> str:
        quote_table(value)
        return value

    def statements(self) -> dict[str, str]:
        return dialect_statements(self.sql, self.table, f"figure {self.label!r}")

    def show(self, value: Any) -> str:
        shown = format_value(value, self.format)
        return f"{shown} {self.unit}" if self.unit and value is not None else shown


def dialect_statements(sql: str | None, table: str, where: str) -> dict[str, str]:
    """`sql` (default: every row of the table) with `$table` filled in, in every warehouse dialect."""
    text = (sql or "select * from $table").strip().rstrip(";")
    try:
        select = string.Template(text).substitute(table=quote_table(table))
    except (KeyError, ValueError) as exc:
        raise ValueError(f"{where}: its SQL may use only $table ({exc}); write $$ for a literal $") from None
    try:
        return {dialect: transpile(select, write=dialect, read=DUCKDB) for dialect in DIALECTS}
    except UnsupportedSql as exc:
        raise UnsupportedSql(f"{where}: {exc}") from None


@dataclass
class Shown:
    """A section with what it read: rows of its declared columns, and where metrics came from."""

    section: Section
    rows: list[dict[str, Any]]
    source: str = ""


def read_section(
    section: Section, statements: dict[str, str], warehouse: Any, instance: dg.DagsterInstance
) -> Shown | None:
    """The section's rows; None when an optional section has nothing to show."""
    if section.metrics:
        found = section.metrics.read(warehouse, instance)
        if found is None:
            return None if section.optional else Shown(section, [], "no metrics found")
        return Shown(section, found[0], found[1])
    if section.optional and not table_exists(warehouse, section.table):
        return None
    columns, rows = warehouse.query(statements[warehouse.dialect])
    names = [c.lower() for c in columns]  # Snowflake reports unquoted names in upper case
    unknown = sorted({a.column for a in section.axes()} - set(names))
    if unknown:
        raise ValueError(
            f"section {section.id!r}: its query has no column {', '.join(unknown)}; it has {', '.join(names)}"
        )
    return Shown(section, [dict(zip(names, row, strict=True)) for row in rows])


def _finite(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float, Decimal)):
        return None
    number = float(value)
    return number if math.isfinite(number) else None


def metrics_from_table(warehouse: Any, table: str) -> dict[str, float]:
    """The newest metrics of a table in long (`metric`, `value`) or wide (one numeric column per metric) form."""
    if not table_exists(warehouse, table):
        return {}
    columns, rows = warehouse.query(f"select * from {quote_table(table)}")
    if not rows:
        return {}
    time_col = next((c for c in _TIME_COLUMNS if c in columns), None)
    if time_col:  # newest last; rows without a time sort first
        rows.sort(key=lambda r: (r[columns.index(time_col)] is not None, r[columns.index(time_col)] or 0))
    name_col = next((c for c in _METRIC_NAME_COLUMNS if c in columns), None)
    if name_col and "value" in columns:
        out: dict[str, float] = {}
        for row in rows:  # a later row of the same metric wins
            value = _finite(row[columns.index("value")])
            if value is not None:
                out[str(row[columns.index(name_col)])] = value
        return out
    newest = rows[-1]
    skip = {time_col, "model_version", "model_name", "version", "run_id"}
    return {
        c: v
        for c, raw in zip(columns, newest, strict=True)
        if c not in skip and (v := _finite(raw)) is not None
    }


def metrics_from_asset(instance: dg.DagsterInstance, key: dg.AssetKey) -> dict[str, float]:
    """Numeric metadata of the training asset's latest materialization (Dagster's own entries left out)."""
    event = instance.get_latest_materialization_event(key)
    if event is None or event.asset_materialization is None:
        return {}
    out = {}
    for name, entry in event.asset_materialization.metadata.items():
        value = getattr(entry, "value", None)
        if not name.startswith("dagster/") and (number := _finite(value)) is not None:
            out[name] = number
    return out
