"""The shop's marts, pipeline health and report as the analytics composition declares them
(`deployments/locations/analytics/defs/`: the YAML and the mart SQL read from there, so these tests run the
shop's declarations, not a copy), with freshness and report settings a test may change."""

import copy
import shutil
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import dagster as dg
import duckdb
import yaml
from dagster.components.testing import create_defs_folder_sandbox
from dataplat_reporting.components import PipelineHealthComponent, ReportComponent, SqlMartsComponent

COMPOSITION = Path(__file__).resolve().parents[3] / "deployments" / "locations" / "analytics" / "defs"
# Generous data-age limit: the sandbox's data is a fixed window in 2026-01 (the freshness tests set their own).
FRESHNESS = {"max_lag_hours": 26, "column": "last_order_at", "max_data_age_hours": 24 * 365 * 5}


def declared(folder: str) -> dict[str, Any]:
    return yaml.safe_load((COMPOSITION / folder / "defs.yaml").read_text())


def _marts() -> dict[str, tuple[list[str], list[str]]]:
    return {m["name"]: (m["deps"], m["primary_key"]) for m in declared("marts")["attributes"]["marts"]}


MARTS = _marts()  # name -> (upstream keys, primary key), as declared
# The report's charts (sections that are not tables), as declared, in order.
CHARTS = [s["id"] for s in declared("shop_report")["attributes"]["sections"] if s["chart"] != "table"]


def marts_yaml(freshness: dict | None = None) -> dict[str, Any]:
    """The declared marts with `freshness` (the environment's value replaced by the tests' own)."""
    contents = declared("marts")
    attributes = contents["attributes"]
    attributes["freshness"] = freshness or FRESHNESS
    for mart in attributes["marts"]:
        if "freshness" in mart:
            mart["freshness"] = {**(freshness or FRESHNESS), "column": mart["freshness"]["column"]}
    return contents


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


def report_yaml(*, sections: dict[str, dict] | None = None, **attributes: Any) -> dict[str, Any]:
    """The declared report with `attributes` changed, and sections replaced or added by id."""
    contents = declared("shop_report")
    contents["attributes"].update(attributes)
    by_id = {s["id"]: s for s in contents["attributes"]["sections"]}
    for section_id, section in (sections or {}).items():
        by_id[section_id] = {**copy.deepcopy(by_id.get(section_id, {})), **section, "id": section_id}
    contents["attributes"]["sections"] = list(by_id.values())
    return contents


@contextmanager
def shop_defs(*, marts: dict | None = None, report: dict | None = None, resources: dict | None = None):
    """Definitions of the three components, with the platform's resources (the given ones replacing theirs)."""
    from dataplat_core.resources import build_resources

    with create_defs_folder_sandbox() as sandbox:
        folder = sandbox.scaffold_component(
            SqlMartsComponent, defs_path="marts", defs_yaml_contents=marts or marts_yaml()
        )
        for sql in (COMPOSITION / "marts").glob("*.sql"):
            shutil.copyfile(sql, folder / sql.name)
        sandbox.scaffold_component(
            PipelineHealthComponent, defs_path="pipeline_health", defs_yaml_contents=HEALTH_YAML
        )
        sandbox.scaffold_component(
            ReportComponent, defs_path="shop_report", defs_yaml_contents=report or report_yaml()
        )
        with sandbox.build_all_defs() as defs:
            yield dg.Definitions.merge(
                defs, dg.Definitions(resources={**build_resources(), **(resources or {})})
            )


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
