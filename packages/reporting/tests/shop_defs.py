"""The shop's marts, pipeline health and report declared as in the analytics deployment's defs.yaml files."""

from contextlib import contextmanager
from pathlib import Path
from typing import Any

import dagster as dg
import duckdb
from dagster.components.testing import create_defs_folder_sandbox
from dataplat_reporting.components import PipelineHealthComponent, ShopReportComponent, SqlMartsComponent

# Generous data-age limit: the sandbox's data is a fixed window in 2026-01 (the freshness tests set their own).
FRESHNESS = {"max_lag_hours": 26, "column": "last_order_at", "max_data_age_hours": 24 * 365 * 5}
MARTS = {
    "daily_revenue": (["raw_shop/orders"], ["order_date"]),
    "refund_rate_daily": (["raw_shop/orders", "payments_api/refunds"], ["order_date"]),
    "refund_rate_by_segment": (
        ["raw_shop/orders", "raw_shop/order_items", "raw_shop/products", "payments_api/refunds"],
        ["dimension", "segment"],
    ),
    "top_products": (["raw_shop/orders", "raw_shop/order_items", "raw_shop/products"], ["product_rank"]),
    "customer_cohorts": (["raw_shop/orders", "raw_shop/customers"], ["cohort_month", "months_since_signup"]),
}


def marts_yaml(freshness: dict | None = None) -> dict[str, Any]:
    marts = []
    for name, (deps, key) in MARTS.items():
        mart = {"name": name, "sql": f"package:{name}.sql", "deps": deps, "primary_key": key}
        if name == "top_products":
            mart["freshness"] = {**(freshness or FRESHNESS), "column": "last_sold_at"}
        marts.append(mart)
    return {
        "type": "dataplat_reporting.components.SqlMartsComponent",
        "attributes": {"freshness": freshness or FRESHNESS, "marts": marts},
    }


HEALTH_YAML = {
    "type": "dataplat_reporting.components.PipelineHealthComponent",
    "attributes": {
        "freshness": {**FRESHNESS, "column": "last_row_at"},
        "sources": [
            {"table": "raw_shop.orders", "date_column": "updated_at"},
            {"table": "payments_api.refunds", "date_column": "updated_at", "required": False},
            {
                "table": "raw_files.sales",
                "date_column": "_file_date",
                "rejects_table": "raw_files.sales_rejects",
                "required": False,
            },
            {"table": "raw_files.not_loaded_yet", "date_column": "day", "required": False},
        ],
    },
}


def report_yaml(**attributes: Any) -> dict[str, Any]:
    return {"type": "dataplat_reporting.components.ShopReportComponent", "attributes": attributes}


@contextmanager
def shop_defs(*, marts: dict | None = None, report: dict | None = None, resources: dict | None = None):
    """Definitions of the three components, with the platform's resources (or the given ones)."""
    from dataplat_core.resources import build_resources

    with create_defs_folder_sandbox() as sandbox:
        sandbox.scaffold_component(
            SqlMartsComponent, defs_path="marts", defs_yaml_contents=marts or marts_yaml()
        )
        sandbox.scaffold_component(
            PipelineHealthComponent, defs_path="pipeline_health", defs_yaml_contents=HEALTH_YAML
        )
        sandbox.scaffold_component(
            ShopReportComponent, defs_path="shop_report", defs_yaml_contents=report or report_yaml()
        )
        with sandbox.build_all_defs() as defs:
            yield dg.Definitions.merge(defs, dg.Definitions(resources=resources or build_resources()))


def materialize_all(
    defs: dg.Definitions, instance: dg.DagsterInstance | None = None
) -> dg.ExecuteInProcessResult:
    return defs.resolve_implicit_global_asset_job_def().execute_in_process(instance=instance)


REPORT_KEY = dg.AssetKey(["reports", "shop_report"])


def add_model_metrics(warehouse_path: Path) -> None:
    """A long-format metrics table, two trainings: the newest one's values must be shown."""
    with duckdb.connect(str(warehouse_path)) as wh:
        wh.execute(
            "create schema ml; create table ml.model_metrics (trained_at timestamp, metric varchar, value double);"
            "insert into ml.model_metrics values ('2026-01-10', 'roc_auc', 0.61), ('2026-01-10', 'precision', 0.2),"
            " ('2026-01-15', 'roc_auc', 0.7312), ('2026-01-15', 'precision', 0.25), ('2026-01-15', 'recall', 0.41),"
            " ('2026-01-15', 'training_rows', 1612)"
        )
