"""What the report shows, read from the marts (and the model's metrics when there are any).

Each reader returns plain Python values, so the renderer never touches a warehouse and tests can check the
numbers apart from the HTML. Columns are the marts' contract (listed in the README).
"""

import math
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

import dagster as dg
from dataplat_core.warehouse import quote_table

from dataplat_reporting.dialect import query, table_exists

# Column names a long-format metrics table may use for the metric's name and its value.
_METRIC_NAME_COLUMNS = ("metric", "metric_name", "name")
_TIME_COLUMNS = ("trained_at", "created_at", "evaluated_at", "updated_at", "run_at", "ts")


def _num(value: Any) -> float:
    return float(value) if value is not None else 0.0


def _day(value: Any) -> str:
    return value.date().isoformat() if isinstance(value, datetime) else str(value)


def _rows(warehouse: Any, sql: str) -> list[dict[str, Any]]:
    columns, rows = query(warehouse, sql)
    return [dict(zip(columns, row, strict=True)) for row in rows]


@dataclass
class ModelQuality:
    metrics: dict[str, float]
    source: str  # where they came from, shown under the chart


@dataclass
class ReportData:
    revenue: list[tuple[str, float, int]]  # day, revenue, orders
    refund_daily: list[tuple[str, float]]  # day, refund rate
    refund_segments: dict[str, list[tuple[str, float, int]]]  # dimension -> (segment, rate, orders)
    top_products: list[dict[str, Any]]
    cohorts: list[dict[str, Any]] = field(default_factory=list)
    health: list[dict[str, Any]] = field(default_factory=list)
    model: ModelQuality | None = None

    def kpis(self) -> dict[str, str]:
        revenue = sum(r for _, r, _ in self.revenue)
        orders = sum(n for _, _, n in self.revenue)
        segments = self.refund_segments.get("channel", [])
        seg_orders = sum(n for _, _, n in segments)
        refund_rate = sum(rate * n for _, rate, n in segments) / seg_orders if seg_orders else math.nan
        days = f"{self.revenue[0][0]} – {self.revenue[-1][0]}" if self.revenue else "no data"
        return {
            "Period": days,
            "Revenue": f"€{revenue:,.2f}",
            "Orders": f"{orders:,}",
            "Average order value": f"€{revenue / orders:,.2f}" if orders else "–",
            "Refund rate": f"{refund_rate:.2%}" if not math.isnan(refund_rate) else "–",
        }


def read_report_data(
    warehouse: Any,
    tables: Any,
    *,
    top_n: int,
    model: ModelQuality | None,
) -> ReportData:
    revenue = _rows(
        warehouse, f"select order_date, revenue, orders from {quote_table(tables.daily_revenue)} order by 1"
    )
    refund = _rows(
        warehouse, f"select order_date, refund_rate from {quote_table(tables.refund_rate_daily)} order by 1"
    )
    segments: dict[str, list[tuple[str, float, int]]] = {}
    for row in _rows(
        warehouse,
        "select dimension, segment, refund_rate, orders "
        f"from {quote_table(tables.refund_rate_by_segment)} order by dimension, refund_rate desc, segment",
    ):
        segments.setdefault(row["dimension"], []).append(
            (row["segment"], _num(row["refund_rate"]), int(row["orders"]))
        )
    top = _rows(
        warehouse,
        "select product_rank, sku, product_name, category, units, revenue "
        f"from {quote_table(tables.top_products)} where product_rank <= {int(top_n)} order by product_rank",
    )
    data = ReportData(
        revenue=[(_day(r["order_date"]), _num(r["revenue"]), int(r["orders"])) for r in revenue],
        refund_daily=[(_day(r["order_date"]), _num(r["refund_rate"])) for r in refund],
        refund_segments=segments,
        top_products=top,
        model=model,
    )
    if tables.customer_cohorts and table_exists(warehouse, tables.customer_cohorts):
        data.cohorts = _rows(
            warehouse,
            "select cohort_month, months_since_signup, cohort_customers, active_customers, orders, revenue "
            f"from {quote_table(tables.customer_cohorts)} order by cohort_month, months_since_signup",
        )
    if tables.pipeline_health and table_exists(warehouse, tables.pipeline_health):
        data.health = _rows(
            warehouse,
            "select source, count(*) as days, sum(rows_loaded) as rows_loaded, sum(rows_rejected) as rows_rejected, "
            f"max(day) as last_day from {quote_table(tables.pipeline_health)} group by source order by source",
        )
    return data


def _finite(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float, Decimal)):
        return None
    number = float(value)
    return number if math.isfinite(number) else None


def metrics_from_table(warehouse: Any, table: str) -> dict[str, float]:
    """The newest metrics of a table in long (`metric`, `value`) or wide (one numeric column per metric) form."""
    if not table_exists(warehouse, table):
        return {}
    columns, rows = query(warehouse, f"select * from {quote_table(table)}")
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
