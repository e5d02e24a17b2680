"""Component types of this package, listed by `dg list components` through the registry entry point."""

from dataplat_reporting.pipeline_health import PipelineHealthComponent
from dataplat_reporting.report import ReportComponent
from dataplat_reporting.sql_mart import SqlMartComponent, SqlMartsComponent

__all__ = ["PipelineHealthComponent", "ReportComponent", "SqlMartComponent", "SqlMartsComponent"]
