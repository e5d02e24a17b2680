"""`ShopReportComponent`: the marts as a static HTML report with inline SVG charts, written to a file.

```yaml
type: dataplat_reporting.components.ShopReportComponent
attributes:
  output_dir: null              # default: <folder of the DuckDB warehouse>/reports
  file_name: shop_report.html
  model_quality: {table: ml.model_metrics, asset_key: ml/refund_model}
```
The materialization carries the file (`report_path`, a path value) and a Markdown preview (`preview`).
"""

import os
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import dagster as dg
from dataplat_core.warehouse import quote_table
from pydantic import Field, field_validator

from dataplat_reporting.report_data import (
    ModelQuality,
    metrics_from_asset,
    metrics_from_table,
    read_report_data,
)

REPORT_PATH_KEY = "report_path"


class ReportTables(dg.Model, dg.Resolvable):
    """The marts the report reads (`schema.table`); cohorts and pipeline health are shown when present."""

    daily_revenue: str = "marts.daily_revenue"
    refund_rate_daily: str = "marts.refund_rate_daily"
    refund_rate_by_segment: str = "marts.refund_rate_by_segment"
    top_products: str = "marts.top_products"
    customer_cohorts: str | None = "marts.customer_cohorts"
    pipeline_health: str | None = "marts.pipeline_health"

    @field_validator("*")
    @classmethod
    def _table(cls, value: str | None) -> str | None:
        if value is not None:
            quote_table(value)
            if "." not in value:
                raise ValueError(f"table {value!r} must be schema-qualified: schema.table")
        return value

    def all(self) -> list[str]:
        return [t for t in self.model_dump().values() if t]


class ModelQualitySource(dg.Model, dg.Resolvable):
    """Where model metrics come from, when they exist: a table (long `metric`/`value` or one column per metric,
    newest row by `trained_at`/`created_at`), else the training asset's latest materialization metadata."""

    table: str | None = "ml.model_metrics"
    asset_key: str | None = Field(default=None, description="Training asset, e.g. ml/refund_model.")

    @field_validator("table")
    @classmethod
    def _table(cls, value: str | None) -> str | None:
        if value is not None:
            quote_table(value)
        return value

    def read(self, warehouse: Any, instance: dg.DagsterInstance) -> ModelQuality | None:
        if self.table and (metrics := metrics_from_table(warehouse, self.table)):
            return ModelQuality(metrics, f"table {self.table}")
        if self.asset_key:
            key = dg.AssetKey.from_user_string(self.asset_key)
            if metrics := metrics_from_asset(instance, key):
                return ModelQuality(metrics, f"latest materialization of {key.to_user_string()}")
        return None


def default_output_dir(warehouse: Any) -> Path:
    """Beside the DuckDB warehouse file; else under DAGSTER_HOME (Snowflake has no local file); else cwd."""
    database = getattr(warehouse, "database", None)
    if isinstance(database, str) and database and database != ":memory:" and not database.startswith("md:"):
        return Path(database).expanduser().resolve().parent / "reports"
    if os.environ.get("DAGSTER_HOME"):
        return Path(os.environ["DAGSTER_HOME"]) / "reports"
    return Path.cwd() / "reports"


def write_atomically(path: Path, text: str) -> None:
    """A reader (a browser, a file server) never sees half a report: write beside it, then rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


class ShopReportComponent(dg.Component, dg.Model, dg.Resolvable):
    """A static HTML report of the marts: revenue trend, refund rates, top products, cohorts, pipeline health
    and, when available, model quality."""

    asset_key: str = "reports/shop_report"
    title: str = "Shop report"
    output_dir: str | None = Field(
        default=None, description="Folder of the report; default beside the warehouse."
    )
    file_name: str = "shop_report.html"
    tables: ReportTables = Field(default_factory=ReportTables)
    model_quality: ModelQualitySource | None = Field(default_factory=ModelQualitySource)
    top_n: int = Field(default=10, ge=1, le=100)
    deps: list[str] = Field(default_factory=list, description="More upstream keys (default: the tables').")
    group_name: str = "reports"
    freshness_max_lag_hours: float | None = Field(default=26, gt=0)

    @field_validator("file_name")
    @classmethod
    def _plain_name(cls, value: str) -> str:
        if Path(value).name != value or not value.endswith(".html"):
            raise ValueError(f"file_name must be a plain *.html file name: {value!r}")
        return value

    def output_path(self, warehouse: Any) -> Path:
        folder = Path(self.output_dir).expanduser() if self.output_dir else default_output_dir(warehouse)
        return folder.resolve() / self.file_name

    def upstream(self) -> list[dg.AssetKey]:
        keys = [dg.AssetKey(t.split(".")) for t in self.tables.all()]
        keys += [dg.AssetKey.from_user_string(d) for d in self.deps]
        if self.model_quality and self.model_quality.asset_key:
            keys.append(dg.AssetKey.from_user_string(self.model_quality.asset_key))
        return list(dict.fromkeys(keys))

    def build_defs(self, context: dg.ComponentLoadContext) -> dg.Definitions:
        component = self
        policy = (
            dg.FreshnessPolicy.time_window(fail_window=timedelta(hours=self.freshness_max_lag_hours))
            if self.freshness_max_lag_hours
            else None
        )

        @dg.asset(
            key=dg.AssetKey.from_user_string(self.asset_key),
            deps=self.upstream(),
            group_name=self.group_name,
            description=self.description(),
            required_resource_keys={"warehouse"},
            kinds={"html"},
            freshness_policy=policy,
        )
        def _report(context: dg.AssetExecutionContext) -> dg.MaterializeResult:
            return component.materialize(context.resources.warehouse, context.instance)

        return dg.Definitions(assets=[_report])

    def description(self) -> str:
        return f"{self.title}: static HTML ({self.file_name}) with inline SVG charts over {', '.join(self.tables.all())}."

    def materialize(self, warehouse: Any, instance: dg.DagsterInstance) -> dg.MaterializeResult:
        from dataplat_reporting.report_html import render_html, render_preview

        model = self.model_quality.read(warehouse, instance) if self.model_quality else None
        data = read_report_data(warehouse, self.tables, top_n=self.top_n, model=model)
        path = self.output_path(warehouse)
        html = render_html(data, title=self.title, generated_at=datetime.now(UTC))
        write_atomically(path, html)
        return dg.MaterializeResult(
            metadata={
                REPORT_PATH_KEY: dg.MetadataValue.path(str(path)),
                "preview": dg.MetadataValue.md(render_preview(data, str(path))),
                "bytes": len(html.encode()),
                "charts": html.count('class="chart"'),
                "model_quality": model.source if model else "not available",
            }
        )
