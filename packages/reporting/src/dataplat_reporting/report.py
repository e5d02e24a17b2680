"""`ReportComponent`: a static HTML report, declared: headline figures and sections over the warehouse.

```yaml
type: dataplat_reporting.components.ReportComponent
attributes:
  asset_key: reports/web_report
  title: Web report
  kpis:
    - {label: Visits, table: marts.daily_visits, sql: "select sum(visits) from $table"}
  sections:
    - id: visits
      title: Visits per day
      table: marts.daily_visits
      chart: line                  # line | bar | heatmap | table
      x: {column: visit_date, title: Day (UTC)}
      y: {column: visits, title: Visits, unit: visits, format: ",.0f"}
```
Each section reads one table (its upstream asset) and says which columns are its axes, with a title, one unit
and a number format. A new mart appears in the report by adding one section. Charts are drawn by matplotlib
(`charts.py`), inline in the HTML. The materialization carries the file (`report_path`, a path value) and a
Markdown preview (`preview`).
"""

from datetime import UTC, datetime, timedelta
from pathlib import Path

import dagster as dg
from dataplat_core.artifacts import ArtifactStore, write_text
from dataplat_core.warehouse import Warehouse
from pydantic import Field, field_validator

from dataplat_reporting.report_sections import Kpi, Section, Shown, read_section

REPORT_PATH_KEY = "report_path"


class ReportComponent(dg.Component, dg.Model, dg.Resolvable):
    """A static HTML report: headline figures, then one chart or table per declared section."""

    asset_key: str
    title: str
    output_dir: str | None = Field(
        default=None,
        description="Folder (or fsspec URL) of the report; default: the `reports` place of the platform's "
        "`artifacts` resource (ARTIFACTS_URL).",
    )
    file_name: str = "report.html"
    kpis: list[Kpi] = Field(default_factory=list, description="Headline figures, each one value.")
    sections: list[Section] = Field(min_length=1)
    deps: list[str] = Field(default_factory=list, description="More upstream keys (default: the tables').")
    group_name: str = "reports"
    freshness_max_lag_hours: float | None = Field(default=26, gt=0)

    @field_validator("file_name")
    @classmethod
    def _plain_name(cls, value: str) -> str:
        if Path(value).name != value or not value.endswith(".html"):
            raise ValueError(f"file_name must be a plain *.html file name: {value!r}")
        return value

    @field_validator("sections")
    @classmethod
    def _unique(cls, sections: list[Section]) -> list[Section]:
        ids = [s.id for s in sections]
        if len(set(ids)) != len(ids):
            raise ValueError(f"section ids must be unique: {ids}")
        return sections

    def output_location(self, artifacts: ArtifactStore) -> str:
        folder = self.output_dir.rstrip("/") if self.output_dir else artifacts.location("reports")
        return f"{folder}/{self.file_name}"

    def upstream(self) -> list[dg.AssetKey]:
        tables = [*(s.table for s in self.sections if s.table), *(k.table for k in self.kpis)]
        keys = [dg.AssetKey(t.split(".")) for t in tables]
        keys += [dg.AssetKey.from_user_string(d) for d in self.deps]
        keys += [
            dg.AssetKey.from_user_string(s.metrics.asset_key)
            for s in self.sections
            if s.metrics and s.metrics.asset_key
        ]
        return list(dict.fromkeys(keys))

    def build_defs(self, context: dg.ComponentLoadContext) -> dg.Definitions:
        component = self
        # Every query checked and transpiled now: a bad one fails when the location loads, not at 3 am.
        statements = {s.id: s.statements() for s in self.sections}
        kpi_statements = [k.statements() for k in self.kpis]
        policy = (
            dg.FreshnessPolicy.time_window(fail_window=timedelta(hours=self.freshness_max_lag_hours))
            if self.freshness_max_lag_hours
            else None
        )

        @dg.asset(
            key=dg.AssetKey.from_user_string(self.asset_key),
            deps=self.upstream(),
            group_name=self.group_name,
            description=f"{self.title}: static HTML ({self.file_name}), sections "
            + ", ".join(s.title for s in self.sections),
            required_resource_keys={"warehouse", "artifacts"},
            kinds={"html"},
            freshness_policy=policy,
        )
        def _report(context: dg.AssetExecutionContext) -> dg.MaterializeResult:
            return component.materialize(
                context.resources.warehouse,
                context.resources.artifacts,
                context.instance,
                statements,
                kpi_statements,
            )

        return dg.Definitions(assets=[_report])

    def materialize(
        self,
        warehouse: Warehouse,
        artifacts: ArtifactStore,
        instance: dg.DagsterInstance,
        statements: dict[str, dict[str, str]],
        kpi_statements: list[dict[str, str]],
    ) -> dg.MaterializeResult:
        from dataplat_reporting.report_html import render_html, render_preview

        kpis = []
        for kpi, by_dialect in zip(self.kpis, kpi_statements, strict=True):
            _, rows = warehouse.query(by_dialect[warehouse.dialect])
            kpis.append((kpi.label, kpi.show(rows[0][0] if rows else None)))
        shown: list[Shown] = [
            s for section in self.sections
            if (s := read_section(section, statements[section.id], warehouse, instance)) is not None
        ]  # fmt: skip
        html = render_html(kpis, shown, title=self.title, generated_at=datetime.now(UTC))
        path = write_text(self.output_location(artifacts), html)
        return dg.MaterializeResult(
            metadata={
                REPORT_PATH_KEY: dg.MetadataValue.path(str(path)),
                "preview": dg.MetadataValue.md(render_preview(kpis, shown, str(path))),
                "bytes": len(html.encode()),
                "sections": ", ".join(s.section.id for s in shown),
                "left_out": ", ".join(
                    s.id for s in self.sections if s.id not in {x.section.id for x in shown}
                )
                or "none",
            }
        )
